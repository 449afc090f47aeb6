"""Running chatdeploy as a real process against a moto server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Emulator:
    url: str

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()


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
