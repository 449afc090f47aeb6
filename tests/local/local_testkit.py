"""Helpers of the local-mode tests: sessions on a thread, users and ID tokens from the emulator's
Cognito, WebSocket clients, and Playwright-style waiting (poll until true, never sleep-and-hope)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3
from websockets.asyncio.client import ClientConnection, connect

from chatdeploy.config import Config
from chatdeploy.local.runner import BackgroundSession, LocalSession, LocalSettings, LocalUrls
from chatdeploy.workspace import Options

FIXTURE_HANDLERS = Path(__file__).parent / "fixtures" / "handlers"
PASSWORD = "Local-Mode-Test-9"
T = TypeVar("T")


@dataclass
class Chat:
    """A running local session and what a test needs of it."""

    background: BackgroundSession
    urls: LocalUrls
    outputs: dict[str, Any]
    _tokens: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.urls.emulator,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def token(self, email: str, name: str | None = None) -> str:
        """An ID token of a (new) user of the stack's pool, from USER_PASSWORD_AUTH."""
        if email not in self._tokens:
            self._tokens[email] = self._sign_in(email, name or email.partition("@")[0].title())
        return self._tokens[email]

    def _sign_in(self, email: str, name: str) -> str:
        idp = self.client("cognito-idp")
        pool = self.outputs["user_pool_id"]
        idp.admin_create_user(
            UserPoolId=pool,
            Username=email,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "name", "Value": name},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",
        )
        idp.admin_set_user_password(
            UserPoolId=pool, Username=email, Password=PASSWORD, Permanent=True
        )
        answer = idp.initiate_auth(
            ClientId=self.outputs["user_pool_client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
        )
        return str(answer["AuthenticationResult"]["IdToken"])

    def settle(self) -> None:
        """Waits until every route invocation the gateway started has finished."""
        gateway = self.background.session.gateway
        assert gateway is not None
        self.background.call(gateway.settle)

    def connection_rows(self) -> list[dict[str, Any]]:
        table = self.outputs.get("connections_table", "ChatConnections")
        return list(self.client("dynamodb").scan(TableName=table)["Items"])


@contextmanager
def running_chat(
    state_dir: Path,
    *,
    config: Config | None = None,
    handlers: Path | None = None,
    settings: LocalSettings | None = None,
) -> Iterator[Chat]:
    options = Options(state_dir=state_dir, handlers=handlers, region="us-east-1")
    session = LocalSession(options, settings or LocalSettings(port=0), config=config or Config())
    background = BackgroundSession(session)
    urls = background.start()
    try:
        deployment = session.deployment
        assert deployment is not None
        yield Chat(background, urls, deployment.workspace.state.outputs)
    finally:
        background.stop()


# -- waiting ----------------------------------------------------------------------------------


def eventually(probe: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05) -> T:
    """probe() once it returns something truthy; AssertionError with its last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} s")
        time.sleep(interval)


async def next_frame(
    ws: ClientConnection, matches: Callable[[dict[str, Any]], bool], *, timeout: float = 10.0
) -> dict[str, Any]:
    """The first JSON frame that matches; frames before it are dropped."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if matches(frame):
                return dict(frame)


def of_type(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame.get("type") == kind


async def frames_until(
    ws: ClientConnection, matches: Callable[[dict[str, Any]], bool], *, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Every frame up to and including the first that matches."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            seen.append(frame)
            if matches(frame):
                return seen


def open_chat(url: str, token: str, room: str | None = None, **kwargs: Any) -> Any:
    query = f"?token={token}" + (f"&room={room}" if room else "")
    return connect(url + query, **kwargs)
