"""A moto server on loopback for the tests that run chatdeploy as a real process."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fault_kit import Emulator
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield Emulator(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def against(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """An empty emulator, and boto3 in this process pointed at it (for snapshots)."""
    emulator.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.url)
    return emulator
