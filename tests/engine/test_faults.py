"""Crash safety, adoption after a lost state file, the lock, and bad input."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from chatdeploy.engine import Action
from chatdeploy.errors import LockedError, StateError
from chatdeploy.state import stack_lock

from snapshot import whole_stack as inventory
from support import actions, open_workspace, up


class SimulatedCrash(Exception):
    """Raised in place of the k-th AWS call, as if the process died there."""


class CrashAfter:
    """A client hook that lets `limit` AWS calls through and fails every later one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, client: Any) -> None:
        client.meta.events.register("before-call", self._count)

    def _count(self, **_: Any) -> None:
        with self._lock:
            self.count += 1
            if self.count > self.limit:
                raise SimulatedCrash(f"crash after call {self.limit}")


def clean_run(state_dir: Path) -> tuple[dict[str, Any], int]:
    """What a clean fresh `up` leaves in an empty account, and how many AWS calls it makes."""
    with mock_aws():
        report, ctx = up(open_workspace(state_dir))
        assert report.ok
        return inventory(), len(ctx.aws.calls.calls)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return clean_run(tmp_path_factory.mktemp("clean"))[0]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per AWS call of a fresh up: a crash right after it, then a rerun.
    CHATDEPLOY_CRASH_STRIDE=n samples every n-th call for a quick local run."""
    if "crash_point" in metafunc.fixturenames:
        with tempfile.TemporaryDirectory() as state_dir:
            _, total = clean_run(Path(state_dir))
        stride = int(os.environ.get("CHATDEPLOY_CRASH_STRIDE", "1"))
        metafunc.parametrize("crash_point", range(0, total, stride))


@pytest.mark.slow
def test_a_crash_after_any_call_converges_to_a_clean_run(
    tmp_path: Path, clean: dict[str, Any], crash_point: int
) -> None:
    with mock_aws():
        with pytest.raises(SimulatedCrash):
            up(open_workspace(tmp_path, hooks=[CrashAfter(crash_point)]))
        report, _ = up(open_workspace(tmp_path))
        assert report.ok, report.failures
        assert inventory() == clean


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_lost_state_is_adopted_without_copies(aws: None, tmp_path: Path) -> None:
    up(open_workspace(tmp_path))
    before = inventory()
    (tmp_path / "chat.json").unlink()
    report, ctx = up(open_workspace(tmp_path))
    assert report.ok
    assert set(actions(report).values()) == {Action.ADOPTED}
    assert ctx.aws.calls.names(mutating_only=True) == []
    assert inventory() == before
    assert len(json.loads((tmp_path / "chat.json").read_text())["resources"]) == len(
        report.outcomes
    )


def test_a_second_run_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    with (
        stack_lock(tmp_path, "chat", "up"),
        pytest.raises(LockedError) as refused,
        stack_lock(tmp_path, "chat", "up"),
    ):
        pass
    assert f"pid {os.getpid()}" in refused.value.message
    assert "`chatdeploy up`" in refused.value.message


def test_a_lock_left_by_a_killed_run_is_detected_and_taken_over(tmp_path: Path) -> None:
    lock_file = tmp_path / "chat.lock"
    lock_file.write_text(
        json.dumps({"pid": 999999, "host": "h", "command": "up", "started": "2026-01-01"})
    )
    with stack_lock(tmp_path, "chat", "destroy") as stale:
        assert stale is not None and stale.pid == 999999
    with stack_lock(tmp_path, "chat", "up") as stale:
        assert stale is None


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ('{"schema_version": 1, "stack": "chat", "resou', "not valid JSON"),
        ('{"schema_version": 1, "stack": "other", "resources": {}}', "belongs to stack 'other'"),
        ('{"schema_version": 7, "stack": "chat", "resources": {}}', "schema version 7"),
        ("[1, 2]", "not a chatdeploy state file"),
    ],
)
def test_a_bad_state_file_is_refused_and_left_alone(
    tmp_path: Path, content: str, complaint: str
) -> None:
    state_file = tmp_path / "chat.json"
    state_file.write_text(content)
    with pytest.raises(StateError) as refused:
        open_workspace(tmp_path)
    assert complaint in refused.value.message
    assert refused.value.exit_code == 2
    assert state_file.read_text() == content


def test_state_file_is_private_and_holds_no_secrets(aws: None, tmp_path: Path) -> None:
    up(open_workspace(tmp_path))
    state_file = tmp_path / "chat.json"
    assert state_file.stat().st_mode & 0o777 == 0o600
    text = state_file.read_text().lower()
    assert "password" not in text and "secret" not in text


def test_state_on_another_account_is_refused(aws: None, tmp_path: Path) -> None:
    up(open_workspace(tmp_path))
    data = json.loads((tmp_path / "chat.json").read_text())
    data["account"] = "999999999999"
    (tmp_path / "chat.json").write_text(json.dumps(data))
    with pytest.raises(StateError, match="belongs to AWS account 999999999999"):
        open_workspace(tmp_path).context()
