"""A fresh `up` of the auth, frontend and cdn stages that dies right after any call that changed
something, then runs again, leaves exactly what an uninterrupted run leaves."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from stage_kit import CrashAfterCall, SimulatedCrash, Spy, Stack, inventory, ok

from chatdeploy.aws import is_mutating
from chatdeploy.stages.frontend import pending_invalidations


def clean_run(tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    """What an uninterrupted fresh up leaves, and the operations it calls, in order."""
    with mock_aws():
        stack = Stack.new(tmp_path)
        spy = Spy()
        stack.hooks.append(spy)
        ok(stack.up())
        return inventory(), [name for name, _ in spy.calls]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per mutating call: the crash comes once it has taken effect in AWS."""
    if "crash_after" in metafunc.fixturenames:
        with tempfile.TemporaryDirectory() as directory:
            _, operations = clean_run(Path(directory))
        points = [(k, name) for k, name in enumerate(operations, 1) if is_mutating(name)]
        metafunc.parametrize(
            "crash_after", [k for k, _ in points], ids=[f"{k}-{name}" for k, name in points]
        )


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return clean_run(tmp_path_factory.mktemp("clean"))[0]


def test_a_rerun_after_a_crash_converges_to_a_clean_run(
    tmp_path: Path, clean: dict[str, Any], crash_after: int
) -> None:
    with mock_aws():
        crashing = Stack.new(tmp_path)
        crashing.hooks.append(CrashAfterCall(crash_after))
        with pytest.raises(SimulatedCrash):
            crashing.up()
        rerun = Stack(crashing.state_dir, crashing.site)
        ctx = ok(rerun.up())
        assert inventory() == clean
        assert pending_invalidations(ctx) == []
        again, ctx = rerun.up()
        assert again.ok and ctx.aws.calls.mutating() == []
