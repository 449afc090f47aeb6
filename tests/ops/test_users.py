"""`chatdeploy users`: create, list and delete against a stack deployed to in-process moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatdeploy.errors import ChatdeployError
from chatdeploy.ops.tokens import sign_in
from chatdeploy.ops.users import PasswordPolicy
from chatdeploy.state import State

from .conftest import Cli

GUIDE_POLICY = PasswordPolicy(8, True, True, True, False)


def outputs(state_dir: Path) -> dict[str, Any]:
    return State.load(state_dir, "chat").outputs


def can_sign_in(state_dir: Path, email: str, password: str) -> bool:
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    try:
        signed_in = sign_in(idp, outputs(state_dir)["user_pool_client_id"], email, password)
    except ChatdeployError:
        return False
    return signed_in.id_token.count(".") == 2


def listed(cli: Cli, state_dir: Path) -> dict[str, dict[str, Any]]:
    result = cli("users", "list", "--state-dir", str(state_dir), "--json")
    assert result.code == 0, result.err
    return {user["email"]: user for user in json.loads(result.out)}


def test_create_with_password_makes_a_confirmed_verified_user(deployed: Path, cli: Cli) -> None:
    result = cli(
        "users",
        "create",
        "ana@example.com",
        "--password",
        "Secret123",
        "--state-dir",
        str(deployed),
    )

    assert result.code == 0, result.err
    assert "created user ana@example.com" in result.out
    assert "Secret123" not in result.out
    user = listed(cli, deployed)["ana@example.com"]
    assert user["status"] == "CONFIRMED" and user["email_verified"] and user["enabled"]
    assert can_sign_in(deployed, "ana@example.com", "Secret123")


def test_create_without_password_prints_a_strong_one_once(deployed: Path, cli: Cli) -> None:
    result = cli("users", "create", "bo@example.com", "--state-dir", str(deployed))

    assert result.code == 0, result.err
    password_lines = [line for line in result.out.splitlines() if line.startswith("password: ")]
    assert len(password_lines) == 1
    password = password_lines[0].removeprefix("password: ")
    assert GUIDE_POLICY.problems(password) == [] and len(password) >= 20
    assert can_sign_in(deployed, "bo@example.com", password)
    state_text = (deployed / "chat.json").read_text()
    assert password not in state_text and "bo@example.com" not in state_text


def test_weak_password_is_refused_before_anything_is_made(deployed: Path, cli: Cli) -> None:
    result = cli(
        "users", "create", "cy@example.com", "--password", "weakpass", "--state-dir", str(deployed)
    )

    assert result.code == 2
    assert result.error_lines[0] == (
        "error: the password does not meet the user pool's policy: it needs "
        "an upper-case letter, a digit"
    )
    assert "cy@example.com" not in listed(cli, deployed)


def test_creating_an_existing_user_fails_clearly(deployed: Path, cli: Cli) -> None:
    cli("users", "create", "dee@example.com", "--state-dir", str(deployed))

    again = cli("users", "create", "dee@example.com", "--state-dir", str(deployed))

    assert again.code == 1
    assert again.error_lines[0] == "error: user dee@example.com already exists"
    assert "Traceback" not in again.err


def test_delete_removes_the_user_and_a_second_delete_says_so(deployed: Path, cli: Cli) -> None:
    cli("users", "create", "eve@example.com", "--state-dir", str(deployed))

    first = cli("users", "delete", "eve@example.com", "--state-dir", str(deployed))
    second = cli("users", "delete", "eve@example.com", "--state-dir", str(deployed))

    assert first.code == 0 and "deleted user eve@example.com" in first.out
    assert "eve@example.com" not in listed(cli, deployed)
    assert second.code == 1
    assert second.error_lines[0] == "error: no user eve@example.com in the stack's user pool"


def test_list_shows_a_table(deployed: Path, cli: Cli) -> None:
    cli("users", "create", "fay@example.com", "--state-dir", str(deployed))

    result = cli("users", "list", "--state-dir", str(deployed))

    row = next(line for line in result.out.splitlines() if "fay@example.com" in line)
    assert row.split()[1:4] == ["CONFIRMED", "yes", "yes"]


def test_not_an_email_is_a_usage_error(deployed: Path, cli: Cli) -> None:
    result = cli("users", "create", "not-an-email", "--state-dir", str(deployed))

    assert result.code == 2
    assert "'not-an-email' is not an e-mail address" in result.err


def test_not_deployed_is_one_clear_line(deployed: Path, cli: Cli, tmp_path: Path) -> None:
    result = cli("users", "list", "--state-dir", str(tmp_path / "elsewhere"))

    assert result.code == 2
    assert result.error_lines[0].startswith("error: stack chat is not deployed here")
    assert "chatdeploy up" in result.err


@given(
    st.integers(6, 40),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_generated_passwords_meet_any_policy(
    length: int, upper: bool, lower: bool, digits: bool, symbols: bool
) -> None:
    policy = PasswordPolicy(length, upper, lower, digits, symbols)

    password = policy.generate()

    assert policy.problems(password) == []
    assert len(password) >= max(length, 20)


@pytest.mark.parametrize(
    ("password", "lacks"),
    [
        ("Short1", ["at least 8 characters"]),
        ("alllowercase1", ["an upper-case letter"]),
        ("NoDigitsHere", ["a digit"]),
        ("Fine1234", []),
    ],
)
def test_policy_names_what_a_password_lacks(password: str, lacks: list[str]) -> None:
    assert GUIDE_POLICY.problems(password) == lacks
