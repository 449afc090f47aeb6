"""Fixtures of the handler tests. The handler modules are top-level modules of handlers/
(authorizer, connect, ..., chatlib), imported by putting that directory on sys.path."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from chat_testkit import HANDLER_ENV, HANDLERS_DIR, ManagementRecorder, Tables, create_tables
from moto import mock_aws

if str(HANDLERS_DIR) not in sys.path:
    sys.path.insert(0, str(HANDLERS_DIR))

from chatlib import aws  # importable once handlers/ is on the path


@pytest.fixture
def handler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in HANDLER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MANAGEMENT_API_ENDPOINT", raising=False)
    # Clients cached by an earlier test belong to another moto instance.
    monkeypatch.setattr(aws, "_clients", {})


@pytest.fixture
def tables(handler_env: None) -> Iterator[Tables]:
    with mock_aws():
        create_tables()
        yield Tables()


@pytest.fixture
def posts(monkeypatch: pytest.MonkeyPatch, handler_env: None) -> ManagementRecorder:
    """The @connections API as a recorder: which connection got which frame."""
    recorder = ManagementRecorder()
    monkeypatch.setattr(aws, "management", recorder.client_for)
    return recorder
