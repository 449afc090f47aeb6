"""The auth, frontend and cdn stages through the engine's guarantees: plan is read-only, a second
`up` changes nothing, a lost state file is adopted without copies, destroy leaves nothing."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
from stage_kit import SITE, Stack, actions, inventory, ok

from chatdeploy.engine import Action, Engine
from chatdeploy.stages import all_stages
from chatdeploy.stages.frontend import FrontendStage

from support import open_workspace

MY_KEYS = {
    "auth.user_pool",
    "auth.client",
    "auth.identity_pool",
    "frontend.bucket",
    "frontend.files",
    "cdn.origin_access_control",
    "cdn.distribution",
    "cdn.bucket_policy",
}
NOTHING = {
    "user_pools": [],
    "identity_pools": [],
    "buckets": {},
    "origin_access_controls": [],
    "distributions": [],
}


def test_a_fresh_up_creates_each_resource_once(aws: None, tmp_path: Path) -> None:
    report, ctx = Stack.new(tmp_path).up()
    assert report.ok
    assert actions(report) == dict.fromkeys(MY_KEYS, Action.CREATED)
    made = inventory()
    assert [pool["name"] for pool in made["user_pools"]] == ["ChatUserPool"]
    assert [pool["IdentityPoolName"] for pool in made["identity_pools"]] == ["ChatIdentityPool"]
    assert list(made["buckets"]) == ["chat-frontend-123456789012-us-east-1"]
    assert [c["Name"] for c in made["origin_access_controls"]] == ["ChatFrontendOAC"]
    assert len(made["distributions"]) == 1
    recorded = ctx.state.resources()
    assert set(recorded) >= MY_KEYS
    outputs = ctx.state.outputs
    assert outputs["bucket"] == "chat-frontend-123456789012-us-east-1"
    assert outputs["distribution_id"] == recorded["cdn.distribution"]["id"]
    assert outputs["frontend_url"] == f"https://{recorded['cdn.distribution']['domain']}"


def test_a_second_up_makes_no_mutating_call(aws: None, tmp_path: Path) -> None:
    stack = Stack.new(tmp_path)
    ok(stack.up())
    report, ctx = stack.up()
    assert report.ok
    assert set(actions(report).values()) == {Action.UNCHANGED}
    assert ctx.aws.calls.mutating() == []


def test_plan_is_read_only_and_tells_what_up_would_do(aws: None, tmp_path: Path) -> None:
    stack = Stack.new(tmp_path)
    report, ctx = stack.plan()
    assert report.ok
    assert set(actions(report).values()) == {Action.CREATE}
    assert ctx.aws.calls.mutating() == []
    ok(stack.up())
    (stack.site / "styles.css").write_text("body { margin: 1px; }\n")
    report, ctx = stack.plan()
    assert ctx.aws.calls.mutating() == []
    changed = {o.key: o.details for o in report.outcomes if o.action is Action.UPDATE}
    assert changed == {"frontend.files": ["upload styles.css"]}


def test_a_lost_state_file_is_adopted_without_copies(aws: None, tmp_path: Path) -> None:
    stack = Stack.new(tmp_path)
    first = ok(stack.up()).state.resources()
    before = inventory()
    stack.lose_state()
    report, ctx = stack.up()
    assert report.ok
    assert actions(report) == dict.fromkeys(MY_KEYS, Action.ADOPTED)
    assert ctx.aws.calls.mutating() == []
    assert inventory() == before
    again = ctx.state.resources()
    for key in MY_KEYS - {"frontend.files"}:
        assert again[key] == first[key], key


def test_destroy_leaves_nothing_and_a_second_destroy_does_nothing(
    aws: None, tmp_path: Path
) -> None:
    stack = Stack.new(tmp_path)
    ok(stack.up())
    report, _ = stack.destroy()
    assert report.ok
    assert actions(report) == dict.fromkeys(MY_KEYS, Action.DELETED)
    assert inventory() == NOTHING
    report, ctx = stack.destroy()
    assert set(actions(report).values()) == {Action.ABSENT}
    assert ctx.aws.calls.mutating() == []


def test_destroy_without_a_state_file_finds_everything_by_name_and_tag(
    aws: None, tmp_path: Path
) -> None:
    stack = Stack.new(tmp_path)
    ok(stack.up())
    stack.lose_state()
    report, _ = stack.destroy()
    assert report.ok, report.failures
    assert actions(report) == dict.fromkeys(MY_KEYS, Action.DELETED)
    assert inventory() == NOTHING


def test_the_whole_stack_writes_the_real_websocket_url_into_config_json(
    aws: None, tmp_path: Path
) -> None:
    """Registered in all_stages, after the stages whose outputs config.json carries."""
    names = [stage.name for stage in all_stages()]
    assert names.index("frontend") > max(names.index("websocket_api"), names.index("auth"))
    assert names.index("cdn") > names.index("frontend")
    workspace = open_workspace(tmp_path)
    ctx = workspace.context()
    stages = [FrontendStage(SITE) if s.name == "frontend" else s for s in all_stages()]
    report = Engine(ctx, stages).up()
    assert report.ok, report.failures
    outputs = ctx.state.outputs
    config = boto3.client("s3").get_object(Bucket=outputs["bucket"], Key="config.json")
    assert json.loads(config["Body"].read())["websocketUrl"] == outputs["websocket_url"]
    assert outputs["websocket_url"].startswith(f"wss://{outputs['api_id']}.execute-api.")
