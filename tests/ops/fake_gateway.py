"""A small WebSocket server that speaks docs/protocol.md, for testing chatdeploy's client.

It runs in a thread of its own on 127.0.0.1 (a port the OS picks) and can be told to misbehave:
not deliver to the other clients, not echo to the sender, or refuse every handshake. The token's
payload is read for the display name; its signature is not checked (this is a client test).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

HOST = "127.0.0.1"


@dataclass
class Handshake:
    path: str
    offered: list[str]


@dataclass
class FakeGateway:
    deliver_to_others: bool = True
    echo_to_sender: bool = True
    refuse_status: int | None = None
    answer_error: str | None = None
    handshakes: list[Handshake] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _rooms: dict[ServerConnection, str] = field(default_factory=dict)
    _history: list[dict[str, Any]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Future[None] | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/production"

    def __enter__(self) -> FakeGateway:
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main(ready)), daemon=True)
        self._thread.start()
        assert ready.wait(5), "the fake gateway did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(5)

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        server: Server = await serve(
            self._serve,
            HOST,
            0,
            process_request=self._check_handshake,
            select_subprotocol=lambda _conn, offered: (
                Subprotocol("chatdeploy") if "chatdeploy" in offered else None
            ),
        )
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        await self._stop
        server.close()
        await server.wait_closed()

    def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        offered = [
            item.strip()
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for item in value.split(",")
        ]
        self.handshakes.append(Handshake(request.path, offered))
        if self.refuse_status is not None:
            return connection.respond(self.refuse_status, "refused\n")
        if len(offered) != 2 or offered[0] != "chatdeploy" or offered[1].count(".") != 2:
            return connection.respond(401, "no token\n")
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        query = parse_qs(urlsplit(connection.request.path).query)
        self._rooms[connection] = query.get("room", ["general"])[0]
        name = _display_name(self.handshakes[-1].offered[1])
        try:
            async for raw in connection:
                await self._on_frame(connection, name, raw)
        except ConnectionClosed:
            pass
        finally:
            self._rooms.pop(connection, None)

    async def _on_frame(self, connection: ServerConnection, name: str, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            await _send(connection, {"type": "error", "code": "bad_json", "action": None})
            return
        self.frames.append(frame)
        action = frame.get("action")
        if self.answer_error is not None:
            error = {"type": "error", "code": self.answer_error, "action": action}
            await _send(connection, {**error, "message": "refused by the fake"})
        elif action == "sendMessage":
            await self._broadcast(connection, name, frame)
        elif action == "joinRoom":
            self._rooms[connection] = frame["roomId"]
        elif action == "getHistory":
            room = frame["roomId"]
            messages = [m for m in reversed(self._history) if m["roomId"] == room]
            reply = {"type": "history", "roomId": room, "messages": messages, "more": False}
            await _send(connection, reply)
        else:
            error = {"type": "error", "code": "unknown_action", "message": "?", "action": action}
            await _send(connection, error)

    async def _broadcast(self, sender: ServerConnection, name: str, frame: dict[str, Any]) -> None:
        message = {
            "messageId": str(uuid.uuid4()),
            "roomId": frame["roomId"],
            "userId": name,
            "displayName": name,
            "message": frame["message"],
            "timestamp": int(time.time() * 1000),
        }
        self._history.append(message)
        for member, room in list(self._rooms.items()):
            wanted = self.echo_to_sender if member is sender else self.deliver_to_others
            if room == frame["roomId"] and wanted:
                await _send(member, {"type": "message", **message})


async def _send(connection: ServerConnection, frame: dict[str, Any]) -> None:
    with contextlib.suppress(ConnectionClosed):
        await connection.send(json.dumps(frame))


def _display_name(token: str) -> str:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims.get("email") or claims.get("sub") or "?")
