"""Fixtures of the stage tests: a mocked account, and polls that do not sleep."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws
from moto.moto_api import state_manager

from chatdeploy.aws import AwsContext


@pytest.fixture(autouse=True)
def _polls_without_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waits still poll until done, but never sleep between polls."""
    monkeypatch.setattr(AwsContext, "poll_delay", property(lambda self: 0.0))


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def slow_cloudfront() -> Iterator[int]:
    """moto reports a distribution "Deployed" only on its third read after a change."""
    reads = 3
    state_manager.set_transition(
        model_name="cloudfront::distribution",
        transition={"progression": "manual", "times": reads},
    )
    yield reads
    state_manager.unset_transition(model_name="cloudfront::distribution")
