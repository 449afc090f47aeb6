"""users, test-ws, logs and metrics against a running `chatdeploy local`, started as a user
starts it: a separate process on 127.0.0.1, stopped with Ctrl-C (SIGINT) at the end."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatdeploy.ops.tokens import TEST_USER

from .conftest import Cli, CliResult

pytestmark = pytest.mark.slow
READY_WITHIN_S = 60.0


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wait_until_ready(process: subprocess.Popen[str], lines: queue.Queue[str]) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            seen.append(lines.get(timeout=0.5))
        except queue.Empty:
            continue
        if seen[-1].startswith("ready in"):
            return "".join(seen)
    raise AssertionError("chatdeploy local did not start:\n" + "".join(seen))


@pytest.fixture(scope="module")
def local_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The state dir of a running `chatdeploy local --port 0`."""
    home = tmp_path_factory.mktemp("local")
    state_dir = home / "state"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CHATDEPLOY"))}
    command = ["local", "--port", "0", "--quiet", "--state-dir", str(state_dir)]
    process = subprocess.Popen(
        [sys.executable, "-m", "chatdeploy", *command],
        cwd=home,
        env={**environment, "HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _wait_until_ready(process, _lines(process))
        assert re.search(r"websocket\s+ws://127\.0\.0\.1:\d+/production", banner), banner
        yield state_dir
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def local(cli: Cli, local_state: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI, pointed at the local session, with the handlers it deployed."""
    monkeypatch.delenv("CHATDEPLOY_HANDLERS")

    def run(*args: str) -> CliResult:
        return cli(*args, "--state-dir", str(local_state))

    return run


def test_users_against_local_mode(local: Cli) -> None:
    created = local("users", "create", "lou@example.com")
    listed = json.loads(local("users", "list", "--json").out)
    deleted = local("users", "delete", "lou@example.com")

    assert created.code == 0, created.err
    assert "password: " in created.out
    lou = next(user for user in listed if user["email"] == "lou@example.com")
    assert lou["status"] == "CONFIRMED" and lou["email_verified"]
    assert deleted.code == 0
    assert "lou@example.com" not in local("users", "list").out


def test_smoke_test_against_local_mode(local: Cli) -> None:
    result = local("test-ws")

    assert result.code == 0, result.err
    assert "both clients received the message in #general" in result.out
    assert f"user           {TEST_USER}" in result.out
    round_trip = re.search(r"round trip\s+([\d.]+) ms", result.out)
    assert round_trip and float(round_trip.group(1)) > 0


def test_named_user_smoke_test_against_local_mode(local: Cli) -> None:
    local("users", "create", "nia@example.com", "--password", "Local1234")

    result = local(
        "test-ws", "--user", "nia@example.com", "--password", "Local1234", "--room", "nia"
    )

    assert result.code == 0, result.err
    assert "in #nia\n" in result.out and "user           nia@example.com" in result.out


def test_small_load_run_against_local_mode(local: Cli) -> None:
    result = local("test-ws", "--clients", "3", "--messages", "5", "--time-limit", "60")

    assert result.code == 0, result.err
    assert figure(result.out, "acknowledged") == "15/15"
    assert figure(result.out, "delivered") == "45/45"
    assert float(figure(result.out, "throughput").removesuffix(" msg/s")) > 0
    for share in ("p50", "p95", "p99"):
        assert figure(result.out, f"latency {share}").endswith(" ms")


def figure(report: str, name: str) -> str:
    """The value column of the load report's row `name`."""
    row = next(line for line in report.splitlines() if line.startswith(name + " "))
    return row.removeprefix(name).strip()


def test_logs_show_the_smoke_tests_message(local: Cli) -> None:
    assert local("test-ws", "--room", "logged").code == 0

    def sent_to_logged() -> list[dict[str, object]]:
        result = local("logs", "--since", "5m", "--function", "send_message", "--format", "json")
        documents = [json.loads(line) for line in result.out.splitlines()]
        fields = [d["fields"] for d in documents if d["fields"]]
        return [f for f in fields if f.get("roomId") == "logged"]  # type: ignore[union-attr]

    deadline = time.monotonic() + 10
    while not (found := sent_to_logged()) and time.monotonic() < deadline:
        time.sleep(0.2)  # the session ships log lines in batches
    assert found and found[0]["outcome"] == "ok" and found[0]["route"] == "sendMessage"


def test_metrics_against_local_mode_is_no_data_not_an_error(local: Cli) -> None:
    result = local("metrics")

    assert result.code == 0, result.err
    assert "no data" in result.out
    assert "durations show average and maximum" in result.out


def test_a_local_session_that_is_gone_is_one_clear_line(cli: Cli, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    document = {
        "schema_version": 1,
        "stack": "chat",
        "region": "us-east-1",
        "account": "123456789012",
        "endpoint_url": endpoint,
        "resources": {"auth.user_pool": {"id": "us-east-1_gone"}},
        "outputs": {"user_pool_id": "us-east-1_gone"},
    }
    (state_dir / "chat.json").write_text(json.dumps(document))

    result = cli("users", "list", "--state-dir", str(state_dir))

    assert result.code == 1
    assert result.error_lines == [
        f"error: nothing answers at {endpoint}, where `chatdeploy local` ran stack chat",
        "  hint: start `chatdeploy local` again with the same --state-dir",
    ]
