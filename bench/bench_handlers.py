"""Handler figures: zip size per function, cold import time per handler module, and the
fan-out of one message to 1,000 connections with a simulated 20 ms PostToConnection latency.

    python bench/bench_handlers.py [--runs N]

DynamoDB is moto in server mode in a subprocess (the handlers' real botocore client, over HTTP
on 127.0.0.1); the @connections API is a small HTTP server in another process that waits 20 ms
before each answer. The message goes through the real send_message.handler.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import offline  # noqa: F401  (fake credentials before any AWS client is made)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "handlers"))
from chat_testkit import HANDLER_ENV, create_tables  # the handler tests' tables and settings

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = ROOT / "handlers"
ROOM_SIZE = 1000
POST_LATENCY_S = 0.020
GOAL_S = 1.5


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


# --- zip sizes ------------------------------------------------------------------------------


def zip_sizes() -> None:
    from chatdeploy.packaging import build, discover

    rows = []
    for function in discover(HANDLERS):
        artifact = build(function)
        rows.append([function.name, function.route_key or "(authorizer)", f"{artifact.size:,}"])
    print_table("Zip size per function", ["function", "route", "bytes"], rows)


# --- cold import ----------------------------------------------------------------------------

_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_microseconds(module: str) -> int:
    """Cumulative µs of `import module` in a fresh interpreter (python -X importtime)."""
    environment = {**os.environ, "PYTHONPATH": str(HANDLERS)}
    finished = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )
    for line in finished.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match and match.group(4) == module and len(match.group(3)) == 1:
            return int(match.group(2))
    raise RuntimeError(f"no import time reported for {module}")


def cold_imports(runs: int) -> None:
    from chatdeploy.packaging import discover

    modules = [function.name for function in discover(HANDLERS)] + ["boto3"]
    rows = []
    for module in modules:
        samples = [import_microseconds(module) for _ in range(runs)]
        label = module if module != "boto3" else "boto3 (reference)"
        rows.append([label, f"{statistics.median(samples):,.0f}", f"{min(samples):,}"])
    print_table(
        f"Cold import, python -X importtime, {runs} fresh interpreters each",
        ["module", "median µs", "min µs"],
        rows,
    )
    print("boto3 is imported lazily by chatlib, on a handler's first AWS call (not by the")
    print("authorizer at all): the reference row is the cost moved from import to first call.")


# --- fan-out ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_management_api(port: int, posts: Synchronized[int], ready: Any) -> None:
    """The @connections API: every POST waits POST_LATENCY_S, then answers 200."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway does

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(POST_LATENCY_S)
            with posts.get_lock():
                posts.value += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256
        daemon_threads = True

    server = Server(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


@contextmanager
def management_api() -> Iterator[tuple[str, Synchronized[int]]]:
    context = multiprocessing.get_context("spawn")
    posts: Synchronized[int] = context.Value("i", 0)
    ready = context.Event()
    port = free_port()
    process = context.Process(target=serve_management_api, args=(port, posts, ready), daemon=True)
    process.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the management API did not start")
        yield f"http://127.0.0.1:{port}/production", posts
    finally:
        process.terminate()
        process.join(10)


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server at {url} did not start")


def seed_connections(dynamodb: Any) -> None:
    """1,000 connections in `general` and 1,000 spread over other rooms."""
    rows = [(f"conn-{n:04}", "general") for n in range(ROOM_SIZE)]
    rows += [(f"other-{n:04}", f"room-{n % 7}") for n in range(ROOM_SIZE)]
    requests = [
        {
            "PutRequest": {
                "Item": {
                    "connectionId": {"S": connection_id},
                    "userId": {"S": f"sub-{n % 50}"},
                    "displayName": {"S": f"user {n % 50}"},
                    "roomId": {"S": room},
                    "connectedAt": {"N": "1700000000000"},
                    "expiresAt": {"N": "1700007200"},
                }
            }
        }
        for n, (connection_id, room) in enumerate(rows)
    ]
    table = HANDLER_ENV["CONNECTIONS_TABLE"]
    for start in range(0, len(requests), 25):
        dynamodb.batch_write_item(RequestItems={table: requests[start : start + 25]})


def time_one_message(
    handler: Callable[[dict[str, Any], object], dict[str, Any]],
) -> tuple[float, float]:
    """Wall and CPU seconds of one sendMessage (CPU: this process only; the servers run apart)."""
    body = {"action": "sendMessage", "roomId": "general", "message": "hello, everyone"}
    event = {
        "requestContext": {
            "routeKey": "sendMessage",
            "connectionId": "conn-0000",
            "requestId": "bench",
            "domainName": "bench.example",
            "stage": "production",
            "authorizer": {"userId": "sub-0", "displayName": "user 0"},
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
    started, cpu_started = time.perf_counter(), time.process_time()
    answer = handler(event, None)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if answer != {"statusCode": 200}:
        raise RuntimeError(f"sendMessage answered {answer}")
    return elapsed, cpu


def fan_out(runs: int) -> None:
    import boto3

    with moto_server() as dynamodb_url, management_api() as (endpoint, posts):
        os.environ.update(HANDLER_ENV)
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_url
        os.environ["MANAGEMENT_API_ENDPOINT"] = endpoint
        dynamodb = boto3.client("dynamodb")
        create_tables()
        seed_connections(dynamodb)

        sys.path.insert(0, str(HANDLERS))  # as Lambda sees them: top-level modules
        send_message = importlib.import_module("send_message")
        workers = importlib.import_module("chatlib.aws").FANOUT_WORKERS

        timings = []
        for _ in range(runs):
            with _quiet_stdout():
                timings.append(time_one_message(send_message.handler))
        delivered = posts.value

    warm = timings[1:] or timings
    sequential = ROOM_SIZE * POST_LATENCY_S
    rows = [
        ["first message (creates the clients)", f"{timings[0][0]:.3f}", f"{timings[0][1]:.3f}"],
        [
            f"median of the next {len(warm)}",
            f"{statistics.median(wall for wall, _ in warm):.3f}",
            f"{statistics.median(cpu for _, cpu in warm):.3f}",
        ],
        [f"each of the next {len(warm)}", " ".join(f"{wall:.2f}" for wall, _ in warm), ""],
        ["sequential posting would take", f"{sequential:.1f}", ""],
        ["goal", f"<= {GOAL_S}", ""],
    ]
    print_table(
        f"Fan-out of one message to {ROOM_SIZE:,} connections "
        f"({POST_LATENCY_S * 1000:.0f} ms per PostToConnection, "
        f"{workers} worker threads)",
        ["run", "wall s", "CPU s"],
        rows,
    )
    expected = runs * ROOM_SIZE
    print(f"posts received by the management API: {delivered:,} (expected {expected:,})")


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """The handler's JSON log line would interleave with the tables."""
    saved = sys.stdout
    with open(os.devnull, "w") as sink:
        sys.stdout = sink
        try:
            yield
        finally:
            sys.stdout = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions per figure")
    arguments = parser.parse_args()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}: wall times depend on other work here")
    zip_sizes()
    cold_imports(arguments.runs)
    fan_out(arguments.runs)


if __name__ == "__main__":
    main()
