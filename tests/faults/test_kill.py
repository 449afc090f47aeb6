"""kill -9 in the middle of a real `chatdeploy up`, then run it again: it must converge to
what a clean run makes, and destroy must then leave nothing."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from fault_kit import Emulator, chatdeploy, finish, recorded_keys

from snapshot import whole_stack

STAGES = ("tables", "role", "auth", "functions", "websocket_api", "frontend", "cdn")
# Fractions of a clean run's duration at which a run is killed.
MOMENTS = (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)


@pytest.fixture(scope="module")
def clean_run(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    emulator.reset()
    state_dir = tmp_path_factory.mktemp("clean")
    started = time.monotonic()
    code, output = finish(chatdeploy("up", state_dir=state_dir, endpoint=emulator.url))
    assert code == 0, output
    seconds = time.monotonic() - started
    os.environ["AWS_ENDPOINT_URL"] = emulator.url
    try:
        snapshot = whole_stack()
    finally:
        del os.environ["AWS_ENDPOINT_URL"]
    return {"seconds": seconds, "snapshot": snapshot}


def kill_when(process: Any, ready: Any, timeout: float = 120) -> bool:
    """SIGKILL the process as soon as `ready()`; False if it finished first."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.002)
    return False


def rerun_and_check(
    state_dir: Path, emulator: Emulator, expected: dict[str, Any], killed: bool
) -> None:
    lock = state_dir / "chat.lock"
    killed_while_locked = killed and lock.exists() and lock.stat().st_size > 0
    code, output = finish(chatdeploy("up", state_dir=state_dir, endpoint=emulator.url))
    assert code == 0, output
    if killed_while_locked:
        assert "did not finish" in output, "the lock left by the killed run is reported"
    assert whole_stack() == expected
    code, output = finish(
        chatdeploy("destroy", "--yes", state_dir=state_dir, endpoint=emulator.url)
    )
    assert code == 0, output
    left = whole_stack()
    assert not any(left.values()), left


@pytest.mark.slow
@pytest.mark.parametrize("moment", MOMENTS)
def test_killed_at_any_moment_the_rerun_converges(
    against: Emulator, clean_run: dict[str, Any], tmp_path: Path, moment: float
) -> None:
    process = chatdeploy("up", state_dir=tmp_path, endpoint=against.url)
    kill_at = time.monotonic() + moment * clean_run["seconds"]
    killed = kill_when(process, lambda: time.monotonic() >= kill_at)
    rerun_and_check(tmp_path, against, clean_run["snapshot"], killed)


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_killed_inside_every_stage_the_rerun_converges(
    against: Emulator, clean_run: dict[str, Any], tmp_path: Path, stage: str
) -> None:
    process = chatdeploy("up", state_dir=tmp_path, endpoint=against.url)

    def inside_stage() -> bool:
        return any(key.startswith(f"{stage}.") for key in recorded_keys(tmp_path))

    killed = kill_when(process, inside_stage)
    assert killed, f"the run finished before anything of {stage} was recorded"
    rerun_and_check(tmp_path, against, clean_run["snapshot"], killed)
