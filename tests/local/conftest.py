"""Local-mode tests: each module starts its own session (moto keeps its state per process, so
two sessions must not overlap), on 127.0.0.1 only, with an ephemeral port."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def email() -> str:
    """A fresh user for each test, so that tests sharing a session stay independent."""
    return f"user-{uuid.uuid4().hex[:10]}@example.com"
