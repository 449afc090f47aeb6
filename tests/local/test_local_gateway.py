"""The gateway and the workers against a fixture API: no `$default`, no authorizer, a route
that reports what its worker sees, sleeps past its 1 s timeout, or crashes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from local_testkit import FIXTURE_HANDLERS, Chat, eventually, running_chat
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from chatdeploy.config import Config, FunctionsConfig, FunctionSettings


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chat]:
    config = Config(
        stack="fixture",
        functions=FunctionsConfig(overrides={"reply": FunctionSettings(timeout_s=1)}),
    )
    state_dir = tmp_path_factory.mktemp("state")
    with running_chat(state_dir, config=config, handlers=FIXTURE_HANDLERS) as running:
        yield running


async def whoami(ws: ClientConnection, **frame: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"action": "whoami", **frame}))
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 10)))


def test_an_unknown_route_without_default_gets_the_forbidden_frame(chat: Chat) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with connect(chat.urls.websocket) as ws:
            answers = []
            for frame in ('{"action": "nope"}', "not json", '{"no": "action"}'):
                await ws.send(frame)
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            answers.append(await whoami(ws))  # still open
            return answers

    *forbidden, alive = asyncio.run(scenario())
    for frame in forbidden:
        assert frame["message"] == "Forbidden"
        assert set(frame) == {"message", "connectionId", "requestId"}
    assert alive["event"]["requestContext"]["connectionId"] == forbidden[0]["connectionId"]


def test_events_are_shaped_like_api_gateways(chat: Chat) -> None:
    async def scenario() -> dict[str, Any]:
        async with connect(chat.urls.websocket) as ws:
            return await whoami(ws, extra=1)

    event = asyncio.run(scenario())["event"]
    context = event["requestContext"]
    assert context["routeKey"] == "whoami"
    assert context["eventType"] == "MESSAGE"
    assert context["stage"] == "production"
    assert context["domainName"] == chat.urls.websocket.split("/")[2]
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["apiId"] == chat.outputs["api_id"]
    assert {"requestId", "messageId", "connectedAt", "connectionId"} <= set(context)
    assert json.loads(event["body"]) == {"action": "whoami", "extra": 1}
    assert event["isBase64Encoded"] is False


def test_a_worker_has_its_functions_environment_and_only_the_runtimes_libraries(
    chat: Chat,
) -> None:
    async def scenario() -> dict[str, Any]:
        async with connect(chat.urls.websocket) as ws:
            return await whoami(ws)

    seen = asyncio.run(scenario())
    environment = seen["environment"]
    assert environment["AWS_ENDPOINT_URL"] == chat.urls.emulator
    assert environment["MANAGEMENT_API_ENDPOINT"] == chat.urls.management
    assert environment["AWS_ACCESS_KEY_ID"] == "local"
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == "FixtureReply"
    assert environment["CONNECTIONS_TABLE"] == "FixtureConnections"
    assert seen["importable"] == {"boto3": True, "moto": False, "chatdeploy": False}
    assert seen["cwd"] == seen["path0"]
    assert 0 < seen["remainingMs"] <= 1000


def test_a_worker_past_its_timeout_fails_the_invocation_and_is_replaced(chat: Chat) -> None:
    async def scenario() -> tuple[int, dict[str, Any], int]:
        async with connect(chat.urls.websocket) as ws:
            before = (await whoami(ws))["pid"]
            failed = await whoami(ws, seconds=5)
            after = (await whoami(ws))["pid"]
            return before, failed, after

    before, failed, after = asyncio.run(scenario())
    assert failed["message"] == "Internal server error"
    assert after != before
    logs = chat.client("logs")

    def timed_out() -> bool:
        found = logs.filter_log_events(logGroupName="/aws/lambda/FixtureReply")["events"]
        return any("Task timed out after 1.00 seconds" in e["message"] for e in found)

    eventually(timed_out)


def test_a_worker_that_exits_fails_the_invocation_and_is_replaced(chat: Chat) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(chat.urls.websocket) as ws:
            crashed = await whoami(ws, crash=True)
            return crashed, await whoami(ws)

    crashed, after = asyncio.run(scenario())
    assert crashed["message"] == "Internal server error"
    assert after["pid"] > 0


def test_a_non_2xx_connect_answer_refuses_the_handshake_with_its_status(chat: Chat) -> None:
    async def scenario() -> int:
        try:
            async with connect(chat.urls.websocket + "?refuse=418"):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    assert asyncio.run(scenario()) == 418


def test_no_subprotocol_is_chosen_unless_connect_answers_one(chat: Chat) -> None:
    async def scenario() -> str | None:
        async with connect(chat.urls.websocket, subprotocols=["chatdeploy"]) as ws:  # type: ignore[list-item]
            return ws.subprotocol

    assert asyncio.run(scenario()) is None


def test_disconnect_gets_the_clients_close_code(chat: Chat) -> None:
    async def scenario() -> str:
        async with connect(chat.urls.websocket) as ws:
            connection_id = (await whoami(ws))["event"]["requestContext"]["connectionId"]
            await ws.close(4001, "bye")
            return str(connection_id)

    connection_id = asyncio.run(scenario())
    logs = chat.client("logs")

    def disconnect_line() -> list[dict[str, Any]]:
        found = logs.filter_log_events(logGroupName="/aws/lambda/FixtureDisconnect")["events"]
        lines = [json.loads(e["message"]) for e in found if e["message"].startswith("{")]
        return [line for line in lines if line["disconnected"] == connection_id]

    assert eventually(disconnect_line)[0]["code"] == 4001
