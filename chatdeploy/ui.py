"""Everything the user sees of a deploy: the live progress view and the final tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from chatdeploy.engine import Action, Outcome, Report

_STYLE = {
    Action.CREATE: "green",
    Action.CREATED: "green",
    Action.UPDATE: "yellow",
    Action.UPDATED: "yellow",
    Action.ADOPTED: "cyan",
    Action.DELETE: "red",
    Action.DELETED: "red",
    Action.FAILED: "bold red",
    Action.SKIPPED: "dim",
    Action.UNCHANGED: "dim",
    Action.ABSENT: "dim",
    Action.KEPT: "cyan",
}


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)


@dataclass
class _Row:
    stage: str
    label: str
    status: str = "pending"
    detail: str = ""
    started: float | None = None
    outcome: Outcome | None = None


@dataclass
class LiveReporter:
    """A live view: one line per stage with its progress, plus the resources being worked on."""

    out: Console
    verb: str
    rows: dict[str, _Row] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: float = field(default_factory=time.monotonic)
    _live: Live | None = None

    def __enter__(self) -> LiveReporter:
        self._live = Live(self, console=self.out, refresh_per_second=8, transient=True)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
        for warning in self.warnings:
            self.out.print(f"[yellow]warning:[/] {escape(warning)}")

    def add(self, stage: str, key: str, label: str) -> None:
        with self._lock:
            self.rows.setdefault(key, _Row(stage, label))

    def update(self, key: str, status: str, detail: str = "") -> None:
        with self._lock:
            row = self.rows.setdefault(key, _Row("", key))
            if row.started is None:
                row.started = time.monotonic()
            row.status, row.detail = status, detail

    def done(self, outcome: Outcome) -> None:
        with self._lock:
            row = self.rows.setdefault(outcome.key, _Row(outcome.stage, outcome.label))
            row.outcome, row.status = outcome, outcome.action.value

    def warn(self, message: str) -> None:
        with self._lock:
            if message not in self.warnings:
                self.warnings.append(message)

    def __rich__(self) -> Group:
        with self._lock:
            rows = list(self.rows.values())
        table = Table.grid(padding=(0, 2))
        now = time.monotonic()
        for stage in dict.fromkeys(row.stage for row in rows):
            members = [row for row in rows if row.stage == stage]
            finished = sum(1 for row in members if row.outcome is not None)
            failed = any(row.outcome and row.outcome.action is Action.FAILED for row in members)
            mark = "[red]✗[/]" if failed else ("[green]✓[/]" if finished == len(members) else "·")
            table.add_row(Text.from_markup(mark), stage, f"{finished}/{len(members)}", "")
            for row in members:
                if row.outcome is None and row.started is not None:
                    status = f"{row.status} {row.detail}".strip()
                    table.add_row(
                        Spinner("dots"),
                        f"  {escape(row.label)}",
                        escape(status),
                        f"{now - row.started:.0f}s",
                    )
        title = Text(f"{self.verb} … {now - self._started:.0f}s", style="bold")
        return Group(title, table)


_QUIET_STATUSES = {"checking", "waiting"}
_QUIET_ACTIONS = {Action.UNCHANGED, Action.ABSENT}


@dataclass
class PlainReporter:
    """A line per change as it starts and as it ends: for logs, CI and -v. Resources that need
    nothing are only counted in the summary."""

    out: Console
    warnings: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def add(self, stage: str, key: str, label: str) -> None:
        self.labels[key] = label

    def update(self, key: str, status: str, detail: str = "") -> None:
        if status in _QUIET_STATUSES:
            return
        label = self.labels.get(key, key)
        self.out.print(f"  {escape(label)}: {status} {escape(detail)}".rstrip())

    def done(self, outcome: Outcome) -> None:
        if outcome.action in _QUIET_ACTIONS:
            return
        details = f" ({escape('; '.join(outcome.details))})" if outcome.details else ""
        self.out.print(f"  {escape(outcome.label)}: {outcome.action.value}{details}")

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            self.out.print(f"[yellow]warning:[/] {escape(message)}")


def render_report(out: Console, report: Report, *, verb: str) -> None:
    """After up/destroy: what changed (unchanged resources are counted, not listed)."""
    interesting = [o for o in report.outcomes if o.action not in {Action.UNCHANGED, Action.ABSENT}]
    if interesting:
        out.print(_outcome_table(interesting))
    counts = _counts(report.outcomes)
    out.print(f"{verb}: {counts} in {report.seconds:.1f}s")
    for failure in report.failures:
        assert failure.error is not None
        out.print(f"[red]✗ {escape(failure.label)}:[/] {escape(failure.error.message)}")
        if failure.error.hint:
            out.print(f"  hint: {escape(failure.error.hint)}")


def render_plan(out: Console, report: Report) -> None:
    out.print(_outcome_table(report.outcomes))
    out.print(f"plan: {_counts(report.outcomes)}")


def _outcome_table(outcomes: Iterable[Outcome]) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("stage", style="dim")
    table.add_column("resource")
    table.add_column("action")
    table.add_column("details", overflow="fold")
    table.add_column("time", justify="right", style="dim")
    for outcome in outcomes:
        style = _STYLE.get(outcome.action, "")
        table.add_row(
            outcome.stage,
            escape(outcome.label),
            f"[{style}]{outcome.action.value}[/]" if style else outcome.action.value,
            escape("; ".join(outcome.details)),
            f"{outcome.seconds:.1f}s" if outcome.seconds >= 0.05 else "",
        )
    return table


def _counts(outcomes: Iterable[Outcome]) -> str:
    tally: dict[str, int] = {}
    for outcome in outcomes:
        tally[outcome.action.value] = tally.get(outcome.action.value, 0) + 1
    return ", ".join(f"{count} {action}" for action, count in tally.items()) or "nothing to do"


def render_outputs(out: Console, outputs: dict[str, Any]) -> None:
    table = Table(title="outputs", show_edge=False, box=None, title_justify="left")
    table.add_column("output", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in outputs.items():
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                table.add_row(f"{name}.{inner}", escape(str(inner_value)))
        elif value is not None:
            table.add_row(name, escape(str(value)))
    out.print(table)


def render_resources(out: Console, resources: dict[str, dict[str, Any]]) -> None:
    table = Table(title="resources", show_edge=False, box=None, title_justify="left")
    table.add_column("resource", style="bold")
    table.add_column("recorded", overflow="fold")
    for key, record in sorted(resources.items()):
        table.add_row(escape(key), escape(", ".join(f"{k}={v}" for k, v in record.items())))
    out.print(table)
