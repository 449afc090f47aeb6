"""A chat client for the tests: connects as docs/protocol.md says and stamps every frame.

The ID token travels as the second offered subprotocol (`chatdeploy`, token), never in the URL,
so it stays out of access logs. Each connection runs a reader task that records when a frame
arrived, so latencies do not depend on when the test gets round to looking.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from chatdeploy.aws import is_loopback
from chatdeploy.errors import ChatdeployError, UsageError

SUBPROTOCOL = Subprotocol("chatdeploy")
Frame = dict[str, Any]
Clock = Callable[[], float]

# Statuses that mean "not there yet" just after a deploy, rather than "you may not".
_RETRYABLE_STATUSES = frozenset({404, 410, 429, 500, 502, 503, 504})
_REFUSALS = {
    400: "the room id or the request is malformed",
    401: "the token is missing or malformed",
    403: "the token failed verification",
}


class ConnectFailed(ChatdeployError):
    def __init__(self, message: str, *, retryable: bool, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.retryable = retryable


class ConnectionLost(ChatdeployError):
    """The server closed the connection while the test was waiting on it."""


@dataclass(frozen=True)
class Received:
    frame: Frame
    at: float


def room_url(url: str, room: str) -> str:
    """The stack's WebSocket URL with `?room=`; the token is not put in the URL."""
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode({'room': room})}"


@dataclass
class ChatConnection:
    """One open connection. Frames go to `on_frame` when given, else into `received`."""

    socket: ClientConnection
    connect_seconds: float
    clock: Clock = time.perf_counter
    on_frame: Callable[[Received], None] | None = None
    received: list[Received] = field(default_factory=list)
    closed: str | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                self._deliver(Received(_decode(raw), self.clock()))
        except ConnectionClosed:
            pass
        finally:
            code = self.socket.close_code
            reason = self.socket.close_reason or "no reason given"
            self.closed = f"code {code}, {reason}" if code is not None else "the link dropped"
            self._arrived.set()

    def _deliver(self, received: Received) -> None:
        if self.on_frame is not None:
            self.on_frame(received)
        else:
            self.received.append(received)
        self._arrived.set()

    async def send(self, frame: Frame) -> float:
        """Sends a frame; returns when it was sent, on this connection's clock."""
        if self.closed is not None:
            raise ConnectionLost(f"the server closed the connection ({self.closed})")
        sent_at = self.clock()
        try:
            await self.socket.send(json.dumps(frame))
        except ConnectionClosed:
            raise ConnectionLost("the server closed the connection while sending") from None
        return sent_at

    async def wait_for(self, wanted: Callable[[Frame], bool], timeout: float) -> Received:
        """The first frame received so far or within `timeout` seconds that is `wanted`."""
        async with asyncio.timeout(timeout):
            while True:
                found = next((r for r in self.received if wanted(r.frame)), None)
                if found is not None:
                    return found
                if self.closed is not None:
                    raise ConnectionLost(f"the server closed the connection ({self.closed})")
                self._arrived.clear()
                await self._arrived.wait()

    async def wait_closed(self) -> str:
        """Returns how the connection ended, once the server or the network has ended it."""
        if self._reader is not None:
            await asyncio.shield(self._reader)
        return self.closed or "closed"

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.socket.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


def _decode(raw: str | bytes) -> Frame:
    try:
        value = json.loads(raw)
    except ValueError:
        return {"type": "unparsed", "raw": raw if isinstance(raw, str) else raw.hex()}
    return value if isinstance(value, dict) else {"type": "unparsed", "raw": value}


async def open_chat(
    url: str,
    token: str,
    room: str,
    *,
    wait: float = 0.0,
    open_timeout: float = 10.0,
    clock: Clock = time.perf_counter,
    on_frame: Callable[[Received], None] | None = None,
) -> ChatConnection:
    """Connects to `room`, retrying for up to `wait` seconds while the endpoint is not there yet
    (a fresh deploy: DNS, 404, 5xx); a refused token fails at once."""
    target = room_url(url, room)
    started = time.monotonic()
    delay = 0.25
    while True:
        try:
            connection = await _connect_once(target, url, token, open_timeout, clock)
        except ConnectFailed as failure:
            waited = time.monotonic() - started
            if not failure.retryable or waited + delay > wait:
                raise _after_waiting(failure, waited) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        connection.on_frame = on_frame
        connection.start()
        return connection


async def _connect_once(
    target: str, url: str, token: str, open_timeout: float, clock: Clock
) -> ChatConnection:
    began = clock()
    try:
        socket_ = await connect(
            target,
            subprotocols=[SUBPROTOCOL, Subprotocol(token)],
            open_timeout=open_timeout,
            proxy=None if is_loopback(url) else True,
            max_size=2**20,
        )
    except InvalidURI:
        raise UsageError(
            f"{url} is not a WebSocket URL", hint="it starts with wss:// or ws://"
        ) from None
    except InvalidStatus as refused:
        raise _refusal(url, refused.response.status_code) from None
    except InvalidHandshake as broken:
        raise ConnectFailed(f"the handshake with {url} failed: {broken}", retryable=False) from None
    except TimeoutError:
        raise ConnectFailed(
            f"no answer from {url} in {open_timeout:.0f}s", retryable=True
        ) from None
    except OSError as error:
        raise ConnectFailed(
            f"cannot connect to {url}: {_describe(error)}", retryable=True
        ) from None
    return ChatConnection(socket_, clock() - began, clock)


def _after_waiting(failure: ConnectFailed, waited: float) -> ConnectFailed:
    if waited < 0.5:
        return failure
    return ConnectFailed(
        f"{failure.message} (gave up after {waited:.0f}s)", retryable=False, hint=failure.hint
    )


def _refusal(url: str, status: int) -> ConnectFailed:
    reason = _REFUSALS.get(status)
    if reason is not None:
        token_problem = status in {401, 403}
        return ConnectFailed(
            f"{url} refused the connection with HTTP {status}: {reason}",
            retryable=False,
            hint="check that the token comes from this stack's user pool"
            if token_problem
            else None,
        )
    return ConnectFailed(
        f"{url} answered HTTP {status} to the WebSocket handshake",
        retryable=status in _RETRYABLE_STATUSES,
    )


def _describe(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return error.strerror or type(error).__name__
