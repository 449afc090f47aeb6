"""The functions' output as Lambda keeps it: CloudWatch Logs in the emulator, plus the console.

Each worker process writes to a log stream of its own in `/aws/lambda/<function>` (Lambda opens
one per execution environment), so `chatdeploy logs` works against a local session. Lines are
sent in batches from one background thread; the event loop never waits for the emulator.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatdeploy.aws import error_code

Echo = Callable[[str, str], None]
_BATCH_SECONDS = 0.2
_BATCH_EVENTS = 500


@dataclass(frozen=True)
class _Line:
    group: str
    stream: str
    timestamp_ms: int
    message: str


def is_platform_line(message: str) -> bool:
    """Lambda's own START/END/REPORT lines, as opposed to what the handler wrote."""
    return message.startswith(("START RequestId:", "END RequestId:", "REPORT RequestId:"))


def new_stream_name() -> str:
    """`2026/11/25/[$LATEST]<32 hex>`, the form of a Lambda log stream."""
    return time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()) + uuid.uuid4().hex


class LogShipper:
    """Batches log lines to CloudWatch Logs from one thread; echoes each to the console."""

    def __init__(self, logs_client: Any, echo: Echo | None = None) -> None:
        self._logs = logs_client
        self._echo = echo
        self._lines: queue.Queue[_Line | None] = queue.Queue()
        self._streams: set[tuple[str, str]] = set()
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self._thread.start()

    def write(self, group: str, stream: str, label: str, message: str) -> None:
        self._lines.put(_Line(group, stream, int(time.time() * 1000), message))
        if self._echo is not None:
            self._echo(label, message)

    def close(self) -> None:
        """Sends what is queued, then stops."""
        self._lines.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            batch, stop = self._collect()
            if batch:
                self._send(batch)
            if stop:
                return

    def _collect(self) -> tuple[list[_Line], bool]:
        first = self._lines.get()
        if first is None:
            return [], True
        batch = [first]
        deadline = time.monotonic() + _BATCH_SECONDS
        while len(batch) < _BATCH_EVENTS:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                return batch, True
            batch.append(line)
        return batch, False

    def _send(self, batch: list[_Line]) -> None:
        by_stream: dict[tuple[str, str], list[_Line]] = {}
        for line in batch:
            by_stream.setdefault((line.group, line.stream), []).append(line)
        for (group, stream), lines in by_stream.items():
            try:
                self._put(group, stream, lines)
            except Exception as error:  # a lost log line must never stop the session
                if self._echo is not None:
                    self._echo("chatdeploy", f"could not write to {group}: {error}")

    def _put(self, group: str, stream: str, lines: list[_Line]) -> None:
        if (group, stream) not in self._streams:
            self._create_stream(group, stream)
            self._streams.add((group, stream))
        ordered = sorted(lines, key=lambda line: line.timestamp_ms)
        events = [{"timestamp": line.timestamp_ms, "message": line.message} for line in ordered]
        self._logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    def _create_stream(self, group: str, stream: str) -> None:
        try:
            self._logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except Exception as error:
            code = error_code(error)
            if code == "ResourceAlreadyExistsException":
                return
            if code != "ResourceNotFoundException":
                raise
            self._logs.create_log_group(logGroupName=group)
            self._logs.create_log_stream(logGroupName=group, logStreamName=stream)
