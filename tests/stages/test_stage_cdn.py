"""Guide step 7: the distribution in front of the private bucket, and its slow removal."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from stage_kit import (
    BUCKET,
    CrashAfterCall,
    Recorder,
    SimulatedCrash,
    Spy,
    Stack,
    Stubbed,
    actions,
    inventory,
    ok,
)

from chatdeploy.context import DeployContext
from chatdeploy.engine import Action, Engine, Found
from chatdeploy.names import STACK_TAG
from chatdeploy.stages.cdn import (
    CACHING_OPTIMIZED,
    DISTRIBUTION_KEY,
    OAC_KEY,
    CdnStage,
    Distribution,
    covers,
)

DISTRIBUTION_ID = "E2EXAMPLE"
DISTRIBUTION_ARN = f"arn:aws:cloudfront::123456789012:distribution/{DISTRIBUTION_ID}"
CONTROL_ID = "OACEXAMPLE"
OUR_TAG = {"Key": STACK_TAG, "Value": "chat"}


def cloudfront() -> Any:
    return boto3.client("cloudfront")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What one default deployment made, as CloudFront and S3 describe it."""
    with mock_aws():
        stack = Stack.new(tmp_path_factory.mktemp("cdn"))
        spy = Spy()
        stack.hooks.append(spy)
        ctx = ok(stack.up())
        recorded = ctx.state.resources()
        distribution_id = recorded[DISTRIBUTION_KEY]["id"]
        policy = boto3.client("s3").get_bucket_policy(Bucket=BUCKET)["Policy"]
        return {
            "recorded": recorded,
            "outputs": ctx.state.outputs,
            "config": cloudfront().get_distribution_config(Id=distribution_id)[
                "DistributionConfig"
            ],
            "created": spy.params("CreateDistributionWithTags"),
            "policy": json.loads(policy),
            "inventory": inventory(),
        }


def test_the_distribution_serves_the_app_over_https_from_the_private_bucket(
    deployed: dict[str, Any],
) -> None:
    config = deployed["config"]
    assert config["Enabled"] is True
    assert config["DefaultRootObject"] == "index.html"
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["CachePolicyId"] == CACHING_OPTIMIZED
    [origin] = config["Origins"]["Items"]
    assert origin["DomainName"] == f"{BUCKET}.s3.us-east-1.amazonaws.com"
    assert behavior["TargetOriginId"] == origin["Id"]
    fallback = {
        e["ErrorCode"]: (e["ResponsePagePath"], e["ResponseCode"])
        for e in config["CustomErrorResponses"]["Items"]
    }
    assert fallback == {403: ("/index.html", "200"), 404: ("/index.html", "200")}
    assert config["PriceClass"] == "PriceClass_100"
    assert config["Comment"] == "chatdeploy stack chat"


def test_the_distribution_signs_its_reads_with_the_stacks_access_control(
    deployed: dict[str, Any],
) -> None:
    [created] = deployed["created"]
    config = created["DistributionConfigWithTags"]["DistributionConfig"]
    [origin] = config["Origins"]["Items"]
    assert origin["OriginAccessControlId"] == deployed["recorded"][OAC_KEY]["id"]
    [control] = deployed["inventory"]["origin_access_controls"]
    assert control == {
        "Name": "ChatFrontendOAC",
        "SigningProtocol": "sigv4",
        "SigningBehavior": "always",
        "OriginAccessControlOriginType": "s3",
        "Description": "chatdeploy stack chat: CloudFront reads the bucket",
    }
    [distribution] = deployed["inventory"]["distributions"]
    assert distribution["tags"] == [{"Key": STACK_TAG, "Value": "chat"}]


def test_only_this_distribution_may_read_the_bucket(deployed: dict[str, Any]) -> None:
    [statement] = deployed["policy"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == f"arn:aws:s3:::{BUCKET}/*"
    arn = deployed["recorded"][DISTRIBUTION_KEY]["arn"]
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceArn": arn}}


def test_the_outputs_name_the_site_and_the_distribution(deployed: dict[str, Any]) -> None:
    recorded = deployed["recorded"][DISTRIBUTION_KEY]
    outputs = deployed["outputs"]
    assert outputs["distribution_id"] == recorded["id"]
    assert outputs["frontend_url"] == f"https://{recorded['domain']}"
    assert recorded["domain"].endswith(".cloudfront.net")


def test_a_new_price_class_updates_the_distribution_and_nothing_else(
    aws: None, tmp_path: Path
) -> None:
    stack = Stack.new(tmp_path)
    distribution_id = ok(stack.up()).state.resources()[DISTRIBUTION_KEY]["id"]
    etag = cloudfront().get_distribution_config(Id=distribution_id)["ETag"]
    spy = Spy()
    wider = stack.with_config(cdn={"price_class": "PriceClass_200"})
    wider.hooks.append(spy)
    report, _ = wider.up()
    assert report.ok
    assert actions(report)[DISTRIBUTION_KEY] is Action.UPDATED
    [(name, params)] = spy.mutating()
    assert name == "UpdateDistribution" and params["IfMatch"] == etag
    config = cloudfront().get_distribution_config(Id=distribution_id)["DistributionConfig"]
    assert config["PriceClass"] == "PriceClass_200"
    assert config["DefaultRootObject"] == "index.html" and config["Enabled"] is True


def test_up_shows_the_deployment_status_without_waiting_for_it(
    aws: None, tmp_path: Path, slow_cloudfront: int
) -> None:
    recorder = Recorder()
    report, ctx = Stack.new(tmp_path).up(reporter=recorder)
    assert report.ok
    assert ctx.state.outputs["distribution_status"] == "InProgress"
    assert any("CloudFront is deploying" in w and "--wait" in w for w in recorder.warnings)
    assert not [u for u in recorder.updates if u[1] == "waiting"]
    assert ctx.aws.calls.names().count("cloudfront.GetDistribution") < slow_cloudfront


def test_up_wait_waits_until_deployed_and_shows_it_waiting(
    aws: None, tmp_path: Path, slow_cloudfront: int
) -> None:
    recorder = Recorder()
    report, ctx = Stack.new(tmp_path).up(reporter=recorder, wait=True)
    assert report.ok
    assert ctx.state.outputs["distribution_status"] == "Deployed"
    waits = [u for u in recorder.updates if u[:2] == (DISTRIBUTION_KEY, "waiting")]
    assert waits and "to deploy" in waits[0][2]
    assert not [w for w in recorder.warnings if "CloudFront is deploying" in w]
    assert ctx.aws.calls.names().count("cloudfront.GetDistribution") >= slow_cloudfront


def test_a_distribution_without_the_stack_tag_is_never_adopted_or_removed(
    aws: None, tmp_path: Path
) -> None:
    stack = Stack.new(tmp_path)
    ok(stack.up())
    [ours] = inventory()["distributions"]
    stranger = _copy_without_tags(ours)
    stack.lose_state()
    report, _ = stack.up()
    assert actions(report)[DISTRIBUTION_KEY] is Action.ADOPTED
    assert len(inventory()["distributions"]) == 2
    stack.lose_state()
    ok(stack.destroy())
    assert [d["ARN"] for d in _distributions()] == [stranger]


def _copy_without_tags(ours: dict[str, Any]) -> str:
    """Another distribution with our comment, as someone might make by hand."""
    [summary] = cloudfront().list_distributions()["DistributionList"]["Items"]
    config = cloudfront().get_distribution_config(Id=summary["Id"])["DistributionConfig"]
    config["CallerReference"] = "made-by-hand"
    assert config["Comment"] == ours["comment"]
    return str(cloudfront().create_distribution(DistributionConfig=config)["Distribution"]["ARN"])


def _distributions() -> list[dict[str, Any]]:
    return list(cloudfront().list_distributions()["DistributionList"].get("Items", []))


def test_two_tagged_distributions_are_a_conflict_not_a_guess(aws: None, tmp_path: Path) -> None:
    stack = Stack.new(tmp_path)
    ok(stack.up())
    [summary] = _distributions()
    config = cloudfront().get_distribution_config(Id=summary["Id"])["DistributionConfig"]
    cloudfront().create_distribution_with_tags(
        DistributionConfigWithTags={
            "DistributionConfig": {**config, "CallerReference": "second"},
            "Tags": {"Items": [{"Key": STACK_TAG, "Value": "chat"}]},
        }
    )
    stack.lose_state()
    report, _ = stack.up()
    [failure] = [o for o in report.failures if o.key == DISTRIBUTION_KEY]
    assert failure.error is not None
    assert "found 2 CloudFront distributions" in failure.error.message
    assert len(_distributions()) == 2


def test_a_config_as_cloudfront_reports_it_matches_what_was_asked() -> None:
    """CloudFront adds fields and orders some lists its own way; neither is a change."""
    asked = {
        "AllowedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }
    reported = {
        "AllowedMethods": {"Quantity": 2, "Items": ["HEAD", "GET"]},
        "S3OriginConfig": {"OriginAccessIdentity": "", "OriginReadTimeout": 30},
        "SmoothStreaming": False,
    }
    assert covers(reported, asked)
    assert not covers({**reported, "AllowedMethods": {"Quantity": 1, "Items": ["GET"]}}, asked)
    legacy_identity = {"OriginAccessIdentity": "origin-access-identity/cloudfront/E1"}
    assert not covers({**reported, "S3OriginConfig": legacy_identity}, asked)
    assert covers({}, asked)  # not reported at all (moto): nothing to compare


# -- removal as AWS requires it: checked call by call with a Stubber ----------------------------


def distribution_config(enabled: bool) -> dict[str, Any]:
    return {
        "CallerReference": "ref",
        "Comment": "chatdeploy stack chat",
        "Enabled": enabled,
        "Origins": {"Quantity": 1, "Items": [{"Id": "frontend-bucket", "DomainName": "b"}]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "frontend-bucket",
            "ViewerProtocolPolicy": "redirect-to-https",
        },
    }


def distribution(enabled: bool, status: str, etag: str) -> dict[str, Any]:
    return {
        "Distribution": {
            "Id": DISTRIBUTION_ID,
            "ARN": DISTRIBUTION_ARN,
            "Status": status,
            "LastModifiedTime": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            "InProgressInvalidationBatches": 0,
            "DomainName": "d111.cloudfront.net",
            "DistributionConfig": distribution_config(enabled),
        },
        "ETag": etag,
    }


def stubbed_cloudfront(stack: Stack) -> tuple[DeployContext, Stubbed]:
    stub = Stubbed("cloudfront")
    stack.hooks.append(stub)
    ctx = stack.workspace().context()
    ctx.aws.client("cloudfront")
    return ctx, stub


def expect_disabled_then_deleted(stub: Stubbed, *, enabled: bool, etag: str) -> None:
    """Disable (if it is not yet) quoting `etag`; wait until deployed; delete with the ETag
    the distribution has after the update ("E-disabled")."""
    stub.respond(
        "get_distribution_config",
        {"DistributionConfig": distribution_config(enabled), "ETag": etag},
        Id=DISTRIBUTION_ID,
    )
    if enabled:
        stub.respond(
            "update_distribution",
            distribution(False, "InProgress", "E-disabled"),
            Id=DISTRIBUTION_ID,
            IfMatch=etag,
            DistributionConfig=distribution_config(False),
        )
    stub.respond("get_distribution", distribution(False, "InProgress", "E-disabled"))
    stub.respond("get_distribution", distribution(False, "Deployed", "E-disabled"))
    stub.respond("delete_distribution", {}, Id=DISTRIBUTION_ID, IfMatch="E-disabled")


def test_destroy_disables_waits_and_deletes_with_the_current_etags_then_the_control(
    aws: None, tmp_path: Path
) -> None:
    stack = Stack.new(tmp_path)
    ctx, stub = stubbed_cloudfront(stack)
    ctx.record(DISTRIBUTION_KEY, id=DISTRIBUTION_ID, arn=DISTRIBUTION_ARN)
    ctx.record(OAC_KEY, id=CONTROL_ID)
    stub.respond("get_distribution", distribution(True, "Deployed", "E-enabled"))
    stub.respond("list_tags_for_resource", {"Tags": {"Items": [OUR_TAG]}})
    expect_disabled_then_deleted(stub, enabled=True, etag="E-enabled")
    control = {
        "OriginAccessControl": {
            "Id": CONTROL_ID,
            "OriginAccessControlConfig": {
                "Name": "ChatFrontendOAC",
                "SigningProtocol": "sigv4",
                "SigningBehavior": "always",
                "OriginAccessControlOriginType": "s3",
            },
        },
        "ETag": "E-control",
    }
    stub.respond("get_origin_access_control", control, Id=CONTROL_ID)
    stub.respond("get_origin_access_control", control, Id=CONTROL_ID)
    stub.respond("delete_origin_access_control", {}, Id=CONTROL_ID, IfMatch="E-control")
    report = Engine(ctx, [CdnStage()]).destroy()
    assert report.ok, report.failures
    stub.done()
    assert actions(report) == {
        "cdn.bucket_policy": Action.ABSENT,
        DISTRIBUTION_KEY: Action.DELETED,
        OAC_KEY: Action.DELETED,
    }


def test_an_interrupted_destroy_resumes_without_disabling_again(aws: None, tmp_path: Path) -> None:
    stack = Stack.new(tmp_path)
    stack.hooks.append(CrashAfterCall(1, "UpdateDistribution"))
    ctx, stub = stubbed_cloudfront(stack)
    stub.respond(
        "get_distribution_config",
        {"DistributionConfig": distribution_config(True), "ETag": "E-enabled"},
    )
    stub.respond(
        "update_distribution",
        distribution(False, "InProgress", "E-disabled"),
        Id=DISTRIBUTION_ID,
        IfMatch="E-enabled",
        DistributionConfig=distribution_config(False),
    )
    found = Found({"id": DISTRIBUTION_ID})
    with pytest.raises(SimulatedCrash):
        Distribution().delete(ctx, found)
    expect_disabled_then_deleted(stub, enabled=False, etag="E-disabled")
    Distribution().delete(ctx, found)
    stub.done()
