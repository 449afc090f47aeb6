"""Structured logs: one JSON line on stdout per handled event (CloudWatch keeps stdout)."""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any

_MAX_TRACEBACK_CHARS = 4000


class EventLog:
    """Collects the fields of one event's log line; `emit` writes it with the latency."""

    def __init__(self, route: str, event: Mapping[str, Any], context: object) -> None:
        self._started = time.perf_counter()
        request_context = event.get("requestContext") or {}
        self.fields: dict[str, object] = {
            "requestId": request_context.get("requestId")
            or getattr(context, "aws_request_id", None),
            "route": route,
            "connectionId": request_context.get("connectionId"),
            "outcome": None,
        }

    def add(self, **fields: object) -> None:
        self.fields.update(fields)

    def failed(self, error: BaseException, code: str = "server_error") -> None:
        """Records an unexpected failure, with its traceback in the same (single) line."""
        trace = "".join(traceback.format_exception(error))
        self.add(outcome="error", code=code, error=type(error).__name__)
        self.add(traceback=trace[-_MAX_TRACEBACK_CHARS:])

    def emit(self) -> None:
        latency_ms = round((time.perf_counter() - self._started) * 1000, 2)
        write_line({**self.fields, "latency_ms": latency_ms})


def write_line(record: Mapping[str, object]) -> None:
    line = json.dumps(record, separators=(",", ":"), default=str)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
