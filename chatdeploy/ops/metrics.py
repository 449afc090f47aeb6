"""Guide step 9.3: the WebSocket API's and the functions' CloudWatch metrics.

One GetMetricData call carries up to 500 queries, so the whole table costs one or two calls.
Each metric is read per period (for the sparkline); averages and percentiles are also read once
over the whole window, because a p99 of the window cannot be computed from per-period p99s.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chatdeploy.errors import UsageError
from chatdeploy.names import API_STAGE
from chatdeploy.ops.stack import StackFunction
from chatdeploy.ops.timespec import iso_utc

MAX_SINCE = timedelta(days=15)  # CloudWatch keeps one-minute data this long
MAX_PERIODS = 1440
_QUERIES_PER_CALL = 500


@dataclass(frozen=True)
class Window:
    """`periods` periods of `period_seconds`, starting on a whole minute."""

    start: datetime
    period_seconds: int
    periods: int

    @classmethod
    def ending_now(cls, since: timedelta, period: timedelta, now: datetime) -> Window:
        # `--since 1h` parsed a moment ago is 1 h and a few ms by now: count whole seconds.
        since = timedelta(seconds=round(since.total_seconds()))
        seconds = int(period.total_seconds())
        if seconds < 60 or seconds % 60:
            raise UsageError(f"--period must be whole minutes (60s, 5m, 1h), not {seconds}s")
        if since > MAX_SINCE:
            raise UsageError("--since reaches back at most 15 days for metrics")
        if period > since:
            raise UsageError("--period must not be longer than --since")
        periods = math.ceil(since / period)
        if periods > MAX_PERIODS:
            raise UsageError(
                f"--since / --period gives {periods} periods; at most {MAX_PERIODS}",
                hint="choose a longer --period",
            )
        start = (now - since).astimezone(UTC).replace(second=0, microsecond=0)
        return cls(start, seconds, periods)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.period_seconds * self.periods)

    def bucket(self, moment: datetime) -> int:
        return int((moment - self.start).total_seconds() // self.period_seconds)


@dataclass(frozen=True)
class MetricSpec:
    namespace: str
    metric: str
    stat: str
    dimensions: tuple[tuple[str, str], ...]
    label: str

    @property
    def additive(self) -> bool:
        return self.stat == "Sum"

    def query(self, query_id: str, period: int) -> dict[str, Any]:
        dimensions = [{"Name": name, "Value": value} for name, value in self.dimensions]
        metric = {"Namespace": self.namespace, "MetricName": self.metric, "Dimensions": dimensions}
        return {
            "Id": query_id,
            "MetricStat": {"Metric": metric, "Period": period, "Stat": self.stat},
            "ReturnData": True,
        }


@dataclass(frozen=True)
class Series:
    spec: MetricSpec
    points: list[tuple[datetime, float]]
    summary: float | None

    @property
    def has_data(self) -> bool:
        return bool(self.points) or self.summary is not None

    def per_period(self, window: Window) -> list[float | None]:
        """One value per period of the window; None where CloudWatch had none."""
        values: list[float | None] = [None] * window.periods
        for moment, value in self.points:
            index = window.bucket(moment)
            if 0 <= index < window.periods:
                values[index] = value
        return values

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.spec.metric,
            "stat": self.spec.stat,
            "label": self.spec.label,
            "summary": self.summary,
            "points": [{"t": iso_utc(moment), "v": value} for moment, value in self.points],
        }


def api_specs(api_id: str, stage: str = API_STAGE) -> list[MetricSpec]:
    dimensions = (("ApiId", api_id), ("Stage", stage))
    wanted = [
        ("ConnectCount", "Sum", "connections"),
        ("MessageCount", "Sum", "messages"),
        ("IntegrationError", "Sum", "integration errors"),
        ("ClientError", "Sum", "client errors"),
        ("ExecutionError", "Sum", "execution errors"),
        ("IntegrationLatency", "Average", "integration latency ms (avg)"),
    ]
    return [MetricSpec("AWS/ApiGateway", m, s, dimensions, label) for m, s, label in wanted]


def duration_stats(percentiles: bool) -> tuple[str, str]:
    """p50/p99; an emulator without percentile support gets the average and the maximum."""
    return ("p50", "p99") if percentiles else ("Average", "Maximum")


def function_specs(function_name: str, *, percentiles: bool = True) -> list[MetricSpec]:
    dimensions = (("FunctionName", function_name),)
    wanted = [("Invocations", "Sum"), ("Errors", "Sum"), ("Throttles", "Sum")]
    wanted += [("Duration", stat) for stat in duration_stats(percentiles)]
    return [
        MetricSpec("AWS/Lambda", metric, stat, dimensions, _label(metric, stat))
        for metric, stat in wanted
    ]


def _label(metric: str, stat: str) -> str:
    """`invocations`, `duration p99`."""
    return metric.lower() if stat == "Sum" else f"{metric.lower()} {stat.lower()}"


class MetricsReader:
    def __init__(self, cloudwatch: Any, window: Window) -> None:
        self.client = cloudwatch
        self.window = window

    def read(self, specs: Sequence[MetricSpec]) -> list[Series]:
        whole = self.window.period_seconds * self.window.periods
        queries = [spec.query(f"p{i}", self.window.period_seconds) for i, spec in enumerate(specs)]
        queries += [spec.query(f"w{i}", whole) for i, spec in enumerate(specs) if not spec.additive]
        found = self._fetch(queries)
        series = []
        for i, spec in enumerate(specs):
            points = found.get(f"p{i}", [])
            if spec.additive:
                summary = sum(v for _, v in points) if points else None
            else:
                overall = [v for _, v in found.get(f"w{i}", [])]
                summary = max(overall) if overall else None
            series.append(Series(spec, points, summary))
        return series

    def _fetch(self, queries: list[dict[str, Any]]) -> dict[str, list[tuple[datetime, float]]]:
        found: dict[str, list[tuple[datetime, float]]] = {}
        for batch in _chunks(queries, _QUERIES_PER_CALL):
            for result in self._results(batch):
                pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                found.setdefault(result["Id"], []).extend(pairs)
        return {key: sorted(points) for key, points in found.items()}

    def _results(self, batch: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "MetricDataQueries": batch,
            "StartTime": self.window.start,
            "EndTime": self.window.end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            page = self.client.get_metric_data(**request)
            yield from page.get("MetricDataResults", [])
            token = page.get("NextToken")
            if not token:
                return
            request["NextToken"] = token


def _chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class StackMetrics:
    window: Window
    api_id: str
    stage: str
    api: list[Series]
    functions: list[tuple[StackFunction, list[Series]]]

    def to_json(self) -> dict[str, Any]:
        return {
            "start": iso_utc(self.window.start),
            "end": iso_utc(self.window.end),
            "period_seconds": self.window.period_seconds,
            "api": {
                "id": self.api_id,
                "stage": self.stage,
                "metrics": [s.to_json() for s in self.api],
            },
            "functions": [
                {
                    "function": function.logical_name,
                    "functionName": function.function_name,
                    "metrics": [s.to_json() for s in series],
                }
                for function, series in self.functions
            ],
        }


def read_stack_metrics(
    cloudwatch: Any,
    window: Window,
    api_id: str,
    functions: Sequence[StackFunction],
    *,
    percentiles: bool = True,
) -> StackMetrics:
    """Everything in one batch of queries, then split back per API and per function."""
    api = api_specs(api_id)
    per_function = [function_specs(f.function_name, percentiles=percentiles) for f in functions]
    series = MetricsReader(cloudwatch, window).read(
        [*api, *(s for specs in per_function for s in specs)]
    )
    api_series, rest = series[: len(api)], series[len(api) :]
    grouped = []
    for function, specs in zip(functions, per_function, strict=True):
        grouped.append((function, rest[: len(specs)]))
        rest = rest[len(specs) :]
    return StackMetrics(window, api_id, API_STAGE, api_series, grouped)
