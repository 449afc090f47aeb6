"""Fixtures of the operating commands' tests: the CLI runner, recorded stacks, moto."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from moto.cloudwatch.models import Statistics

from chatdeploy.cli import main
from chatdeploy.state import State, state_path

from support import FIXTURE_HANDLERS, open_workspace, up

ACCOUNT = "123456789012"
REGION = "us-east-1"
FUNCTIONS = ("authorizer", "connect", "default", "disconnect", "send_message")


def _install_percentiles() -> None:
    """moto 5.2 answers GetMetricData with pNN statistics by failing; AWS computes them. This
    adds nearest-rank percentiles to the in-process moto of these tests only."""
    plain = Statistics.get_statistics_for_type
    if getattr(plain, "with_percentiles", False):
        return

    def with_percentiles(self: Statistics, stat: str) -> Any:
        if not stat.startswith("p"):
            return plain(self, stat)
        values = sorted(self.metric_single_values_list)
        if not values:
            return None
        rank = max(1, math.ceil(float(stat[1:]) / 100 * len(values)))
        return values[rank - 1]

    with_percentiles.with_percentiles = True  # type: ignore[attr-defined]
    Statistics.get_statistics_for_type = with_percentiles  # type: ignore[method-assign]


_install_percentiles()


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


Cli = Callable[..., CliResult]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    """Runs `chatdeploy ARGS...` in-process, as a user would: exit code, stdout, stderr."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("CHATDEPLOY_HANDLERS", str(FIXTURE_HANDLERS))
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(list(args))
        captured = capsys.readouterr()
        return CliResult(int(done.value.code or 0), captured.out, captured.err)

    return run


def function_arn(logical: str) -> str:
    name = "Chat" + "".join(part.title() for part in logical.split("_"))
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def record_stack(state_dir: Path, **outputs: Any) -> Path:
    """A state file as `up` leaves it, without deploying: for the read-only commands."""
    state = State.new(state_path(state_dir, "chat"), "chat")
    state.bind(region=REGION, account=ACCOUNT, endpoint_url=None)
    state.record("websocket_api.api", {"id": outputs.get("api_id", "abc123")})
    state.set_outputs(
        {
            "api_id": "abc123",
            "function_arns": {name: function_arn(name) for name in FUNCTIONS},
            **outputs,
        }
    )
    return state_dir


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def recorded(aws: None, tmp_path: Path) -> Path:
    """The state dir of a stack recorded as deployed (in a fresh moto, nothing created)."""
    return record_stack(tmp_path / "state")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The state dir of a stack really deployed to in-process moto, shared by a module."""
    with mock_aws():
        state_dir = tmp_path_factory.mktemp("deployed")
        report, _ = up(open_workspace(state_dir))
        assert report.ok, report.failures
        yield state_dir
