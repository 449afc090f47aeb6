"""The one loopback listener of `chatdeploy local`: a small HTTP/1.1 server on asyncio.

It reads each request's head itself, so that one port can serve the WebSocket handshake (handed
over with the connection to the gateway), the `@connections` API (POST with a body, which
WebSocket libraries' servers refuse) and the frontend's files. Keep-alive, Content-Length
bodies and `Expect: 100-continue`; no chunked request bodies (boto3 never sends them).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import json
import socket
import urllib.parse
from dataclasses import dataclass
from typing import Any, Protocol

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
KEEP_ALIVE_S = 60.0


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]
    peer_ip: str
    head: bytes
    body: bytes = b""

    @property
    def path(self) -> str:
        return urllib.parse.unquote(self.target.partition("?")[0])

    @property
    def query(self) -> tuple[tuple[str, str], ...]:
        raw = self.target.partition("?")[2]
        return tuple(urllib.parse.parse_qsl(raw, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def wants_websocket(self) -> bool:
        return "websocket" in (self.header("Upgrade") or "").lower()

    @property
    def keep_alive(self) -> bool:
        connection = (self.header("Connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(
        cls, status: int, document: Any, headers: tuple[tuple[str, str], ...] = ()
    ) -> HttpResponse:
        body = json.dumps(document).encode()
        return cls(status, body, (("Content-Type", "application/json"), *headers))

    @classmethod
    def text(cls, status: int, text: str) -> HttpResponse:
        return cls(status, text.encode(), (("Content-Type", "text/plain; charset=utf-8"),))

    def serialize(self, *, keep_alive: bool, head_only: bool = False) -> bytes:
        reason = http.HTTPStatus(self.status).phrase
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines.append(f"Date: {email.utils.formatdate(usegmt=True)}")
        if self.status not in (204, 304):
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only or self.status in (204, 304) else head + self.body


class Site(Protocol):
    """What the listener serves: plain requests, and WebSocket handshakes it hands over."""

    async def respond(self, request: HttpRequest) -> HttpResponse: ...

    async def upgrade(
        self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None: ...


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpListener:
    def __init__(self, sock: socket.socket, site: Site) -> None:
        self._socket = sock
        self._site = site
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve_client, sock=self._socket, limit=MAX_HEAD_BYTES
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            await self._serve_requests(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            # Stopping: end quietly (a cancelled client task makes asyncio log an error).
            pass
        finally:
            self._clients.discard(task)
            writer.close()

    async def _serve_requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), KEEP_ALIVE_S)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            try:
                request = _parse_head(head, str(peer[0]))
                if request.wants_websocket:
                    await self._site.upgrade(request, reader, writer)
                    return
                request = await _with_body(request, reader, writer)
            except BadRequest as bad:
                writer.write(HttpResponse.text(bad.status, f"{bad}\n").serialize(keep_alive=False))
                await writer.drain()
                return
            response = await self._site.respond(request)
            keep_alive = request.keep_alive
            writer.write(
                response.serialize(keep_alive=keep_alive, head_only=request.method == "HEAD")
            )
            await writer.drain()
            if not keep_alive:
                return


def _parse_head(head: bytes, peer_ip: str) -> HttpRequest:
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text.rstrip("\r\n").split("\r\n")
        method, target, version = request_line.split(" ")
    except ValueError:
        raise BadRequest(400, "malformed request line") from None
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(505, "HTTP/1.1 only")
    headers = []
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise BadRequest(400, "malformed header line")
        headers.append((name, value.strip()))
    return HttpRequest(method, target, version, tuple(headers), peer_ip, head)


async def _with_body(
    request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> HttpRequest:
    if request.header("Transfer-Encoding"):
        raise BadRequest(411, "send a Content-Length; chunked bodies are not supported")
    try:
        length = int(request.header("Content-Length") or "0")
    except ValueError:
        raise BadRequest(400, "bad Content-Length") from None
    if length < 0 or length > MAX_BODY_BYTES:
        raise BadRequest(413, f"bodies up to {MAX_BODY_BYTES} bytes")
    if length and (request.header("Expect") or "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    body = await reader.readexactly(length) if length else b""
    return HttpRequest(
        request.method,
        request.target,
        request.version,
        request.headers,
        request.peer_ip,
        request.head,
        body,
    )


def close_quietly(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
