"""What the operating commands print: rich tables, the load run's progress bar and report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console, Group
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from chatdeploy.ops.interactive import Line
from chatdeploy.ops.load import LoadReport, percentile
from chatdeploy.ops.metrics import Series, StackMetrics
from chatdeploy.ops.smoke import SmokeResult
from chatdeploy.ops.sparkline import sparkline
from chatdeploy.ops.users import User

NO_DATA = "no data"
SPARK_WIDTH = 24
_LINE_STYLES = {"message": "", "info": "cyan", "error": "red", "raw": "dim"}


def users_table(users: list[User], pool_id: str) -> Group:
    table = _table()
    table.add_column("e-mail", style="bold")
    table.add_column("status")
    table.add_column("e-mail verified")
    table.add_column("enabled")
    table.add_column("created", style="dim")
    for user in users:
        table.add_row(
            escape(user.email),
            user.status,
            "yes" if user.email_verified else "no",
            "yes" if user.enabled else "[red]no[/]",
            user.created.strftime("%Y-%m-%d %H:%M") if user.created else "",
        )
    return _titled(f"users of {pool_id}", table)


def smoke_report(result: SmokeResult, user: str) -> Text:
    return Text.assemble(
        ("✓ ", "green"),
        f"both clients received the message in #{result.room}\n",
        f"  user           {user}\n",
        f"  connect        {result.connect_ms:7.1f} ms "
        f"(second client {result.second_connect_ms:.1f} ms)\n",
        f"  round trip     {result.round_trip_ms:7.1f} ms (send → the sender's copy)\n",
        f"  delivery       {result.delivery_ms:7.1f} ms (send → the other client's copy)",
    )


def chat_line(line: Line) -> Text:
    return Text(line.text, style=_LINE_STYLES.get(line.kind, ""))


@contextmanager
def load_progress(out: Console, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar of acknowledged messages; yields the function that advances it."""
    progress = Progress(
        TextColumn("load"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("messages"),
        TimeElapsedColumn(),
        console=out,
        transient=True,
        disable=not out.is_terminal,
    )
    task = progress.add_task("load", total=total)
    with progress:
        yield lambda: progress.advance(task)


def load_report(report: LoadReport) -> Group:
    plan = report.plan
    table = _table()
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("connected", f"{report.connected}/{plan.clients}"),
        ("acknowledged", f"{report.acknowledged}/{plan.total}"),
        ("delivered", f"{report.deliveries}/{report.expected_deliveries}"),
        ("lost (timed out)", str(report.lost)),
        ("errors", str(len(report.errors))),
        ("duration", f"{report.seconds:.2f} s"),
        ("throughput", f"{report.messages_per_second:.1f} msg/s"),
        ("deliveries", f"{report.deliveries_per_second:.1f} frames/s"),
        *((f"latency p{share}", _ms(report.latency(share))) for share in (50, 95, 99)),
        ("latency max", _ms(report.latency(100))),
        ("connect p50", _ms(percentile(report.connect_ms, 50))),
    ]
    for name, value in rows:
        table.add_row(name, value)
    title = f"load run: {plan.clients} clients x {plan.messages} messages in #{plan.room}"
    return _titled(title, table)


def _ms(value: float | None) -> str:
    return NO_DATA if value is None else f"{value:.1f} ms"


def metrics_heading(metrics: StackMetrics, stack: str) -> str:
    window = metrics.window
    start, end = window.start.astimezone(), window.end.astimezone()
    return (
        f"stack {stack}: {start:%Y-%m-%d %H:%M} to {end:%H:%M}, "
        f"one point per {window.period_seconds // 60} min"
    )


def metrics_tables(metrics: StackMetrics) -> list[Group]:
    return [_api_table(metrics), _functions_table(metrics)]


def _table() -> Table:
    return Table(box=None, show_edge=False, pad_edge=False)


def _titled(title: str, table: Table) -> Group:
    # A table's own title wraps to the table's width; a line above it does not.
    return Group(Text(title, style="bold"), table)


def _api_table(metrics: StackMetrics) -> Group:
    api = _table()
    api.add_column("metric", style="bold")
    api.add_column("window", justify="right")
    api.add_column("over time")
    for series in metrics.api:
        api.add_row(series.spec.label, _summary(series), _spark(series, metrics))
    return _titled(f"WebSocket API {metrics.api_id}, stage {metrics.stage}", api)


def _functions_table(metrics: StackMetrics) -> Group:
    functions = _table()
    functions.add_column("function", style="bold")
    labels = [s.spec.label for s in metrics.functions[0][1]] if metrics.functions else []
    for label in labels:
        functions.add_column(label, justify="right")
    functions.add_column("invocations over time")
    for function, rows in metrics.functions:
        cells = [_summary(series) for series in rows]
        functions.add_row(function.logical_name, *cells, _spark(rows[0], metrics))
    return _titled("Lambda functions", functions)


def _summary(series: Series) -> str:
    value = series.summary
    if value is None:
        return f"[dim]{NO_DATA}[/]"
    if series.spec.additive:
        alarming = "Error" in series.spec.metric or series.spec.metric == "Throttles"
        shown = f"{value:,.0f}"
        return f"[red]{shown}[/]" if alarming and value > 0 else shown
    return f"{value:,.1f} ms"


def _spark(series: Series, metrics: StackMetrics) -> str:
    values = series.per_period(metrics.window)
    if not series.spec.additive:
        return sparkline(values, SPARK_WIDTH, max)
    # A count with no datapoint in a period counted nothing then: show it as zero.
    counted = [0.0 if v is None else v for v in values] if series.has_data else values
    return sparkline(counted, SPARK_WIDTH, sum)
