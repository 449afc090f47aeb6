"""API Gateway's rules in the local gateway, with scripted functions instead of workers: the
authorizer's identity sources and policies, subprotocol selection, route selection, two-way
routes, binary frames, the listener's paths and the @connections API's errors. Real WebSocket
clients, a real listener on 127.0.0.1; no emulator."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chatdeploy.local.deployed import Authorizer, DeployedApi, Route
from chatdeploy.local.events import ApiFacts
from chatdeploy.local.gateway import Gateway, GatewaySettings
from chatdeploy.local.http_server import HttpListener, HttpRequest, HttpResponse
from chatdeploy.local.routing import LocalSite
from chatdeploy.local.workers import Invocation

FACTS = ApiFacts("abc123", "production", "us-east-1", "123456789012")
METHOD_ARN = FACTS.method_arn("$connect")
Script = Callable[[dict[str, Any]], Invocation]


def allow(context: dict[str, Any] | None = None, resource: str = METHOD_ARN) -> Invocation:
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}
    answer: dict[str, Any] = {"principalId": "user-1", "policyDocument": {"Statement": [statement]}}
    if context is not None:
        answer["context"] = context
    return Invocation("r", ok=True, payload=answer)


def deny() -> Invocation:
    statement = {"Action": "execute-api:*", "Effect": "Deny", "Resource": "arn:aws:execute-api:*"}
    return Invocation(
        "r", ok=True, payload={"principalId": "x", "policyDocument": {"Statement": [statement]}}
    )


def failure(message: str) -> Invocation:
    return Invocation("r", ok=False, error={"errorType": "Exception", "errorMessage": message})


def answer(payload: Any) -> Invocation:
    return Invocation("r", ok=True, payload=payload)


@dataclass
class ScriptedFunctions:
    """Functions whose answers the test scripts; it records every event."""

    scripts: dict[str, Script] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    async def invoke(self, function: str, event: Any, request_id: str) -> Invocation:
        self.events.setdefault(function, []).append(event)
        script = self.scripts.get(function, lambda _: answer({"statusCode": 200}))
        return script(event)

    async def received(self, function: str, count: int = 1) -> list[dict[str, Any]]:
        """The function's events once it has `count` of them (polls; fails after 5 s)."""
        async with asyncio.timeout(5):
            while len(self.events.get(function, [])) < count:
                await asyncio.sleep(0.01)
        return self.events[function]


class NoFrontend:
    async def respond(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.text(200, "page\n")


def api(*routes: Route) -> DeployedApi:
    return DeployedApi(
        "abc123", "Test", "production", "$request.body.action", {r.key: r for r in routes}
    )


AUTHORIZER = Authorizer("auth1", "TestAuthorizer", "Auth", ())


def route(key: str, function: str | None = None, **kwargs: Any) -> Route:
    return Route(
        key, function or key.strip("$").title(), kwargs.pop("authorizer", None), "NONE", **kwargs
    )


@asynccontextmanager
async def serving(deployed: DeployedApi, functions: ScriptedFunctions) -> AsyncIterator[str]:
    gateway = Gateway(deployed, FACTS, functions, GatewaySettings())
    sock = socket.create_server(("127.0.0.1", 0))
    listener = HttpListener(sock, LocalSite(gateway, NoFrontend()))  # type: ignore[arg-type]
    await listener.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await gateway.stop()
        await listener.stop()
        sock.close()


@asynccontextmanager
async def connected(
    deployed: DeployedApi, functions: ScriptedFunctions
) -> AsyncIterator[ClientConnection]:
    async with serving(deployed, functions) as host, connect(f"ws://{host}/production") as ws:
        yield ws


async def handshake_status(host: str, path: str = "/production", **kwargs: Any) -> int:
    try:
        async with connect(f"ws://{host}{path}", **kwargs):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


# -- the authorizer -----------------------------------------------------------------------------


def test_a_missing_identity_source_is_401_without_invoking_the_authorizer() -> None:
    authorizer = Authorizer(
        "a", "A", "Auth", ("route.request.header.Auth", "route.request.querystring.t")
    )
    functions = ScriptedFunctions({"Auth": lambda _: allow()})
    connect_route = route("$connect", "Connect", authorizer=authorizer)

    async def scenario() -> tuple[int, int]:
        async with serving(api(connect_route), functions) as host:
            missing = await handshake_status(host, "/production?t=1")
            present = await handshake_status(
                host, "/production?t=1", additional_headers={"Auth": "x"}
            )
            return missing, present

    assert asyncio.run(scenario()) == (401, 101)
    assert len(functions.events["Auth"]) == 1


@pytest.mark.parametrize(
    ("authorizer_answer", "status"),
    [
        (failure("Unauthorized"), 401),
        (deny(), 403),
        (allow(resource="arn:aws:execute-api:us-east-1:123456789012:other/*"), 403),
        (failure("boom"), 500),
        (answer({"principalId": "x"}), 500),
        (allow(context={"nested": {"no": 1}}), 500),
        (allow(resource="arn:aws:execute-api:us-east-1:123456789012:abc123/*"), 101),
    ],
)
def test_what_the_authorizer_answers_decides_the_handshake(
    authorizer_answer: Invocation, status: int
) -> None:
    functions = ScriptedFunctions({"Auth": lambda _: authorizer_answer})
    deployed = api(route("$connect", "Connect", authorizer=AUTHORIZER))

    async def scenario() -> int:
        async with serving(deployed, functions) as host:
            return await handshake_status(host)

    assert asyncio.run(scenario()) == status
    if status != 101:
        assert "Connect" not in functions.events


def test_the_authorizer_gets_a_request_event_and_its_context_reaches_every_route() -> None:
    functions = ScriptedFunctions({"Auth": lambda _: allow({"userId": "u1", "displayName": "Ana"})})
    deployed = api(
        route("$connect", "Connect", authorizer=AUTHORIZER), route("$default", "Default")
    )

    async def scenario() -> None:
        async with (
            serving(deployed, functions) as host,
            connect(f"ws://{host}/production?token=t&room=r") as ws,
        ):
            await ws.send("hello")
            await functions.received("Default")

    asyncio.run(scenario())
    authorizer_event = functions.events["Auth"][0]
    assert authorizer_event["type"] == "REQUEST"
    assert authorizer_event["methodArn"] == METHOD_ARN
    assert authorizer_event["queryStringParameters"] == {"token": "t", "room": "r"}
    connect_context = functions.events["Connect"][0]["requestContext"]
    assert connect_context["authorizer"]["principalId"] == "user-1"
    assert connect_context["authorizer"]["userId"] == "u1"


# -- the connect integration ----------------------------------------------------------------------


def test_a_subprotocol_in_the_connect_answer_is_selected() -> None:
    reply = answer({"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "chatdeploy"}})
    functions = ScriptedFunctions({"Connect": lambda _: reply})

    async def scenario() -> str | None:
        async with serving(api(route("$connect", "Connect")), functions) as host:
            offered = ["chatdeploy", "a-token"]
            async with connect(f"ws://{host}/production", subprotocols=offered) as ws:  # type: ignore[arg-type]
                return ws.subprotocol

    assert asyncio.run(scenario()) == "chatdeploy"
    headers = functions.events["Connect"][0]["headers"]
    assert headers["Sec-WebSocket-Protocol"] == "chatdeploy, a-token"


def test_a_failing_connect_function_refuses_with_500() -> None:
    functions = ScriptedFunctions({"Connect": lambda _: failure("boom")})

    async def scenario() -> int:
        async with serving(api(route("$connect", "Connect")), functions) as host:
            return await handshake_status(host)

    assert asyncio.run(scenario()) == 500


# -- messages -----------------------------------------------------------------------------------


def test_route_selection_uses_the_action_and_never_picks_a_dollar_route() -> None:
    functions = ScriptedFunctions()
    deployed = api(
        route("$disconnect", "Disconnect"), route("$default", "Default"), route("say", "Say")
    )

    async def scenario() -> None:
        async with connected(deployed, functions) as ws:
            for frame in ('{"action": "say"}', '{"action": "$disconnect"}', "[1]", '{"action": 3}'):
                await ws.send(frame)
            await functions.received("Say")
            await functions.received("Default", 3)

    asyncio.run(scenario())
    assert [json.loads(e["body"]) for e in functions.events["Say"]] == [{"action": "say"}]
    assert len(functions.events["Default"]) == 3
    disconnects = functions.events.get("Disconnect", [])
    assert all(e["requestContext"]["eventType"] == "DISCONNECT" for e in disconnects)


def test_a_two_way_route_sends_the_answer_body_back() -> None:
    functions = ScriptedFunctions(
        {"Echo": lambda e: answer({"statusCode": 200, "body": e["body"].upper()})}
    )
    deployed = api(route("echo", "Echo", response_selection="$default"))

    async def scenario() -> str:
        async with connected(deployed, functions) as ws:
            await ws.send('{"action": "echo"}')
            return str(await asyncio.wait_for(ws.recv(), 5))

    assert asyncio.run(scenario()) == '{"ACTION": "ECHO"}'


def test_a_failing_route_function_gets_the_internal_server_error_frame() -> None:
    functions = ScriptedFunctions({"Say": lambda _: failure("boom")})

    async def scenario() -> dict[str, Any]:
        async with connected(api(route("say", "Say")), functions) as ws:
            await ws.send('{"action": "say"}')
            return dict(json.loads(await asyncio.wait_for(ws.recv(), 5)))

    frame = asyncio.run(scenario())
    assert frame["message"] == "Internal server error"
    assert set(frame) == {"message", "connectionId", "requestId"}


def test_a_binary_frame_arrives_base64_encoded() -> None:
    functions = ScriptedFunctions()

    async def scenario() -> None:
        async with connected(api(route("$default", "Default")), functions) as ws:
            await ws.send(b"\x00\xffbinary")
            await functions.received("Default")

    asyncio.run(scenario())
    event = functions.events["Default"][0]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xffbinary"


def test_a_text_frame_that_is_not_utf8_closes_with_1007() -> None:
    async def scenario() -> int | None:
        async with connected(api(route("$default", "Default")), ScriptedFunctions()) as ws:
            ws.protocol.send_text(b"\xff\xfe")  # the client would refuse to encode this
            ws.transport.write(b"".join(ws.protocol.data_to_send()))
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
        return None

    assert asyncio.run(scenario()) == 1007


def test_disconnect_gets_the_close_code_and_reason() -> None:
    functions = ScriptedFunctions()

    async def scenario() -> None:
        async with serving(api(route("$disconnect", "Disconnect")), functions) as host:
            async with connect(f"ws://{host}/production") as ws:
                await ws.close(4000, "done")
            await functions.received("Disconnect")

    asyncio.run(scenario())
    context = functions.events["Disconnect"][0]["requestContext"]
    assert (context["eventType"], context["disconnectStatusCode"]) == ("DISCONNECT", 4000)
    assert context["disconnectReason"] == "done"


# -- the listener's other paths, the @connections API's errors --------------------------------


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_paths_other_than_the_stage_and_plain_requests_to_it() -> None:
    async def scenario() -> list[Any]:
        async with serving(api(route("$default", "Default")), ScriptedFunctions()) as host:
            plain = await asyncio.to_thread(http, "GET", f"http://{host}/production")
            other = await handshake_status(host, "/staging")
            page = await asyncio.to_thread(http, "GET", f"http://{host}/")
            wrong_stage = await asyncio.to_thread(
                http, "POST", f"http://{host}/staging/@connections/abc", b"x"
            )
            unknown = await asyncio.to_thread(
                http, "POST", f"http://{host}/production/@connections/abc", b"x"
            )
            too_big = await asyncio.to_thread(
                http, "POST", f"http://{host}/production/@connections/abc", b"x" * (129 * 1024)
            )
            return [plain[0], other, page[0], wrong_stage[0], unknown, too_big[0]]

    plain, other, page, wrong_stage, unknown, too_big = asyncio.run(scenario())
    assert (plain, other, page, wrong_stage, too_big) == (426, 403, 200, 403, 413)
    status, headers, body = unknown
    assert status == 410
    assert headers["x-amzn-ErrorType"] == "GoneException"
    assert json.loads(body) == {"message": None}
