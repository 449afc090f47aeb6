"""The command line as a user meets it: exit codes, one-line errors, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chatdeploy.cli import main
from chatdeploy.state import stack_lock

from support import FIXTURE_HANDLERS


def run(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    code = exited.value.code
    return code if isinstance(code, int) else 1


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATDEPLOY_HANDLERS", str(FIXTURE_HANDLERS))
    return tmp_path


@pytest.fixture
def no_aws_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("an AWS client was made")

    monkeypatch.setattr(boto3.Session, "client", refuse)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_help_lists_every_command_without_importing_aws_libraries() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "chatdeploy", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("init", "plan", "up", "status", "destroy"):
        assert f"  {command} " in result.stdout
    imported = result.stderr
    for heavy in ("boto3", "botocore", "rich", "moto", "pydantic"):
        assert f" {heavy}\n" not in imported and f" {heavy}." not in imported, heavy


def test_a_config_error_names_the_field_and_exits_2_before_any_call(
    in_tmp: Path, no_aws_calls: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp / "chatdeploy.yaml").write_text("tables:\n  billing_mode: CHEAP\n")
    assert run("up", "--yes") == 2
    error = capsys.readouterr().err
    assert "tables.billing_mode" in error
    assert "Traceback" not in error


def test_an_unknown_setting_is_refused_with_a_hint(
    in_tmp: Path, no_aws_calls: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp / "my.yaml").write_text("functions:\n  memroy_mb: 512\n")
    assert run("plan", "-c", "my.yaml") == 2
    error = capsys.readouterr().err
    assert "functions.memroy_mb: unknown setting" in error
    assert "config.example.yaml" in error


def test_a_missing_config_file_given_explicitly_is_an_error(
    in_tmp: Path, no_aws_calls: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("plan", "--config", "nope.yaml") == 2
    assert "config file nope.yaml not found" in capsys.readouterr().err


def test_an_unknown_region_is_refused(
    in_tmp: Path, no_aws_calls: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("plan", "--region", "mars-north-1") == 2
    assert "unknown AWS region 'mars-north-1'" in capsys.readouterr().err


def test_missing_credentials_give_one_line(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    assert run("plan") == 1
    error = capsys.readouterr().err
    assert error.startswith("error: no AWS credentials found")
    assert "Traceback" not in error


def test_init_writes_a_config_that_loads_and_does_not_overwrite(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("init") == 0
    assert "stack: chat" in (in_tmp / "chatdeploy.yaml").read_text()
    assert run("init") == 2
    assert "already exists" in capsys.readouterr().err


def test_up_status_and_destroy_round_trip(
    in_tmp: Path, aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("up") == 0
    out = capsys.readouterr().out
    assert "websocket_url" in out and "wss://" in out

    assert run("status", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["stack"] == "chat" and document["region"] == "us-east-1"
    assert document["endpoint_url"] is None
    for key in (
        "websocket_url",
        "frontend_url",
        "user_pool_id",
        "user_pool_client_id",
        "identity_pool_id",
        "api_id",
        "bucket",
        "distribution_id",
    ):
        assert key in document["outputs"]
    assert document["outputs"]["websocket_url"].endswith("/production")
    assert "tables.connections" in document["resources"]

    assert run("status", "--check") == 0
    assert "matches the config" in capsys.readouterr().out

    boto3.client("dynamodb").delete_table(TableName="ChatMessages")
    assert run("status", "--check") == 1
    assert "drift:" in capsys.readouterr().out

    assert run("destroy") == 2, "no terminal to confirm on and no --yes"
    assert run("destroy", "--yes") == 0
    assert "is gone" in capsys.readouterr().out
    assert not (in_tmp / ".chatdeploy" / "chat.json").exists()
    assert run("destroy", "--yes") == 0


def test_plan_lists_what_up_would_create(
    in_tmp: Path, aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("plan") == 0
    out = capsys.readouterr().out
    assert "table ChatConnections" in out
    assert "create" in out
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []


def test_a_locked_stack_is_refused_clearly(
    in_tmp: Path, aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with stack_lock(in_tmp / ".chatdeploy", "chat", "destroy"):
        assert run("up") == 1
    error = capsys.readouterr().err
    assert "stack 'chat' is locked by pid" in error
    assert "`chatdeploy destroy`" in error


def test_aws_region_alone_is_enough(
    in_tmp: Path, aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert run("status", "--json") == 0
    assert json.loads(capsys.readouterr().out)["region"] == "eu-west-1"
