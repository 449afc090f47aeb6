"""`chatdeploy local` as a user runs it: a real process, on a machine without AWS configuration,
stopped with Ctrl-C (SIGINT); and what it does with state files it finds."""

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
import urllib.request
from pathlib import Path

import pytest

from chatdeploy.errors import LockedError, StateError
from chatdeploy.local.runner import clear_stale_state

READY_WITHIN_S = 10.0


def no_aws_environment(home: Path) -> dict[str, str]:
    """This process's environment without any AWS setting, and a HOME without ~/.aws."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment["HOME"] = str(home)
    # Not configuration: a guarantee that nothing could ever ask an instance-metadata endpoint.
    environment["AWS_EC2_METADATA_DISABLED"] = "true"
    return environment


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def lines_of(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str], pattern: str, timeout: float) -> tuple[str, list[str]]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line, seen
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n{''.join(seen)}")


@pytest.mark.slow
def test_local_runs_without_aws_configuration_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "chatdeploy", "local", "--port", "0", "--state-dir", str(state_dir)],
        cwd=tmp_path,
        env=no_aws_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = lines_of(process)
        _, banner = wait_for_line(lines, r"^ready in", timeout=3 * READY_WITHIN_S)
        ready_after = time.monotonic() - started
        text = "".join(banner)
        page = re.search(r"page\s+(http://127\.0\.0\.1:\d+/)", text)
        websocket = re.search(r"websocket\s+(ws://127\.0\.0\.1:\d+/production)", text)
        assert page and websocket, text
        assert "chatdeploy users create" in text
        assert ready_after < READY_WITHIN_S, f"ready after {ready_after:.1f} s"

        with urllib.request.urlopen(page.group(1), timeout=10) as answer:
            assert answer.status == 200
        state = json.loads((state_dir / "chat.json").read_text())
        assert state["outputs"]["websocket_url"] == websocket.group(1)
        children = descendants(process.pid)
        assert children, "the workers run as child processes"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert [pid for pid in children if alive(pid)] == []
    assert not (state_dir / "chat.json").exists()


def test_a_state_file_of_a_real_deployment_is_refused_untouched(tmp_path: Path) -> None:
    state_file = write_state(tmp_path, endpoint_url=None)
    before = state_file.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "chatdeploy", "local", "--state-dir", str(tmp_path)],
        cwd=tmp_path,
        env=no_aws_environment(tmp_path),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    first, hint = result.stderr.strip().splitlines()
    assert first.startswith("error:") and "local mode leaves it alone" in first
    assert "--state-dir" in hint
    assert state_file.read_bytes() == before


def test_a_state_file_of_an_ended_local_session_is_stale(tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    state_file = write_state(tmp_path, endpoint_url=f"http://127.0.0.1:{port}")
    clear_stale_state(tmp_path, "chat")
    assert not state_file.exists()


def test_a_state_file_of_a_running_local_session_is_refused(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        endpoint = f"http://127.0.0.1:{listening.getsockname()[1]}"
        state_file = write_state(tmp_path, endpoint_url=endpoint)
        with pytest.raises(LockedError):
            clear_stale_state(tmp_path, "chat")
    assert state_file.exists()


def test_an_empty_state_file_of_aws_is_no_obstacle(tmp_path: Path) -> None:
    write_state(tmp_path, endpoint_url=None, resources={})
    clear_stale_state(tmp_path, "chat")  # nothing recorded: nothing to protect


def test_a_remote_emulator_state_is_refused(tmp_path: Path) -> None:
    write_state(tmp_path, endpoint_url="http://emulator.internal:4566")
    with pytest.raises(StateError):
        clear_stale_state(tmp_path, "chat")


def write_state(
    directory: Path, *, endpoint_url: str | None, resources: dict[str, object] | None = None
) -> Path:
    path = directory / "chat.json"
    document = {
        "schema_version": 1,
        "stack": "chat",
        "region": "us-east-1",
        "account": "123456789012",
        "endpoint_url": endpoint_url,
        "resources": {"tables.connections": {"name": "ChatConnections"}}
        if resources is None
        else resources,
        "outputs": {},
    }
    path.write_text(json.dumps(document))
    return path
