"""What AWS refuses but moto accepts, checked with botocore's Stubber: the exact calls AWS needs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from chatdeploy.aws import RetryPolicy
from chatdeploy.context import DeployContext
from chatdeploy.engine import Action, Engine, Resource, Stage
from chatdeploy.packaging import FunctionSource
from chatdeploy.stages.functions import Function
from chatdeploy.stages.websocket_api import InvokePermission, Route

from support import open_workspace

API_ID = "a1b2c3"
SOURCE_ARN = f"arn:aws:execute-api:us-east-1:123456789012:{API_ID}/*"
# What AWS needs to let this API, and only this API, invoke the connect function.
ADD_PERMISSION_REQUEST = {
    "FunctionName": "ChatConnect",
    "StatementId": "chatdeploy-apigateway",
    "Action": "lambda:InvokeFunction",
    "Principal": "apigateway.amazonaws.com",
    "SourceArn": SOURCE_ARN,
}


class Stubbed:
    """Attaches a Stubber to the client of one service as the AWS layer creates it."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.stubber: Stubber | None = None
        self.client: Any = None

    def __call__(self, client: Any) -> None:
        if client.meta.service_model.service_name == self.service:
            self.client = client
            self.stubber = Stubber(client)
            self.stubber.activate()


class OneResource(Stage):
    name = "websocket_api"
    title = "test"

    def __init__(self, resource: Resource) -> None:
        resource.after = ()  # run on its own; what it needs is recorded by the test
        self.resource = resource

    def resources(self, ctx: DeployContext) -> list[Resource]:
        return [self.resource]


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def context(tmp_path: Path, hook: Stubbed, retry: RetryPolicy | None = None) -> DeployContext:
    workspace = open_workspace(tmp_path, hooks=[hook], retry=retry)
    ctx = workspace.context()
    ctx.state.record("websocket_api.api", {"id": API_ID})
    ctx.aws.client(hook.service)
    return ctx


def converge(ctx: DeployContext, resource: Resource) -> Action:
    report = Engine(ctx, [OneResource(resource)]).up()
    assert report.ok, report.failures
    return report.outcomes[0].action


def lambda_policy(source_arn: str) -> dict[str, Any]:
    statement = {
        "Sid": "chatdeploy-apigateway",
        "Effect": "Allow",
        "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:ChatConnect",
        "Condition": {"ArnLike": {"AWS:SourceArn": source_arn}},
    }
    return {"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}


def test_an_existing_permission_is_never_added_again(aws: None, tmp_path: Path) -> None:
    hook = Stubbed("lambda")
    ctx = context(tmp_path, hook)
    assert hook.stubber is not None
    hook.stubber.add_response(
        "get_policy", lambda_policy(SOURCE_ARN), {"FunctionName": "ChatConnect"}
    )
    assert converge(ctx, InvokePermission(ctx, "connect")) is Action.ADOPTED
    hook.stubber.assert_no_pending_responses()


def test_a_permission_for_a_replaced_api_is_removed_before_it_is_added(
    aws: None, tmp_path: Path
) -> None:
    hook = Stubbed("lambda")
    ctx = context(tmp_path, hook)
    stubber = hook.stubber
    assert stubber is not None
    old = lambda_policy("arn:aws:execute-api:us-east-1:123456789012:oldapi/*")
    ctx.state.record(
        "websocket_api.permission.connect",
        {"function": "ChatConnect", "sid": "chatdeploy-apigateway"},
    )
    stubber.add_response("get_policy", old, {"FunctionName": "ChatConnect"})
    stubber.add_response(
        "remove_permission",
        {},
        {"FunctionName": "ChatConnect", "StatementId": "chatdeploy-apigateway"},
    )
    stubber.add_response(
        "add_permission",
        {"Statement": "{}"},
        ADD_PERMISSION_REQUEST,
    )
    assert converge(ctx, InvokePermission(ctx, "connect")) is Action.UPDATED
    stubber.assert_no_pending_responses()


def test_a_missing_permission_is_added_once_with_this_apis_source_arn(
    aws: None, tmp_path: Path
) -> None:
    hook = Stubbed("lambda")
    ctx = context(tmp_path, hook)
    stubber = hook.stubber
    assert stubber is not None
    stubber.add_client_error("get_policy", "ResourceNotFoundException", http_status_code=404)
    stubber.add_response(
        "add_permission",
        {"Statement": "{}"},
        ADD_PERMISSION_REQUEST,
    )
    stubber.add_response("get_policy", lambda_policy(SOURCE_ARN), {"FunctionName": "ChatConnect"})
    assert converge(ctx, InvokePermission(ctx, "connect")) is Action.CREATED
    stubber.assert_no_pending_responses()


def route_resource(ctx: DeployContext) -> Route:
    ctx.state.record("websocket_api.integration.send_message", {"id": "int1", "api": API_ID})
    source = FunctionSource("send_message", Path("send_message.py"), "sendMessage")
    return Route(source, "sendMessage", has_authorizer=True)


def test_an_existing_route_key_is_updated_never_created_twice(aws: None, tmp_path: Path) -> None:
    hook = Stubbed("apigatewayv2")
    ctx = context(tmp_path, hook)
    stubber = hook.stubber
    assert stubber is not None
    existing = {
        "RouteId": "r1",
        "RouteKey": "sendMessage",
        "Target": "integrations/old",
        "AuthorizationType": "NONE",
    }
    stubber.add_response("get_routes", {"Items": [existing]}, {"ApiId": API_ID})
    stubber.add_response(
        "update_route",
        {**existing, "Target": "integrations/int1"},
        {
            "ApiId": API_ID,
            "RouteId": "r1",
            "RouteKey": "sendMessage",
            "Target": "integrations/int1",
            "AuthorizationType": "NONE",
        },
    )
    action = converge(ctx, route_resource(ctx))
    assert action is Action.ADOPTED
    stubber.assert_no_pending_responses()


def test_a_recorded_route_is_read_by_id_and_left_alone(aws: None, tmp_path: Path) -> None:
    hook = Stubbed("apigatewayv2")
    ctx = context(tmp_path, hook)
    stubber = hook.stubber
    assert stubber is not None
    resource = route_resource(ctx)
    ctx.state.record(resource.key, {"id": "r1", "api": API_ID})
    route = {
        "RouteId": "r1",
        "RouteKey": "sendMessage",
        "Target": "integrations/int1",
        "AuthorizationType": "NONE",
    }
    stubber.add_response("get_route", route, {"ApiId": API_ID, "RouteId": "r1"})
    assert converge(ctx, resource) is Action.UNCHANGED
    stubber.assert_no_pending_responses()


def test_iam_propagation_is_retried_with_capped_backoff(aws: None, tmp_path: Path) -> None:
    hook = Stubbed("lambda")
    waits: list[float] = []
    retry = RetryPolicy(base_delay=0.25, max_delay=2.0, deadline=60, sleep=waits.append)
    ctx = context(tmp_path, hook, retry)
    ctx.state.record("role.role", {"arn": "arn:aws:iam::123456789012:role/ChatLambdaExecutionRole"})
    ctx.state.record("auth.user_pool", {"id": "us-east-1_pool"})
    ctx.state.record("auth.client", {"id": "client"})
    stubber = hook.stubber
    assert stubber is not None
    function = Function(ctx, "connect", _artifact())
    for _ in range(6):
        stubber.add_client_error(
            "create_function",
            "InvalidParameterValueException",
            "The role defined for the function cannot be assumed by Lambda.",
            http_status_code=400,
        )
    created = {
        "FunctionName": "ChatConnect",
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:ChatConnect",
    }
    stubber.add_response("create_function", created, {**_create_params()})
    stubber.add_response(
        "get_function_configuration", {"State": "Active", "LastUpdateStatus": "Successful"}
    )
    function.create(ctx)
    stubber.assert_no_pending_responses()
    assert len(waits) == 6
    assert waits[:3] == sorted(waits[:3]), "the backoff grows"
    assert max(waits) <= 2.0, "and is capped"
    assert ctx.state.get(function.key) == {"name": "ChatConnect", "arn": created["FunctionArn"]}


def _artifact() -> Any:
    from chatdeploy.packaging import Artifact

    return Artifact("connect", b"zip bytes")


def _create_params() -> dict[str, Any]:
    return {
        "FunctionName": "ChatConnect",
        "Code": {"ZipFile": b"zip bytes"},
        "Architectures": ["arm64"],
        "PackageType": "Zip",
        "Tags": {"chatdeploy:stack": "chat"},
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::123456789012:role/ChatLambdaExecutionRole",
        "Handler": "connect.handler",
        "Timeout": 10,
        "MemorySize": 256,
        "Description": ANY,
        "Environment": ANY,
    }


def test_other_errors_are_not_retried(aws: None, tmp_path: Path) -> None:
    hook = Stubbed("lambda")
    waits: list[float] = []
    ctx = context(tmp_path, hook, RetryPolicy(sleep=waits.append))
    stubber = hook.stubber
    assert stubber is not None
    stubber.add_client_error("get_policy", "AccessDeniedException", "no", http_status_code=403)
    report = Engine(ctx, [OneResource(InvokePermission(ctx, "connect"))]).up()
    [failure] = report.failures
    assert failure.error is not None
    assert failure.error.message.startswith("access denied for GetPolicy")
    assert waits == []
