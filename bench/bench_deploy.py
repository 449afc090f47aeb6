"""Deploy figures: AWS call counts, wall time under a model of real AWS latency, CLI start-up,
and zip sizes. Prints tables; run with `python bench/bench_deploy.py` (add --quick to skip the
latency model)."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import offline  # noqa: F401  (fake credentials before any AWS client is made)
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from rich.console import Console
from rich.table import Table

from chatdeploy.aws import RetryPolicy
from chatdeploy.bundled import handlers_dir
from chatdeploy.config import Config
from chatdeploy.engine import Report
from chatdeploy.packaging import build, discover
from chatdeploy.workspace import Options, Workspace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import moto_shims

moto_shims.install()
console = Console()


class LatencyModel:
    """A botocore client hook that makes moto behave like AWS in time:
    every call takes `per_call` seconds; create_function is refused as "role cannot be
    assumed" for `iam_propagation` seconds after the role is created; a new table is CREATING
    for `table_creating` seconds; a distribution is InProgress for `cdn_deploying` seconds."""

    def __init__(
        self,
        per_call: float = 0.1,
        iam_propagation: float = 8.0,
        table_creating: float = 6.0,
        cdn_deploying: float = 120.0,
    ) -> None:
        self.per_call = per_call
        self.iam_propagation = iam_propagation
        self.table_creating = table_creating
        self.cdn_deploying = cdn_deploying
        self.role_created: float | None = None
        self.tables_created: dict[str, float] = {}
        self.distributions_changed: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-call", self._latency)
        events.register("before-call.lambda.CreateFunction", self._propagation)
        events.register("after-call.iam.CreateRole", self._role_done)
        events.register("after-call.dynamodb.CreateTable", self._table_started)
        events.register("after-call.dynamodb.DescribeTable", self._table_status)
        for operation in ("CreateDistributionWithTags", "CreateDistribution", "UpdateDistribution"):
            events.register(f"after-call.cloudfront.{operation}", self._distribution_changed)
        events.register("after-call.cloudfront.GetDistribution", self._distribution_status)

    def _latency(self, **_: Any) -> None:
        time.sleep(self.per_call)

    def _role_done(self, **_: Any) -> None:
        self.role_created = time.monotonic()

    def _propagation(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self.role_created is None or time.monotonic() - self.role_created > self.iam_propagation:
            return None
        message = "The role defined for the function cannot be assumed by Lambda."
        parsed = {
            "Error": {"Code": "InvalidParameterValueException", "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return AWSResponse("https://lambda", 400, {}, None), parsed

    def _table_started(self, parsed: dict[str, Any], **_: Any) -> None:
        if "TableDescription" not in parsed:
            return
        with self._lock:
            self.tables_created[parsed["TableDescription"]["TableName"]] = time.monotonic()

    def _table_status(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Table" not in parsed:
            return
        started = self.tables_created.get(parsed["Table"]["TableName"])
        if started is not None and time.monotonic() - started < self.table_creating:
            parsed["Table"]["TableStatus"] = "CREATING"

    def _distribution_changed(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Distribution" not in parsed:
            return
        with self._lock:
            self.distributions_changed[parsed["Distribution"]["Id"]] = time.monotonic()

    def _distribution_status(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Distribution" not in parsed:
            return
        changed = self.distributions_changed.get(parsed["Distribution"]["Id"])
        if changed is not None and time.monotonic() - changed < self.cdn_deploying:
            parsed["Distribution"]["Status"] = "InProgress"


def workspace(state_dir: Path, hooks: tuple[Callable[[Any], None], ...] = ()) -> Workspace:
    options = Options(state_dir=state_dir, client_hooks=hooks, retry=RetryPolicy())
    return Workspace(options, config=Config())


def call_counts() -> None:
    table = Table(title="AWS calls against moto (in-process)")
    for column in ("run", "calls", "mutating", "wall s"):
        table.add_column(column, justify="right" if column != "run" else "left")
    with mock_aws(), tempfile.TemporaryDirectory() as state:
        for label, operation in (("fresh up", "up"), ("no-op up", "up"), ("destroy", "destroy")):
            ws = workspace(Path(state))
            ctx = ws.context()
            ctx.aws.calls.clear()
            started = time.perf_counter()
            report = getattr(ws.engine(ctx), operation)()
            elapsed = time.perf_counter() - started
            assert report.ok, report.failures
            calls = ctx.aws.calls
            table.add_row(
                label, str(len(calls.calls)), str(len(calls.mutating())), f"{elapsed:.2f}"
            )
    console.print(table)


def critical_path(report: Report, needs: dict[str, set[str]]) -> float:
    seconds = {o.key: o.seconds for o in report.outcomes}
    finish: dict[str, float] = {}

    def done_at(key: str) -> float:
        if key not in finish:
            finish[key] = seconds.get(key, 0.0) + max(
                (done_at(k) for k in needs.get(key, ()) if k in seconds), default=0.0
            )
        return finish[key]

    return max(done_at(key) for key in seconds)


def latency_model(wait: bool) -> None:
    model = LatencyModel()
    with mock_aws(), tempfile.TemporaryDirectory() as state:
        ws = workspace(Path(state), hooks=(model,))
        ctx = ws.context(wait=wait)
        engine = ws.engine(ctx)
        started = time.perf_counter()
        report = engine.up()
        wall = time.perf_counter() - started
        assert report.ok, report.failures
        path = critical_path(report, engine.dependencies())
        sequential = sum(o.seconds for o in report.outcomes)
    table = Table(title=f"fresh up under the AWS latency model{' with --wait' if wait else ''}")
    table.add_column("measure")
    table.add_column("seconds", justify="right")
    table.add_row("model: 100 ms/call, IAM 8 s, tables CREATING 6 s, CloudFront 120 s", "")
    table.add_row("chatdeploy up, wall time", f"{wall:.1f}")
    table.add_row("critical path of the resource graph", f"{path:.1f}")
    table.add_row("the guide's strictly sequential order (sum)", f"{sequential:.1f}")
    table.add_row("wall / critical path", f"{wall / path:.2f}x")
    console.print(table)


def startup() -> None:
    def median_of(command: list[str], runs: int = 7) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, check=False)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    chatdeploy = shutil.which("chatdeploy") or ""
    ours = median_of(
        [chatdeploy, "--help"] if chatdeploy else [sys.executable, "-m", "chatdeploy", "--help"]
    )
    aws = shutil.which("aws")
    table = Table(title="CLI start-up (median of 7)")
    table.add_column("command")
    table.add_column("seconds", justify="right")
    table.add_row("chatdeploy --help", f"{ours:.3f}")
    if aws:
        theirs = median_of([aws, "--version"])
        table.add_row("aws --version", f"{theirs:.3f}")
        table.add_row("ratio", f"{ours / theirs:.2f}x")
    else:
        table.add_row("aws --version", "aws CLI not installed")
    console.print(table)


def zip_sizes() -> None:
    table = Table(title="function zips")
    table.add_column("function")
    table.add_column("bytes", justify="right")
    table.add_column("sha256 (base64)")
    for function in discover(handlers_dir()):
        artifact = build(function)
        table.add_row(function.name, f"{artifact.size:,}", artifact.sha256)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the latency model")
    parser.add_argument("--wait", action="store_true", help="also model `up --wait` (CloudFront)")
    args = parser.parse_args()
    call_counts()
    startup()
    zip_sizes()
    if not args.quick:
        latency_model(wait=False)
        if args.wait:
            latency_model(wait=True)


if __name__ == "__main__":
    main()
