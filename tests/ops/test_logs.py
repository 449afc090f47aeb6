"""`chatdeploy logs`: every function's logs, interleaved, against in-process moto."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chatdeploy.ops.logs import MAX_POLL_SECONDS, MIN_POLL_SECONDS, Follower, LogEvent, LogReader
from chatdeploy.ops.stack import StackFunction

from .conftest import Cli

SEND = StackFunction("send_message", "ChatSendMessage")
CONNECT = StackFunction("connect", "ChatConnect")
DEFAULT = StackFunction("default", "ChatDefault")


def logs_client() -> Any:
    return boto3.client("logs", region_name="us-east-1")


def put(function: StackFunction, *events: tuple[int, str], stream: str = "s1") -> None:
    client = logs_client()
    existing = client.describe_log_groups(logGroupNamePrefix=function.log_group)["logGroups"]
    if not any(g["logGroupName"] == function.log_group for g in existing):
        client.create_log_group(logGroupName=function.log_group)
    streams = client.describe_log_streams(logGroupName=function.log_group)["logStreams"]
    if not any(s["logStreamName"] == stream for s in streams):
        client.create_log_stream(logGroupName=function.log_group, logStreamName=stream)
    client.put_log_events(
        logGroupName=function.log_group,
        logStreamName=stream,
        logEvents=[{"timestamp": ts, "message": message} for ts, message in sorted(events)],
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def messages(events: list[LogEvent]) -> list[str]:
    return [event.message for event in events]


# -- reading ---------------------------------------------------------------------------------


def test_logs_interleaves_functions_by_time_with_labels(recorded: Path, cli: Cli) -> None:
    base = now_ms() - 60_000
    put(SEND, (base + 10, "send first"), (base + 30, "send third"))
    put(CONNECT, (base + 20, "connect second"), (base + 30, "connect same millisecond"))

    result = cli("logs", "--state-dir", str(recorded), "--since", "5m")

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    order = [
        next(i for i, line in enumerate(lines) if text in line)
        for text in ("send first", "connect second", "connect same millisecond", "send third")
    ]
    assert order == sorted(order)
    assert len(lines) == 4
    assert lines[0].split()[1] == "send_message"
    assert lines[1].split()[1] == "connect"


def test_logs_tolerates_missing_groups_and_says_so(recorded: Path, cli: Cli) -> None:
    put(SEND, (now_ms() - 1000, "only the sender ran"))

    result = cli("logs", "--state-dir", str(recorded))

    assert result.code == 0
    assert "only the sender ran" in result.out
    assert "/aws/lambda/ChatConnect" in result.err


def test_logs_with_nothing_to_show_says_so(recorded: Path, cli: Cli) -> None:
    put(SEND, (now_ms() - 3 * 3600_000, "too old for --since 1h"))

    result = cli("logs", "--state-dir", str(recorded), "--since", "1h")

    assert result.code == 0
    assert result.out == ""
    assert "no log events since" in result.err


def test_reader_follows_next_token_across_pages(recorded: Path) -> None:
    base = now_ms() - 10_000
    put(SEND, *[(base + i, f"event {i:02d}") for i in range(25)])

    reader = LogReader(logs_client(), [SEND], page_size=10)

    assert messages(reader.read_all(base)) == [f"event {i:02d}" for i in range(25)]


def test_filter_and_function_narrow_what_is_shown(recorded: Path, cli: Cli) -> None:
    base = now_ms() - 5000
    put(SEND, (base, "needle in send"), (base + 1, "hay in send"))
    put(CONNECT, (base + 2, "needle in connect"))

    filtered = cli("logs", "--state-dir", str(recorded), "--filter", "needle")
    one_function = cli("logs", "--state-dir", str(recorded), "--function", "ChatConnect")

    assert "needle in send" in filtered.out and "needle in connect" in filtered.out
    assert "hay" not in filtered.out
    assert one_function.out.strip().endswith("needle in connect")
    assert len(one_function.out.splitlines()) == 1


def test_unknown_function_is_a_usage_error_naming_the_option(recorded: Path, cli: Cli) -> None:
    result = cli("logs", "--state-dir", str(recorded), "--function", "nope")

    assert result.code == 2
    assert "--function" in result.err and "'nope'" in result.err
    assert "send_message" in result.err  # the hint lists what there is


@pytest.mark.parametrize("since", ["10x", "yesterday", "2999-01-01T00:00", "0m"])
def test_bad_since_exits_2_naming_the_option(recorded: Path, cli: Cli, since: str) -> None:
    result = cli("logs", "--state-dir", str(recorded), "--since", since)

    assert result.code == 2
    assert "--since" in result.err
    assert "Traceback" not in result.err


def test_iso_since_is_accepted(recorded: Path, cli: Cli) -> None:
    put(SEND, (now_ms() - 1000, "recent"))
    an_hour_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))

    result = cli("logs", "--state-dir", str(recorded), "--since", an_hour_ago)

    assert result.code == 0
    assert "recent" in result.out


def test_handler_json_lines_are_summarised(recorded: Path, cli: Cli) -> None:
    line = {
        "requestId": "r-1",
        "route": "sendMessage",
        "connectionId": "c-42",
        "outcome": "error",
        "latency_ms": 12.345,
        "roomId": "general",
        "traceback": "Traceback (most recent call last):\n  ...\nKeyError: 'roomId'\n",
    }
    put(SEND, (now_ms() - 1000, json.dumps(line)))

    short = cli("logs", "--state-dir", str(recorded))
    detailed = cli("logs", "--state-dir", str(recorded), "--format", "detailed")

    assert "sendMessage error 12.3ms conn=c-42 room=general" in short.out
    assert "KeyError: 'roomId'" in short.out
    assert "requestId: r-1" in detailed.out
    assert "    latency_ms: 12.345" in detailed.out


def test_json_format_is_one_object_per_line(recorded: Path, cli: Cli) -> None:
    put(SEND, (now_ms() - 2000, '{"route":"sendMessage","outcome":"ok"}'))
    put(CONNECT, (now_ms() - 1000, "plain text"))

    result = cli("logs", "--state-dir", str(recorded), "--format", "json")

    documents = [json.loads(line) for line in result.out.splitlines()]
    assert [d["function"] for d in documents] == ["send_message", "connect"]
    assert documents[0]["fields"] == {"route": "sendMessage", "outcome": "ok"}
    assert documents[1]["fields"] is None
    assert documents[1]["logGroup"] == "/aws/lambda/ChatConnect"


def test_not_deployed_is_one_clear_line(aws: None, tmp_path: Path, cli: Cli) -> None:
    result = cli("logs", "--state-dir", str(tmp_path / "empty"))

    assert result.code == 2
    assert result.error_lines[0] == (
        f"error: stack chat is not deployed here (nothing in {tmp_path / 'empty' / 'chat.json'})"
    )


# -- following -------------------------------------------------------------------------------


class World:
    """What happens between two polls: injected as the follower's sleep."""

    def __init__(self, *changes: Any) -> None:
        self.changes = list(changes)
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if self.changes:
            self.changes.pop(0)()


def test_follow_prints_every_event_once(recorded: Path) -> None:
    base = now_ms() - 30_000
    put(SEND, (base, "a"), (base + 100, "b"))
    printed: list[LogEvent] = []
    world = World(
        # Same millisecond as the newest event already printed, and one just before it.
        lambda: put(SEND, (base + 100, "c same ms as b"), (base + 50, "d late"), stream="s2"),
        # The connect function runs for the first time: its group appears mid-follow.
        lambda: put(CONNECT, (base + 200, "e new group")),
        lambda: None,
    )
    follower = Follower(LogReader(logs_client(), [SEND, CONNECT]), base, sleep=world.sleep)

    follower.run(printed.extend, polls=4)

    assert messages(printed) == ["a", "b", "d late", "c same ms as b", "e new group"]
    assert all(MIN_POLL_SECONDS <= pause <= MAX_POLL_SECONDS for pause in world.pauses)
    assert len(world.pauses) == 3


def test_follow_without_late_window_still_catches_same_millisecond(recorded: Path) -> None:
    base = now_ms() - 30_000
    put(SEND, (base, "a"))
    printed: list[LogEvent] = []
    world = World(lambda: put(SEND, (base, "b same ms"), (base + 1, "c"), stream="s2"))
    follower = Follower(LogReader(logs_client(), [SEND]), base, sleep=world.sleep, late_window_ms=0)

    follower.run(printed.extend, polls=3)

    assert messages(printed) == ["a", "b same ms", "c"]


class ThrottledOnce:
    """A logs client whose first FilterLogEvents call is throttled."""

    def __init__(self) -> None:
        self.calls = 0

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError(error, "FilterLogEvents")  # type: ignore[arg-type]
        return {"events": [{"timestamp": 1, "message": "m", "eventId": "1"}]}


def test_follow_backs_off_when_throttled_then_recovers() -> None:
    world = World()
    printed: list[LogEvent] = []
    follower = Follower(LogReader(ThrottledOnce(), [SEND]), 0, sleep=world.sleep)

    follower.run(printed.extend, polls=3)

    assert world.pauses[0] > world.pauses[1] == MIN_POLL_SECONDS
    assert world.pauses[0] <= MAX_POLL_SECONDS
    assert messages(printed) == ["m"]


class AlwaysThrottled:
    """A logs client that throttles every read of one group."""

    def __init__(self, group: str) -> None:
        self.group = group

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        if request["logGroupName"] == self.group:
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError(error, "FilterLogEvents")  # type: ignore[arg-type]
        event = {"timestamp": 1, "message": request["logGroupName"], "eventId": "1"}
        return {"events": [event]}


def test_one_throttled_group_does_not_starve_the_others() -> None:
    world = World()
    printed: list[LogEvent] = []
    reader = LogReader(AlwaysThrottled(SEND.log_group), [SEND, CONNECT, DEFAULT])
    follower = Follower(reader, 0, sleep=world.sleep)

    follower.run(printed.extend, polls=3)

    assert sorted(messages(printed)) == [CONNECT.log_group, DEFAULT.log_group]
    assert world.pauses == [4.0, 5.0]


def test_follow_ends_cleanly_on_ctrl_c(
    recorded: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(SEND, (now_ms() - 1000, "before the interrupt"))

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("chatdeploy.ops.logs.time.sleep", interrupted)
    result = cli("logs", "--state-dir", str(recorded), "--follow")

    assert result.code == 0
    assert result.out.count("before the interrupt") == 1
    assert "interrupted" not in result.err and "Traceback" not in result.err


def test_short_form_condenses_lambdas_own_lines(recorded: Path, cli: Cli) -> None:
    at = now_ms() - 1000
    put(
        SEND,
        (at, "START RequestId: r-1 Version: $LATEST"),
        (at + 1, '{"route":"sendMessage","outcome":"ok","latency_ms":3.2}'),
        (at + 2, "END RequestId: r-1"),
        (
            at + 3,
            "REPORT RequestId: r-1\tDuration: 3.25 ms\tBilled Duration: 4 ms\t"
            "Memory Size: 512 MB\tMax Memory Used: 48 MB\tInit Duration: 139.90 ms",
        ),
    )

    short = cli("logs", "--state-dir", str(recorded)).out.splitlines()
    detailed = cli("logs", "--state-dir", str(recorded), "--format", "detailed").out

    assert [line.split(None, 2)[2] for line in short] == [
        "sendMessage ok 3.2ms",
        "REPORT 3.2 ms (billed 4 ms), 48/512 MB, init 139.9 ms",
    ]
    assert "START RequestId: r-1" in detailed and "END RequestId: r-1" in detailed
