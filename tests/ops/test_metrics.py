"""`chatdeploy metrics`: API Gateway and Lambda metrics from seeded CloudWatch datapoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatdeploy.errors import UsageError
from chatdeploy.ops.metrics import MetricsReader, Window, function_specs
from chatdeploy.ops.sparkline import BLOCKS, sparkline

from .conftest import Cli

API_DIMENSIONS = [{"Name": "ApiId", "Value": "abc123"}, {"Name": "Stage", "Value": "production"}]
SEND_DIMENSIONS = [{"Name": "FunctionName", "Value": "ChatSendMessage"}]


def cloudwatch() -> Any:
    return boto3.client("cloudwatch", region_name="us-east-1")


def seed(namespace: str, name: str, dimensions: list[dict[str, str]], values: list[float]) -> None:
    """One datapoint a minute, the last one two minutes ago."""
    now = datetime.now(UTC)
    data = [
        {
            "MetricName": name,
            "Dimensions": dimensions,
            "Timestamp": now - timedelta(minutes=2 + i),
            "Value": value,
        }
        for i, value in enumerate(values)
    ]
    for start in range(0, len(data), 500):
        cloudwatch().put_metric_data(Namespace=namespace, MetricData=data[start : start + 500])


def metric(document: dict[str, Any], owner: str, name: str, stat: str) -> dict[str, Any]:
    if owner == "api":
        found = document["api"]["metrics"]
    else:
        found = next(f for f in document["functions"] if f["function"] == owner)["metrics"]
    return next(m for m in found if m["metric"] == name and m["stat"] == stat)


@pytest.fixture
def seeded(recorded: Path) -> Path:
    seed("AWS/ApiGateway", "ConnectCount", API_DIMENSIONS, [1, 2, 4])
    seed("AWS/Lambda", "Invocations", SEND_DIMENSIONS, [3] * 4)
    # 99 quick invocations and one slow one, spread over the hour.
    seed("AWS/Lambda", "Duration", SEND_DIMENSIONS, [10.0] * 49 + [1000.0] + [10.0] * 50)
    return recorded


def test_table_shows_totals_sparklines_and_no_data(seeded: Path, cli: Cli) -> None:
    result = cli("metrics", "--state-dir", str(seeded), "--since", "2h", "--period", "5m")

    assert result.code == 0, result.err
    rows = {line.split("  ")[0].strip(): line for line in result.out.splitlines()}
    assert " 7 " in rows["connections"]
    assert any(block in rows["connections"] for block in BLOCKS)
    assert "no data" in rows["messages"]
    assert "no data" in rows["client errors"]
    send = next(line for line in result.out.splitlines() if line.startswith("send_message"))
    assert send.split()[1] == "12"  # invocations
    assert "no data" in next(
        line for line in result.out.splitlines() if line.startswith("connect ")
    )


def test_json_has_window_wide_percentiles(seeded: Path, cli: Cli) -> None:
    result = cli("metrics", "--state-dir", str(seeded), "--since", "2h", "--json")

    document = json.loads(result.out)
    assert document["stack"] == "chat" and document["period_seconds"] == 300
    assert metric(document, "api", "ConnectCount", "Sum")["summary"] == 7
    assert metric(document, "api", "MessageCount", "Sum") | {"label": None} == {
        "metric": "MessageCount",
        "stat": "Sum",
        "label": None,
        "summary": None,
        "points": [],
    }
    # Over the whole window the p99 of 99 x 10 ms and 1 x 1000 ms is 10 ms; the period
    # that holds the slow call alone would say 1000 ms.
    assert metric(document, "send_message", "Duration", "p99")["summary"] == 10.0
    assert metric(document, "send_message", "Duration", "p50")["summary"] == 10.0
    points = metric(document, "send_message", "Invocations", "Sum")["points"]
    assert sum(point["v"] for point in points) == 12


def test_no_data_at_all_is_not_an_error(recorded: Path, cli: Cli) -> None:
    table = cli("metrics", "--state-dir", str(recorded))
    document = json.loads(cli("metrics", "--state-dir", str(recorded), "--json").out)

    assert table.code == 0
    assert table.out.count("no data") == 6 + 5 * 5
    summaries = [m["summary"] for m in document["api"]["metrics"]]
    summaries += [m["summary"] for f in document["functions"] for m in f["metrics"]]
    assert set(summaries) == {None}


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--period", "90s"], "--period must be whole minutes"),
        (["--period", "5x"], "--period"),
        (["--since", "30d"], "--since reaches back at most 15 days"),
        (["--since", "10m", "--period", "1h"], "--period must not be longer than --since"),
        (["--since", "15d", "--period", "1m"], "at most 1440"),
    ],
)
def test_bad_windows_exit_2(recorded: Path, cli: Cli, arguments: list[str], complaint: str) -> None:
    result = cli("metrics", "--state-dir", str(recorded), *arguments)

    assert result.code == 2
    assert complaint in result.err


class CountingCloudWatch:
    def __init__(self) -> None:
        self.client = cloudwatch()
        self.batches: list[int] = []

    def get_metric_data(self, **request: Any) -> Any:
        self.batches.append(len(request["MetricDataQueries"]))
        return self.client.get_metric_data(**request)


def test_queries_are_batched_500_to_a_call(aws: None) -> None:
    names = [f"Fn{i}" for i in range(80)]
    seed("AWS/Lambda", "Invocations", [{"Name": "FunctionName", "Value": "Fn79"}], [5])
    specs = [spec for name in names for spec in function_specs(name)]
    counting = CountingCloudWatch()
    now = datetime.now(UTC)

    series = MetricsReader(
        counting, Window.ending_now(timedelta(hours=1), timedelta(minutes=5), now)
    ).read(specs)

    assert counting.batches == [500, 80 * 7 - 500]
    last_invocations = next(s for s in series if s.spec.dimensions[0][1] == "Fn79")
    assert last_invocations.summary == 5


def test_window_rejects_before_calling_anything() -> None:
    with pytest.raises(UsageError):
        Window.ending_now(timedelta(hours=1), timedelta(seconds=30), datetime.now(UTC))


# -- sparklines ------------------------------------------------------------------------------


def test_sparkline_scales_from_zero_and_leaves_gaps() -> None:
    assert sparkline([0, 4, None, 8]) == "▁▅ █"
    assert sparkline([None, None]) == ""
    assert sparkline([3, 3]) == "██"


def test_sparkline_merges_neighbours_to_fit() -> None:
    assert sparkline([1, 1, 0, 0, 2, 2], width=3) == "▅▁█"
    assert sparkline([1, 3, 0, 0, 2, 2], width=3, merge=max) == "█▁▆"


@given(st.lists(st.one_of(st.none(), st.floats(0, 1e6)), max_size=200), st.integers(1, 40))
def test_sparkline_shape(values: list[float | None], width: int) -> None:
    line = sparkline(values, width)
    present = [v for v in values if v is not None]
    if not present:
        assert line == ""
        return
    assert len(line) <= width
    assert set(line) <= set(BLOCKS) | {" "}
    if max(present) > 0:
        assert "█" in line
