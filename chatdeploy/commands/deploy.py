"""init, plan, up, status and destroy: the deploy engine's commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chatdeploy.commands.options import stack_options

if TYPE_CHECKING:
    from rich.console import Console

    from chatdeploy.context import Reporter
    from chatdeploy.workspace import Options, Workspace

OUTPUT_KEYS = (
    "websocket_url",
    "frontend_url",
    "user_pool_id",
    "user_pool_client_id",
    "identity_pool_id",
    "api_id",
    "bucket",
    "distribution_id",
)


@click.command()
@click.option(
    "-c",
    "--config",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("chatdeploy.yaml"),
    show_default=True,
    help="Where to write the file.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented chatdeploy.yaml with every setting and its default."""
    from chatdeploy.bundled import example_config
    from chatdeploy.errors import UsageError

    if path.exists() and not force:
        raise UsageError(f"{path} already exists", hint="pass --force to overwrite it")
    path.write_text(example_config().read_text(encoding="utf-8"), encoding="utf-8")
    click.echo(f"wrote {path}; edit it, then run `chatdeploy plan` and `chatdeploy up`")


@click.command()
@stack_options
def plan(options: Options) -> None:
    """Show what `up` would create, change or leave alone. Makes no change anywhere."""
    from chatdeploy import ui
    from chatdeploy.workspace import Workspace

    workspace = Workspace(options)
    out = ui.console()
    with _reporter(out, "planning", options) as reporter:
        ctx = workspace.context(reporter=reporter, plan_mode=True)
        engine = workspace.engine(ctx)
        for warning in engine.warnings():
            reporter.warn(warning)
        report = engine.plan()
    ui.render_plan(out, report)
    leftovers = engine.orphans()
    if leftovers:
        listed = ", ".join(leftovers)
        out.print(f"and delete what the config and handlers/ no longer want: {listed}")


@click.command()
@stack_options
@click.option("--yes", is_flag=True, help="Do not ask before deleting what the config dropped.")
@click.option("--wait", is_flag=True, help="Wait until CloudFront reports the site Deployed.")
def up(options: Options, yes: bool, wait: bool) -> None:
    """Create or update the whole stack so it matches the config, then print its outputs.

    Safe to run again at any time: a second run changes nothing, and a run that was
    interrupted carries on where it stopped.
    """
    from chatdeploy import ui
    from chatdeploy.errors import StageFailed
    from chatdeploy.state import stack_lock
    from chatdeploy.workspace import Workspace

    workspace = Workspace(options)
    out = ui.console()
    with stack_lock(options.state_dir, workspace.config.stack, "up") as stale:
        _note_stale_lock(out, stale)
        with _reporter(out, f"up {workspace.config.stack}", options) as reporter:
            ctx = workspace.context(reporter=reporter, wait=wait)
            engine = workspace.engine(ctx)
            _confirm_leftovers(engine.orphans(), yes)
            for warning in engine.warnings():
                reporter.warn(warning)
            report = engine.up()
    ui.render_report(out, report, verb="up")
    if not report.ok:
        raise StageFailed(
            f"{len(report.failures)} resource(s) failed",
            hint="what was made is recorded; fix the cause and run `chatdeploy up` again",
        )
    ui.render_outputs(out, _outputs(workspace))


@click.command()
@stack_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--check", is_flag=True, help="Compare the record with what exists (read-only).")
def status(options: Options, as_json: bool, check: bool) -> None:
    """Show the stack's recorded resources and outputs; --check compares them with AWS.

    With --check the exit code is 1 when something is missing or differs.
    """
    from chatdeploy import ui
    from chatdeploy.engine import Action
    from chatdeploy.workspace import Workspace

    workspace = Workspace(options)
    drift: list[dict[str, Any]] = []
    if check:
        ctx = workspace.context(plan_mode=True)
        report = workspace.engine(ctx).plan()
        drift = [
            {"resource": o.label, "action": o.action.value, "details": o.details}
            for o in report.outcomes
            if o.action is not Action.UNCHANGED
        ]
    if as_json:
        click.echo(json.dumps(_status_document(workspace, drift if check else None), indent=2))
    else:
        _print_status(ui.console(), workspace, drift if check else None)
    if drift:
        sys.exit(1)


@click.command()
@stack_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--keep-logs", is_flag=True, help="Keep the functions' CloudWatch log groups.")
def destroy(options: Options, yes: bool, keep_logs: bool) -> None:
    """Remove everything the stack made, in reverse order. Works without a state file too
    (it finds the stack's resources by name and tag); a second run does nothing."""
    from chatdeploy import ui
    from chatdeploy.errors import StageFailed
    from chatdeploy.state import stack_lock
    from chatdeploy.workspace import Workspace

    workspace = Workspace(options)
    out = ui.console()
    _confirm(
        f"Destroy stack {workspace.config.stack!r} in {workspace.region}, including every "
        "chat message and user?",
        yes,
    )
    with stack_lock(options.state_dir, workspace.config.stack, "destroy") as stale:
        _note_stale_lock(out, stale)
        with _reporter(out, f"destroy {workspace.config.stack}", options) as reporter:
            ctx = workspace.context(reporter=reporter, keep_logs=keep_logs)
            report = workspace.engine(ctx).destroy()
        ui.render_report(out, report, verb="destroy")
        if not report.ok:
            raise StageFailed(
                f"{len(report.failures)} resource(s) are left",
                hint="fix the cause and run `chatdeploy destroy` again; it resumes",
            )
        if not workspace.state.resources():
            workspace.state.delete_file()
    out.print(f"stack {workspace.config.stack} is gone")


# -- helpers ---------------------------------------------------------------------------------


@contextmanager
def _reporter(out: Console, verb: str, options: Options) -> Iterator[Reporter]:
    from chatdeploy import ui

    if options.verbose or not out.is_terminal:
        yield ui.PlainReporter(out)
        return
    with ui.LiveReporter(out, verb) as live:
        yield live


def _note_stale_lock(out: Console, stale: Any) -> None:
    if stale is not None:
        out.print(f"[yellow]note:[/] the last run, {stale.describe()}, did not finish; carrying on")


def _confirm(question: str, yes: bool) -> None:
    from chatdeploy.errors import UsageError

    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("confirmation needed and no terminal to ask on", hint="pass --yes")
    if not click.confirm(question, default=False):
        raise click.Abort


def _confirm_leftovers(leftovers: list[str], yes: bool) -> None:
    if leftovers:
        listed = ", ".join(leftovers)
        question = f"up will delete what the config and handlers/ no longer want: {listed}. Go on?"
        _confirm(question, yes)


def _outputs(workspace: Workspace) -> dict[str, Any]:
    recorded = workspace.state.outputs
    return {**{key: recorded.get(key) for key in OUTPUT_KEYS}, **recorded}


def _status_document(workspace: Workspace, drift: list[dict[str, Any]] | None) -> dict[str, Any]:
    state = workspace.state
    document: dict[str, Any] = {
        "stack": workspace.config.stack,
        "region": workspace.region,
        "account": state.account,
        "endpoint_url": workspace.endpoint_url,
        "deployed": bool(state.resources()),
        "outputs": _outputs(workspace),
        "resources": state.resources(),
    }
    if drift is not None:
        document["drift"] = drift
    return document


def _print_status(out: Console, workspace: Workspace, drift: list[dict[str, Any]] | None) -> None:
    from chatdeploy import ui

    document = _status_document(workspace, drift)
    where = document["endpoint_url"] or f"AWS account {document['account'] or '?'}"
    out.print(f"[bold]stack {document['stack']}[/] in {document['region']} on {where}")
    if not document["deployed"]:
        out.print(f"not deployed (no resources in {workspace.state.path}); run `chatdeploy up`")
        return
    ui.render_outputs(out, document["outputs"])
    ui.render_resources(out, document["resources"])
    if drift is not None:
        if drift:
            for item in drift:
                details = "; ".join(item["details"])
                out.print(f"[yellow]drift:[/] {item['resource']}: {item['action']} {details}")
        else:
            out.print("[green]everything recorded exists and matches the config[/]")
