"""A WebSocket gateway that behaves like API Gateway for the API deployed in the emulator.

- `$connect`: identity sources, then the REQUEST authorizer (401/403/500), then the connect
  integration; a non-2xx answer refuses the handshake, and a `Sec-WebSocket-Protocol` header in
  its answer selects the subprotocol (none is chosen otherwise, as on AWS).
- Messages go to the route the API's route selection expression picks, else `$default`, else
  API Gateway's Forbidden frame. A failed integration gets the "Internal server error" frame.
- Frames over 32 KB and messages over 128 KB close the connection with 1009.
- `$disconnect` runs after every close: by the client, by `@connections` DELETE, after the idle
  timeout (10 min) or the maximum duration (2 h), with API Gateway's code and reason.

The WebSocket protocol itself is websockets' Sans-I/O ServerProtocol, driven by this module on
the streams the HTTP listener hands over.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from chatdeploy.local import authorization, events
from chatdeploy.local.deployed import CONNECT, DISCONNECT, Authorizer, DeployedApi, Route
from chatdeploy.local.events import ApiFacts, ConnectionFacts
from chatdeploy.local.http_server import HttpRequest
from chatdeploy.local.workers import Invocation

GOING_AWAY = (1001, "Going away")
_READ_BYTES = 64 * 1024
# A client that stops reading is dropped rather than buffered without end.
_MAX_WRITE_BUFFER = 8 * 1024 * 1024
_REFUSALS = {
    401: {"message": "Unauthorized"},
    403: {"message": "Forbidden"},
    500: {"message": "Internal server error"},
}


class Invoker(Protocol):
    async def invoke(self, function: str, event: Any, request_id: str) -> Invocation: ...


@dataclass(frozen=True)
class GatewaySettings:
    idle_timeout_s: float = 600.0
    max_duration_s: float = 7200.0
    max_frame_bytes: int = 32 * 1024
    max_message_bytes: int = 128 * 1024
    close_timeout_s: float = 2.0


@dataclass(frozen=True)
class Admission:
    status: int | None = None  # None: admitted
    body: bytes = b""
    subprotocol: str | None = None
    authorizer: dict[str, Any] | None = None


MessageHandler = Callable[["Connection", bytes, bool], None]


@dataclass(eq=False)
class Connection:
    """One open connection: the protocol state machine, its streams, what API Gateway knows."""

    facts: ConnectionFacts
    authorizer: dict[str, Any] | None
    protocol: ServerProtocol
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    settings: GatewaySettings
    last_active_ms: int = field(default_factory=events.now_ms)
    _opened: float = field(default_factory=time.monotonic)
    _last_active: float = field(default_factory=time.monotonic)
    _fragments: list[bytes] = field(default_factory=list)
    _binary: bool = False
    _closed_by_us: tuple[int, str] | None = None

    @property
    def id(self) -> str:
        return self.facts.connection_id

    @property
    def is_open(self) -> bool:
        return self.protocol.state is State.OPEN and not self.writer.is_closing()

    def send(self, data: bytes) -> bool:
        """One message to the client: text when it is UTF-8, else binary. False: gone."""
        if not self.is_open:
            return False
        if self.writer.transport.get_write_buffer_size() > _MAX_WRITE_BUFFER:
            self.writer.transport.abort()
            return False
        try:
            data.decode("utf-8")
            self.protocol.send_text(data)
        except UnicodeDecodeError:
            self.protocol.send_binary(data)
        self._flush()
        return True

    def send_json(self, document: Mapping[str, Any]) -> bool:
        return self.send(json.dumps(document).encode())

    def close(self, code: int, reason: str) -> None:
        if self.protocol.state is State.OPEN:
            self._closed_by_us = (code, reason)
            self.protocol.send_close(code, reason)
            self._flush()

    def fail(self, code: int, reason: str) -> None:
        if self.protocol.state is State.OPEN:
            self._closed_by_us = (code, reason)
        self.protocol.fail(code, reason)
        self._flush()

    async def serve(self, on_message: MessageHandler) -> tuple[int, str]:
        """Reads until the connection is closed; returns the close code and reason."""
        self._flush()  # the handshake response
        watchdog = asyncio.create_task(self._watch_timeouts())
        try:
            await self._read_until_closed(on_message)
        finally:
            watchdog.cancel()
            self.writer.close()
        return self._close_status()

    async def _read_until_closed(self, on_message: MessageHandler) -> None:
        while self.protocol.state is not State.CLOSED:
            timeout = self.settings.close_timeout_s if self.protocol.close_expected() else None
            try:
                data = await asyncio.wait_for(self.reader.read(_READ_BYTES), timeout)
            except (TimeoutError, ConnectionError):
                return
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
            self._flush()
            for frame in self.protocol.events_received():
                if isinstance(frame, Frame):
                    self._on_frame(frame, on_message)
            if not data:
                return

    def _on_frame(self, frame: Frame, on_message: MessageHandler) -> None:
        self._touch()
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._fragments = [bytes(frame.data)]
            self._binary = frame.opcode is Opcode.BINARY
        elif frame.opcode is Opcode.CONT:
            self._fragments.append(bytes(frame.data))
        else:
            return  # ping (answered by the protocol), pong, close
        if frame.fin:
            message, self._fragments = b"".join(self._fragments), []
            on_message(self, message, self._binary)

    def _touch(self) -> None:
        self._last_active = time.monotonic()
        self.last_active_ms = events.now_ms()

    async def _watch_timeouts(self) -> None:
        while True:
            deadline = min(
                self._last_active + self.settings.idle_timeout_s,
                self._opened + self.settings.max_duration_s,
            )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close(*GOING_AWAY)
                return
            await asyncio.sleep(remaining)

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.writer.write(data)
            elif self.writer.can_write_eof():
                with contextlib.suppress(OSError):
                    self.writer.write_eof()

    def _close_status(self) -> tuple[int, str]:
        if self._closed_by_us is not None:
            return self._closed_by_us
        if self.protocol.close_rcvd is not None:
            return int(self.protocol.close_rcvd.code), self.protocol.close_rcvd.reason
        return 1006, ""


class Gateway:
    """API Gateway's WebSocket side for one deployed API and stage."""

    def __init__(
        self,
        api: DeployedApi,
        facts: ApiFacts,
        invoker: Invoker,
        settings: GatewaySettings | None = None,
    ) -> None:
        self.api = api
        self.facts = facts
        self.invoker = invoker
        self.settings = settings or GatewaySettings()
        self.connections: dict[str, Connection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    # -- the handshake ---------------------------------------------------------------------

    async def upgrade(
        self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        protocol = ServerProtocol(
            max_size=(self.settings.max_message_bytes, self.settings.max_frame_bytes)
        )
        protocol.receive_data(request.head)
        handshake = next(iter(protocol.events_received()), None)
        response = protocol.accept(handshake) if isinstance(handshake, Request) else None
        if response is None or response.status_code != 101:
            if response is not None:
                protocol.send_response(response)
            _write_all(protocol, writer)
            return
        facts = self._connection_facts(request)
        admission = await self._admit(facts)
        if admission.status is not None:
            protocol.send_response(_refusal(admission))
            _write_all(protocol, writer)
            return
        if admission.subprotocol:
            response.headers["Sec-WebSocket-Protocol"] = admission.subprotocol
            protocol.subprotocol = Subprotocol(admission.subprotocol)
        protocol.send_response(response)
        connection = Connection(
            facts, admission.authorizer, protocol, reader, writer, self.settings
        )
        await self._serve(connection)

    def _connection_facts(self, request: HttpRequest) -> ConnectionFacts:
        return ConnectionFacts(
            connection_id=events.new_id(),
            connected_at_ms=events.now_ms(),
            source_ip=request.peer_ip,
            domain_name=request.header("Host") or "127.0.0.1",
            headers=request.headers,
            query=request.query,
        )

    async def _admit(self, facts: ConnectionFacts) -> Admission:
        route = self.api.routes.get(CONNECT)
        if route is None:
            return Admission()
        context = None
        if route.authorizer is not None:
            decision = await self._authorize(route.authorizer, facts)
            if not decision.allowed:
                return Admission(status=decision.status)
            context = decision.context
        if route.function is None:
            return Admission(status=500)
        request_id = events.new_id()
        event = events.connect_event(self.facts, facts, request_id, context)
        result = await self.invoker.invoke(route.function, event, request_id)
        if not result.ok:
            return Admission(status=500)
        status, headers, body = _proxy_answer(result.payload)
        if not 200 <= status < 300:
            return Admission(status=status, body=body)
        subprotocol = next(
            (v for k, v in headers.items() if k.lower() == "sec-websocket-protocol"), None
        )
        return Admission(subprotocol=subprotocol, authorizer=context)

    async def _authorize(
        self, authorizer: Authorizer, facts: ConnectionFacts
    ) -> authorization.Decision:
        if authorization.missing_identity(authorizer.identity_sources, facts.headers, facts.query):
            return authorization.UNAUTHORIZED
        if authorizer.function is None:
            return authorization.FAILED
        request_id = events.new_id()
        event = events.authorizer_event(self.facts, facts, request_id)
        started = time.monotonic()
        result = await self.invoker.invoke(authorizer.function, event, request_id)
        latency_ms = int((time.monotonic() - started) * 1000)
        return authorization.decide(result, self.facts.method_arn(CONNECT), latency_ms)

    # -- an open connection ----------------------------------------------------------------

    async def _serve(self, connection: Connection) -> None:
        self.connections[connection.id] = connection
        try:
            code, reason = await connection.serve(self._on_message)
        finally:
            self.connections.pop(connection.id, None)
        if not self._stopping:
            self._spawn(self._disconnect(connection, code, reason))

    def _on_message(self, connection: Connection, data: bytes, binary: bool) -> None:
        if not binary:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                connection.fail(1007, "invalid UTF-8")
                return
        route = self.api.select_route(data)
        if route is None:
            connection.send_json(self._frame_about("Forbidden", connection, events.new_id()))
            return
        self._spawn(self._run_route(connection, route, data, binary))

    async def _run_route(
        self, connection: Connection, route: Route, body: bytes, binary: bool
    ) -> None:
        request_id = events.new_id()
        if route.function is None:
            connection.send_json(self._frame_about("Internal server error", connection, request_id))
            return
        event = events.message_event(
            self.facts,
            connection.facts,
            route.key,
            request_id,
            body,
            binary=binary,
            authorizer=connection.authorizer,
        )
        result = await self.invoker.invoke(route.function, event, request_id)
        if not result.ok:
            connection.send_json(self._frame_about("Internal server error", connection, request_id))
        elif route.response_selection:
            _, _, answer = _proxy_answer(result.payload)
            if answer:
                connection.send(answer)

    async def _disconnect(self, connection: Connection, code: int, reason: str) -> None:
        route = self.api.routes.get(DISCONNECT)
        if route is None or route.function is None:
            return
        request_id = events.new_id()
        event = events.disconnect_event(
            self.facts,
            connection.facts,
            request_id,
            status_code=code,
            reason=reason,
            authorizer=connection.authorizer,
        )
        await self.invoker.invoke(route.function, event, request_id)

    @staticmethod
    def _frame_about(message: str, connection: Connection, request_id: str) -> dict[str, str]:
        return {"message": message, "connectionId": connection.id, "requestId": request_id}

    # -- for the @connections API and the runner -------------------------------------------

    def post(self, connection_id: str, data: bytes) -> bool:
        connection = self.connections.get(connection_id)
        return connection is not None and connection.send(data)

    def disconnect(self, connection_id: str) -> bool:
        connection = self.connections.get(connection_id)
        if connection is None or not connection.is_open:
            return False
        connection.close(1000, "")
        return True

    async def stop(self) -> None:
        """Closes every connection (1001, as API Gateway does when it goes away)."""
        self._stopping = True
        for connection in list(self.connections.values()):
            connection.close(*GOING_AWAY)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def settle(self) -> None:
        """Waits until the work the gateway started (routes, $disconnect) is done (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _proxy_answer(payload: Any) -> tuple[int, dict[str, str], bytes]:
    """statusCode, headers and body of a proxy integration's answer; no statusCode means 200."""
    if not isinstance(payload, Mapping):
        return 200, {}, b""
    status = payload.get("statusCode", 200)
    headers = payload.get("headers") or {}
    body = payload.get("body")
    encoded = body.encode() if isinstance(body, str) else b""
    if not isinstance(status, int) or not isinstance(headers, Mapping):
        return 500, {}, b""
    return status, {str(k): str(v) for k, v in headers.items()}, encoded


def _refusal(admission: Admission) -> Response:
    status = admission.status or 500
    body = admission.body or json.dumps(_REFUSALS.get(status, {"message": "Refused"})).encode()
    content_type = "application/json" if body.lstrip().startswith(b"{") else "text/plain"
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
    )
    return Response(status, _reason(status), headers, body)


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Refused"


def _write_all(protocol: ServerProtocol, writer: asyncio.StreamWriter) -> None:
    for data in protocol.data_to_send():
        if data:
            writer.write(data)
