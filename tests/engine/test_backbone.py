"""Guide steps 1-4 against moto: create, a no-op second run, changes, and destroy."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from chatdeploy.config import Config, parse_config
from chatdeploy.engine import Action

from support import FIXTURE_HANDLERS, actions, destroy, open_workspace, up


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def handlers(tmp_path: Path) -> Path:
    copy = tmp_path / "handlers"
    shutil.copytree(FIXTURE_HANDLERS, copy)
    return copy


def config(text: str = "") -> Config:
    return parse_config(text or "{}")


def test_fresh_up_creates_the_guide_backbone(aws: None, tmp_path: Path, handlers: Path) -> None:
    report, ctx = up(open_workspace(tmp_path, handlers=handlers))
    assert report.ok, report.failures

    dynamodb = boto3.client("dynamodb")
    connections = dynamodb.describe_table(TableName="ChatConnections")["Table"]
    assert connections["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {i["IndexName"] for i in connections["GlobalSecondaryIndexes"]} == {
        "UserIdIndex",
        "RoomIdIndex",
    }
    messages = dynamodb.describe_table(TableName="ChatMessages")["Table"]
    history = messages["GlobalSecondaryIndexes"][0]
    assert history["IndexName"] == "RoomIdTimestampIndex"
    assert [k["AttributeName"] for k in history["KeySchema"]] == ["roomId", "timestamp"]
    assert {"AttributeName": "timestamp", "AttributeType": "N"} in messages["AttributeDefinitions"]
    backups = dynamodb.describe_continuous_backups(TableName="ChatMessages")
    assert (
        backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
            "PointInTimeRecoveryStatus"
        ]
        == "ENABLED"
    )
    ttl = dynamodb.describe_time_to_live(TableName="ChatConnections")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiresAt"

    lambda_ = boto3.client("lambda")
    function = lambda_.get_function(FunctionName="ChatSendMessage")
    configuration = function["Configuration"]
    assert (configuration["MemorySize"], configuration["Timeout"]) == (512, 30)
    assert configuration["Runtime"] == "python3.12"
    assert configuration["Architectures"] == ["arm64"]
    assert configuration["Handler"] == "send_message.handler"
    assert configuration["Environment"]["Variables"]["CONNECTIONS_TABLE"] == "ChatConnections"
    assert function["Tags"]["chatdeploy:stack"] == "chat"
    assert lambda_.get_function(FunctionName="ChatConnect")["Configuration"]["MemorySize"] == 256
    groups = boto3.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/Chat")
    assert {g["logGroupName"]: g.get("retentionInDays") for g in groups["logGroups"]} == {
        f"/aws/lambda/Chat{name}": 14
        for name in ("Authorizer", "Connect", "Default", "Disconnect", "SendMessage")
    }

    apigw = boto3.client("apigatewayv2")
    [api] = apigw.get_apis()["Items"]
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"
    routes = {r["RouteKey"]: r for r in apigw.get_routes(ApiId=api["ApiId"])["Items"]}
    assert set(routes) == {"$connect", "$disconnect", "$default", "sendMessage"}
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    assert routes["sendMessage"]["AuthorizationType"] == "NONE"
    integrations = apigw.get_integrations(ApiId=api["ApiId"])["Items"]
    assert len(integrations) == 4
    for integration in integrations:
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["IntegrationMethod"] == "POST"
        assert integration["IntegrationUri"].startswith(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:"
        )
        assert integration["IntegrationUri"].endswith("/invocations")
    stage = apigw.get_stage(ApiId=api["ApiId"], StageName="production")
    assert stage["AutoDeploy"] is True
    policy = json.loads(lambda_.get_policy(FunctionName="ChatSendMessage")["Policy"])
    [statement] = policy["Statement"]
    source = statement["Condition"]["ArnLike"]["AWS:SourceArn"]
    assert source == f"arn:aws:execute-api:us-east-1:123456789012:{api['ApiId']}/*"

    outputs = ctx.state.outputs
    assert outputs["websocket_url"] == (
        f"wss://{api['ApiId']}.execute-api.us-east-1.amazonaws.com/production"
    )


def test_role_policy_names_exact_resources(aws: None, tmp_path: Path) -> None:
    report, _ = up(open_workspace(tmp_path))
    assert report.ok
    iam = boto3.client("iam")
    data = iam.get_role_policy(RoleName="ChatLambdaExecutionRole", PolicyName="ChatDataAccess")
    resources = [r for s in data["PolicyDocument"]["Statement"] for r in s["Resource"]]
    assert "arn:aws:dynamodb:us-east-1:123456789012:table/ChatConnections/index/RoomIdIndex" in (
        resources
    )
    assert "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/ChatConnect:*" in resources
    assert not any("*" in r.split(":log-group:")[0] for r in resources)
    trust = iam.get_role(RoleName="ChatLambdaExecutionRole")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    manage = iam.get_role_policy(RoleName="ChatLambdaExecutionRole", PolicyName="ManageConnections")
    [statement] = manage["PolicyDocument"]["Statement"]
    api_id = boto3.client("apigatewayv2").get_apis()["Items"][0]["ApiId"]
    assert statement["Action"] == "execute-api:ManageConnections"
    assert statement["Resource"] == (
        f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/production/*/@connections/*"
    )


def test_second_up_makes_no_mutating_call(aws: None, tmp_path: Path) -> None:
    first, _ = up(open_workspace(tmp_path))
    assert first.ok
    second, ctx = up(open_workspace(tmp_path))
    assert second.ok
    assert ctx.aws.calls.names(mutating_only=True) == []
    assert set(actions(second).values()) == {Action.UNCHANGED}


def test_changing_memory_updates_only_that_function(aws: None, tmp_path: Path) -> None:
    up(open_workspace(tmp_path))
    changed = config("functions: {overrides: {send_message: {memory_mb: 1024}}}")
    report, ctx = up(open_workspace(tmp_path, changed))
    assert report.ok
    assert ctx.aws.calls.names(mutating_only=True) == ["lambda.UpdateFunctionConfiguration"]
    assert actions(report)["functions.function.send_message"] is Action.UPDATED
    memory = boto3.client("lambda").get_function(FunctionName="ChatSendMessage")
    assert memory["Configuration"]["MemorySize"] == 1024


def test_changing_one_handler_file_uploads_only_that_code(
    aws: None, tmp_path: Path, handlers: Path
) -> None:
    up(open_workspace(tmp_path, handlers=handlers))
    before = boto3.client("lambda").get_function(FunctionName="ChatConnect")
    module = handlers / "connect.py"
    module.write_text(module.read_text() + "\n# changed\n")
    report, ctx = up(open_workspace(tmp_path, handlers=handlers))
    assert report.ok
    assert ctx.aws.calls.names(mutating_only=True) == ["lambda.UpdateFunctionCode"]
    after = boto3.client("lambda").get_function(FunctionName="ChatConnect")
    assert after["Configuration"]["CodeSha256"] != before["Configuration"]["CodeSha256"]


def test_changing_the_shared_library_uploads_every_function_that_has_it(
    aws: None, tmp_path: Path, handlers: Path
) -> None:
    up(open_workspace(tmp_path, handlers=handlers))
    (handlers / "chatlib" / "__init__.py").write_text('GREETING = "hi"\n')
    report, ctx = up(open_workspace(tmp_path, handlers=handlers))
    assert report.ok
    uploads = ctx.aws.calls.names(mutating_only=True)
    assert uploads == ["lambda.UpdateFunctionCode"] * 5


def test_switching_billing_mode_updates_both_tables(aws: None, tmp_path: Path) -> None:
    up(open_workspace(tmp_path))
    report, ctx = up(open_workspace(tmp_path, config("tables: {billing_mode: PROVISIONED}")))
    assert report.ok
    assert ctx.aws.calls.names(mutating_only=True) == ["dynamodb.UpdateTable"] * 2
    table = boto3.client("dynamodb").describe_table(TableName="ChatMessages")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5


def test_removed_handler_takes_its_function_route_and_integration_along(
    aws: None, tmp_path: Path, handlers: Path
) -> None:
    up(open_workspace(tmp_path, handlers=handlers))
    (handlers / "send_message.py").unlink()
    report, _ = up(open_workspace(tmp_path, handlers=handlers))
    assert report.ok
    removed = {o.key for o in report.outcomes if o.action is Action.DELETED}
    assert removed == {
        "functions.function.send_message",
        "functions.log_group.send_message",
        "websocket_api.route.sendMessage",
        "websocket_api.integration.send_message",
        "websocket_api.permission.send_message",
    }
    api_id = boto3.client("apigatewayv2").get_apis()["Items"][0]["ApiId"]
    routes = boto3.client("apigatewayv2").get_routes(ApiId=api_id)["Items"]
    assert "sendMessage" not in {r["RouteKey"] for r in routes}
    functions = boto3.client("lambda").list_functions()["Functions"]
    assert "ChatSendMessage" not in {f["FunctionName"] for f in functions}


def assert_nothing_left() -> None:
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []
    assert boto3.client("lambda").list_functions()["Functions"] == []
    assert boto3.client("apigatewayv2").get_apis()["Items"] == []
    roles = boto3.client("iam").list_roles()["Roles"]
    assert [r["RoleName"] for r in roles if r["RoleName"].startswith("Chat")] == []
    assert boto3.client("logs").describe_log_groups()["logGroups"] == []
    assert boto3.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"] == []
    assert (
        boto3.client("cognito-identity").list_identity_pools(MaxResults=60)["IdentityPools"] == []
    )


def test_destroy_leaves_nothing_and_a_second_destroy_is_a_no_op(aws: None, tmp_path: Path) -> None:
    up(open_workspace(tmp_path))
    report = destroy(open_workspace(tmp_path))
    assert report.ok, report.failures
    assert_nothing_left()
    again = destroy(open_workspace(tmp_path))
    assert again.ok
    assert {o.action for o in again.outcomes} == {Action.ABSENT}


def test_destroy_without_state_finds_the_stack_by_name_and_tag(aws: None, tmp_path: Path) -> None:
    up(open_workspace(tmp_path / "first"))
    report = destroy(open_workspace(tmp_path / "elsewhere"))
    assert report.ok, report.failures
    assert_nothing_left()


def test_destroy_keep_logs_keeps_only_the_log_groups(aws: None, tmp_path: Path) -> None:
    up(open_workspace(tmp_path))
    workspace = open_workspace(tmp_path)
    ctx = workspace.context(keep_logs=True)
    assert workspace.engine(ctx).destroy().ok
    groups = boto3.client("logs").describe_log_groups()["logGroups"]
    assert len(groups) == 5
    assert boto3.client("lambda").list_functions()["Functions"] == []


def test_destroy_leaves_alone_a_table_the_stack_did_not_make(aws: None, tmp_path: Path) -> None:
    boto3.client("dynamodb").create_table(
        TableName="ChatConnections",
        AttributeDefinitions=[{"AttributeName": "connectionId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "connectionId", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    report = destroy(open_workspace(tmp_path))
    assert actions(report)["tables.connections"] is Action.KEPT
    assert boto3.client("dynamodb").list_tables()["TableNames"] == ["ChatConnections"]


def test_up_adopts_a_guide_made_table_and_adds_what_it_lacks(aws: None, tmp_path: Path) -> None:
    boto3.client("dynamodb").create_table(
        TableName="ChatConnections",
        AttributeDefinitions=[
            {"AttributeName": "connectionId", "AttributeType": "S"},
            {"AttributeName": "userId", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "connectionId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "UserIdIndex",
                "KeySchema": [{"AttributeName": "userId", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    report, ctx = up(open_workspace(tmp_path))
    assert report.ok
    outcome = next(o for o in report.outcomes if o.key == "tables.connections")
    assert outcome.action is Action.ADOPTED
    assert "add index RoomIdIndex" in outcome.details
    assert any("did not create" in w for w in ctx.reporter.warnings)  # type: ignore[attr-defined]
    table = boto3.client("dynamodb").describe_table(TableName="ChatConnections")["Table"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {
        "UserIdIndex",
        "RoomIdIndex",
    }


def test_plan_shows_the_work_and_changes_nothing(aws: None, tmp_path: Path) -> None:
    workspace = open_workspace(tmp_path)
    ctx = workspace.context(plan_mode=True)
    report = workspace.engine(ctx).plan()
    assert report.ok
    assert {o.action for o in report.outcomes} == {Action.CREATE}
    assert ctx.aws.calls.mutating() == []
    assert not workspace.state.exists
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []


def test_plan_after_a_change_names_the_change(aws: None, tmp_path: Path) -> None:
    up(open_workspace(tmp_path))
    workspace = open_workspace(tmp_path, config("functions: {timeout_s: 20}"))
    ctx = workspace.context(plan_mode=True)
    report = workspace.engine(ctx).plan()
    updates = {o.key: o.details for o in report.outcomes if o.action is Action.UPDATE}
    assert set(updates) == {
        f"functions.function.{name}" for name in ("authorizer", "connect", "default", "disconnect")
    }
    assert updates["functions.function.connect"] == ["configuration: Timeout"]
    assert ctx.aws.calls.mutating() == []
