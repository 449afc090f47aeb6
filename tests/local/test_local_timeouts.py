"""API Gateway's idle timeout and maximum connection duration, shrunk to a second or two: both
close the connection with 1001 and run `$disconnect`, whose handler removes the row."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from local_testkit import Chat, eventually, open_chat, running_chat
from websockets.asyncio.client import ClientConnection

from chatdeploy.local.runner import LocalSettings

IDLE_S = 1.0
MAX_DURATION_S = 2.5


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chat]:
    settings = LocalSettings(port=0, idle_timeout_s=IDLE_S, max_duration_s=MAX_DURATION_S)
    with running_chat(tmp_path_factory.mktemp("state"), settings=settings) as running:
        yield running


def rows_of(chat: Chat, user_id: str) -> list[str]:
    return [r["connectionId"]["S"] for r in chat.connection_rows() if r["userId"]["S"] == user_id]


def user_id_of(token: str) -> str:
    import base64
    import json

    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


async def keep_pinging(ws: ClientConnection) -> None:
    while True:
        await ws.ping()
        await asyncio.sleep(IDLE_S / 5)


def test_an_idle_connection_is_closed_and_disconnected(chat: Chat, email: str) -> None:
    token = chat.token(email)

    async def scenario() -> int | None:
        async with open_chat(chat.urls.websocket, token) as ws:
            await asyncio.to_thread(eventually, lambda: rows_of(chat, user_id_of(token)))
            await asyncio.wait_for(ws.wait_closed(), 10 * IDLE_S)
            return ws.close_code

    assert asyncio.run(scenario()) == 1001
    eventually(lambda: not rows_of(chat, user_id_of(token)))


def test_a_busy_connection_is_closed_after_the_maximum_duration(chat: Chat, email: str) -> None:
    token = chat.token(email)

    async def scenario() -> tuple[int | None, float]:
        async with open_chat(chat.urls.websocket, token) as ws:
            opened = time.monotonic()
            pinger = asyncio.create_task(keep_pinging(ws))
            try:
                await asyncio.wait_for(ws.wait_closed(), 10 * MAX_DURATION_S)
            finally:
                pinger.cancel()
            return ws.close_code, time.monotonic() - opened

    code, lived = asyncio.run(scenario())
    assert code == 1001
    assert lived >= MAX_DURATION_S - 0.2  # pings kept it from idling out earlier
    eventually(lambda: not rows_of(chat, user_id_of(token)))
