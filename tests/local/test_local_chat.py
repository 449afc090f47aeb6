"""The chat's own handlers behind the local gateway, driven by real WebSocket clients."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_testkit import (
    Chat,
    eventually,
    frames_until,
    next_frame,
    of_type,
    open_chat,
    running_chat,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chat]:
    with running_chat(tmp_path_factory.mktemp("state")) as running:
        yield running


def room() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


def status_of_refusal(url: str, **kwargs: Any) -> int:
    async def attempt() -> int:
        try:
            async with connect(url, **kwargs):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    return asyncio.run(attempt())


# -- the handshake ------------------------------------------------------------------------------


def test_no_token_is_refused_with_401(chat: Chat) -> None:
    assert status_of_refusal(chat.urls.websocket) == 401


def test_a_token_that_is_no_jwt_is_refused_with_401(chat: Chat) -> None:
    assert status_of_refusal(chat.urls.websocket + "?token=not-a-token") == 401


def test_a_forged_token_is_refused_with_403(chat: Chat, email: str) -> None:
    header, claims, signature = chat.token(email).split(".")
    forged_claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    forged_claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    assert status_of_refusal(f"{chat.urls.websocket}?token={header}.{forged}.{signature}") == 403


def test_a_token_in_the_query_string_is_accepted(chat: Chat, email: str) -> None:
    async def scenario() -> None:
        async with open_chat(chat.urls.websocket, chat.token(email)) as ws:
            await ws.send(json.dumps({"action": "getHistory", "roomId": "general"}))
            await next_frame(ws, of_type("history"))

    asyncio.run(scenario())


def test_a_token_as_subprotocol_is_accepted_and_chatdeploy_answered(chat: Chat, email: str) -> None:
    async def scenario() -> str | None:
        offered = ["chatdeploy", chat.token(email)]
        async with connect(chat.urls.websocket, subprotocols=offered) as ws:  # type: ignore[arg-type]
            return ws.subprotocol

    assert asyncio.run(scenario()) == "chatdeploy"


def test_a_refused_handshake_stores_nothing(chat: Chat) -> None:
    def connection_ids() -> set[str]:
        return {row["connectionId"]["S"] for row in chat.connection_rows()}

    before = connection_ids()
    assert status_of_refusal(chat.urls.websocket) == 401
    assert status_of_refusal(chat.urls.websocket + "?token=forged.x.y") == 401
    chat.settle()
    assert connection_ids() <= before


# -- messages ---------------------------------------------------------------------------------


def test_a_message_reaches_its_room_and_only_its_room(chat: Chat) -> None:
    here, elsewhere = room(), room()
    ana, ben, cem = (chat.token(f"{n}-{uuid.uuid4().hex[:6]}@example.com") for n in "abc")

    async def scenario() -> list[dict[str, Any]]:
        async with (
            open_chat(chat.urls.websocket, ana, here) as a,
            open_chat(chat.urls.websocket, ben, here) as b,
            open_chat(chat.urls.websocket, cem, elsewhere) as c,
        ):
            await a.send(json.dumps({"action": "sendMessage", "roomId": here, "message": "hi"}))
            for ws in (a, b):
                received = await next_frame(ws, of_type("message"))
                assert (received["roomId"], received["message"]) == (here, "hi")
            await asyncio.to_thread(chat.settle)  # the fan-out has finished
            await c.send(json.dumps({"action": "getHistory", "roomId": elsewhere}))
            return await frames_until(c, of_type("history"))

    seen_by_cem = asyncio.run(scenario())
    assert [f for f in seen_by_cem if f.get("type") == "message"] == []


def test_a_malformed_frame_gets_an_error_frame_and_the_connection_survives(
    chat: Chat, email: str
) -> None:
    here = room()

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with open_chat(chat.urls.websocket, chat.token(email), here) as ws:
            await ws.send("{not json")
            error = await next_frame(ws, of_type("error"))
            await ws.send(json.dumps({"action": "sendMessage", "roomId": here, "message": "ok"}))
            return error, await next_frame(ws, of_type("message"))

    error, message = asyncio.run(scenario())
    assert error["code"] == "bad_json"
    assert message["message"] == "ok"


def test_history_is_newest_first(chat: Chat, email: str) -> None:
    here = room()

    async def scenario() -> dict[str, Any]:
        async with open_chat(chat.urls.websocket, chat.token(email), here) as ws:
            for text in ("one", "two", "three"):
                await ws.send(
                    json.dumps({"action": "sendMessage", "roomId": here, "message": text})
                )
                await next_frame(ws, lambda f, t=text: f.get("message") == t)
            await ws.send(json.dumps({"action": "getHistory", "roomId": here, "limit": 2}))
            return await next_frame(ws, of_type("history"))

    history = asyncio.run(scenario())
    assert [m["message"] for m in history["messages"]] == ["three", "two"]
    assert history["more"] is True


def test_presence_lists_who_joined(chat: Chat) -> None:
    here = room()
    ana = chat.token(f"ana-{uuid.uuid4().hex[:6]}@example.com", "Ana")
    ben = chat.token(f"ben-{uuid.uuid4().hex[:6]}@example.com", "Ben")

    async def scenario() -> dict[str, Any]:
        async with (
            open_chat(chat.urls.websocket, ana, here) as a,
            open_chat(chat.urls.websocket, ben) as b,
        ):
            await b.send(json.dumps({"action": "joinRoom", "roomId": here}))
            return await next_frame(
                a, lambda f: f.get("type") == "presence" and len(f["users"]) == 2
            )

    presence = asyncio.run(scenario())
    assert presence["roomId"] == here
    assert {user["userId"] for user in presence["users"]} == {
        _claims(ana)["sub"],
        _claims(ben)["sub"],
    }


# -- API Gateway's limits -------------------------------------------------------------------------


def closed_with(chat: Chat, email: str, send: Any) -> int | None:
    async def scenario() -> int | None:
        async with open_chat(chat.urls.websocket, chat.token(email)) as ws:
            await send(ws)
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
        return None

    return asyncio.run(scenario())


def test_a_message_over_128_kb_closes_with_1009(chat: Chat, email: str) -> None:
    fragment = "x" * (30 * 1024)  # every frame under 32 KB, five of them over 128 KB

    async def send(ws: Any) -> None:
        await ws.send([fragment] * 5)

    assert closed_with(chat, email, send) == 1009


def test_a_frame_over_32_kb_closes_with_1009(chat: Chat, email: str) -> None:
    async def send(ws: Any) -> None:
        await ws.send("x" * (33 * 1024))

    assert closed_with(chat, email, send) == 1009


def test_a_message_under_the_limits_in_frames_under_32_kb_goes_through(
    chat: Chat, email: str
) -> None:
    async def scenario() -> dict[str, Any]:
        async with open_chat(chat.urls.websocket, chat.token(email)) as ws:
            body = json.dumps({"action": "nothing", "padding": "x" * (60 * 1024)})
            await ws.send([body[i : i + 20 * 1024] for i in range(0, len(body), 20 * 1024)])
            return await next_frame(ws, of_type("error"))

    assert asyncio.run(scenario())["code"] == "unknown_action"


# -- @connections, $disconnect ----------------------------------------------------------------


def connection_id_of(chat: Chat, email: str) -> str:
    user_id = _claims(chat.token(email))["sub"]

    def find() -> str | None:
        rows = [r for r in chat.connection_rows() if r["userId"]["S"] == user_id]
        return rows[0]["connectionId"]["S"] if rows else None

    return eventually(find)


def test_connections_api_posts_describes_and_answers_410_once_gone(chat: Chat, email: str) -> None:
    management = _management_client(chat)

    async def scenario() -> str:
        async with open_chat(chat.urls.websocket, chat.token(email)) as ws:
            connection_id = await asyncio.to_thread(connection_id_of, chat, email)
            await asyncio.to_thread(
                management.post_to_connection, ConnectionId=connection_id, Data=b'{"hello": 1}'
            )
            assert json.loads(await ws.recv()) == {"hello": 1}
            described = await asyncio.to_thread(
                management.get_connection, ConnectionId=connection_id
            )
            assert described["Identity"]["SourceIp"] == "127.0.0.1"
            return connection_id

    connection_id = asyncio.run(scenario())
    with pytest.raises(ClientError) as gone:
        management.post_to_connection(ConnectionId=connection_id, Data=b"late")
    assert gone.value.response["Error"]["Code"] == "GoneException"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_delete_connection_closes_it_and_runs_disconnect(chat: Chat, email: str) -> None:
    management = _management_client(chat)

    async def scenario() -> None:
        async with open_chat(chat.urls.websocket, chat.token(email)) as ws:
            connection_id = await asyncio.to_thread(connection_id_of, chat, email)
            await asyncio.to_thread(management.delete_connection, ConnectionId=connection_id)
            await ws.wait_closed()

    asyncio.run(scenario())
    user_id = _claims(chat.token(email))["sub"]
    eventually(lambda: not [r for r in chat.connection_rows() if r["userId"]["S"] == user_id])


def test_closing_runs_disconnect_which_removes_the_row(chat: Chat, email: str) -> None:
    async def scenario() -> None:
        async with open_chat(chat.urls.websocket, chat.token(email)):
            await asyncio.to_thread(connection_id_of, chat, email)

    asyncio.run(scenario())
    user_id = _claims(chat.token(email))["sub"]
    eventually(lambda: not [r for r in chat.connection_rows() if r["userId"]["S"] == user_id])


# -- logs, frontend -----------------------------------------------------------------------------


def test_handler_output_lands_in_the_emulators_cloudwatch_logs(chat: Chat, email: str) -> None:
    here = room()

    async def scenario() -> None:
        async with open_chat(chat.urls.websocket, chat.token(email), here) as ws:
            await ws.send(json.dumps({"action": "sendMessage", "roomId": here, "message": "log"}))
            await next_frame(ws, of_type("message"))

    asyncio.run(scenario())
    logs = chat.client("logs")
    group = "/aws/lambda/ChatSendMessage"

    def logged() -> list[str]:
        found = logs.filter_log_events(logGroupName=group)["events"]
        return [e["message"] for e in found if f'"roomId":"{here}"' in e["message"]]

    line = json.loads(eventually(logged)[0])
    assert line["route"] == "sendMessage" and line["outcome"] == "ok"
    platform = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    assert any(m.startswith("REPORT RequestId:") for m in platform)


def http_get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.status, answer.headers["Content-Type"], answer.read()


def test_the_page_is_served_as_uploaded(chat: Chat) -> None:
    status, content_type, body = http_get(chat.urls.page)
    assert status == 200
    assert content_type.startswith("text/html")
    assert b"<html" in body.lower()
    bucket = chat.outputs["bucket"]
    uploaded = chat.client("s3").get_object(Bucket=bucket, Key="index.html")["Body"].read()
    assert body == uploaded
    _, script_type, _ = http_get(chat.urls.page + "js/app.js")
    assert script_type.startswith("text/javascript")


def test_config_json_points_at_the_local_gateway_and_emulator(chat: Chat) -> None:
    _, content_type, body = http_get(chat.urls.page + "config.json")
    config = json.loads(body)
    assert content_type.startswith("application/json")
    assert config["websocketUrl"] == chat.urls.websocket
    assert config["cognitoEndpoint"] == chat.urls.emulator
    assert config["userPoolId"] == chat.outputs["user_pool_id"]


def test_a_missing_file_is_404(chat: Chat) -> None:
    with pytest.raises(urllib.error.HTTPError) as missing:
        http_get(chat.urls.page + "no/such/file.js")
    assert missing.value.code == 404


def test_the_state_file_records_the_emulator_and_local_urls(chat: Chat) -> None:
    session = chat.background.session
    state = json.loads(Path(session.options.state_dir, "chat.json").read_text())
    assert state["endpoint_url"] == chat.urls.emulator
    assert state["outputs"]["websocket_url"] == chat.urls.websocket
    assert state["outputs"]["frontend_url"] == chat.urls.page


# -- helpers ------------------------------------------------------------------------------------


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _management_client(chat: Chat) -> Any:
    import boto3

    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=chat.urls.management,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
