"""Guide step 2: the Lambda execution role and its least-privilege data policy.

The policy names exact ARNs: the two tables and their indexes, and each function's own log
group. The `execute-api:ManageConnections` grant needs the API's id, so the websocket_api stage
adds it once the API exists.
"""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Any

from chatdeploy.engine import Change, Found, Resource, Stage
from chatdeploy.names import HISTORY_INDEX, ROOM_INDEX
from chatdeploy.stages.common import (
    InlineRolePolicy,
    ignore_missing,
    is_ours,
    missing_tags,
    or_none,
    policy_document,
    same_document,
    tag_dict,
    tag_list,
)

if TYPE_CHECKING:
    from chatdeploy.context import DeployContext

DATA_POLICY = "ChatDataAccess"
TRUST_POLICY = policy_document(
    {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
)


class Role(Resource):
    key = "role.role"

    def __init__(self, name: str) -> None:
        self.name = name
        self.label = f"IAM role {name}"

    def find(self, ctx: DeployContext) -> Found | None:
        iam = ctx.aws.client("iam")
        role = or_none(lambda: iam.get_role(RoleName=self.name)["Role"])
        if role is None:
            return None
        tags = tag_dict(role.get("Tags"))
        return Found({"name": self.name, "arn": role["Arn"]}, role, owned=is_ours(ctx, tags))

    def create(self, ctx: DeployContext) -> None:
        role = ctx.aws.client("iam").create_role(
            RoleName=self.name,
            AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
            Description=f"Lambda execution role of chatdeploy stack {ctx.names.stack}",
            Tags=tag_list(ctx.names.tags),
        )["Role"]
        ctx.record(self.key, name=self.name, arn=role["Arn"])

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        iam = ctx.aws.client("iam")
        changes = []
        if not same_document(found.data["AssumeRolePolicyDocument"], TRUST_POLICY):
            changes.append(
                Change(
                    "trust policy",
                    lambda: iam.update_assume_role_policy(
                        RoleName=self.name, PolicyDocument=json.dumps(TRUST_POLICY)
                    ),
                )
            )
        absent = missing_tags(tag_dict(found.data.get("Tags")), ctx.names.tags)
        if absent:
            changes.append(
                Change("tags", lambda: iam.tag_role(RoleName=self.name, Tags=tag_list(absent)))
            )
        return changes

    def delete(self, ctx: DeployContext, found: Found) -> None:
        iam = ctx.aws.client("iam")
        # A role with policies cannot be deleted; remove any left by hand or by a crash.
        for name in iam.list_role_policies(RoleName=self.name)["PolicyNames"]:
            ignore_missing(partial(iam.delete_role_policy, RoleName=self.name, PolicyName=name))
        for policy in iam.list_attached_role_policies(RoleName=self.name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=self.name, PolicyArn=policy["PolicyArn"])
        ignore_missing(lambda: iam.delete_role(RoleName=self.name))


def data_policy(ctx: DeployContext) -> dict[str, Any]:
    names = ctx.names
    tables = [names.connections_table, names.messages_table]
    table_arns = [ctx.arn("dynamodb", f"table/{table}") for table in tables]
    # Only what the handlers use: no GetItem, no Scan, and not UserIdIndex (kept for queries
    # by user, which no handler makes today).
    index_arns = [
        ctx.arn("dynamodb", f"table/{names.connections_table}/index/{ROOM_INDEX}"),
        ctx.arn("dynamodb", f"table/{names.messages_table}/index/{HISTORY_INDEX}"),
    ]
    log_groups = [ctx.arn("logs", f"log-group:{names.log_group(f.name)}:*") for f in ctx.functions]
    return policy_document(
        {
            "Sid": "ChatTables",
            "Effect": "Allow",
            "Action": [
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
            ],
            "Resource": table_arns + index_arns,
        },
        {
            "Sid": "OwnLogGroups",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": log_groups,
        },
    )


class RoleStage(Stage):
    name = "role"
    title = "IAM execution role (guide step 2)"

    def resources(self, ctx: DeployContext) -> list[Resource]:
        return [
            Role(ctx.names.role),
            InlineRolePolicy("role.data_policy", DATA_POLICY, data_policy, after=(Role.key,)),
        ]

    def outputs(self, ctx: DeployContext) -> dict[str, Any]:
        role = ctx.recorded(Role.key) or {}
        return {"role_arn": role.get("arn")}
