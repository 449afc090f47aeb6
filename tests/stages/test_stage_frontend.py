"""Guide step 6: the web app's bucket, its files and config.json; and the guide's literal
s3-website hosting when the config asks for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY
from moto import mock_aws
from stage_kit import (
    BUCKET,
    LOCAL,
    WEBSOCKET_URL,
    Spy,
    Stack,
    Stubbed,
    actions,
    inventory,
    ok,
)

from chatdeploy.context import DeployContext
from chatdeploy.engine import Action, Engine, Resource, Stage
from chatdeploy.names import STACK_TAG
from chatdeploy.stages.frontend import (
    BUCKET_KEY,
    Bucket,
    pending_invalidations,
    public_read_policy,
)

ACCOUNT = "123456789012"
ALL_BLOCKED = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
POLICY_LIFTED = {**ALL_BLOCKED, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
OUR_TAGS = {"TagSet": [{"Key": STACK_TAG, "Value": "chat"}]}


def s3() -> Any:
    return boto3.client("s3")


def read(key: str, bucket: str = BUCKET) -> bytes:
    return bytes(s3().get_object(Bucket=bucket, Key=key)["Body"].read())


def invalidated(spy: Spy) -> list[list[str]]:
    return [p["InvalidationBatch"]["Paths"]["Items"] for p in spy.params("CreateInvalidation")]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What one default deployment made, and every call it made."""
    with mock_aws():
        stack = Stack.new(tmp_path_factory.mktemp("frontend"))
        spy = Spy()
        stack.hooks.append(spy)
        ctx = ok(stack.up())
        heads = {
            item["Key"]: s3().head_object(Bucket=BUCKET, Key=item["Key"])
            for item in s3().list_objects_v2(Bucket=BUCKET)["Contents"]
        }
        return {
            "heads": heads,
            "config": json.loads(read("config.json")),
            "recorded": ctx.state.resources(),
            "outputs": ctx.state.outputs,
            "calls": spy.calls,
            "ownership": s3().get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"],
            "inventory": inventory(),
        }


def test_the_web_app_is_uploaded_with_types_browsers_accept(deployed: dict[str, Any]) -> None:
    heads = deployed["heads"]
    assert sorted(heads) == ["config.json", "index.html", "js/app.js", "styles.css"]
    types = {key: head["ContentType"] for key, head in heads.items()}
    assert types == {
        "config.json": "application/json",
        "index.html": "text/html; charset=utf-8",
        "js/app.js": "text/javascript; charset=utf-8",
        "styles.css": "text/css; charset=utf-8",
    }


def test_the_page_and_its_config_are_never_served_stale(deployed: dict[str, Any]) -> None:
    caching = {key: head["CacheControl"] for key, head in deployed["heads"].items()}
    assert caching["index.html"] == caching["config.json"] == "no-cache"
    # Unhashed module names: browsers revalidate, CloudFront keeps them until invalidated.
    assert caching["js/app.js"] == caching["styles.css"] == "public, max-age=0, s-maxage=86400"


def test_config_json_tells_the_page_where_everything_is(deployed: dict[str, Any]) -> None:
    recorded = deployed["recorded"]
    assert deployed["config"] == {
        "websocketUrl": WEBSOCKET_URL,
        "region": "us-east-1",
        "userPoolId": recorded["auth.user_pool"]["id"],
        "userPoolClientId": recorded["auth.client"]["id"],
        "identityPoolId": recorded["auth.identity_pool"]["id"],
        "cognitoEndpoint": None,
        "maxMessageBytes": 4096,
    }


def test_the_bucket_is_private_owned_and_tagged(deployed: dict[str, Any]) -> None:
    bucket = deployed["inventory"]["buckets"][BUCKET]
    assert bucket["block"] == ALL_BLOCKED
    assert bucket["tags"] == OUR_TAGS["TagSet"]
    assert bucket["website"] is None
    assert deployed["ownership"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert deployed["outputs"]["bucket"] == BUCKET


def test_no_call_ever_opened_the_bucket_to_the_public(deployed: dict[str, Any]) -> None:
    calls = deployed["calls"]
    blocks = [p for name, p in calls if name == "PutPublicAccessBlock"]
    assert blocks and all(p["PublicAccessBlockConfiguration"] == ALL_BLOCKED for p in blocks)
    policies = [json.loads(p["Policy"]) for name, p in calls if name == "PutBucketPolicy"]
    assert policies
    principals = [s["Principal"] for doc in policies for s in doc["Statement"]]
    assert principals == [{"Service": "cloudfront.amazonaws.com"}]


def test_local_mode_points_the_page_at_the_local_gateway_and_emulator(
    aws: None, tmp_path: Path
) -> None:
    ctx = ok(Stack.new(tmp_path).up(local=LOCAL))
    config = json.loads(read("config.json"))
    assert config["websocketUrl"] == LOCAL.websocket_url
    assert config["cognitoEndpoint"] == LOCAL.emulator_url
    assert ctx.state.outputs["frontend_url"] == LOCAL.page_url


@pytest.fixture
def stack(aws: None, tmp_path: Path) -> Stack:
    """A deployed stack whose calls are watched from the next run on."""
    stack = Stack.new(tmp_path)
    spy = Spy()
    stack.hooks.append(spy)
    ok(stack.up())
    spy.clear()
    return stack


def spy_of(stack: Stack) -> Spy:
    spy = stack.hooks[0]
    assert isinstance(spy, Spy)
    return spy


def test_a_changed_file_is_uploaded_alone_and_invalidated(stack: Stack) -> None:
    (stack.site / "js" / "app.js").write_text('console.log("new");\n')
    report, ctx = stack.up()
    assert report.ok
    mutating = spy_of(stack).mutating()
    assert [name for name, _ in mutating] == ["PutObject", "CreateInvalidation"]
    assert mutating[0][1]["Key"] == "js/app.js"
    assert invalidated(spy_of(stack)) == [["/js/app.js"]]
    assert read("js/app.js") == b'console.log("new");\n'
    assert pending_invalidations(ctx) == []


def test_a_removed_file_is_deleted_and_invalidated(stack: Stack) -> None:
    (stack.site / "styles.css").unlink()
    report, _ = stack.up()
    assert report.ok
    mutating = spy_of(stack).mutating()
    assert [(name, p.get("Key")) for name, p in mutating] == [
        ("DeleteObject", "styles.css"),
        ("CreateInvalidation", None),
    ]
    assert invalidated(spy_of(stack)) == [["/styles.css"]]
    keys = [o["Key"] for o in s3().list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["config.json", "index.html", "js/app.js"]


def test_a_new_page_is_invalidated_at_the_root_too(stack: Stack) -> None:
    (stack.site / "index.html").write_text("<!doctype html><title>new</title>\n")
    ok(stack.up())
    assert invalidated(spy_of(stack)) == [["/", "/index.html"]]


def test_a_new_message_limit_rewrites_only_config_json(stack: Stack) -> None:
    ok(stack.with_config(chat={"max_message_bytes": 2048}).up())
    mutating = spy_of(stack).mutating()
    assert [(name, p.get("Key")) for name, p in mutating] == [
        ("PutObject", "config.json"),
        ("CreateInvalidation", None),
    ]
    assert invalidated(spy_of(stack)) == [["/config.json"]]
    assert json.loads(read("config.json"))["maxMessageBytes"] == 2048


def test_paths_changed_before_a_crash_are_still_invalidated(stack: Stack) -> None:
    from stage_kit import CrashAfterCall, SimulatedCrash

    (stack.site / "js" / "app.js").write_text('console.log("new");\n')
    crashing = Stack(stack.state_dir, stack.site, hooks=[CrashAfterCall(1, "PutObject")])
    with pytest.raises(SimulatedCrash):
        crashing.up()
    report, ctx = stack.up()
    assert report.ok
    assert [name for name, _ in spy_of(stack).mutating()] == ["CreateInvalidation"]
    assert invalidated(spy_of(stack)) == [["/js/app.js"]]
    assert pending_invalidations(ctx) == []


def test_a_configured_bucket_name_is_used(aws: None, tmp_path: Path) -> None:
    stack = Stack.new(tmp_path).with_config(frontend={"bucket_name": "my-own-chat-site"})
    ctx = ok(stack.up())
    assert ctx.state.outputs["bucket"] == "my-own-chat-site"
    assert json.loads(read("config.json", "my-own-chat-site"))["websocketUrl"] == WEBSOCKET_URL
    assert [b["Name"] for b in s3().list_buckets()["Buckets"]] == ["my-own-chat-site"]


def test_a_bucket_of_our_name_holding_files_of_someone_else_is_left_alone(
    aws: None, tmp_path: Path
) -> None:
    s3().create_bucket(Bucket=BUCKET)
    s3().put_object(Bucket=BUCKET, Key="their-page.html", Body=b"theirs")
    stack = Stack.new(tmp_path)
    report, ctx = stack.up()
    [failure] = report.failures
    assert failure.key == BUCKET_KEY
    assert failure.error is not None and "holds files" in failure.error.message
    assert STACK_TAG in (failure.error.hint or "")
    assert read("their-page.html") == b"theirs"
    assert ctx.state.get(BUCKET_KEY) is None
    report, _ = stack.destroy()
    assert read("their-page.html") == b"theirs"
    assert actions(report)["frontend.files"] is Action.KEPT


def test_an_empty_bucket_of_our_name_is_adopted_and_tagged(aws: None, tmp_path: Path) -> None:
    s3().create_bucket(Bucket=BUCKET)
    report, _ = Stack.new(tmp_path).up()
    assert report.ok
    assert actions(report)[BUCKET_KEY] is Action.ADOPTED
    assert s3().get_bucket_tagging(Bucket=BUCKET)["TagSet"] == OUR_TAGS["TagSet"]
    assert inventory()["buckets"][BUCKET]["block"] == ALL_BLOCKED


# -- what moto does not enforce: checked call by call with a Stubber ----------------------------


class OnlyThese(Stage):
    """The frontend stage cut down to the resources under test."""

    name = "frontend"
    title = "test"

    def __init__(self, *resources: Resource) -> None:
        self.chosen = list(resources)

    def resources(self, ctx: DeployContext) -> list[Resource]:
        return self.chosen


def stubbed_s3(stack: Stack) -> tuple[DeployContext, Stubbed]:
    stub = Stubbed("s3")
    stack.hooks.append(stub)
    ctx = stack.workspace().context()
    ctx.aws.client("s3")
    return ctx, stub


def existing_bucket(stub: Stubbed, block: dict[str, bool], ownership: str) -> None:
    """The reads that describe an existing bucket of ours."""
    stub.respond("head_bucket", {}, Bucket=BUCKET, ExpectedBucketOwner=ACCOUNT)
    stub.respond("get_bucket_tagging", OUR_TAGS, Bucket=BUCKET)
    stub.respond(
        "get_public_access_block", {"PublicAccessBlockConfiguration": block}, Bucket=BUCKET
    )
    stub.respond(
        "get_bucket_ownership_controls",
        {"OwnershipControls": {"Rules": [{"ObjectOwnership": ownership}]}},
        Bucket=BUCKET,
    )
    stub.fail("get_bucket_website", "NoSuchWebsiteConfiguration", 404, Bucket=BUCKET)


def test_default_hosting_turns_every_block_on_and_acls_off(aws: None, tmp_path: Path) -> None:
    ctx, stub = stubbed_s3(Stack.new(tmp_path))
    no_block = dict.fromkeys(ALL_BLOCKED, False)
    existing_bucket(stub, no_block, "ObjectWriter")
    stub.respond(
        "put_bucket_ownership_controls",
        {},
        Bucket=BUCKET,
        OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    )
    stub.respond(
        "put_public_access_block", {}, Bucket=BUCKET, PublicAccessBlockConfiguration=ALL_BLOCKED
    )
    report = Engine(ctx, [OnlyThese(Bucket(BUCKET))]).up()
    assert report.ok, report.failures
    stub.done()


def test_s3_website_lifts_the_block_before_it_puts_the_public_policy(
    aws: None, tmp_path: Path
) -> None:
    stack = Stack.new(tmp_path).with_config(frontend={"hosting": "s3-website"})
    spy = Spy()
    stack.hooks.append(spy)
    ctx, stub = stubbed_s3(stack)
    existing_bucket(stub, ALL_BLOCKED, "BucketOwnerEnforced")
    stub.respond(
        "put_public_access_block", {}, Bucket=BUCKET, PublicAccessBlockConfiguration=POLICY_LIFTED
    )
    stub.respond("put_bucket_website", {}, Bucket=BUCKET, WebsiteConfiguration=ANY)
    stub.fail("get_bucket_policy", "NoSuchBucketPolicy", 404, Bucket=BUCKET)
    stub.respond("put_bucket_policy", {}, Bucket=BUCKET, Policy=ANY)
    policy = public_read_policy()
    stub.respond("get_bucket_policy", {"Policy": json.dumps(policy.document(ctx))}, Bucket=BUCKET)
    report = Engine(ctx, [OnlyThese(Bucket(BUCKET), policy)]).up()
    assert report.ok, report.failures
    stub.done()
    [put] = spy.params("PutBucketPolicy")
    [statement] = json.loads(put["Policy"])["Statement"]
    assert statement["Principal"] == "*" and statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == f"arn:aws:s3:::{BUCKET}/*"


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [("head_bucket", "403", 403), ("create_bucket", "BucketAlreadyExists", 409)],
)
def test_a_bucket_name_taken_by_another_account_is_a_clear_error(
    aws: None, tmp_path: Path, operation: str, code: str, status: int
) -> None:
    ctx, stub = stubbed_s3(Stack.new(tmp_path))
    if operation == "create_bucket":
        stub.fail("head_bucket", "404", 404)
    stub.fail(operation, code, status)
    report = Engine(ctx, [OnlyThese(Bucket(BUCKET))]).up()
    [failure] = report.failures
    assert failure.error is not None
    assert failure.error.message == f"the bucket name {BUCKET} is taken by another AWS account"
    assert "frontend.bucket_name" in (failure.error.hint or "")
    stub.done()


# -- the guide's literal hosting --------------------------------------------------------------


def test_s3_website_hosting_is_public_warned_about_and_has_no_cdn(
    aws: None, tmp_path: Path
) -> None:
    stack = Stack.new(tmp_path).with_config(frontend={"hosting": "s3-website"})
    engine, _ = stack.engine()
    [warning] = [w for w in engine.warnings() if "s3-website" in w]
    assert "LIFTED" in warning and "ANYONE" in warning
    ctx = ok(stack.up())
    made = inventory()
    assert made["distributions"] == [] and made["origin_access_controls"] == []
    bucket = made["buckets"][BUCKET]
    assert bucket["block"] == POLICY_LIFTED
    assert bucket["website"] == {"Suffix": "index.html"}
    assert [s["Principal"] for s in bucket["policy"]["Statement"]] == ["*"]
    assert ctx.state.outputs["frontend_url"] == (
        f"http://{BUCKET}.s3-website-us-east-1.amazonaws.com"
    )
    assert ctx.state.outputs["distribution_id"] is None
    assert pending_invalidations(ctx) == []


def test_switching_hosting_back_and_forth_leaves_only_what_the_mode_needs(
    aws: None, tmp_path: Path
) -> None:
    cloudfront = Stack.new(tmp_path)
    ok(cloudfront.up())
    spy = Spy()
    website = cloudfront.with_config(frontend={"hosting": "s3-website"})
    website.hooks.append(spy)
    ok(website.up())
    deletions = [name for name, _ in spy.mutating() if name.startswith("Delete")]
    # A control still in use by a distribution cannot be deleted.
    assert deletions == ["DeleteDistribution", "DeleteOriginAccessControl"]
    made = inventory()
    assert made["distributions"] == [] and made["origin_access_controls"] == []
    assert [s["Principal"] for s in made["buckets"][BUCKET]["policy"]["Statement"]] == ["*"]

    ctx = ok(cloudfront.up())
    made = inventory()
    bucket = made["buckets"][BUCKET]
    assert bucket["block"] == ALL_BLOCKED and bucket["website"] is None
    assert [s["Principal"] for s in bucket["policy"]["Statement"]] == [
        {"Service": "cloudfront.amazonaws.com"}
    ]
    assert len(made["distributions"]) == 1
    assert "frontend.public_policy" not in ctx.state.resources()


def test_destroy_after_a_switch_to_s3_website_still_removes_the_cdn_in_order(
    aws: None, tmp_path: Path
) -> None:
    cloudfront = Stack.new(tmp_path)
    ok(cloudfront.up())
    spy = Spy()
    website = cloudfront.with_config(frontend={"hosting": "s3-website"})
    website.hooks.append(spy)
    report, _ = website.destroy()
    assert report.ok, report.failures
    deletions = [name for name, _ in spy.mutating() if name.startswith("Delete")]
    assert deletions.index("DeleteDistribution") < deletions.index("DeleteOriginAccessControl")
    assert inventory()["distributions"] == [] and inventory()["buckets"] == {}
