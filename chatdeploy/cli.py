"""The `chatdeploy` command line: parse, call, render.

Commands live in chatdeploy/commands/ and are imported only when run, so `chatdeploy --help`
stays fast: nothing here imports boto3, rich or moto.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from chatdeploy import __version__

# name -> (module:attribute, one-line help shown by `chatdeploy --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("chatdeploy.commands.deploy:init", "Write a commented chatdeploy.yaml to start from."),
    "plan": ("chatdeploy.commands.deploy:plan", "Show what `up` would create, change or leave."),
    "up": ("chatdeploy.commands.deploy:up", "Create or update the whole stack; print its outputs."),
    "status": ("chatdeploy.commands.deploy:status", "Show recorded resources and outputs."),
    "destroy": ("chatdeploy.commands.deploy:destroy", "Remove everything the stack made."),
    "local": ("chatdeploy.commands.local:local", "Run the whole chat on this machine (no AWS)."),
    "users": ("chatdeploy.commands.operate:users", "Create, list and delete the chat's users."),
    "test-ws": ("chatdeploy.commands.operate:test_ws", "Smoke-test, try or load-test the chat."),
    "logs": ("chatdeploy.commands.operate:logs", "Every function's logs, interleaved by time."),
    "metrics": ("chatdeploy.commands.operate:metrics", "API Gateway and Lambda metrics."),
}

# Commands that change the stack: an interrupted one can simply be run again.
CHANGING_COMMANDS = frozenset({"up", "destroy", "local"})


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target, _ = COMMANDS[cmd_name]
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_, help_text) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chatdeploy")
def cli() -> None:
    """Deploy, run and tear down a serverless WebSocket chat on AWS, or run it all locally.

    AWS access follows the usual environment (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...);
    every command also takes --region, --profile, --endpoint-url, -c/--config and --state-dir
    after its name. Exit codes: 0 success, 1 a failure while working, 2 bad usage or config.
    """


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    verbose = any(arg in {"-v", "--verbose"} for arg in args)
    try:
        cli.main(args=argv, prog_name="chatdeploy", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as usage:
        usage.show()
        sys.exit(2 if isinstance(usage, click.UsageError) else usage.exit_code)
    except KeyboardInterrupt:
        changing = bool(args) and args[0] in CHANGING_COMMANDS
        resume = "; what was made is recorded, run the command again to go on" if changing else ""
        click.echo(f"\ninterrupted{resume}", err=True)
        sys.exit(130)
    except Exception as error:
        sys.exit(_report_failure(error, verbose))
    sys.exit(0)


def _report_failure(error: Exception, verbose: bool) -> int:
    from chatdeploy.aws import explain

    problem = explain(error)
    if verbose:
        logging.getLogger("chatdeploy").exception("details")
    if problem is None:
        click.secho(f"error: unexpected {type(error).__name__}: {error}", fg="red", err=True)
        if not verbose:
            click.echo("  run again with -v for the details", err=True)
        return 1
    click.secho(f"error: {problem.message}", fg="red", err=True)
    if problem.hint:
        click.echo(f"  hint: {problem.hint}", err=True)
    return problem.exit_code
