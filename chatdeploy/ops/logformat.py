"""How `chatdeploy logs` shows an event: short, detailed or JSON.

The handlers log one JSON object per event (requestId, route, connectionId, outcome, latency_ms,
...); those are shown as a readable summary. Of Lambda's own lines the short form leaves out
START and END and condenses REPORT; anything else is shown as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from rich.text import Text

from chatdeploy.ops.logs import LogEvent
from chatdeploy.ops.stack import StackFunction
from chatdeploy.ops.timespec import from_millis, iso_utc

FORMATS = ("short", "detailed", "json")
_PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta")
_OUTCOME_STYLE = {"ok": "green", "rejected": "yellow", "refused": "yellow", "error": "bold red"}
_PLATFORM_PREFIXES = ("START ", "END ", "REPORT ", "INIT_START", "EXTENSION", "TELEMETRY")
_UNTOLD_IN_SHORT = ("START ", "END ")
_REPORT_FIGURE = re.compile(r"([A-Za-z][A-Za-z ]*?): ([\d.]+) (?:ms|MB)")
# Fields the short form shows in its own way, or leaves to --format detailed.
_SUMMARY_FIELDS = ("route", "outcome", "latency_ms", "requestId", "traceback")
_SHORT_NAMES = {"connectionId": "conn", "userId": "user", "roomId": "room", "messageId": "msg"}


def structured(message: str) -> dict[str, Any] | None:
    """The JSON object a handler logged, even behind a runtime's tab-separated prefix."""
    text = message.strip()
    start = text.find("{")
    if start < 0 or not text.endswith("}"):
        return None
    try:
        value = json.loads(text[start:])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class LogFormatter:
    def __init__(self, functions: Sequence[StackFunction], form: str = "short") -> None:
        if form not in FORMATS:
            raise ValueError(f"unknown format {form!r}")
        self.form = form
        self.width = max((len(f.logical_name) for f in functions), default=8)
        self.colours = {
            f.logical_name: _PALETTE[i % len(_PALETTE)] for i, f in enumerate(functions)
        }

    def render(self, event: LogEvent) -> Text | str | None:
        """A rich Text for short and detailed, a plain JSON line for json; None: not shown."""
        if self.form == "json":
            return self.json_line(event)
        if self.form == "detailed":
            return self.detailed(event)
        if event.message.startswith(_UNTOLD_IN_SHORT):
            return None
        return self.short(event)

    def label(self, event: LogEvent) -> Text:
        name = event.function.logical_name
        return Text(name.ljust(self.width), style=self.colours.get(name, "white"))

    def short(self, event: LogEvent) -> Text:
        when = from_millis(event.timestamp).astimezone().strftime("%H:%M:%S.%f")[:-3]
        line = Text.assemble((when, "dim"), " ", self.label(event), " ")
        fields = structured(event.message)
        if fields is not None:
            line.append_text(_summary(fields))
        elif event.message.startswith("REPORT "):
            line.append(_report(event.message), style="dim")
        else:
            dim = event.message.startswith(_PLATFORM_PREFIXES)
            line.append_text(_first_line(event.message, "dim" if dim else ""))
        return line

    def detailed(self, event: LogEvent) -> Text:
        when = iso_utc(from_millis(event.timestamp))
        line = Text.assemble((when, "dim"), " ", self.label(event), " ", (event.stream, "dim"))
        fields = structured(event.message)
        if fields is None:
            line.append("\n    " + event.message.rstrip().replace("\n", "\n    "))
            return line
        for name, value in fields.items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            line.append(f"\n    {name}: ", style="bold")
            line.append(shown.rstrip().replace("\n", "\n      "))
        return line

    def json_line(self, event: LogEvent) -> str:
        return json.dumps(
            {
                "timestamp": iso_utc(from_millis(event.timestamp)),
                "function": event.function.logical_name,
                "functionName": event.function.function_name,
                "logGroup": event.function.log_group,
                "logStream": event.stream,
                "eventId": event.event_id,
                "message": event.message.rstrip("\n"),
                "fields": structured(event.message),
            },
            ensure_ascii=False,
        )


def _summary(fields: dict[str, Any]) -> Text:
    """`sendMessage ok 12.3ms conn=abc user=u1 room=general recipients=2`."""
    outcome = str(fields.get("outcome"))
    text = Text(str(fields.get("route", "?")), style="bold")
    text.append(f" {outcome}", style=_OUTCOME_STYLE.get(outcome, ""))
    latency = fields.get("latency_ms")
    if isinstance(latency, int | float):
        text.append(f" {latency:.1f}ms", style="dim")
    for name, value in fields.items():
        if name not in _SUMMARY_FIELDS and value is not None:
            text.append(f" {_SHORT_NAMES.get(name, name)}={_compact(value)}")
    trace = fields.get("traceback")
    if isinstance(trace, str) and trace.strip():
        text.append(f"  {trace.strip().splitlines()[-1]}", style="red")
    return text


def _compact(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _report(message: str) -> str:
    """`REPORT 41.8 ms (billed 42 ms), 23/256 MB, init 177.6 ms`."""
    figures = {name.strip(): value for name, value in _REPORT_FIGURE.findall(message)}
    if "Duration" not in figures:
        return " ".join(message.split())
    text = f"REPORT {float(figures['Duration']):.1f} ms"
    if "Billed Duration" in figures:
        text += f" (billed {figures['Billed Duration']} ms)"
    if "Max Memory Used" in figures and "Memory Size" in figures:
        text += f", {figures['Max Memory Used']}/{figures['Memory Size']} MB"
    if "Init Duration" in figures:
        text += f", init {float(figures['Init Duration']):.1f} ms"
    return text


def _first_line(message: str, style: str) -> Text:
    """A multi-line event (a traceback) shows its first line and how many more there are."""
    lines = message.rstrip().splitlines() or [""]
    text = Text(" ".join(lines[0].replace("\t", " ").split()), style=style)
    if len(lines) > 1:
        text.append(f" (+{len(lines) - 1} lines; --format detailed shows them)", style="dim")
    return text
