"""Guide step 7: CloudFront in front of the private frontend bucket.

An Origin Access Control signs CloudFront's requests to the bucket, whose policy lets this one
distribution read and nothing else. Distributions allow duplicate comments, so the stack finds
its own by the stack tag, which is set in the same call that creates it.

CloudFront changes take minutes to deploy. `up` reports the status and carries on; `up --wait`
waits for "Deployed". Removal is AWS's slow dance: disable, wait until deployed, then delete
with the ETag the distribution has by then; an interrupted destroy picks up where it stopped.
In s3-website mode there is no distribution at all.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from chatdeploy.engine import Change, Found, Resource, Stage
from chatdeploy.names import STACK_TAG
from chatdeploy.stages.common import (
    ignore_missing,
    is_ours,
    missing_tags,
    or_none,
    tag_dict,
    tag_list,
    the_one,
    wait_for,
)
from chatdeploy.stages.frontend import (
    INDEX,
    BucketPolicy,
    bucket_arn,
    bucket_name,
    forget_invalidations,
    is_website,
    page_url,
    pending_invalidations,
)

if TYPE_CHECKING:
    from chatdeploy.context import DeployContext

OAC_KEY = "cdn.origin_access_control"
DISTRIBUTION_KEY = "cdn.distribution"
POLICY_KEY = "cdn.bucket_policy"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ORIGIN_ID = "frontend-bucket"
DEPLOYED = "Deployed"
# CloudFront takes minutes: polling it every second only spends its API rate limit.
POLL_SLOWDOWN = 10.0
DEPLOY_TIMEOUT = 30 * 60
# Beyond this many changed paths one wildcard is cheaper (each listed path is billed).
MAX_LISTED_PATHS = 15


class OriginAccessControl(Resource):
    key = OAC_KEY

    def __init__(self, name: str) -> None:
        self.name = name
        self.label = f"origin access control {name}"

    def config(self, ctx: DeployContext) -> dict[str, str]:
        return {
            "Name": self.name,
            "Description": f"chatdeploy stack {ctx.names.stack}: CloudFront reads the bucket",
            "SigningProtocol": "sigv4",
            "SigningBehavior": "always",
            "OriginAccessControlOriginType": "s3",
        }

    def find(self, ctx: DeployContext) -> Found | None:
        recorded = ctx.recorded(self.key)
        current = _read_control(ctx, recorded["id"]) if recorded else None
        if current is None:
            control_id = self._look_up(ctx)
            current = _read_control(ctx, control_id) if control_id else None
        if current is None:
            return None
        control = current["OriginAccessControl"]
        return Found({"id": control["Id"]}, control["OriginAccessControlConfig"])

    def _look_up(self, ctx: DeployContext) -> str | None:
        """OAC names are unique in an account; they carry no tags."""
        pages = ctx.aws.client("cloudfront").get_paginator("list_origin_access_controls")
        matches = [
            item["Id"]
            for page in pages.paginate()
            for item in page["OriginAccessControlList"].get("Items", [])
            if item["Name"] == self.name
        ]
        return the_one(matches, f"origin access controls named {self.name}")

    def create(self, ctx: DeployContext) -> None:
        created = ctx.aws.client("cloudfront").create_origin_access_control(
            OriginAccessControlConfig=self.config(ctx)
        )
        ctx.record(self.key, id=created["OriginAccessControl"]["Id"])

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        wanted = self.config(ctx)
        signing = ("SigningProtocol", "SigningBehavior", "OriginAccessControlOriginType")
        differing = [name for name in signing if found.data.get(name) != wanted[name]]
        if not differing:
            return []

        def update() -> None:
            cloudfront = ctx.aws.client("cloudfront")
            etag = cloudfront.get_origin_access_control(Id=found.record["id"])["ETag"]
            cloudfront.update_origin_access_control(
                Id=found.record["id"], IfMatch=etag, OriginAccessControlConfig=wanted
            )

        return [Change(", ".join(differing), update)]

    def delete(self, ctx: DeployContext, found: Found) -> None:
        current = _read_control(ctx, found.record["id"])
        if current is not None:
            cloudfront = ctx.aws.client("cloudfront")
            ignore_missing(
                lambda: cloudfront.delete_origin_access_control(
                    Id=found.record["id"], IfMatch=current["ETag"]
                )
            )


def _read_control(ctx: DeployContext, control_id: str) -> dict[str, Any] | None:
    """The control and its ETag, which every change to it must quote."""
    cloudfront = ctx.aws.client("cloudfront")
    return or_none(lambda: cloudfront.get_origin_access_control(Id=control_id))


def distribution_config(ctx: DeployContext) -> dict[str, Any]:
    """The parts of the distribution's config this stack decides; the rest keeps its value."""
    get_and_head = {"Quantity": 2, "Items": ["GET", "HEAD"]}
    fallback = [
        {
            "ErrorCode": code,
            "ResponsePagePath": f"/{INDEX}",
            "ResponseCode": "200",
            "ErrorCachingMinTTL": 10,
        }
        for code in (403, 404)
    ]
    return {
        "Comment": ctx.names.distribution_comment,
        "Enabled": True,
        "DefaultRootObject": INDEX,
        "PriceClass": ctx.config.cdn.price_class,
        "HttpVersion": "http2and3",
        "IsIPV6Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": ORIGIN_ID,
                    "DomainName": f"{bucket_name(ctx)}.s3.{ctx.region}.amazonaws.com",
                    "OriginPath": "",
                    "OriginAccessControlId": ctx.require(OAC_KEY, "id"),
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": ORIGIN_ID,
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": CACHING_OPTIMIZED,
            "Compress": True,
            "AllowedMethods": {**get_and_head, "CachedMethods": get_and_head},
        },
        "CustomErrorResponses": {"Quantity": len(fallback), "Items": fallback},
    }


def covers(current: Any, wanted: Any) -> bool:
    """Whether `current` has every value of `wanted`. A key the service does not report at all
    is not compared: CloudFront reports every field (empty when unset), but moto leaves some
    out, such as an origin's OriginAccessControlId."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(
            key not in current or covers(current[key], value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return isinstance(current, list) and _covers_in_any_order(current, wanted)
    return bool(current == wanted)


def _covers_in_any_order(current: list[Any], wanted: list[Any]) -> bool:
    """CloudFront may answer a list in its own order (AllowedMethods: HEAD, GET)."""
    unmatched = list(current)
    for item in wanted:
        index = next((i for i, c in enumerate(unmatched) if covers(c, item)), None)
        if index is None:
            return False
        del unmatched[index]
    return not unmatched


class Distribution(Resource):
    key = DISTRIBUTION_KEY
    label = "CloudFront distribution"
    after = (OAC_KEY,)

    def find(self, ctx: DeployContext) -> Found | None:
        cloudfront = ctx.aws.client("cloudfront")
        recorded = ctx.recorded(self.key)
        current = None
        if recorded:
            current = or_none(lambda: cloudfront.get_distribution(Id=recorded["id"]))
        if current is None:
            current = self._look_up(ctx)
        if current is None:
            return None
        distribution = current["Distribution"]
        tags = _tags(ctx, distribution["ARN"])
        if ctx.wait and distribution["Status"] != DEPLOYED:
            distribution = _wait_deployed(ctx, distribution["Id"], "to deploy")["Distribution"]
        data = {"distribution": distribution, "tags": tags}
        return Found(_record(distribution), data, owned=is_ours(ctx, tags))

    def _look_up(self, ctx: DeployContext) -> dict[str, Any] | None:
        """The distribution with the stack tag. Summaries may lack the comment (moto's do):
        then every distribution is a candidate and its tags decide."""
        cloudfront = ctx.aws.client("cloudfront")
        comment = ctx.names.distribution_comment
        pages = cloudfront.get_paginator("list_distributions").paginate()
        candidates = [
            summary
            for page in pages
            for summary in page["DistributionList"].get("Items", [])
            if summary.get("Comment", comment) == comment
        ]
        tagged = [s for s in candidates if is_ours(ctx, _tags(ctx, s["ARN"]))]
        chosen = the_one(tagged, f"CloudFront distributions tagged {STACK_TAG}={ctx.names.stack}")
        return or_none(lambda: cloudfront.get_distribution(Id=chosen["Id"])) if chosen else None

    def create(self, ctx: DeployContext) -> None:
        # The tag comes with the distribution in one call: a crash cannot leave one we would
        # not find again (CallerReference cannot do that: it must be new for every creation).
        created = ctx.aws.client("cloudfront").create_distribution_with_tags(
            DistributionConfigWithTags={
                "DistributionConfig": {
                    "CallerReference": str(uuid.uuid4()),
                    **distribution_config(ctx),
                },
                "Tags": {"Items": tag_list(ctx.names.tags)},
            }
        )["Distribution"]
        ctx.record(self.key, **_record(created))
        # A new distribution has nothing cached: the files just uploaded need no invalidation.
        paths = pending_invalidations(ctx)
        if paths:
            forget_invalidations(ctx, paths)
        self._settle(ctx, created)

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        changes = []
        wanted = distribution_config(ctx)
        distribution = found.data["distribution"]
        current = distribution["DistributionConfig"]
        differing = [name for name, value in wanted.items() if not covers(current.get(name), value)]
        if differing:
            summary = ", ".join(_describe(name, wanted[name]) for name in differing)
            changes.append(Change(summary, lambda: self._update(ctx, found.record["id"], wanted)))
        absent = missing_tags(found.data["tags"], ctx.names.tags)
        if absent:
            tag = lambda: ctx.aws.client("cloudfront").tag_resource(  # noqa: E731
                Resource=distribution["ARN"], Tags={"Items": tag_list(absent)}
            )
            changes.append(Change("tags", tag))
        paths = pending_invalidations(ctx)
        if paths:
            invalidate = lambda: self._invalidate(ctx, found.record["id"], paths)  # noqa: E731
            changes.append(Change(f"invalidate {' '.join(paths)}", invalidate))
        return changes

    def _update(self, ctx: DeployContext, distribution_id: str, wanted: dict[str, Any]) -> None:
        cloudfront = ctx.aws.client("cloudfront")
        current = cloudfront.get_distribution_config(Id=distribution_id)
        updated = cloudfront.update_distribution(
            Id=distribution_id,
            IfMatch=current["ETag"],
            DistributionConfig={**current["DistributionConfig"], **wanted},
        )["Distribution"]
        self._settle(ctx, updated)

    def _invalidate(self, ctx: DeployContext, distribution_id: str, paths: list[str]) -> None:
        listed = paths if len(paths) <= MAX_LISTED_PATHS else ["/*"]
        ctx.aws.client("cloudfront").create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(listed), "Items": listed},
                "CallerReference": str(uuid.uuid4()),
            },
        )
        forget_invalidations(ctx, paths)

    def _settle(self, ctx: DeployContext, distribution: dict[str, Any]) -> None:
        """Record the status; with --wait, wait for "Deployed", else say it is deploying."""
        if ctx.wait and distribution["Status"] != DEPLOYED:
            distribution = _wait_deployed(ctx, distribution["Id"], "to deploy")["Distribution"]
        ctx.record(self.key, **_record(distribution))
        if distribution["Status"] != DEPLOYED:
            ctx.warn(
                f"CloudFront is deploying {distribution['Id']} ({distribution['Status']}); the "
                f"site at https://{distribution['DomainName']} is live within minutes "
                "(`chatdeploy up --wait` waits for it)"
            )

    def delete(self, ctx: DeployContext, found: Found) -> None:
        """Disable, wait until deployed, delete with the ETag it has by then. Resumable: a
        distribution already disabled is only waited for and deleted."""
        cloudfront = ctx.aws.client("cloudfront")
        distribution_id = found.record["id"]
        current = or_none(lambda: cloudfront.get_distribution_config(Id=distribution_id))
        if current is None:
            return
        config = current["DistributionConfig"]
        if config["Enabled"]:
            cloudfront.update_distribution(
                Id=distribution_id,
                IfMatch=current["ETag"],
                DistributionConfig={**config, "Enabled": False},
            )
        disabled = _wait_deployed(ctx, distribution_id, "to be disabled")
        ignore_missing(
            lambda: cloudfront.delete_distribution(Id=distribution_id, IfMatch=disabled["ETag"])
        )


def _wait_deployed(ctx: DeployContext, distribution_id: str, what: str) -> dict[str, Any]:
    cloudfront = ctx.aws.client("cloudfront")
    response: dict[str, Any] = wait_for(
        ctx,
        DISTRIBUTION_KEY,
        f"CloudFront distribution {distribution_id} {what}",
        lambda: cloudfront.get_distribution(Id=distribution_id),
        lambda response: response["Distribution"]["Status"] == DEPLOYED,
        timeout=DEPLOY_TIMEOUT,
        slowdown=POLL_SLOWDOWN,
    )
    return response


def _record(distribution: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": distribution["Id"],
        "arn": distribution["ARN"],
        "domain": distribution["DomainName"],
        "status": distribution["Status"],
    }


def _tags(ctx: DeployContext, arn: str) -> dict[str, str]:
    tags = ctx.aws.client("cloudfront").list_tags_for_resource(Resource=arn)["Tags"]
    return tag_dict(tags.get("Items"))


def _describe(name: str, value: Any) -> str:
    return f"{name} {value}" if isinstance(value, str | bool) else name


def cloudfront_read_statement(ctx: DeployContext) -> dict[str, Any]:
    """Only this distribution may read the bucket (through its origin access control)."""
    return {
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": bucket_arn(ctx, "/*"),
        "Condition": {"StringEquals": {"AWS:SourceArn": ctx.require(DISTRIBUTION_KEY, "arn")}},
    }


def cloudfront_read_policy() -> BucketPolicy:
    return BucketPolicy(
        POLICY_KEY,
        "bucket policy for CloudFront",
        "AllowCloudFrontRead",
        cloudfront_read_statement,
        after=(DISTRIBUTION_KEY,),
    )


class CdnStage(Stage):
    name = "cdn"
    title = "CloudFront (guide step 7)"
    needs = ("frontend",)

    def resources(self, ctx: DeployContext) -> list[Resource]:
        if is_website(ctx):
            return []
        return [
            OriginAccessControl(ctx.names.origin_access_control),
            Distribution(),
            cloudfront_read_policy(),
        ]

    def orphan(self, ctx: DeployContext, key: str) -> Resource | None:
        """After a switch to s3-website: the distribution, its OAC and its policy go."""
        removable: dict[str, Resource] = {
            OAC_KEY: OriginAccessControl(ctx.names.origin_access_control),
            DISTRIBUTION_KEY: Distribution(),
            POLICY_KEY: cloudfront_read_policy(),
        }
        return removable.get(key)

    def outputs(self, ctx: DeployContext) -> dict[str, Any]:
        if is_website(ctx):
            return {"distribution_id": None}
        recorded = ctx.recorded(DISTRIBUTION_KEY) or {}
        return {
            "distribution_id": recorded.get("id"),
            "frontend_url": page_url(ctx, f"https://{recorded['domain']}" if recorded else None),
            "distribution_status": recorded.get("status"),
        }
