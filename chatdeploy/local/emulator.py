"""The embedded AWS emulator: moto's threaded server on a loopback port of its own."""

from __future__ import annotations

import logging
import socket
import urllib.parse

LOOPBACK = "127.0.0.1"


class Emulator:
    """moto's server in a thread of this process, on an ephemeral port of 127.0.0.1."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        # werkzeug logs every request at INFO; the handlers' own logs are what matters here.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
        self._running = False

    def start(self) -> str:
        self._server.start()
        self._running = True
        self._reset()
        return self.url

    @property
    def url(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def function_code(self, name: str, account: str, region: str) -> bytes | None:
        """The zip moto holds for a function (in this process's memory); None if unknown."""
        try:
            from moto.awslambda.models import lambda_backends

            function = lambda_backends[account][region].get_function(name)
            data = getattr(function, "code_bytes", b"")
        except Exception:  # moto's internals may change: the caller falls back
            return None
        return bytes(data) if data else None

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._server.stop()

    def _reset(self) -> None:
        """moto keeps its state per process: a second session in one process starts empty."""
        import urllib.request

        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()


def answers(endpoint_url: str, timeout: float = 0.5) -> bool:
    """Whether something listens at the endpoint (say, the emulator of a running session)."""
    parts = urllib.parse.urlsplit(endpoint_url)
    if parts.hostname is None:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False
