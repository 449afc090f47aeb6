"""Guide step 6: the web app's S3 bucket, its files, and the config.json the page reads.

By default the bucket stays private (Block Public Access on, ACLs disabled) and CloudFront
serves it (the cdn stage). `frontend.hosting: s3-website` reproduces the guide's steps 6.5-6.6
instead: website hosting and a public-read bucket policy, which needs the block lifted.

The files are synced like `aws s3 sync --delete`: a file is uploaded only when its MD5 differs
from the object's ETag, and objects the web app no longer has are deleted. Each changed path is
recorded in the state before it is written, so the cdn stage invalidates it even after a crash.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from chatdeploy.aws import error_code
from chatdeploy.bundled import frontend_dir
from chatdeploy.engine import Change, Found, Resource, Stage
from chatdeploy.errors import ChatdeployError
from chatdeploy.names import STACK_TAG
from chatdeploy.stages.auth import AppClient, IdentityPool, UserPool
from chatdeploy.stages.common import (
    ignore_missing,
    is_ours,
    missing_tags,
    or_none,
    policy_document,
    same_document,
    tag_dict,
    tag_list,
)
from chatdeploy.stages.websocket_api import API_KEY, WebSocketApiStage

if TYPE_CHECKING:
    from chatdeploy.context import DeployContext

BUCKET_KEY = "frontend.bucket"
FILES_KEY = "frontend.files"
PUBLIC_POLICY_KEY = "frontend.public_policy"
PENDING_FIELD = "invalidate"
INDEX = "index.html"
CONFIG_FILE = "config.json"
OWNERSHIP = "BucketOwnerEnforced"
# The page's modules have no content hash in their names, so a browser must revalidate every
# file (a cheap 304) or it would run old modules against a new page. CloudFront keeps assets a
# day; every deploy invalidates what it changed. The page and config.json are never cached long.
PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=0, s-maxage=86400"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}
_SKIPPED_DIRECTORIES = {"node_modules", "__pycache__"}
_SKIPPED_SUFFIXES = {".md"}
# Regions whose website endpoint is s3-website-<region>; the others use s3-website.<region>.
_DASH_WEBSITE_REGIONS = {
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "eu-west-1",
    "sa-east-1",
    "us-gov-west-1",
}


def bucket_name(ctx: DeployContext) -> str:
    return ctx.config.frontend.bucket_name or ctx.names.bucket(ctx.account, ctx.region)


def is_website(ctx: DeployContext) -> bool:
    return ctx.config.frontend.hosting == "s3-website"


def bucket_arn(ctx: DeployContext, path: str = "") -> str:
    return f"arn:{ctx.aws.partition}:s3:::{bucket_name(ctx)}{path}"


def page_url(ctx: DeployContext, hosted_at: str | None) -> str | None:
    """Where people open the app: the local server under `chatdeploy local`, else `hosted_at`."""
    return ctx.local.page_url if ctx.local else hosted_at


def website_url(ctx: DeployContext) -> str:
    separator = "-" if ctx.region in _DASH_WEBSITE_REGIONS else "."
    return f"http://{bucket_name(ctx)}.s3-website{separator}{ctx.region}.amazonaws.com"


# -- what CloudFront still serves stale --------------------------------------------------------


def pending_invalidations(ctx: DeployContext) -> list[str]:
    """Paths changed in the bucket that CloudFront has not been told about yet."""
    return list((ctx.recorded(FILES_KEY) or {}).get(PENDING_FIELD, []))


def forget_invalidations(ctx: DeployContext, paths: list[str]) -> None:
    remaining = [path for path in pending_invalidations(ctx) if path not in paths]
    ctx.record(FILES_KEY, **{PENDING_FIELD: remaining})


def _remember_invalidation(ctx: DeployContext, key: str) -> None:
    if is_website(ctx):
        return
    paths = ["/" + quote(key)] + (["/"] if key == INDEX else [])
    ctx.record(FILES_KEY, **{PENDING_FIELD: sorted({*pending_invalidations(ctx), *paths})})


# -- the bucket --------------------------------------------------------------------------------


def public_access_block(ctx: DeployContext) -> dict[str, bool]:
    """All four settings on, except that s3-website mode must allow its public policy."""
    public_policy = is_website(ctx)
    return {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": not public_policy,
        "RestrictPublicBuckets": not public_policy,
    }


WEBSITE = {"IndexDocument": {"Suffix": INDEX}, "ErrorDocument": {"Key": INDEX}}


class Bucket(Resource):
    key = BUCKET_KEY

    def __init__(self, name: str) -> None:
        self.name = name
        self.label = f"bucket {name}"

    def find(self, ctx: DeployContext) -> Found | None:
        if not self._exists(ctx):
            return None
        tags = bucket_tags(ctx, self.name)
        owned = is_ours(ctx, tags)
        if not owned and ctx.recorded(self.key) is None:
            self._refuse_if_in_use(ctx)
        read = partial(_read_setting, ctx, self.name)
        block = read("get_public_access_block", "NoSuchPublicAccessBlockConfiguration") or {}
        ownership = read("get_bucket_ownership_controls", "OwnershipControlsNotFoundError") or {}
        website = read("get_bucket_website", "NoSuchWebsiteConfiguration")
        data = {
            "tags": tags,
            "block": block.get("PublicAccessBlockConfiguration", {}),
            "ownership": [r["ObjectOwnership"] for r in _rules(ownership)],
            "website": website is not None,
        }
        return Found({"name": self.name}, data, owned=owned)

    def _exists(self, ctx: DeployContext) -> bool:
        s3 = ctx.aws.client("s3")
        try:
            s3.head_bucket(Bucket=self.name, ExpectedBucketOwner=ctx.account)
        except Exception as error:
            code = error_code(error)
            if code in {"404", "NoSuchBucket"}:
                return False
            if code in {"403", "AccessDenied"}:
                raise self._taken() from None
            if code in {"301", "PermanentRedirect"}:
                raise ChatdeployError(
                    f"bucket {self.name} exists in another region than {ctx.region}",
                    hint="set frontend.bucket_name to another name, or deploy to that region",
                ) from None
            raise
        return True

    def _taken(self) -> ChatdeployError:
        return ChatdeployError(
            f"the bucket name {self.name} is taken by another AWS account",
            hint="bucket names are global: set frontend.bucket_name to a name of your own",
        )

    def _refuse_if_in_use(self, ctx: DeployContext) -> None:
        """A bucket of our name without our tag: adopting it would sync away its files."""
        listing = ctx.aws.client("s3").list_objects_v2(Bucket=self.name, MaxKeys=1)
        if listing.get("KeyCount", 0):
            raise ChatdeployError(
                f"bucket {self.name} exists, holds files and is not stack "
                f"{ctx.names.stack}'s (no {STACK_TAG} tag); chatdeploy will not overwrite it",
                hint=f"empty it or tag it {STACK_TAG}={ctx.names.stack} to hand it over, "
                "or set frontend.bucket_name to another name",
            )

    def create(self, ctx: DeployContext) -> None:
        location = {}
        if ctx.region != "us-east-1":
            location = {"CreateBucketConfiguration": {"LocationConstraint": ctx.region}}
        try:
            ctx.aws.client("s3").create_bucket(
                Bucket=self.name, ObjectOwnership=OWNERSHIP, **location
            )
        except Exception as error:
            if error_code(error) == "BucketAlreadyExists":
                raise self._taken() from None
            if error_code(error) != "BucketAlreadyOwnedByYou":
                raise
        ctx.record(self.key, name=self.name)

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        data = found.data
        return [
            *self._ownership_changes(ctx, data["ownership"]),
            *self._block_changes(ctx, data["block"]),
            *self._website_changes(ctx, data["website"]),
            *self._tag_changes(ctx, data["tags"]),
        ]

    def _ownership_changes(self, ctx: DeployContext, ownership: list[str]) -> list[Change]:
        if ownership == [OWNERSHIP]:
            return []
        controls = {"Rules": [{"ObjectOwnership": OWNERSHIP}]}
        enforce = lambda: ctx.aws.client("s3").put_bucket_ownership_controls(  # noqa: E731
            Bucket=self.name, OwnershipControls=controls
        )
        return [Change("ACLs disabled (bucket owner enforced)", enforce)]

    def _block_changes(self, ctx: DeployContext, current: dict[str, bool]) -> list[Change]:
        wanted = public_access_block(ctx)
        if current == wanted:
            return []
        put = lambda: ctx.aws.client("s3").put_public_access_block(  # noqa: E731
            Bucket=self.name, PublicAccessBlockConfiguration=wanted
        )
        lifted = "lifted for a public policy" if is_website(ctx) else "on"
        return [Change(f"public access block {lifted}", put)]

    def _website_changes(self, ctx: DeployContext, has_website: bool) -> list[Change]:
        s3 = ctx.aws.client("s3")
        if is_website(ctx) and not has_website:
            configure = lambda: s3.put_bucket_website(  # noqa: E731
                Bucket=self.name, WebsiteConfiguration=WEBSITE
            )
            return [Change("static website hosting on", configure)]
        if has_website and not is_website(ctx):
            stop = lambda: s3.delete_bucket_website(Bucket=self.name)  # noqa: E731
            return [Change("static website hosting off", stop)]
        return []

    def _tag_changes(self, ctx: DeployContext, tags: dict[str, str]) -> list[Change]:
        if not missing_tags(tags, ctx.names.tags):
            return []
        tagging = {"TagSet": tag_list({**tags, **ctx.names.tags})}
        put = lambda: ctx.aws.client("s3").put_bucket_tagging(  # noqa: E731
            Bucket=self.name, Tagging=tagging
        )
        return [Change("tags", put)]

    def delete(self, ctx: DeployContext, found: Found) -> None:
        s3 = ctx.aws.client("s3")
        # Objects and, had versioning ever been on, their old versions: a bucket must be empty.
        pages = or_none(
            lambda: list(s3.get_paginator("list_object_versions").paginate(Bucket=self.name))
        )
        leftovers = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for page in pages or []
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        _delete_objects(ctx, self.name, leftovers)
        ignore_missing(lambda: s3.delete_bucket(Bucket=self.name))


def bucket_tags(ctx: DeployContext, bucket: str) -> dict[str, str]:
    tagging = _read_setting(ctx, bucket, "get_bucket_tagging", "NoSuchTagSet") or {}
    return tag_dict(tagging.get("TagSet"))


def _read_setting(ctx: DeployContext, bucket: str, operation: str, absent: str) -> Any:
    """One of the bucket's settings; None when it has none (S3 answers with an error)."""
    s3 = ctx.aws.client("s3")
    return or_none(lambda: getattr(s3, operation)(Bucket=bucket), absent=(absent,))


def _rules(ownership: dict[str, Any]) -> list[dict[str, str]]:
    return list(ownership.get("OwnershipControls", {}).get("Rules", []))


def _delete_objects(ctx: DeployContext, bucket: str, objects: list[dict[str, str]]) -> None:
    s3 = ctx.aws.client("s3")
    for start in range(0, len(objects), 1000):
        batch = objects[start : start + 1000]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


# -- the files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteObject:
    """One object the bucket should hold."""

    key: str
    body: bytes

    @cached_property
    def etag(self) -> str:
        """S3's ETag of a single-part upload: the MD5 in quotes."""
        return f'"{hashlib.md5(self.body, usedforsecurity=False).hexdigest()}"'

    @property
    def content_type(self) -> str:
        suffix = PurePosixPath(self.key).suffix.lower()
        guessed, _ = mimetypes.guess_type(self.key)
        return _CONTENT_TYPES.get(suffix) or guessed or "application/octet-stream"

    @property
    def cache_control(self) -> str:
        is_page = self.key.endswith(".html") or self.key == CONFIG_FILE
        return PAGE_CACHE if is_page else ASSET_CACHE


def site_objects(source: Path) -> Iterator[SiteObject]:
    """The web app's files, keyed by their path below `source`."""
    for path in sorted(source.rglob("*")):
        relative = PurePosixPath(path.relative_to(source).as_posix())
        if path.is_file() and _belongs_to_site(relative):
            yield SiteObject(str(relative), path.read_bytes())


def _belongs_to_site(relative: PurePosixPath) -> bool:
    """Not hidden files, notes for developers, or a config.json of its own (the deployed one
    is written by `web_config`)."""
    hidden = any(part.startswith(".") or part in _SKIPPED_DIRECTORIES for part in relative.parts)
    return (
        not hidden
        and relative.suffix.lower() not in _SKIPPED_SUFFIXES
        and str(relative) != CONFIG_FILE
    )


def web_config(ctx: DeployContext) -> dict[str, Any]:
    """The page's config.json, exactly the fields of docs/protocol.md."""
    return {
        "websocketUrl": _websocket_url(ctx),
        "region": ctx.region,
        "userPoolId": ctx.require(UserPool.key, "id"),
        "userPoolClientId": ctx.require(AppClient.key, "id"),
        "identityPoolId": ctx.require(IdentityPool.key, "id"),
        "cognitoEndpoint": ctx.local.emulator_url if ctx.local else None,
        "maxMessageBytes": ctx.config.chat.max_message_bytes,
    }


def _websocket_url(ctx: DeployContext) -> str:
    ctx.require(API_KEY, "id")  # while planning a new stack: not known yet
    return str(WebSocketApiStage().outputs(ctx)["websocket_url"])


class FrontendFiles(Resource):
    """Every object in the bucket, synced with the web app plus its config.json."""

    key = FILES_KEY
    label = "frontend files"
    after = (BUCKET_KEY,)

    def __init__(self, bucket: str, source: Path) -> None:
        self.bucket = bucket
        self.source = source

    def find(self, ctx: DeployContext) -> Found | None:
        """The objects' ETags by key; None for a bucket that is missing, or new and empty."""
        s3 = ctx.aws.client("s3")
        pages = or_none(
            lambda: list(s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket))
        )
        if pages is None:
            return None
        etags = {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}
        if not etags and ctx.recorded(self.key) is None:
            return None
        # Without a record, the files are ours only in a bucket of ours: `destroy` must not
        # empty a bucket that merely has our name.
        owned = bool(ctx.recorded(BUCKET_KEY)) or is_ours(ctx, bucket_tags(ctx, self.bucket))
        return Found({"bucket": self.bucket}, etags, owned=owned)

    def create(self, ctx: DeployContext) -> None:
        for change in self._sync(ctx, {}):
            change.apply()

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        return self._sync(ctx, found.data)

    def delete(self, ctx: DeployContext, found: Found) -> None:
        _delete_objects(ctx, self.bucket, [{"Key": key} for key in sorted(found.data)])

    def _wanted(self, ctx: DeployContext) -> dict[str, SiteObject]:
        objects = {item.key: item for item in site_objects(self.source)}
        config = json.dumps(web_config(ctx), indent=2) + "\n"
        objects[CONFIG_FILE] = SiteObject(CONFIG_FILE, config.encode())
        return objects

    def _sync(self, ctx: DeployContext, etags: dict[str, str]) -> list[Change]:
        """Uploads, the page and its config last (a visitor never gets a page whose files are
        not there yet), then deletions."""
        wanted = self._wanted(ctx)
        stale = [item for item in wanted.values() if etags.get(item.key) != item.etag]
        stale.sort(key=lambda item: (item.cache_control == PAGE_CACHE, item.key))
        uploads = [Change(f"upload {item.key}", self._upload(ctx, item)) for item in stale]
        removed = sorted(set(etags) - set(wanted))
        deletions = [Change(f"delete {key}", self._remove(ctx, key)) for key in removed]
        return uploads + deletions

    def _upload(self, ctx: DeployContext, item: SiteObject) -> Callable[[], None]:
        def upload() -> None:
            _remember_invalidation(ctx, item.key)
            ctx.aws.client("s3").put_object(
                Bucket=self.bucket,
                Key=item.key,
                Body=item.body,
                ContentType=item.content_type,
                CacheControl=item.cache_control,
            )

        return upload

    def _remove(self, ctx: DeployContext, key: str) -> Callable[[], None]:
        def remove() -> None:
            _remember_invalidation(ctx, key)
            ctx.aws.client("s3").delete_object(Bucket=self.bucket, Key=key)

        return remove


# -- the bucket policy -------------------------------------------------------------------------


class BucketPolicy(Resource):
    """The bucket's policy, made of one statement known by its Sid. The policy is written
    whole: whatever else it held goes (the other hosting mode's statement, say)."""

    def __init__(
        self,
        key: str,
        label: str,
        sid: str,
        statement: Callable[[DeployContext], dict[str, Any]],
        after: tuple[str, ...],
    ) -> None:
        self.key = key
        self.label = label
        self.sid = sid
        self.statement = statement
        self.after = after

    def document(self, ctx: DeployContext) -> dict[str, Any]:
        return policy_document({"Sid": self.sid, **self.statement(ctx)})

    def find(self, ctx: DeployContext) -> Found | None:
        s3 = ctx.aws.client("s3")
        bucket = bucket_name(ctx)
        current = or_none(
            lambda: s3.get_bucket_policy(Bucket=bucket), absent=("NoSuchBucketPolicy",)
        )
        if current is None:
            return None
        document = json.loads(current["Policy"])
        if not any(statement.get("Sid") == self.sid for statement in document.get("Statement", [])):
            return None
        return Found({"bucket": bucket, "sid": self.sid}, document)

    def create(self, ctx: DeployContext) -> None:
        self._put(ctx)

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        if same_document(found.data, self.document(ctx)):
            return []
        return [Change("policy document", lambda: self._put(ctx))]

    def delete(self, ctx: DeployContext, found: Found) -> None:
        s3 = ctx.aws.client("s3")
        ignore_missing(lambda: s3.delete_bucket_policy(Bucket=found.record["bucket"]))

    def _put(self, ctx: DeployContext) -> None:
        bucket = bucket_name(ctx)
        ctx.aws.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(self.document(ctx)))
        ctx.record(self.key, bucket=bucket, sid=self.sid)


def public_read_policy() -> BucketPolicy:
    """Guide step 6.6: anyone may read every object."""
    return BucketPolicy(
        PUBLIC_POLICY_KEY,
        "public-read bucket policy",
        "PublicReadGetObject",
        lambda ctx: {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": bucket_arn(ctx, "/*"),
        },
        after=(BUCKET_KEY,),
    )


class FrontendStage(Stage):
    name = "frontend"
    title = "S3 web app (guide step 6)"
    needs = ("websocket_api", "auth")

    def __init__(self, source: Path | None = None) -> None:
        """`source`: the web app's directory; by default the one shipped with chatdeploy."""
        self._source = source

    def resources(self, ctx: DeployContext) -> list[Resource]:
        name = bucket_name(ctx)
        resources: list[Resource] = [
            Bucket(name),
            FrontendFiles(name, self._source or frontend_dir()),
        ]
        if is_website(ctx):
            resources.append(public_read_policy())
        return resources

    def orphan(self, ctx: DeployContext, key: str) -> Resource | None:
        """Back from s3-website to CloudFront: the public statement goes (if still there)."""
        return public_read_policy() if key == PUBLIC_POLICY_KEY else None

    def warnings(self, ctx: DeployContext) -> list[str]:
        if not is_website(ctx):
            return []
        return [
            "frontend.hosting is s3-website: Block Public Access on bucket "
            f"{bucket_name(ctx)} is LIFTED and its policy lets ANYONE on the internet read every "
            "file in it, served over plain HTTP (no HTTPS). The default, cloudfront, keeps the "
            "bucket private behind HTTPS."
        ]

    def outputs(self, ctx: DeployContext) -> dict[str, Any]:
        bucket = (ctx.recorded(BUCKET_KEY) or {}).get("name")
        if not is_website(ctx):
            return {"bucket": bucket}
        return {
            "bucket": bucket,
            "frontend_url": page_url(ctx, website_url(ctx) if bucket else None),
        }
