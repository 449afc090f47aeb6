"""users, test-ws, logs and metrics: operating a deployed stack (guide steps 8 and 9).

Each command parses, calls chatdeploy/ops/ and renders; the logic lives there.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from chatdeploy.commands.options import stack_options
from chatdeploy.ops.limits import (
    DEFAULT_LOAD_MESSAGES,
    MAX_CLIENTS,
    MAX_MESSAGES,
    MAX_TIME_LIMIT,
)

if TYPE_CHECKING:
    from rich.console import Console

    from chatdeploy.ops.load import LoadPlan
    from chatdeploy.ops.stack import DeployedStack, StackFunction
    from chatdeploy.ops.tokens import SignedIn
    from chatdeploy.ops.users import UserDirectory
    from chatdeploy.workspace import Options


def _since(ctx: click.Context, param: click.Parameter, value: str) -> datetime:
    """`10m`, `1h`, `2d` before now, or an ISO-8601 time."""
    from chatdeploy.ops.timespec import parse_since, utc_now

    try:
        return parse_since(value, utc_now())
    except ValueError as problem:
        raise click.BadParameter(str(problem), ctx, param) from None


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    from chatdeploy.ops.timespec import parse_duration

    try:
        return parse_duration(value)
    except ValueError as problem:
        raise click.BadParameter(str(problem), ctx, param) from None


# -- users -----------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def users() -> None:
    """Create, list and delete the chat's users (guide step 8.3).

    Users sign in with their e-mail address. A created user is confirmed, its e-mail is marked
    verified and no invitation is sent, so it can sign in to the web app at once.
    """


@users.command("create")
@stack_options
@click.argument("email")
@click.option(
    "--password",
    help="The user's password. Without it, a strong one that meets the pool's policy is "
    "generated and printed once.",
)
def create_user(options: Options, email: str, password: str | None) -> None:
    """Create a confirmed user EMAIL who can sign in at once. Passwords are never stored."""
    from chatdeploy import ui
    from chatdeploy.ops.users import check_email

    email = check_email(email)
    directory = _user_directory(options)
    if password is None:
        chosen = directory.policy().generate()
    else:
        directory.check_password(password)
        chosen = password
    directory.create(email, chosen)
    out = ui.console()
    out.print(f"created user {email}: confirmed, e-mail verified", markup=False)
    if password is None:
        out.print(f"password: {chosen}", markup=False)
        out.print("(shown once: chatdeploy stores it nowhere)", style="dim")


@users.command("delete")
@stack_options
@click.argument("email")
def delete_user(options: Options, email: str) -> None:
    """Delete the user EMAIL. Their messages stay in the chat's history."""
    from chatdeploy import ui
    from chatdeploy.ops.users import check_email

    email = check_email(email)
    _user_directory(options).delete(email)
    ui.console().print(f"deleted user {email}", markup=False)


@users.command("list")
@stack_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_users(options: Options, as_json: bool) -> None:
    """List the users of the stack's user pool."""
    from chatdeploy import ui
    from chatdeploy.ops import views

    directory = _user_directory(options)
    found = directory.list()
    if as_json:
        rows = [{**vars(u), "created": u.created.isoformat() if u.created else None} for u in found]
        click.echo(json.dumps(rows, indent=2))
        return
    out = ui.console()
    if not found:
        out.print("no users yet; `chatdeploy users create EMAIL` makes one")
        return
    out.print(views.users_table(found, directory.pool_id))


def _user_directory(options: Options) -> UserDirectory:
    from chatdeploy.ops.stack import DeployedStack
    from chatdeploy.ops.users import UserDirectory

    stack = DeployedStack.open(options)
    pool_id = stack.output("user_pool_id")
    return UserDirectory(stack.aws().client("cognito-idp"), pool_id)


# -- test-ws ---------------------------------------------------------------------------------


@click.command("test-ws")
@stack_options
@click.option(
    "--room", help="The room to test in [default: general; a new load-… room for a load run]."
)
@click.option("--message", default="Hello World!", show_default=True, help="The text to send.")
@click.option("--interactive", is_flag=True, help="A wscat-like session: type lines to send them.")
@click.option(
    "--clients",
    type=click.IntRange(1, MAX_CLIENTS),
    help=f"Load run: this many clients in one room (at most {MAX_CLIENTS}).",
)
@click.option(
    "--messages",
    "messages_each",
    type=click.IntRange(1, MAX_MESSAGES),
    help=f"Load run: messages each client sends [default: {DEFAULT_LOAD_MESSAGES}; "
    f"at most {MAX_MESSAGES}].",
)
@click.option(
    "--time-limit",
    type=click.FloatRange(1, MAX_TIME_LIMIT),
    default=60.0,
    show_default=True,
    help="Load run: stop after this many seconds, whatever is left.",
)
@click.option(
    "--user", help="Sign in as this user [default: a dedicated test user, made if needed]."
)
@click.option("--password", help="The --user's password [asked for when not given].")
@click.option(
    "--url", help="Test this WebSocket URL instead of the stack's own (not for a load run)."
)
@click.option(
    "--connect-wait",
    type=click.FloatRange(0, 300),
    default=20.0,
    show_default=True,
    help="Keep retrying the first connection this long; a fresh deploy needs a few seconds.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 120),
    default=10.0,
    show_default=True,
    help="Seconds to wait for each message to come back.",
)
def test_ws(
    options: Options,
    room: str | None,
    message: str,
    interactive: bool,
    clients: int | None,
    messages_each: int | None,
    time_limit: float,
    user: str | None,
    password: str | None,
    url: str | None,
    connect_wait: float,
    timeout: float,
) -> None:
    """Test the chat over WebSocket (guide step 8.1), signed in through Cognito.

    By default a smoke test: two clients join the room, one sends the guide's frame
    {"action":"sendMessage","message":"Hello World!","roomId":"general"}, and both must receive
    it; connect time and latency are reported. With --interactive, a session like wscat. With
    --clients N [--messages M], a load run against the stack's own URL, reporting throughput
    and latency percentiles.

    Without --user, a dedicated test user (chatdeploy-test-ws@example.com) is made if needed
    and given a fresh random password on each run; nothing is stored. `chatdeploy users
    delete chatdeploy-test-ws@example.com` removes it. The ID token travels as a WebSocket
    subprotocol, never in the URL. Exit code 1 when the test fails.
    """
    import secrets

    from chatdeploy.errors import UsageError
    from chatdeploy.ops.load import LoadPlan
    from chatdeploy.ops.stack import DeployedStack

    if interactive and clients:
        raise UsageError("--interactive and --clients do not go together")
    if messages_each and not clients:
        raise UsageError("--messages is for a load run", hint="add --clients N")
    if password is not None and user is None:
        raise UsageError("--password goes with --user", hint="add --user EMAIL")
    plan = None
    if clients:
        plan = LoadPlan(
            clients=clients,
            messages=messages_each or DEFAULT_LOAD_MESSAGES,
            room=room or f"load-{secrets.token_hex(3)}",
            time_limit=time_limit,
            message_timeout=timeout,
            connect_wait=connect_wait,
        )
    stack = DeployedStack.open(options)
    target = _target_url(stack, url, load=plan is not None)
    signed_in = _sign_in(stack, user, password)
    if plan is not None:
        _run_load(target, signed_in, plan)
    elif interactive:
        _run_interactive(target, signed_in, room or "general", connect_wait)
    else:
        _run_smoke(target, signed_in, room or "general", message, connect_wait, timeout)


def _target_url(stack: DeployedStack, url: str | None, *, load: bool) -> str:
    from chatdeploy.errors import UsageError

    own = stack.output("websocket_url")
    if url is None:
        return own
    if not url.startswith(("ws://", "wss://")):
        raise UsageError(f"--url: {url} is not a WebSocket URL", hint="it starts with wss://")
    if load and url.rstrip("/") != own.rstrip("/"):
        raise UsageError(
            f"a load run goes only to this stack's own WebSocket URL, {own}",
            hint="drop --url",
        )
    return url


def _sign_in(stack: DeployedStack, user: str | None, password: str | None) -> SignedIn:
    from chatdeploy.ops import tokens
    from chatdeploy.ops.users import UserDirectory, check_email

    pool_id = stack.output("user_pool_id")
    client_id = stack.output("user_pool_client_id")
    if user is None:
        idp = stack.aws().client("cognito-idp")
        return tokens.sign_in_test_user(UserDirectory(idp, pool_id), client_id)
    email = check_email(user)
    secret = password if password is not None else _ask_password(email)
    return tokens.sign_in(stack.aws().client("cognito-idp"), client_id, email, secret)


def _ask_password(email: str) -> str:
    import sys

    from chatdeploy.errors import UsageError

    if not sys.stdin.isatty():
        raise UsageError(f"no password for {email}", hint="pass --password, or run on a terminal")
    password: str = click.prompt(f"password for {email}", hide_input=True)
    return password


def _run_smoke(
    url: str, signed_in: SignedIn, room: str, message: str, wait: float, timeout: float
) -> None:
    from chatdeploy import ui
    from chatdeploy.ops import views
    from chatdeploy.ops.smoke import run_smoke

    out = ui.console()
    out.print(f"smoke test of {url}", style="dim", markup=False)
    result = asyncio.run(
        run_smoke(
            url, signed_in.id_token, room=room, message=message, connect_wait=wait, timeout=timeout
        )
    )
    out.print(views.smoke_report(result, signed_in.email))


def _run_interactive(url: str, signed_in: SignedIn, room: str, wait: float) -> None:
    from chatdeploy import ui
    from chatdeploy.errors import ChatdeployError
    from chatdeploy.ops import views
    from chatdeploy.ops.interactive import HELP, Session, stdin_lines
    from chatdeploy.ops.wsclient import open_chat

    out = ui.console()

    async def session() -> str | None:
        connection = await open_chat(url, signed_in.id_token, room, wait=wait)
        try:
            chat = Session(connection, room, lambda line: out.print(views.chat_line(line)))
            out.print(f"connected to {url} in #{room} as {signed_in.email}", markup=False)
            out.print(HELP, style="dim", markup=False)
            return await chat.run(stdin_lines())
        finally:
            await connection.close()

    try:
        ended = asyncio.run(session())
    except KeyboardInterrupt:
        ended = None
    if ended is not None:
        raise ChatdeployError(f"the server closed the connection ({ended})")


def _run_load(url: str, signed_in: SignedIn, plan: LoadPlan) -> None:
    from chatdeploy import ui
    from chatdeploy.errors import ChatdeployError
    from chatdeploy.ops import views
    from chatdeploy.ops.load import run_load

    out = ui.console()
    out.print(f"load run against {url}", style="dim", markup=False)
    with views.load_progress(out, plan.total) as advance:
        report = asyncio.run(run_load(url, signed_in.id_token, plan, on_ack=advance))
    out.print(views.load_report(report))
    if not report.complete:
        raise ChatdeployError(
            f"load run incomplete: {'; '.join(report.problems())}",
            hint="`chatdeploy logs --since 5m` shows what the handlers did",
        )


# -- logs ------------------------------------------------------------------------------------


@click.command()
@stack_options
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events until Ctrl-C.")
@click.option(
    "--since",
    callback=_since,
    metavar="DURATION|TIME",
    default="10m",
    show_default=True,
    help="Start this long ago (30s, 10m, 1h, 2d) or at an ISO-8601 time (local time "
    "unless it has an offset).",
)
@click.option(
    "--function",
    "function_names",
    multiple=True,
    help="Only this function (e.g. send_message or ChatSendMessage); repeatable.",
)
@click.option(
    "--filter",
    "pattern",
    help="A CloudWatch Logs filter pattern, e.g. ERROR or '{ $.outcome = \"error\" }'.",
)
@click.option(
    "--format",
    "form",
    type=click.Choice(["short", "detailed", "json"]),
    default="short",
    show_default=True,
    help="short: one line per event; detailed: every field; json: one JSON object per line.",
)
def logs(
    options: Options,
    follow: bool,
    since: datetime,
    function_names: tuple[str, ...],
    pattern: str | None,
    form: str,
) -> None:
    """Show every function's CloudWatch logs, interleaved by time (guide step 9.1).

    Each line carries the function's name in its own colour; the handlers' JSON log lines are
    summarised (route, outcome, latency, connection, user, room). With --follow, new events are
    printed as they arrive, polling every few seconds; a function that has not run yet joins in
    once its log group appears.
    """
    from chatdeploy import ui
    from chatdeploy.ops.logformat import LogFormatter
    from chatdeploy.ops.logs import Follower, LogEvent, LogReader
    from chatdeploy.ops.stack import DeployedStack
    from chatdeploy.ops.timespec import to_millis

    stack = DeployedStack.open(options)
    functions = _pick_functions(stack.functions(), function_names)
    reader = LogReader(stack.aws(read_only=True).client("logs"), functions, pattern=pattern)
    formatter = LogFormatter(functions, form)
    out, notes = ui.console(), ui.console(stderr=True)

    def show(events: list[LogEvent]) -> None:
        for event in events:
            line = formatter.render(event)
            if isinstance(line, str):
                click.echo(line)
            elif line is not None:
                out.print(line, soft_wrap=True)

    if not follow:
        events = reader.read_all(to_millis(since))
        show(events)
        _note_quiet(notes, reader, since, found=bool(events))
        return
    try:
        Follower(reader, to_millis(since)).run(show)
    except KeyboardInterrupt:
        return


def _pick_functions(known: list[StackFunction], wanted: tuple[str, ...]) -> list[StackFunction]:
    from chatdeploy.errors import UsageError

    if not wanted:
        return known

    def squash(name: str) -> str:
        return name.lower().replace("_", "").replace("-", "")

    by_name = {squash(n): f for f in known for n in (f.logical_name, f.function_name)}
    unknown = [name for name in wanted if squash(name) not in by_name]
    if unknown:
        raise UsageError(
            f"--function: the stack has no function {unknown[0]!r}",
            hint=f"its functions: {', '.join(f.logical_name for f in known)}",
        )
    return list(
        {by_name[squash(name)].logical_name: by_name[squash(name)] for name in wanted}.values()
    )


def _note_quiet(notes: Console, reader: Any, since: datetime, *, found: bool) -> None:
    if reader.missing:
        groups = ", ".join(sorted(reader.missing))
        notes.print(f"no log group yet (function never ran): {groups}", style="dim", markup=False)
    if not found:
        when = since.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        notes.print(f"no log events since {when}", style="dim", markup=False)


# -- metrics ---------------------------------------------------------------------------------


@click.command()
@stack_options
@click.option(
    "--since",
    callback=_since,
    metavar="DURATION|TIME",
    default="1h",
    show_default=True,
    help="How far back (10m, 1h, 2d; at most 15 days) or an ISO-8601 time.",
)
@click.option(
    "--period",
    callback=_duration,
    metavar="DURATION",
    default="5m",
    show_default=True,
    help="The length of one data point, in whole minutes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def metrics(options: Options, since: datetime, period: timedelta, as_json: bool) -> None:
    """Show the WebSocket API's and the functions' CloudWatch metrics (guide step 9.3).

    The API: connections, messages, integration, client and execution errors, integration
    latency. Each function: invocations, errors, throttles and duration p50/p99. Totals over the
    window, and a sparkline per period. A metric with no data points shows "no data".
    """
    from chatdeploy import ui
    from chatdeploy.ops import views
    from chatdeploy.ops.metrics import Window, read_stack_metrics
    from chatdeploy.ops.stack import DeployedStack
    from chatdeploy.ops.timespec import utc_now

    now = utc_now()
    window = Window.ending_now(now - since, period, now)
    stack = DeployedStack.open(options)
    api_id = stack.output("api_id")
    aws = stack.aws(read_only=True)
    found = read_stack_metrics(
        aws.client("cloudwatch"), window, api_id, stack.functions(), percentiles=not aws.is_emulator
    )
    if as_json:
        document = {"stack": stack.name, "region": stack.region, **found.to_json()}
        click.echo(json.dumps(document, indent=2))
        return
    out = ui.console()
    out.print(views.metrics_heading(found, stack.name), style="dim")
    for table in views.metrics_tables(found):
        out.print(table)
        out.print()
    if aws.is_emulator:
        out.print(
            "the emulator computes no percentiles: durations show average and maximum", style="dim"
        )
