"""`chatdeploy local` figures: time from start to ready, and message delivery through the local
gateway with 100 clients in one room (the real handlers, moto, the worker processes).

    python bench/bench_local.py [--clients 100] [--senders 10] [--messages 20] [--starts 3]

`chatdeploy local` runs as a real process (what a user starts); the clients run here. Each
message carries its send time; latency is send -> delivery, over every recipient, the sender
included (that delivery is its acknowledgement). After a warm-up (cold starts), two loads:
- one message at a time (one sender, waits for its own delivery before the next);
- sustained: every sender sends its next message as soon as its previous one came back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import offline  # noqa: F401  (fake credentials before any AWS client is made)
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Bench-Password-9"
ROOM = "bench"
READY_GOAL_S = 10.0
LOCAL_COMMAND = (sys.executable, "-m", "chatdeploy", "local", "--port", "0", "--quiet")


@dataclass(frozen=True)
class Running:
    process: subprocess.Popen[str]
    ready_after_s: float
    websocket_url: str
    emulator_url: str
    outputs: dict[str, Any]


@contextmanager
def local_mode(state_dir: Path) -> Iterator[Running]:
    started = time.monotonic()
    process = subprocess.Popen(
        [*LOCAL_COMMAND, "--state-dir", str(state_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _read_until_ready(process)
        ready_after = time.monotonic() - started
        state = json.loads((state_dir / "chat.json").read_text())
        websocket = re.search(r"websocket\s+(\S+)", banner)
        assert websocket, banner
        threading.Thread(target=_drain, args=(process,), daemon=True).start()
        yield Running(
            process, ready_after, websocket.group(1), state["endpoint_url"], state["outputs"]
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _read_until_ready(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("ready in"):
            return "".join(seen)
    raise RuntimeError("chatdeploy local ended before it was ready:\n" + "".join(seen))


def _drain(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    for _ in process.stdout:
        pass


def id_tokens(running: Running, count: int) -> list[str]:
    idp = boto3.client("cognito-idp", endpoint_url=running.emulator_url)
    pool, client = running.outputs["user_pool_id"], running.outputs["user_pool_client_id"]
    tokens = []
    for number in range(count):
        email = f"bench-{number}-{uuid.uuid4().hex[:6]}@example.com"
        attributes = [{"Name": "email", "Value": email}]
        idp.admin_create_user(
            UserPoolId=pool, Username=email, UserAttributes=attributes, MessageAction="SUPPRESS"
        )
        idp.admin_set_user_password(
            UserPoolId=pool, Username=email, Password=PASSWORD, Permanent=True
        )
        answer = idp.initiate_auth(
            ClientId=client,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
        )
        tokens.append(answer["AuthenticationResult"]["IdToken"])
    return tokens


@dataclass
class Deliveries:
    """Latencies (s) of every delivery, and the moment each message reached everyone."""

    recipients: int
    latencies: list[float] = field(default_factory=list)
    pending: dict[str, int] = field(default_factory=dict)
    completed: dict[str, asyncio.Event] = field(default_factory=dict)

    def expect(self, message_id: str) -> asyncio.Event:
        self.pending[message_id] = self.recipients
        self.completed[message_id] = asyncio.Event()
        return self.completed[message_id]

    def delivered(self, text: str, at: float) -> None:
        message_id, _, sent_at = text.partition("@")
        if message_id not in self.pending:
            return
        self.latencies.append(at - float(sent_at))
        self.pending[message_id] -= 1
        if self.pending[message_id] == 0:
            self.completed[message_id].set()


async def listen(ws: ClientConnection, deliveries: Deliveries) -> None:
    async for raw in ws:
        frame = json.loads(raw)
        if frame.get("type") == "message":
            deliveries.delivered(frame["message"], time.perf_counter())


async def send_in_turn(ws: ClientConnection, deliveries: Deliveries, messages: int) -> None:
    for _ in range(messages):
        message_id = uuid.uuid4().hex[:12]
        everyone = deliveries.expect(message_id)
        text = f"{message_id}@{time.perf_counter()}"
        await ws.send(json.dumps({"action": "sendMessage", "roomId": ROOM, "message": text}))
        await asyncio.wait_for(everyone.wait(), 60)


@dataclass(frozen=True)
class LoadResult:
    one_at_a_time: Deliveries
    one_at_a_time_s: float
    sustained: Deliveries
    sustained_s: float


async def run_load(
    url: str, tokens: list[str], clients: int, senders: int, messages: int
) -> LoadResult:
    sockets = []
    for number in range(clients):
        token = tokens[number % len(tokens)]
        sockets.append(await connect(f"{url}?room={ROOM}&token={token}", max_queue=None))
    await asyncio.sleep(1.0)  # the presence frames of the joins settle
    # Warm-up, not measured: the workers' first invocations import boto3 (a cold start), and
    # the overlapping ones start the extra workers Lambda would start too.
    await measure(sockets, sockets[:senders], 2)
    quiet, quiet_s = await measure(sockets, sockets[:1], messages)
    busy, busy_s = await measure(sockets, sockets[:senders], messages)
    await asyncio.gather(*(ws.close() for ws in sockets))
    return LoadResult(quiet, quiet_s, busy, busy_s)


async def measure(
    sockets: list[ClientConnection], senders: list[ClientConnection], messages: int
) -> tuple[Deliveries, float]:
    deliveries = Deliveries(recipients=len(sockets))
    listeners = [asyncio.create_task(listen(ws, deliveries)) for ws in sockets]
    started = time.perf_counter()
    await asyncio.gather(*(send_in_turn(ws, deliveries, messages) for ws in senders))
    elapsed = time.perf_counter() - started
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    return deliveries, elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def latency_row(name: str, latencies: list[float], messages: int, seconds: float) -> list[str]:
    return [
        name,
        f"{messages / seconds:.1f}",
        f"{len(latencies) / seconds:.0f}",
        f"{percentile(latencies, 0.5) * 1000:.0f}",
        f"{percentile(latencies, 0.99) * 1000:.0f}",
        f"{max(latencies) * 1000:.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--messages", type=int, default=20, help="per sender")
    parser.add_argument("--starts", type=int, default=3, help="start-to-ready measurements")
    arguments = parser.parse_args()

    ready_times = []
    for _ in range(arguments.starts - 1):
        with tempfile.TemporaryDirectory() as state, local_mode(Path(state)) as running:
            ready_times.append(running.ready_after_s)
    with tempfile.TemporaryDirectory() as state, local_mode(Path(state)) as running:
        ready_times.append(running.ready_after_s)
        tokens = id_tokens(running, 10)
        result = asyncio.run(
            run_load(
                running.websocket_url,
                tokens,
                arguments.clients,
                arguments.senders,
                arguments.messages,
            )
        )
    median, fastest, slowest = statistics.median(ready_times), min(ready_times), max(ready_times)
    starts = len(ready_times)
    print_table(
        f"chatdeploy local: start to ready ({starts} starts, goal < {READY_GOAL_S:.0f} s)",
        ["median s", "min s", "max s"],
        [[f"{median:.2f}", f"{fastest:.2f}", f"{slowest:.2f}"]],
    )
    sent = arguments.senders * arguments.messages
    print_table(
        f"sendMessage -> delivery, {arguments.clients} clients in one room",
        ["load", "messages/s", "deliveries/s", "p50 ms", "p99 ms", "max ms"],
        [
            latency_row(
                "one at a time",
                result.one_at_a_time.latencies,
                arguments.messages,
                result.one_at_a_time_s,
            ),
            latency_row(
                f"sustained, {arguments.senders} senders",
                result.sustained.latencies,
                sent,
                result.sustained_s,
            ),
        ],
    )


if __name__ == "__main__":
    main()
