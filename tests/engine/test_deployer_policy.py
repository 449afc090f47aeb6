"""The README's IAM policy for the deploying identity allows every call chatdeploy makes: a
deploy, changes, a switch of hosting, plan, status, the operating commands, and destroy."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from chatdeploy.aws import Call, CallLog
from chatdeploy.cli import main

from support import FIXTURE_HANDLERS

POLICY = Path(__file__).resolve().parents[2] / "docs" / "deployer-policy.json"

# Calls whose IAM action is not "<service>:<Operation>".
ACTIONS = {
    "sts.GetCallerIdentity": [],  # needs no permission
    "cognito-idp.InitiateAuth": [],  # called as the user, not as the deployer
    "s3.HeadBucket": ["s3:ListBucket"],
    "s3.ListObjectsV2": ["s3:ListBucket"],
    "s3.ListObjectVersions": ["s3:ListBucketVersions"],
    "s3.DeleteObjects": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
    "s3.GetPublicAccessBlock": ["s3:GetBucketPublicAccessBlock"],
    "s3.PutPublicAccessBlock": ["s3:PutBucketPublicAccessBlock"],
    "s3.DeletePublicAccessBlock": ["s3:PutBucketPublicAccessBlock"],
    "s3.HeadObject": ["s3:GetObject"],
    "cloudfront.CreateDistributionWithTags": [
        "cloudfront:CreateDistribution",
        "cloudfront:TagResource",
    ],
    "lambda.CreateFunction": ["lambda:CreateFunction", "iam:PassRole"],
}
APIGATEWAY_VERBS = {
    "Get": "GET",
    "Create": "POST",
    "Tag": "POST",
    "Update": "PATCH",
    "Delete": "DELETE",
}


def iam_actions(call: str) -> list[str]:
    if call in ACTIONS:
        return ACTIONS[call]
    service, operation = call.split(".")
    if service == "apigatewayv2":
        verb = next(v for prefix, v in APIGATEWAY_VERBS.items() if operation.startswith(prefix))
        return [f"apigateway:{verb}"]
    return [f"{service}:{operation}"]


def allowed_actions() -> list[str]:
    allowed = []
    for statement in json.loads(POLICY.read_text())["Statement"]:
        actions = statement["Action"]
        allowed += [actions] if isinstance(actions, str) else actions
    return allowed


@pytest.fixture
def every_call(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    seen: set[str] = set()
    original = CallLog.add

    def add(self: CallLog, call: Call) -> None:
        seen.add(f"{call.service}.{call.operation}")
        original(self, call)

    monkeypatch.setattr(CallLog, "add", add)
    with mock_aws():
        yield seen


def run(*args: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 0, args


def test_the_deployer_policy_allows_every_call(
    every_call: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATDEPLOY_HANDLERS", str(FIXTURE_HANDLERS))
    run("up")
    Path("chatdeploy.yaml").write_text(
        "tables: {billing_mode: PROVISIONED}\nfunctions: {memory_mb: 512}\n"
        "auth: {id_token_validity_minutes: 30}\ncdn: {price_class: PriceClass_All}\n"
    )
    run("plan")
    run("up")
    run("status", "--check")
    run("users", "create", "ana@example.com")
    run("users", "list")
    run("users", "delete", "ana@example.com")
    run("logs", "--since", "1h")
    run("metrics", "--since", "1h")
    Path("chatdeploy.yaml").write_text("frontend: {hosting: s3-website}\n")
    run("up", "--yes")
    run("destroy", "--yes")

    allowed = allowed_actions()
    missing = sorted(
        f"{call} needs {action}"
        for call in every_call
        for action in iam_actions(call)
        if not any(fnmatch.fnmatchcase(action, pattern) for pattern in allowed)
    )
    assert missing == []
    assert len(every_call) > 60, "the scenario really exercised the stack"
