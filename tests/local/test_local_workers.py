"""Worker processes on their own (no emulator, no gateway): Lambda's answers for the ways a
handler can fail, its log lines, the runtime's libraries, and scaling with overlapping calls."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatdeploy.local.deployed import FunctionSpec
from chatdeploy.local.lambda_logs import LogShipper
from chatdeploy.local.workers import FunctionWorkers, Invocation, WorkerPlan, link_runtime_packages

HANDLER = """
import json, logging, os, sys, time

def handler(event, context):
    print("got", json.dumps(event))
    logging.warning("careful")
    print("to stderr", file=sys.stderr)
    if event.get("raise"):
        raise ValueError("bad input")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("unserializable"):
        return {"when": object()}
    return {"pid": os.getpid(), "remaining": context.get_remaining_time_in_millis(),
            "request": context.aws_request_id, "path": sys.path[:2]}
"""


class FakeLogs:
    """Records put_log_events; everything else answers like CloudWatch Logs."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def create_log_stream(self, **_: Any) -> None:
        pass

    def put_log_events(self, logGroupName: str, logStreamName: str, logEvents: list[Any]) -> None:
        with self._lock:
            self.lines += [(logGroupName, logStreamName, e["message"]) for e in logEvents]


@pytest.fixture
def code(tmp_path: Path) -> Path:
    directory = tmp_path / "task"
    directory.mkdir()
    (directory / "fn.py").write_text(HANDLER)
    (directory / "broken.py").write_text("def handler(:\n")
    return directory


@pytest.fixture
def logs() -> Iterator[FakeLogs]:
    yield FakeLogs()


def plan(code: Path, handler: str = "fn.handler", timeout_s: int = 2) -> WorkerPlan:
    spec = FunctionSpec("Fn", handler, "python3.12", timeout_s, 128, {}, "", "/aws/lambda/Fn")
    runtime = link_runtime_packages(code.parent / "runtime")
    return WorkerPlan(spec, code, {"PATH": os.environ["PATH"]}, (runtime,))


def run(
    work_plan: WorkerPlan, logs: FakeLogs, events: list[Any], max_workers: int = 1
) -> list[Invocation]:
    async def scenario() -> list[Invocation]:
        shipper = LogShipper(logs)
        workers = FunctionWorkers(work_plan, shipper, max_workers)
        await workers.start()
        try:
            results = []
            for event in events:
                if isinstance(event, list):  # overlapping invocations
                    batch = [workers.invoke(e, f"r{i}") for i, e in enumerate(event)]
                    results += await asyncio.gather(*batch)
                else:
                    results.append(await workers.invoke(event, f"r{len(results)}"))
            return results
        finally:
            await workers.stop()
            await asyncio.to_thread(shipper.close)

    return asyncio.run(scenario())


def test_an_answer_with_the_context_and_log_lines_like_lambdas(code: Path, logs: FakeLogs) -> None:
    [result] = run(plan(code), logs, [{"a": 1}])
    assert result.ok
    assert result.payload["request"] == "r0"
    assert 0 < result.payload["remaining"] <= 2000
    assert result.payload["path"][0] == str(code)
    messages = [message for _, _, message in logs.lines]
    assert messages[0] == "START RequestId: r0 Version: $LATEST"
    assert 'got {"a": 1}' in messages and "to stderr" in messages
    assert any(m.startswith("[WARNING]\t") and m.endswith("Z\tr0\tcareful") for m in messages)
    assert any(
        m.startswith("REPORT RequestId: r0\tDuration:") and "Init Duration" in m for m in messages
    )


def test_an_exception_becomes_lambdas_error_document(code: Path, logs: FakeLogs) -> None:
    failed, after = run(plan(code), logs, [{"raise": True}, {}])
    assert not failed.ok
    assert failed.error is not None
    assert (failed.error["errorType"], failed.error["errorMessage"]) == ("ValueError", "bad input")
    assert after.ok and after.payload["pid"]  # the same worker goes on
    assert any(m.startswith("[ERROR] ValueError: bad input\r") for _, _, m in logs.lines)


def test_an_unserializable_answer_is_a_marshal_error(code: Path, logs: FakeLogs) -> None:
    [result] = run(plan(code), logs, [{"unserializable": True}])
    assert result.error is not None and result.error["errorType"] == "Runtime.MarshalError"


def test_a_module_that_does_not_import_fails_every_invocation(code: Path, logs: FakeLogs) -> None:
    results = run(plan(code, "broken.handler"), logs, [{}, {}])
    assert [r.error["errorType"] for r in results if r.error] == ["Runtime.ImportModuleError"] * 2


def test_a_timeout_kills_the_worker_and_a_new_one_answers(code: Path, logs: FakeLogs) -> None:
    first, timed_out, after = run(plan(code, timeout_s=1), logs, [{}, {"sleep": 5}, {}])
    assert timed_out.error is not None and timed_out.error["errorType"] == "Sandbox.Timedout"
    assert after.payload["pid"] != first.payload["pid"]
    assert any("Task timed out after 1.00 seconds" in m for _, _, m in logs.lines)


def test_overlapping_invocations_start_more_workers_up_to_the_limit(
    code: Path, logs: FakeLogs
) -> None:
    results = run(plan(code), logs, [[{"sleep": 0.5}] * 6], max_workers=3)
    assert all(r.ok for r in results)
    assert len({r.payload["pid"] for r in results}) == 3
    streams = {stream for _, stream, _ in logs.lines}
    assert len(streams) == 3  # one log stream per worker, as Lambda has per environment
