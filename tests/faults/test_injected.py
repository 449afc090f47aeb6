"""AWS misbehaving on purpose, in-process: throttling and 5xx on a seeded 10% of calls, and a
destroy cut short. Both must still converge."""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from moto.core.models import botocore_stubber

from snapshot import whole_stack
from support import destroy, open_workspace, up

SEED = int(os.environ.get("CHATDEPLOY_FAULT_SEED", "20261125"))


class Throttler:
    """Answers a seeded share of requests with a throttling error or a 503 before moto sees
    them, so botocore's own retries and ours are both exercised. Whether a call fails depends
    only on the seed, the operation and how many times it was called, never on thread timing."""

    def __init__(self, seed: int, rate: float = 0.1) -> None:
        self.seed, self.rate = seed, rate
        self.counts: dict[str, int] = {}
        self.injected: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, client: Any) -> None:
        protocol = client.meta.service_model.protocol
        service = client.meta.service_model.service_name

        # botocore calls every before-send handler, so moto would still act on a request we
        # answer with an error; instead, moto only sees the requests we let through.
        def send(request: Any, **kwargs: Any) -> Any:
            failure = self._maybe_fail(service, protocol, kwargs["event_name"])
            return failure or botocore_stubber(request=request, **kwargs)

        client.meta.events.unregister("before-send", botocore_stubber)
        client.meta.events.register("before-send", send)

    def _maybe_fail(self, service: str, protocol: str, event_name: str) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        name = f"{service}.{operation}"
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + 1
            draw = random.Random(f"{self.seed}:{name}:{self.counts[name]}").random()
            if draw >= self.rate:
                return None
            self.injected.append(name)
        code, status = FAULTS[int(draw / self.rate * len(FAULTS))]
        return _error_response(protocol, code, status)


# What AWS answers when it is overloaded: throttling (400 or 429) and unavailable (503).
FAULTS = (("Throttling", 400), ("TooManyRequestsException", 429), ("ServiceUnavailable", 503))


def _error_response(protocol: str, code: str, status: int) -> AWSResponse:
    """An error in the service's own wire format, so botocore parses it as AWS's."""
    if protocol in {"json", "rest-json"}:
        body = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
        headers = {"x-amzn-errortype": code, "content-type": "application/x-amz-json-1.1"}
        return AWSResponse("https://aws", status, headers, _Raw(body))
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        "<Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>"
    ).encode()
    return AWSResponse("https://aws", status, {"content-type": "text/xml"}, _Raw(body))


class _Raw:
    """The bit of urllib3's response that botocore reads."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        yield self.body


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    with mock_aws():
        report, _ = up(open_workspace(tmp_path_factory.mktemp("clean")))
        assert report.ok
        return whole_stack()


@pytest.mark.slow
def test_up_and_destroy_converge_with_ten_percent_of_calls_throttled(
    aws: None, tmp_path: Path, clean: dict[str, Any]
) -> None:
    throttler = Throttler(SEED)
    report, _ = up(open_workspace(tmp_path, hooks=[throttler]))
    assert report.ok, (SEED, report.failures)
    assert len(throttler.injected) >= 5, "the faults must really happen"
    assert whole_stack() == clean

    assert destroy(open_workspace(tmp_path, hooks=[throttler])).ok
    left = whole_stack()
    assert not any(left.values()), left


class CrashAfter:
    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0
        self._lock = threading.Lock()

    def __call__(self, client: Any) -> None:
        client.meta.events.register("before-call", self._count)

    def _count(self, **_: Any) -> None:
        with self._lock:
            self.count += 1
            if self.count > self.limit:
                raise KeyboardInterrupt


@pytest.mark.slow
@pytest.mark.parametrize("limit", [0, 3, 10, 25, 40, 60, 80])
def test_an_interrupted_destroy_resumes(aws: None, tmp_path: Path, limit: int) -> None:
    assert up(open_workspace(tmp_path))[0].ok
    with pytest.raises(KeyboardInterrupt):
        destroy(open_workspace(tmp_path, hooks=[CrashAfter(limit)]))
    assert destroy(open_workspace(tmp_path)).ok
    left = whole_stack()
    assert not any(left.values()), left
    assert not json.loads((tmp_path / "chat.json").read_text())["resources"]
