"""A moto server on loopback for the tests that run chatdeploy as a real process."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer


@dataclass(frozen=True)
class Emulator:
    url: str

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()


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


def chatdeploy(*args: str, state_dir: Path, endpoint: str) -> subprocess.Popen[str]:
    """`chatdeploy <args>` as its own process, as a user would run it."""
    command = [sys.executable, "-m", "chatdeploy", *args]
    command += ["--state-dir", str(state_dir), "--endpoint-url", endpoint]
    env = {**os.environ, "AWS_ENDPOINT_URL": ""}
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out + err


def recorded_keys(state_dir: Path) -> set[str]:
    try:
        return set(json.loads((state_dir / "chat.json").read_text())["resources"])
    except (FileNotFoundError, ValueError):
        return set()
