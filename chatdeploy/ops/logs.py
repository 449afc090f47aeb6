"""Guide step 9.1: every function's CloudWatch Logs, interleaved by time.

Reading uses FilterLogEvents, one log group per call (it takes only one), following nextToken
to the last page. A log group that does not exist yet (a function never invoked, a group not
made yet) reads as empty.

Following works like `aws logs tail --follow`: each poll reads from the newest timestamp seen so
far, inclusive, and drops the events already printed, remembered by id for the timestamps at or
after that point; polls are always 2-5 s apart. On top of that the start reaches back a few
seconds (`late_window_ms`), so an event that CloudWatch ingests a little after newer ones is
still printed, once.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from chatdeploy.aws import is_not_found, is_throttling
from chatdeploy.ops.stack import StackFunction

MIN_POLL_SECONDS = 2.0
MAX_POLL_SECONDS = 5.0
# FilterLogEvents allows 5 calls per second per account and region; stay well under it.
_CALLS_PER_SECOND = 3.0


@dataclass(frozen=True)
class LogEvent:
    function: StackFunction
    timestamp: int
    message: str
    stream: str
    event_id: str

    @property
    def key(self) -> tuple[str, str]:
        # Event ids are unique per log group on AWS; emulators number them per stream.
        return (self.stream, self.event_id)


class LogReader:
    """Reads the stack's log groups, optionally through a CloudWatch filter pattern."""

    def __init__(
        self,
        logs_client: Any,
        functions: Sequence[StackFunction],
        *,
        pattern: str | None = None,
        page_size: int | None = None,
    ) -> None:
        self.client = logs_client
        self.functions = list(functions)
        self.pattern = pattern
        self.page_size = page_size
        self.missing: set[str] = set()

    def read(
        self, function: StackFunction, start_ms: int, end_ms: int | None = None
    ) -> list[LogEvent]:
        """All events of one function's group in [start_ms, end_ms]; [] if the group is absent."""
        try:
            events = list(self._pages(function, start_ms, end_ms))
        except botocore.exceptions.ClientError as error:
            if not is_not_found(error):
                raise
            self.missing.add(function.log_group)
            return []
        self.missing.discard(function.log_group)
        return events

    def _pages(
        self, function: StackFunction, start_ms: int, end_ms: int | None
    ) -> Iterator[LogEvent]:
        request: dict[str, Any] = {"logGroupName": function.log_group, "startTime": start_ms}
        if end_ms is not None:
            request["endTime"] = end_ms
        if self.pattern:
            request["filterPattern"] = self.pattern
        if self.page_size:
            request["limit"] = self.page_size
        while True:
            page = self.client.filter_log_events(**request)
            for raw in page.get("events", []):
                yield LogEvent(
                    function=function,
                    timestamp=int(raw["timestamp"]),
                    message=str(raw.get("message", "")),
                    stream=str(raw.get("logStreamName", "")),
                    event_id=str(raw.get("eventId", "")),
                )
            token = page.get("nextToken")
            if not token or token == request.get("nextToken"):
                return
            request["nextToken"] = token

    def read_all(self, start_ms: int, end_ms: int | None = None) -> list[LogEvent]:
        """Every function's events in the window, interleaved by time."""
        events = [e for f in self.functions for e in self.read(f, start_ms, end_ms)]
        return in_time_order(events)


def in_time_order(events: list[LogEvent]) -> list[LogEvent]:
    return sorted(events, key=lambda e: (e.timestamp, e.function.logical_name, e.stream))


@dataclass
class _GroupCursor:
    """Where one log group's next poll starts, and which events from there on were printed."""

    start_ms: int
    late_window_ms: int
    printed: dict[tuple[str, str], int] = field(default_factory=dict)

    def take_new(self, events: list[LogEvent]) -> list[LogEvent]:
        fresh = [event for event in events if event.key not in self.printed]
        for event in fresh:
            self.printed[event.key] = event.timestamp
        if events:
            newest = max(event.timestamp for event in events)
            self.start_ms = max(self.start_ms, newest - self.late_window_ms)
        self.printed = {k: ts for k, ts in self.printed.items() if ts >= self.start_ms}
        return fresh


class Follower:
    def __init__(
        self,
        reader: LogReader,
        start_ms: int,
        *,
        sleep: Callable[[float], None] | None = None,
        late_window_ms: int = 5000,
    ) -> None:
        self.reader = reader
        self.sleep = sleep or time.sleep
        self.cursors = {
            f.log_group: _GroupCursor(start_ms, late_window_ms) for f in reader.functions
        }
        self.throttled = 0
        self._first = 0  # the index of the group the next round starts with

    def poll(self) -> list[LogEvent]:
        """One round over every group: the events not printed before, in time order."""
        functions = self.reader.functions
        fresh: list[LogEvent] = []
        for offset in range(len(functions)):
            function = functions[(self._first + offset) % len(functions)]
            cursor = self.cursors[function.log_group]
            try:
                events = self.reader.read(function, cursor.start_ms)
            except botocore.exceptions.ClientError as error:
                if not is_throttling(error):
                    raise
                # Back off. The next round starts after this group, so that one group that
                # is always throttled cannot starve the others.
                self.throttled += 1
                self._first = (self._first + offset + 1) % len(functions)
                break
            fresh.extend(cursor.take_new(events))
        else:
            self.throttled = 0
        return in_time_order(fresh)

    def pause(self) -> float:
        """Seconds until the next poll: 2-5 s, longer with more groups and after throttling."""
        paced = len(self.reader.functions) / _CALLS_PER_SECOND
        backed_off = MIN_POLL_SECONDS * (2**self.throttled) if self.throttled else 0.0
        return min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, paced, backed_off))

    def run(self, emit: Callable[[list[LogEvent]], None], *, polls: int | None = None) -> None:
        """Polls until interrupted (Ctrl-C raises KeyboardInterrupt), or `polls` times."""
        for done in itertools.count(1):
            emit(self.poll())
            if polls is not None and done >= polls:
                return
            self.sleep(self.pause())
