"""Helpers shared by the tests: a stack against in-process moto, and call recording."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from chatdeploy.aws import ClientHook, RetryPolicy
from chatdeploy.config import Config
from chatdeploy.context import DeployContext
from chatdeploy.engine import Action, Report
from chatdeploy.workspace import Options, Workspace

FIXTURE_HANDLERS = Path(__file__).parent / "fixtures" / "handlers"
NO_WAIT_RETRY = RetryPolicy(base_delay=0.0, max_delay=0.0, deadline=5.0)


def open_workspace(
    state_dir: Path,
    config: Config | None = None,
    *,
    handlers: Path = FIXTURE_HANDLERS,
    hooks: Iterable[ClientHook] = (),
    endpoint_url: str | None = None,
    retry: RetryPolicy | None = None,
) -> Workspace:
    options = Options(
        state_dir=state_dir,
        handlers=handlers,
        client_hooks=tuple(hooks),
        retry=retry or NO_WAIT_RETRY,
        endpoint_url=endpoint_url,
    )
    return Workspace(options, config=config or Config())


def up(workspace: Workspace, **context: object) -> tuple[Report, DeployContext]:
    ctx = workspace.context(**context)  # type: ignore[arg-type]
    ctx.aws.calls.clear()
    return workspace.engine(ctx).up(), ctx


def destroy(workspace: Workspace) -> Report:
    ctx = workspace.context()
    return workspace.engine(ctx).destroy()


def actions(report: Report) -> dict[str, Action]:
    return {outcome.key: outcome.action for outcome in report.outcomes}
