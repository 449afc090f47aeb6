"""A small load run: N clients in one room, each sending M messages one after another.

Every client waits for its own copy of a message (the acknowledgement) before it sends the
next, so the latency is a round trip through the whole stack. Everything is bounded: the number
of clients and messages is capped, each message has a timeout and the run a wall-clock limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chatdeploy.errors import UsageError
from chatdeploy.ops.limits import MAX_CLIENTS, MAX_MESSAGES, MAX_TIME_LIMIT
from chatdeploy.ops.smoke import send_message_frame
from chatdeploy.ops.wsclient import ChatConnection, Clock, ConnectionLost, Received, open_chat


@dataclass(frozen=True)
class LoadPlan:
    clients: int
    messages: int
    room: str
    time_limit: float = 60.0
    message_timeout: float = 10.0
    connect_wait: float = 10.0

    def __post_init__(self) -> None:
        _bounded("--clients", self.clients, 1, MAX_CLIENTS)
        _bounded("--messages", self.messages, 1, MAX_MESSAGES)
        _bounded("--time-limit", self.time_limit, 1, MAX_TIME_LIMIT)

    @property
    def total(self) -> int:
        return self.clients * self.messages


def _bounded(option: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise UsageError(f"{option} must be between {low:g} and {high:g}, not {value:g}")


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (share in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class LoadReport:
    plan: LoadPlan
    connected: int = 0
    sent: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    connect_ms: list[float] = field(default_factory=list)
    deliveries: int = 0
    lost: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    delivery_seconds: float = 0.0
    timed_out: bool = False

    @property
    def acknowledged(self) -> int:
        return len(self.latencies_ms)

    def problems(self) -> list[str]:
        """What went wrong, worst first; empty for a complete run."""
        found = []
        if self.timed_out:
            found.append(f"stopped at the {self.plan.time_limit:g}s time limit")
        if self.acknowledged < self.plan.total:
            found.append(f"{self.acknowledged}/{self.plan.total} messages acknowledged")
        if self.deliveries < self.expected_deliveries:
            missing = self.expected_deliveries - self.deliveries
            found.append(f"{missing} of {self.expected_deliveries} copies to the room missing")
        found.extend(self.errors[:1])
        return found

    @property
    def complete(self) -> bool:
        return not self.problems()

    @property
    def expected_deliveries(self) -> int:
        return self.plan.total * self.plan.clients

    @property
    def messages_per_second(self) -> float:
        return self.acknowledged / self.seconds if self.seconds > 0 else 0.0

    @property
    def deliveries_per_second(self) -> float:
        seconds = self.delivery_seconds
        return self.deliveries / seconds if seconds > 0 else 0.0

    def latency(self, share: float) -> float | None:
        return percentile(self.latencies_ms, share)


@dataclass
class _Deliveries:
    """Copies of the run's messages received by any client, the senders' own included."""

    expected: int
    count: int = 0
    last_at: float = 0.0
    all_in: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, at: float) -> None:
        self.count += 1
        self.last_at = max(self.last_at, at)
        if self.count >= self.expected:
            self.all_in.set()


class _Client:
    """One load client: its connection and the message it waits on."""

    def __init__(
        self, index: int, run_id: str, report: LoadReport, deliveries: _Deliveries
    ) -> None:
        self.index = index
        self.marker = f"load {run_id} "
        self.report = report
        self.deliveries = deliveries
        self.connection: ChatConnection | None = None
        self.awaiting: str | None = None
        self.answer: asyncio.Future[Received] | None = None

    def on_frame(self, received: Received) -> None:
        frame = received.frame
        text = frame.get("message")
        if (
            frame.get("type") == "message"
            and isinstance(text, str)
            and text.startswith(self.marker)
        ):
            self.deliveries.add(received.at)
            if text == self.awaiting:
                self._resolve(received)
        elif frame.get("type") == "error":
            self.report.errors.append(
                f"client {self.index}: {frame.get('code')}: {frame.get('message')}"
            )
            self._resolve(received)

    def _resolve(self, received: Received) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(received)

    async def run(
        self, messages: int, room: str, timeout: float, on_ack: Callable[[], None]
    ) -> None:
        try:
            await self._send_all(messages, room, timeout, on_ack)
        except ConnectionLost as lost:
            self.report.errors.append(f"client {self.index}: {lost.message}")

    async def _send_all(
        self, messages: int, room: str, timeout: float, on_ack: Callable[[], None]
    ) -> None:
        assert self.connection is not None
        for sequence in range(messages):
            text = f"{self.marker}{self.index} {sequence}"
            self.awaiting = text
            self.answer = asyncio.get_running_loop().create_future()
            sent_at = await self.connection.send(send_message_frame(room, text))
            self.report.sent += 1
            try:
                received = await asyncio.wait_for(self.answer, timeout)
            except TimeoutError:
                self.report.lost += 1
                continue
            if received.frame.get("type") == "message":
                self.report.latencies_ms.append((received.at - sent_at) * 1000)
                on_ack()


async def run_load(
    url: str,
    token: str,
    plan: LoadPlan,
    *,
    on_ack: Callable[[], None] = lambda: None,
    clock: Clock = time.perf_counter,
) -> LoadReport:
    report = LoadReport(plan)
    deliveries = _Deliveries(report.expected_deliveries)
    run_id = secrets.token_hex(4)
    clients = [_Client(index, run_id, report, deliveries) for index in range(plan.clients)]
    began = clock()
    sending = True
    try:
        async with asyncio.timeout(plan.time_limit):
            await _connect_all(url, token, plan, clients, report, clock)
            began = clock()
            await asyncio.gather(
                *(c.run(plan.messages, plan.room, plan.message_timeout, on_ack) for c in clients)
            )
            report.seconds, sending = clock() - began, False
            # The last copies to the other clients may still be on their way.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(deliveries.all_in.wait(), plan.message_timeout)
    except TimeoutError:
        report.timed_out = sending
    finally:
        if sending:
            report.seconds = clock() - began
        report.deliveries = deliveries.count
        report.delivery_seconds = max(0.0, deliveries.last_at - began)
        await _close_all(clients)
    return report


async def _connect_all(
    url: str,
    token: str,
    plan: LoadPlan,
    clients: list[_Client],
    report: LoadReport,
    clock: Clock,
) -> None:
    """One after another: the run measures messages, not a storm of handshakes (and a
    connection whose $connect is still running cannot receive the presence frames that the
    others' $connect sends). The first may wait for a fresh deploy; the others find it up."""
    for index, client in enumerate(clients):
        client.connection = await open_chat(
            url,
            token,
            plan.room,
            wait=plan.connect_wait if index == 0 else 2.0,
            clock=clock,
            on_frame=client.on_frame,
        )
        report.connected += 1
        report.connect_ms.append(client.connection.connect_seconds * 1000)


async def _close_all(clients: list[_Client]) -> None:
    closing = [c.connection.close() for c in clients if c.connection is not None]
    with contextlib.suppress(Exception):
        await asyncio.gather(*closing)
