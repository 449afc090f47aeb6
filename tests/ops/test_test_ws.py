"""`chatdeploy test-ws` against a fake protocol server: smoke, failures, interactive, load."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chatdeploy.errors import UsageError
from chatdeploy.ops.interactive import Line, Session, describe
from chatdeploy.ops.load import LoadPlan, percentile, run_load
from chatdeploy.ops.smoke import SmokeFailed, run_smoke
from chatdeploy.ops.tokens import TEST_USER
from chatdeploy.ops.wsclient import ConnectFailed, open_chat
from chatdeploy.state import State

from .conftest import Cli
from .fake_gateway import FakeGateway

GUIDE_FRAME = {"action": "sendMessage", "message": "Hello World!", "roomId": "general"}
# The fake reads the token's payload only: {"email": "t@example.com"}.
TOKEN = "eyJhbGciOiJub25lIn0.eyJlbWFpbCI6InRAZXhhbXBsZS5jb20ifQ.c2ln"


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as running:
        yield running


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"ws://127.0.0.1:{port}/production"


def with_websocket_url(state_dir: Path, tmp_path: Path, url: str) -> Path:
    """A copy of a deployed stack's state whose own WebSocket URL is `url`."""
    copy = tmp_path / "state-copy"
    copy.mkdir()
    document = json.loads((state_dir / "chat.json").read_text())
    document["outputs"]["websocket_url"] = url
    (copy / "chat.json").write_text(json.dumps(document))
    return copy


# -- the smoke test, through the command line --------------------------------------------------


def test_smoke_passes_and_sends_the_guides_frame(
    deployed: Path, cli: Cli, gateway: FakeGateway
) -> None:
    result = cli("test-ws", "--state-dir", str(deployed), "--url", gateway.url)

    assert result.code == 0, result.err
    assert "both clients received the message in #general" in result.out
    assert f"user           {TEST_USER}" in result.out
    assert "round trip" in result.out and "delivery" in result.out
    assert gateway.frames == [GUIDE_FRAME]
    assert len(gateway.handshakes) == 2
    for handshake in gateway.handshakes:
        assert handshake.path == "/production?room=general"  # no token in the URL
        assert handshake.offered[0] == "chatdeploy" and handshake.offered[1].count(".") == 2


def test_room_and_message_can_be_chosen(deployed: Path, cli: Cli, gateway: FakeGateway) -> None:
    result = cli(
        "test-ws",
        "--state-dir",
        str(deployed),
        "--url",
        gateway.url,
        "--room",
        "lobby",
        "--message",
        "hi there",
    )

    assert result.code == 0, result.err
    assert gateway.frames == [{"action": "sendMessage", "message": "hi there", "roomId": "lobby"}]


def test_smoke_fails_in_one_line_when_the_other_client_gets_nothing(
    deployed: Path, cli: Cli
) -> None:
    with FakeGateway(deliver_to_others=False) as selfish:
        result = cli(
            "test-ws", "--state-dir", str(deployed), "--url", selfish.url, "--timeout", "0.5"
        )

    assert result.code == 1
    assert result.error_lines[0] == (
        "error: the second client did not receive the message within 0.5s (the sender got its "
        "copy, so delivery to the room failed)"
    )
    assert "Traceback" not in result.err


def test_refused_handshake_fails_at_once(deployed: Path, cli: Cli) -> None:
    with FakeGateway(refuse_status=403) as refusing:
        result = cli("test-ws", "--state-dir", str(deployed), "--url", refusing.url)

    assert result.code == 1
    assert result.error_lines[0] == (
        f"error: {refusing.url} refused the connection with HTTP 403: the token failed verification"
    )
    assert len(refusing.handshakes) == 1  # a refusal is not retried


def test_dead_url_fails_cleanly(deployed: Path, cli: Cli) -> None:
    dead = closed_port_url()

    result = cli("test-ws", "--state-dir", str(deployed), "--url", dead, "--connect-wait", "1")

    assert result.code == 1
    assert result.error_lines[0].startswith(f"error: cannot connect to {dead}: connection refused")
    assert len(result.error_lines) == 1
    assert result.out.count("\n") <= 1


def test_first_connect_is_retried_until_the_server_is_up(gateway: FakeGateway) -> None:
    async def connect_soon() -> float:
        async def late_start() -> None:
            await asyncio.sleep(0.6)
            gateway.refuse_status = None

        gateway.refuse_status = 503
        starter = asyncio.ensure_future(late_start())
        connection = await open_chat(gateway.url, TOKEN, "general", wait=10)
        await connection.close()
        await starter
        return connection.connect_seconds

    asyncio.run(connect_soon())

    assert len(gateway.handshakes) >= 2


def test_a_bad_url_is_a_usage_error(deployed: Path, cli: Cli) -> None:
    result = cli("test-ws", "--state-dir", str(deployed), "--url", "https://example.com/x")

    assert result.code == 2
    assert "is not a WebSocket URL" in result.err


def test_named_user_with_a_wrong_password_fails_clearly(
    deployed: Path, cli: Cli, gateway: FakeGateway
) -> None:
    cli(
        "users",
        "create",
        "gil@example.com",
        "--password",
        "Right1234",
        "--state-dir",
        str(deployed),
    )

    result = cli(
        "test-ws",
        "--state-dir",
        str(deployed),
        "--url",
        gateway.url,
        "--user",
        "gil@example.com",
        "--password",
        "Wrong1234",
    )

    assert result.code == 1
    assert "Cognito refused the sign-in of gil@example.com" in result.error_lines[0]
    assert gateway.handshakes == []


def test_the_test_user_is_reused_and_its_password_never_stored(
    deployed: Path, cli: Cli, gateway: FakeGateway
) -> None:
    assert cli("test-ws", "--state-dir", str(deployed), "--url", gateway.url).code == 0
    assert cli("test-ws", "--state-dir", str(deployed), "--url", gateway.url).code == 0

    users = json.loads(cli("users", "list", "--state-dir", str(deployed), "--json").out)
    assert [u["email"] for u in users].count(TEST_USER) == 1
    state_text = (deployed / "chat.json").read_text()
    token = gateway.handshakes[-1].offered[1]
    assert token not in state_text and "password" not in state_text.lower()


# -- the pieces, against the fake server directly ----------------------------------------------


def test_smoke_reports_latencies() -> None:
    with FakeGateway() as gateway:
        result = asyncio.run(run_smoke(gateway.url, TOKEN, connect_wait=0))

    assert result.room == "general"
    assert result.round_trip_ms >= 0 and result.delivery_ms >= 0 and result.connect_ms > 0


def test_smoke_reports_a_server_error_frame() -> None:
    with FakeGateway(answer_error="too_long") as gateway, pytest.raises(SmokeFailed) as failed:
        asyncio.run(run_smoke(gateway.url, TOKEN, connect_wait=0))

    assert failed.value.message == "the server refused the message: too_long: refused by the fake"


async def scripted(session_lines: list[Line], *steps: str | tuple[str, str]) -> AsyncIterator[str]:
    """Types each step; a (line, text) step then waits until `text` has been shown."""
    for step in steps:
        line, expected = step if isinstance(step, tuple) else (step, None)
        yield line
        while expected is not None and not any(expected in shown.text for shown in session_lines):
            await asyncio.sleep(0.01)


def test_interactive_session_sends_joins_and_shows_history() -> None:
    shown: list[Line] = []

    async def session(gateway: FakeGateway) -> str | None:
        connection = await open_chat(gateway.url, TOKEN, "general")
        try:
            chat = Session(connection, "general", shown.append)
            lines = scripted(
                shown,
                ("/join lobby", "now in #lobby"),
                ("hello lobby", "#lobby t@example.com: hello lobby"),
                ("/history", "history of #lobby: 1 message(s)"),
                ("/join bad room!", "is not a room id"),
                ("/nonsense", "unknown command /nonsense"),
                "/quit",
                "never sent",
            )
            return await asyncio.wait_for(chat.run(lines), 10)
        finally:
            await connection.close()

    with FakeGateway() as gateway:
        ended = asyncio.run(session(gateway))
        frames = list(gateway.frames)

    assert ended is None
    assert frames == [
        {"action": "joinRoom", "roomId": "lobby"},
        {"action": "sendMessage", "message": "hello lobby", "roomId": "lobby"},
        {"action": "getHistory", "roomId": "lobby", "limit": 20},
    ]
    assert [line.kind for line in shown if "is not a room id" in line.text] == ["error"]


def test_interactive_session_shows_answers_after_piped_input_ends() -> None:
    shown: list[Line] = []

    async def session(gateway: FakeGateway) -> str | None:
        connection = await open_chat(gateway.url, TOKEN, "general")

        async def piped() -> AsyncIterator[str]:
            for line in ("one\n", "/history\n"):
                yield line

        try:
            return await Session(connection, "general", shown.append, linger=0.3).run(piped())
        finally:
            await connection.close()

    with FakeGateway() as gateway:
        ended = asyncio.run(session(gateway))

    assert ended is None
    texts = [line.text for line in shown]
    assert any(text.endswith("#general t@example.com: one") for text in texts)
    assert "history of #general: 1 message(s), oldest first" in texts


def test_interactive_session_ends_when_the_server_closes() -> None:
    async def session(gateway: FakeGateway) -> str | None:
        connection = await open_chat(gateway.url, TOKEN, "general")

        async def silence() -> AsyncIterator[str]:
            await asyncio.Event().wait()
            yield ""

        chat = Session(connection, "general", lambda line: None)
        await asyncio.to_thread(gateway.__exit__, None, None, None)
        return await asyncio.wait_for(chat.run(silence()), 10)

    gateway = FakeGateway().__enter__()
    ended = asyncio.run(session(gateway))

    assert ended is not None and "code" in ended


def test_frames_are_described_readably() -> None:
    presence = {"type": "presence", "roomId": "general", "users": [{"displayName": "Ana"}]}
    error = {"type": "error", "code": "too_long", "message": "too long", "action": "sendMessage"}
    history = {
        "type": "history",
        "roomId": "general",
        "messages": [
            {"roomId": "general", "displayName": "Bo", "message": "second", "timestamp": 2000},
            {"roomId": "general", "displayName": "Ana", "message": "first", "timestamp": 1000},
        ],
        "more": True,
    }

    assert describe(presence) == [Line("* #general: Ana here", "info")]
    assert describe(error) == [Line("! too_long: too long (sendMessage)", "error")]
    texts = [line.text for line in describe(history)]
    assert texts[0] == "history of #general: 2 message(s), oldest first"
    assert texts[1].endswith("#general Ana: first") and texts[2].endswith("#general Bo: second")
    assert texts[3] == "(older messages exist)"


# -- the load run ------------------------------------------------------------------------------


def test_load_run_reports_throughput_and_percentiles(gateway: FakeGateway) -> None:
    acks: list[None] = []
    plan = LoadPlan(clients=3, messages=4, room="load-test", time_limit=30)

    report = asyncio.run(run_load(gateway.url, TOKEN, plan, on_ack=lambda: acks.append(None)))

    assert report.complete
    assert report.acknowledged == 12 == len(acks)
    assert report.deliveries == report.expected_deliveries == 36
    assert report.messages_per_second > 0
    assert report.latency(50) is not None and report.latency(50) <= report.latency(99)  # type: ignore[operator]
    assert len({frame["roomId"] for frame in gateway.frames}) == 1


def test_load_run_counts_lost_messages_and_stays_bounded() -> None:
    plan = LoadPlan(clients=2, messages=3, room="r", time_limit=30, message_timeout=0.2)

    with FakeGateway(echo_to_sender=False) as mute:
        report = asyncio.run(run_load(mute.url, TOKEN, plan))

    assert not report.complete
    assert report.lost == 6 and report.acknowledged == 0
    assert report.deliveries == 6  # each client still hears the other's messages


def test_load_run_is_incomplete_when_copies_to_the_room_go_missing() -> None:
    plan = LoadPlan(clients=3, messages=2, room="r", time_limit=30, message_timeout=0.3)

    with FakeGateway(deliver_to_others=False) as selfish:
        report = asyncio.run(run_load(selfish.url, TOKEN, plan))

    assert report.acknowledged == 6
    assert report.problems() == ["12 of 18 copies to the room missing"]


def test_load_run_stops_at_the_time_limit() -> None:
    plan = LoadPlan(clients=1, messages=200, room="r", time_limit=1, message_timeout=5)

    with FakeGateway(echo_to_sender=False) as mute:
        report = asyncio.run(run_load(mute.url, TOKEN, plan))

    assert report.timed_out and not report.complete
    assert report.sent < 200


@pytest.mark.parametrize("field", ["clients", "messages"])
def test_load_plan_caps(field: str) -> None:
    with pytest.raises(UsageError, match=f"--{field} must be between"):
        LoadPlan(**{"clients": 1, "messages": 1, field: 10_000}, room="r")  # type: ignore[arg-type]


def test_load_refuses_a_foreign_url(deployed: Path, cli: Cli, gateway: FakeGateway) -> None:
    result = cli("test-ws", "--state-dir", str(deployed), "--url", gateway.url, "--clients", "2")

    assert result.code == 2
    own = State.load(deployed, "chat").outputs["websocket_url"]
    assert result.error_lines[0] == (
        f"error: a load run goes only to this stack's own WebSocket URL, {own}"
    )
    assert gateway.handshakes == []


def test_load_run_through_the_command_line(
    deployed: Path, cli: Cli, gateway: FakeGateway, tmp_path: Path
) -> None:
    own = with_websocket_url(deployed, tmp_path, gateway.url)

    result = cli("test-ws", "--state-dir", str(own), "--clients", "3", "--messages", "5")

    assert result.code == 0, result.err
    assert "load run: 3 clients x 5 messages" in result.out
    acknowledged = next(line for line in result.out.splitlines() if "acknowledged" in line)
    assert acknowledged.split() == ["acknowledged", "15/15"]
    for figure in ("throughput", "latency p50", "latency p95", "latency p99"):
        assert figure in result.out


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--clients", "51"], "--clients"),
        (["--messages", "3"], "--messages is for a load run"),
        (["--clients", "2", "--interactive"], "do not go together"),
    ],
)
def test_bad_mode_combinations_exit_2(
    deployed: Path, cli: Cli, arguments: list[str], complaint: str
) -> None:
    result = cli("test-ws", "--state-dir", str(deployed), *arguments)

    assert result.code == 2
    assert complaint in result.err


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, p) for p in (50, 95, 99, 100)] == [50, 95, 99, 100]
    assert percentile([], 50) is None


def test_connect_failure_is_not_retried_on_refusal() -> None:
    with FakeGateway(refuse_status=401) as refusing, pytest.raises(ConnectFailed):
        asyncio.run(open_chat(refusing.url, TOKEN, "general", wait=5))
    assert len(refusing.handshakes) == 1
