"""Every operating command explains itself, and its --help stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("boto3", "botocore", "rich", "moto", "websockets")
COMMANDS = [
    ["users", "--help"],
    ["users", "create", "--help"],
    ["users", "delete", "--help"],
    ["users", "list", "--help"],
    ["test-ws", "--help"],
    ["logs", "--help"],
    ["metrics", "--help"],
]
PROBE = """
import sys
from chatdeploy.cli import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    loaded = [name for name in {heavy!r} if name in sys.modules]
    print("LOADED:", ",".join(loaded))
    raise
"""


@pytest.mark.parametrize("arguments", COMMANDS, ids=" ".join)
def test_help_explains_and_imports_nothing_heavy(arguments: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr
    assert "--state-dir" in result.stdout or arguments == ["users", "--help"]
    assert result.stdout.rstrip().endswith("LOADED:")


def test_top_level_help_lists_the_operating_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chatdeploy", "--help"], capture_output=True, text=True, check=True
    )

    for command in ("users", "test-ws", "logs", "metrics"):
        assert f"  {command} " in result.stdout
