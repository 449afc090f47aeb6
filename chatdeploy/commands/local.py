"""`chatdeploy local`: the whole chat on this machine, against an embedded AWS emulator."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from chatdeploy.commands.options import stack_options

if TYPE_CHECKING:
    from chatdeploy.context import Reporter
    from chatdeploy.local.runner import LocalSession, LocalUrls
    from chatdeploy.workspace import Options


@click.command()
@stack_options
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port of the page, the WebSocket API and @connections on 127.0.0.1 (0: any free one).",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0.1),
    default=600.0,
    show_default=True,
    help="Seconds without a frame before the gateway closes a connection, as API Gateway does.",
)
@click.option(
    "--max-duration",
    type=click.FloatRange(min=0.1),
    default=7200.0,
    show_default=True,
    help="Seconds a connection may last at most, as on API Gateway.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Most worker processes per function; overlapping invocations start more, as on Lambda.",
)
@click.option("--quiet", is_flag=True, help="Do not echo the functions' logs here.")
def local(
    options: Options,
    port: int,
    idle_timeout: float,
    max_duration: float,
    concurrency: int,
    quiet: bool,
) -> None:
    """Run the whole chat on this machine, no AWS account needed; stop it with Ctrl-C.

    Deploys the stack to an embedded AWS emulator (moto) with the same stages as `up`, then
    serves the page, the WebSocket API and each function's code in a worker process, all on
    127.0.0.1. Other commands (users, test-ws, logs, status) work against it meanwhile.
    """
    from chatdeploy.errors import UsageError
    from chatdeploy.local.runner import LocalSession, LocalSettings

    if options.endpoint_url:
        raise UsageError("local mode runs its own emulator", hint="drop --endpoint-url")
    started = time.monotonic()
    settings = LocalSettings(
        port=port,
        idle_timeout_s=idle_timeout,
        max_duration_s=max_duration,
        max_workers=concurrency,
        echo=None if quiet else _echo,
    )
    click.echo("starting the AWS emulator and deploying the stack to it ...")
    session = LocalSession(options, settings, reporter=_reporter(options))
    try:
        urls = session.deploy()
        _serve_until_signal(session, urls, options, started)
    except KeyboardInterrupt:
        click.echo("interrupted; nothing is left running", err=True)
        sys.exit(130)
    finally:
        session.close()
    click.echo("stopped; the emulator and its data are gone")


def _serve_until_signal(
    session: LocalSession, urls: LocalUrls, options: Options, started: float
) -> None:
    import asyncio
    import signal

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(number, stop.set)
        await session.serve(stop, on_ready=lambda: _banner(urls, options, started))

    asyncio.run(serve())


def _banner(urls: LocalUrls, options: Options, started: float) -> None:
    state_dir = (
        "" if str(options.state_dir) == ".chatdeploy" else f" --state-dir {options.state_dir}"
    )
    lines = [
        "",
        f"  page       {urls.page}",
        f"  websocket  {urls.websocket}",
        f"  emulator   {urls.emulator}",
        "",
        f"  create a user:  chatdeploy users create you@example.com{state_dir}",
        f"  then:           chatdeploy test-ws{state_dir}  |  chatdeploy logs --follow{state_dir}",
        "",
        f"ready in {time.monotonic() - started:.1f} s; Ctrl-C stops everything",
    ]
    click.echo("\n".join(lines))


def _echo(label: str, message: str) -> None:
    from chatdeploy.local.lambda_logs import is_platform_line

    if is_platform_line(message):
        return
    stamp = time.strftime("%H:%M:%S")
    text = message.replace("\r", "\n    ")
    click.echo(f"{click.style(stamp, dim=True)} {click.style(label, fg='cyan')} {text}")


def _reporter(options: Options) -> Reporter | None:
    if not options.verbose:
        return None
    from chatdeploy import ui

    return ui.PlainReporter(ui.console())
