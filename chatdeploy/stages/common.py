"""Mechanics every stage shares: tag diffs, policy documents, invocation URIs, lookups."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from chatdeploy.aws import error_code, is_not_found, wait_until
from chatdeploy.engine import Change, Found, Resource
from chatdeploy.errors import ChatdeployError
from chatdeploy.names import STACK_TAG

if TYPE_CHECKING:
    from chatdeploy.context import DeployContext

T = TypeVar("T")


def is_ours(ctx: DeployContext, tags: dict[str, str]) -> bool:
    """Whether a resource carries this stack's tag."""
    return tags.get(STACK_TAG) == ctx.names.stack


def missing_tags(current: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in wanted.items() if current.get(key) != value}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """{"k": "v"} -> [{"Key": "k", "Value": "v"}], the form IAM, DynamoDB and S3 take."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def tag_dict(tags: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags or ()}


def same_document(left: Any, right: Any) -> bool:
    """Compare two JSON policy documents (or their JSON strings) ignoring key order."""

    def normal(document: Any) -> str:
        if isinstance(document, str):
            document = json.loads(document)
        return json.dumps(document, sort_keys=True)

    return normal(left) == normal(right)


def policy_document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def lambda_invocation_uri(ctx: DeployContext, function_arn: str) -> str:
    """The AWS_PROXY integration URI API Gateway needs to invoke a function."""
    return (
        f"arn:{ctx.aws.partition}:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/"
        f"{function_arn}/invocations"
    )


def the_one(matches: list[T], what: str) -> T | None:
    """The single match of a lookup by name/tag; several are a conflict the user must resolve."""
    if len(matches) > 1:
        raise ChatdeployError(
            f"found {len(matches)} {what}; chatdeploy cannot tell which one is this stack's",
            hint="delete the extra copies in the AWS console, then run again",
        )
    return matches[0] if matches else None


def or_none(read: Callable[[], T], *, absent: Collection[str] = ()) -> T | None:
    """The result of a describe call, or None when AWS says it does not exist. `absent`: more
    error codes that mean "nothing there" (S3 answers NoSuchTagSet, NoSuchBucketPolicy, ...)."""
    try:
        return read()
    except Exception as error:
        if is_not_found(error) or error_code(error) in absent:
            return None
        raise


def ignore_missing(delete: Callable[[], Any]) -> None:
    """Run a delete call; NotFound means it is already done."""
    try:
        delete()
    except Exception as error:
        if not is_not_found(error):
            raise


def wait_for(
    ctx: DeployContext,
    key: str,
    what: str,
    read: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float = 600,
    failed: Callable[[T], str | None] = lambda _: None,
    slowdown: float = 1.0,
) -> T:
    """Poll until ready, showing the wait in the progress view. `slowdown` stretches the AWS
    layer's poll delay for services whose changes take minutes."""
    return wait_until(
        read,
        done,
        what=what,
        delay=ctx.aws.poll_delay * slowdown,
        timeout=timeout,
        on_wait=lambda message: ctx.progress(key, message),
        failed=failed,
    )


class InlineRolePolicy(Resource):
    """An inline policy on the stack's Lambda role, rewritten only when its document differs."""

    def __init__(
        self,
        key: str,
        policy_name: str,
        document: Callable[[DeployContext], dict[str, Any]],
        after: tuple[str, ...] = (),
    ) -> None:
        self.key = key
        self.label = f"role policy {policy_name}"
        self.policy_name = policy_name
        self.document = document
        self.after = after

    def _role(self, ctx: DeployContext) -> str:
        return ctx.names.role

    def find(self, ctx: DeployContext) -> Found | None:
        iam = ctx.aws.client("iam")
        current = or_none(
            lambda: iam.get_role_policy(RoleName=self._role(ctx), PolicyName=self.policy_name)
        )
        if current is None:
            return None
        return Found({"role": self._role(ctx), "name": self.policy_name}, current["PolicyDocument"])

    def create(self, ctx: DeployContext) -> None:
        self._put(ctx)

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        if same_document(found.data, self.document(ctx)):
            return []
        return [Change("policy document", lambda: self._put(ctx))]

    def delete(self, ctx: DeployContext, found: Found) -> None:
        iam = ctx.aws.client("iam")
        ignore_missing(
            lambda: iam.delete_role_policy(RoleName=self._role(ctx), PolicyName=self.policy_name)
        )

    def _put(self, ctx: DeployContext) -> None:
        ctx.aws.client("iam").put_role_policy(
            RoleName=self._role(ctx),
            PolicyName=self.policy_name,
            PolicyDocument=json.dumps(self.document(ctx)),
        )
        ctx.record(self.key, role=self._role(ctx), name=self.policy_name)
