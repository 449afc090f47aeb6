"""A stand-in for `chatdeploy local`, just enough to drive the web app in a browser.

Three servers, all on 127.0.0.1 with ports picked by the OS:

* moto's ThreadedMotoServer for Cognito (a user pool with email as username, the guide's
  password policy and an app client with USER_PASSWORD_AUTH + REFRESH_TOKEN_AUTH);
* an HTTP server for frontend/ plus a config.json generated in memory (nothing is written
  into frontend/);
* a WebSocket endpoint that speaks docs/protocol.md: the `chatdeploy` subprotocol with the
  ID token as the second offered subprotocol, rooms, history paging, presence, typing and
  error frames, all in memory.

This is a test fake. The token's payload is decoded for identity but its signature is NOT
verified (expiry, token_use and audience are checked so a stale token is refused like on AWS).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import http.server
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from moto.server import ThreadedMotoServer
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

HOST = "127.0.0.1"
REGION = "us-east-1"
STAGE_PATH = "/production"
ROOM_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
SUBPROTOCOL = "chatdeploy"

# The guide's password policy (design.md, stage "auth").
PASSWORD_POLICY = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": False,
}


def _b64url_json(part: str) -> dict[str, Any]:
    padded = part + "=" * (-len(part) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("JWT part is not a JSON object")
    return value


def _offered_subprotocols(headers: Headers) -> list[str]:
    offered: list[str] = []
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        offered.extend(item.strip() for item in value.split(",") if item.strip())
    return offered


@dataclass
class Handshake:
    """What a client sent when it connected (tests inspect these)."""

    path: str
    room: str
    user_id: str | None
    offered_subprotocols: list[str]
    status: int


@dataclass(eq=False)
class Client:
    ws: ServerConnection
    connection_id: str
    user_id: str
    display_name: str
    room: str


@dataclass
class ChatHub:
    """The chat's server side, in memory. Runs on the WebSocket server's event loop only."""

    client_id: str
    max_message_bytes: int
    clients: set[Client] = field(default_factory=set)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    last_timestamp: int = 0

    # -- fan-out --------------------------------------------------------------------------
    async def _send(self, client: Client, frame: dict[str, Any]) -> None:
        # A closed connection is like a GoneException: its disconnect path removes it.
        with contextlib.suppress(ConnectionClosed):
            await client.ws.send(json.dumps(frame))

    async def _to_room(
        self, room: str, frame: dict[str, Any], *, skip: Client | None = None
    ) -> None:
        targets = [c for c in self.clients if c.room == room and c is not skip]
        await asyncio.gather(*(self._send(c, frame) for c in targets))

    async def _presence(self, room: str) -> None:
        users: dict[str, str] = {}
        for c in self.clients:
            if c.room == room:
                users[c.user_id] = c.display_name
        listed = [{"userId": uid, "displayName": name} for uid, name in users.items()]
        listed.sort(key=lambda u: (u["displayName"].lower(), u["userId"]))
        await self._to_room(room, {"type": "presence", "roomId": room, "users": listed})

    # -- lifecycle ------------------------------------------------------------------------
    async def join(self, client: Client) -> None:
        self.clients.add(client)
        await self._presence(client.room)

    async def leave(self, client: Client) -> None:
        self.clients.discard(client)
        await self._presence(client.room)

    # -- routes ---------------------------------------------------------------------------
    async def handle(self, client: Client, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            await self._error(client, "bad_json", "the frame is not a JSON object", None)
            return
        action = frame.get("action")
        routes = {
            "sendMessage": self._send_message,
            "joinRoom": self._join_room,
            "getHistory": self._get_history,
            "typing": self._typing,
        }
        route = routes.get(action) if isinstance(action, str) else None
        if route is None:
            await self._error(client, "unknown_action", f"unknown action {action!r}", action)
            return
        room = frame.get("roomId")
        if room is None:
            await self._error(client, "missing_field", "roomId is required", action)
            return
        if not isinstance(room, str) or not ROOM_RE.fullmatch(room):
            await self._error(client, "bad_room", "roomId must match [A-Za-z0-9_-]{1,64}", action)
            return
        await route(client, room, frame)

    async def _error(self, client: Client, code: str, message: str, action: Any) -> None:
        await self._send(
            client,
            {
                "type": "error",
                "code": code,
                "message": message,
                "action": action if isinstance(action, str) else None,
            },
        )

    async def _send_message(self, client: Client, room: str, frame: dict[str, Any]) -> None:
        if "message" not in frame:
            await self._error(client, "missing_field", "message is required", "sendMessage")
            return
        text = frame["message"]
        if not isinstance(text, str):
            await self._error(client, "bad_field", "message must be a string", "sendMessage")
            return
        if not text.strip():
            await self._error(client, "empty_message", "message is empty", "sendMessage")
            return
        size = len(text.encode("utf-8"))
        if size > self.max_message_bytes:
            await self._error(
                client,
                "too_long",
                f"message is {size} bytes; the limit is {self.max_message_bytes}",
                "sendMessage",
            )
            return
        # Strictly increasing timestamps keep `before` paging exact in this fake.
        self.last_timestamp = max(int(time.time() * 1000), self.last_timestamp + 1)
        stored = {
            "messageId": str(uuid.uuid4()),
            "roomId": room,
            "userId": client.user_id,
            "displayName": client.display_name,
            "message": text,
            "timestamp": self.last_timestamp,
        }
        self.messages.setdefault(room, []).append(stored)
        await self._to_room(room, {"type": "message", **stored})

    async def _join_room(self, client: Client, room: str, frame: dict[str, Any]) -> None:
        old, client.room = client.room, room
        if old != room:
            await self._presence(old)
        await self._presence(room)

    async def _get_history(self, client: Client, room: str, frame: dict[str, Any]) -> None:
        limit = frame.get("limit", 50)
        before = frame.get("before")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            await self._error(client, "bad_field", "limit must be 1-100", "getHistory")
            return
        if before is not None and (isinstance(before, bool) or not isinstance(before, int | float)):
            await self._error(client, "bad_field", "before must be a number", "getHistory")
            return
        older = [
            m for m in self.messages.get(room, []) if before is None or m["timestamp"] < before
        ]
        older.sort(key=lambda m: m["timestamp"], reverse=True)
        page = older[:limit]
        await self._send(
            client,
            {"type": "history", "roomId": room, "messages": page, "more": len(older) > limit},
        )

    async def _typing(self, client: Client, room: str, frame: dict[str, Any]) -> None:
        await self._to_room(
            room,
            {
                "type": "typing",
                "roomId": room,
                "userId": client.user_id,
                "displayName": client.display_name,
            },
            skip=client,
        )

    # -- test controls --------------------------------------------------------------------
    async def close_all(self, code: int) -> int:
        clients = list(self.clients)
        await asyncio.gather(*(c.ws.close(code, "closed by the test") for c in clients))
        return len(clients)


class _StaticHandler(http.server.SimpleHTTPRequestHandler):
    """Serves frontend/ and a config.json that exists only in memory."""

    config_body: bytes = b"{}"
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".css": "text/css",
        ".svg": "image/svg+xml",
        ".json": "application/json",
    }

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/config.json":
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.config_body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(self.config_body)
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeBackend:
    """Cognito (moto) + static files + a protocol-speaking WebSocket endpoint, on loopback."""

    def __init__(self, frontend_dir: Path, *, max_message_bytes: int = 4096) -> None:
        self.frontend_dir = Path(frontend_dir)
        self.max_message_bytes = max_message_bytes
        self.handshakes: list[Handshake] = []
        self.refuse_connections = False
        self._moto: ThreadedMotoServer | None = None
        self._http: http.server.ThreadingHTTPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws_server: Server | None = None
        self._ws_thread: threading.Thread | None = None
        self.hub: ChatHub | None = None

    # -- start / stop ---------------------------------------------------------------------
    def start(self) -> FakeBackend:
        self._start_cognito()
        self._start_websocket()
        self._start_http()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._loop is not None and self._ws_server is not None:
            server = self._ws_server

            async def _close() -> None:
                server.close()
                await server.wait_closed()

            asyncio.run_coroutine_threadsafe(_close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._ws_thread is not None:
                self._ws_thread.join(timeout=10)
        if self._moto is not None:
            self._moto.stop()

    def _start_cognito(self) -> None:
        # werkzeug logs every request (and moto's tracebacks for unimplemented calls such as
        # RevokeToken, which the page tries on sign-out) to stderr; keep test output quiet.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        self._moto = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.cognito_endpoint = f"http://{host}:{port}/"
        idp = self.cognito_client()
        pool = idp.create_user_pool(
            PoolName="chatdeploy-browser-tests",
            UsernameAttributes=["email"],
            AutoVerifiedAttributes=["email"],
            Policies={"PasswordPolicy": PASSWORD_POLICY},
        )["UserPool"]
        self.user_pool_id = pool["Id"]
        app_client = idp.create_user_pool_client(
            UserPoolId=self.user_pool_id,
            ClientName="web",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            # moto puts only readable attributes into the ID token (AWS: all, by default).
            ReadAttributes=["email", "email_verified", "name"],
        )["UserPoolClient"]
        self.client_id = app_client["ClientId"]

    def _start_http(self) -> None:
        config = {
            "websocketUrl": self.websocket_url,
            "region": REGION,
            "userPoolId": self.user_pool_id,
            "userPoolClientId": self.client_id,
            "identityPoolId": None,
            "cognitoEndpoint": self.cognito_endpoint,
            "maxMessageBytes": self.max_message_bytes,
        }
        handler = type(
            "ConfiguredStaticHandler",
            (_StaticHandler,),
            {"config_body": json.dumps(config).encode("utf-8")},
        )
        self._http = http.server.ThreadingHTTPServer(
            (HOST, 0), functools.partial(handler, directory=str(self.frontend_dir))
        )
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.page_url = f"http://{HOST}:{self._http.server_address[1]}/"

    def _start_websocket(self) -> None:
        self.hub = ChatHub(client_id=self.client_id, max_message_bytes=self.max_message_bytes)
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        async def _serve() -> None:
            self._ws_server = await serve(
                self._connection,
                HOST,
                0,
                process_request=self._process_request,
                select_subprotocol=self._select_subprotocol,
                max_size=128 * 1024,
            )
            started.set()

        def _run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(_serve())
            self._loop.run_forever()

        self._ws_thread = threading.Thread(target=_run, daemon=True)
        self._ws_thread.start()
        if not started.wait(10):
            raise RuntimeError("the fake WebSocket server did not start")
        assert self._ws_server is not None
        port = next(iter(self._ws_server.sockets)).getsockname()[1]
        self.websocket_url = f"ws://{HOST}:{port}{STAGE_PATH}"

    # -- handshake ------------------------------------------------------------------------
    def _identity(self, request: Request) -> tuple[int, str, dict[str, str] | None]:
        """(HTTP status, room, identity) for a handshake; status 101 means accept."""
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        room = query.get("room", ["general"])[0]
        if url.path != STAGE_PATH or not ROOM_RE.fullmatch(room):
            return 400, room, None
        offered = _offered_subprotocols(request.headers)
        tokens = [p for p in offered if p != SUBPROTOCOL] or query.get("token", [])
        if not tokens:
            return 401, room, None
        try:
            header_b64, payload_b64, _signature = tokens[0].split(".")
            _b64url_json(header_b64)
            claims = _b64url_json(payload_b64)
        except ValueError:
            return 401, room, None
        if (
            claims.get("token_use") != "id"
            or claims.get("aud") != self.client_id
            or not isinstance(claims.get("exp"), int)
            or claims["exp"] <= time.time()
            or not claims.get("sub")
        ):
            return 403, room, None
        name = claims.get("name") or claims.get("email") or claims["sub"]
        return 101, room, {"userId": str(claims["sub"]), "displayName": str(name)}

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        status, room, identity = self._identity(request)
        if self.refuse_connections and status == 101:
            status = 503
        self.handshakes.append(
            Handshake(
                path=request.path,
                room=room,
                user_id=identity["userId"] if identity else None,
                offered_subprotocols=_offered_subprotocols(request.headers),
                status=status,
            )
        )
        if status != 101:
            return connection.respond(HTTPStatus(status), f"{HTTPStatus(status).phrase}\n")
        return None

    @staticmethod
    def _select_subprotocol(
        connection: ServerConnection, subprotocols: Iterable[str]
    ) -> str | None:
        offered = list(subprotocols)
        if SUBPROTOCOL in offered:
            return SUBPROTOCOL
        return offered[0] if offered else None  # a client offering only the token gets it echoed

    async def _connection(self, ws: ServerConnection) -> None:
        assert self.hub is not None
        status, room, identity = self._identity(ws.request)  # type: ignore[arg-type]
        if status != 101 or identity is None:  # cannot happen: process_request refused it
            await ws.close(1008, "unauthorized")
            return
        client = Client(
            ws=ws,
            connection_id=base64.urlsafe_b64encode(uuid.uuid4().bytes[:9]).decode(),
            user_id=identity["userId"],
            display_name=identity["displayName"],
            room=room,
        )
        await self.hub.join(client)
        try:
            async for raw in ws:
                await self.hub.handle(client, raw)
        except ConnectionClosed:
            pass
        finally:
            await self.hub.leave(client)

    # -- helpers for tests ----------------------------------------------------------------
    def cognito_client(self) -> Any:
        return boto3.client(
            "cognito-idp",
            endpoint_url=self.cognito_endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def create_user(self, email: str, password: str, name: str | None = None) -> None:
        """A confirmed user with a permanent password (like `chatdeploy users create`)."""
        attributes = [
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
        ]
        if name:
            attributes.append({"Name": "name", "Value": name})
        idp = self.cognito_client()
        idp.admin_create_user(
            UserPoolId=self.user_pool_id,
            Username=email,
            UserAttributes=attributes,
            MessageAction="SUPPRESS",
        )
        idp.admin_set_user_password(
            UserPoolId=self.user_pool_id, Username=email, Password=password, Permanent=True
        )

    def user_status(self, email: str) -> str:
        user = self.cognito_client().admin_get_user(UserPoolId=self.user_pool_id, Username=email)
        return str(user["UserStatus"])

    def drop_connections(self, code: int = 1001) -> int:
        """Close every open WebSocket from the server side; returns how many were closed."""
        assert self._loop is not None and self.hub is not None
        future = asyncio.run_coroutine_threadsafe(self.hub.close_all(code), self._loop)
        return future.result(timeout=10)

    def seed_messages(
        self, room: str, texts: list[str], *, user_id: str, display_name: str
    ) -> None:
        """Stores messages as if they had been sent earlier (for history paging tests)."""
        assert self._loop is not None and self.hub is not None
        hub = self.hub

        async def _seed() -> None:
            start = int(time.time() * 1000) - 60_000 * len(texts)
            stored = hub.messages.setdefault(room, [])
            for index, text in enumerate(texts):
                stored.append(
                    {
                        "messageId": str(uuid.uuid4()),
                        "roomId": room,
                        "userId": user_id,
                        "displayName": display_name,
                        "message": text,
                        "timestamp": start + index * 60_000,
                    }
                )

        asyncio.run_coroutine_threadsafe(_seed(), self._loop).result(timeout=10)

    def room_messages(self, room: str) -> list[dict[str, Any]]:
        assert self._loop is not None and self.hub is not None
        hub = self.hub

        async def _copy() -> list[dict[str, Any]]:
            return [dict(m) for m in hub.messages.get(room, [])]

        return asyncio.run_coroutine_threadsafe(_copy(), self._loop).result(timeout=10)
