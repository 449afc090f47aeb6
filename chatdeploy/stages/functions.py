"""Guide step 3: one Lambda function per module under handlers/, each with its log group.

Code is uploaded only when the zip's SHA-256 differs from the function's CodeSha256, and the
configuration only when a field differs, so a second `up` makes no call that changes anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatdeploy.engine import Change, Found, Resource, Stage
from chatdeploy.names import (
    CONNECTION_TTL_SECONDS,
    HISTORY_INDEX,
    ROOM_INDEX,
    USER_ID_INDEX,
)
from chatdeploy.packaging import Artifact, build
from chatdeploy.stages.common import ignore_missing, is_ours, missing_tags, or_none, wait_for

if TYPE_CHECKING:
    from chatdeploy.context import DeployContext

LOG_GROUP_PREFIX = "functions.log_group."
FUNCTION_PREFIX = "functions.function."
_CONFIG_FIELDS = ("Runtime", "Role", "Handler", "Timeout", "MemorySize", "Description")


def function_key(logical_name: str) -> str:
    return f"{FUNCTION_PREFIX}{logical_name}"


def environment(ctx: DeployContext) -> dict[str, str]:
    """The variables every handler reads (docs/protocol.md, "Handler environment")."""
    names, config = ctx.names, ctx.config
    pool_id = ctx.require("auth.user_pool", "id")
    issuer = f"https://cognito-idp.{ctx.region}.amazonaws.com/{pool_id}"
    if config.auth.jwks_url:
        jwks_url = config.auth.jwks_url
    elif ctx.aws.endpoint_url:
        jwks_url = f"{ctx.aws.endpoint_url.rstrip('/')}/{pool_id}/.well-known/jwks.json"
    else:
        jwks_url = f"{issuer}/.well-known/jwks.json"
    return {
        "CONNECTIONS_TABLE": names.connections_table,
        "MESSAGES_TABLE": names.messages_table,
        "USER_ID_INDEX": USER_ID_INDEX,
        "ROOM_INDEX": ROOM_INDEX,
        "HISTORY_INDEX": HISTORY_INDEX,
        "MAX_MESSAGE_BYTES": str(config.chat.max_message_bytes),
        "MESSAGE_RETENTION_DAYS": str(config.tables.message_retention_days),
        "CONNECTION_TTL_SECONDS": str(CONNECTION_TTL_SECONDS),
        "USER_POOL_ID": pool_id,
        "USER_POOL_CLIENT_ID": ctx.require("auth.client", "id"),
        "TOKEN_ISSUER": issuer,
        "JWKS_URL": jwks_url,
    }


class LogGroup(Resource):
    def __init__(self, ctx: DeployContext, logical_name: str) -> None:
        self.name = ctx.names.log_group(logical_name)
        self.key = f"{LOG_GROUP_PREFIX}{logical_name}"
        self.label = f"log group {self.name}"

    def find(self, ctx: DeployContext) -> Found | None:
        logs = ctx.aws.client("logs")
        groups = logs.describe_log_groups(logGroupNamePrefix=self.name)["logGroups"]
        group = next((g for g in groups if g["logGroupName"] == self.name), None)
        if group is None:
            return None
        tags = logs.list_tags_log_group(logGroupName=self.name).get("tags", {})
        return Found({"name": self.name}, {"group": group, "tags": tags}, owned=is_ours(ctx, tags))

    def create(self, ctx: DeployContext) -> None:
        logs = ctx.aws.client("logs")
        logs.create_log_group(logGroupName=self.name, tags=ctx.names.tags)
        ctx.record(self.key, name=self.name)

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        logs = ctx.aws.client("logs")
        days = ctx.config.functions.log_retention_days
        changes = []
        if found.data["group"].get("retentionInDays") != days:
            changes.append(
                Change(
                    f"retention {days} days",
                    lambda: logs.put_retention_policy(logGroupName=self.name, retentionInDays=days),
                )
            )
        absent = missing_tags(found.data["tags"], ctx.names.tags)
        if absent:
            changes.append(
                Change("tags", lambda: logs.tag_log_group(logGroupName=self.name, tags=absent))
            )
        return changes

    def delete(self, ctx: DeployContext, found: Found) -> None:
        logs = ctx.aws.client("logs")
        ignore_missing(lambda: logs.delete_log_group(logGroupName=self.name))

    def keep_on_destroy(self, ctx: DeployContext) -> bool:
        return ctx.keep_logs


class Function(Resource):
    def __init__(self, ctx: DeployContext, logical_name: str, artifact: Artifact | None) -> None:
        """`artifact` is None for a function that is only looked up or removed."""
        self.logical_name = logical_name
        self.name = ctx.names.function(logical_name)
        self.artifact = artifact
        self.key = function_key(logical_name)
        self.label = f"function {self.name}"
        self.after = (f"{LOG_GROUP_PREFIX}{logical_name}",) if artifact else ()

    def _configuration(self, ctx: DeployContext) -> dict[str, Any]:
        functions = ctx.config.functions
        return {
            "Runtime": functions.runtime,
            "Role": ctx.require("role.role", "arn"),
            "Handler": f"{self.logical_name}.handler",
            "Timeout": functions.timeout_for(self.logical_name),
            "MemorySize": functions.memory_for(self.logical_name),
            "Description": f"chatdeploy {ctx.names.stack}: {self.logical_name}",
            "Environment": {"Variables": environment(ctx)},
        }

    def find(self, ctx: DeployContext) -> Found | None:
        lambda_ = ctx.aws.client("lambda")
        function = or_none(lambda: lambda_.get_function(FunctionName=self.name))
        if function is None:
            return None
        configuration = function["Configuration"]
        tags = function.get("Tags", {})
        return Found(
            {"name": self.name, "arn": configuration["FunctionArn"]},
            {"configuration": configuration, "tags": tags},
            owned=is_ours(ctx, tags),
        )

    def create(self, ctx: DeployContext) -> None:
        assert self.artifact is not None
        created = ctx.aws.client("lambda").create_function(
            FunctionName=self.name,
            Code={"ZipFile": self.artifact.data},
            Architectures=[ctx.config.functions.architecture],
            PackageType="Zip",
            Tags=ctx.names.tags,
            **self._configuration(ctx),
        )
        ctx.record(self.key, name=self.name, arn=created["FunctionArn"])
        self._wait_ready(ctx, "to become Active")

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        assert self.artifact is not None
        current = found.data["configuration"]
        wanted = self._configuration(ctx)
        differing = [name for name in _CONFIG_FIELDS if current.get(name) != wanted[name]]
        if (
            current.get("Environment", {}).get("Variables", {})
            != wanted["Environment"]["Variables"]
        ):
            differing.append("Environment")
        changes = []
        if differing:
            changes.append(
                Change(
                    f"configuration: {', '.join(differing)}", lambda: self._configure(ctx, wanted)
                )
            )
        architecture = ctx.config.functions.architecture
        if current.get("CodeSha256") != self.artifact.sha256:
            changes.append(Change("code", lambda: self._upload(ctx)))
        elif current.get("Architectures", ["x86_64"]) != [architecture]:
            changes.append(Change(f"architecture {architecture}", lambda: self._upload(ctx)))
        absent = missing_tags(found.data["tags"], ctx.names.tags)
        if absent:
            arn = found.record["arn"]
            changes.append(
                Change(
                    "tags", lambda: ctx.aws.client("lambda").tag_resource(Resource=arn, Tags=absent)
                )
            )
        return changes

    def delete(self, ctx: DeployContext, found: Found) -> None:
        lambda_ = ctx.aws.client("lambda")
        ignore_missing(lambda: lambda_.delete_function(FunctionName=self.name))

    def _configure(self, ctx: DeployContext, wanted: dict[str, Any]) -> None:
        ctx.aws.client("lambda").update_function_configuration(FunctionName=self.name, **wanted)
        self._wait_ready(ctx, "configuration update")

    def _upload(self, ctx: DeployContext) -> None:
        assert self.artifact is not None
        ctx.aws.client("lambda").update_function_code(
            FunctionName=self.name,
            ZipFile=self.artifact.data,
            Architectures=[ctx.config.functions.architecture],
        )
        self._wait_ready(ctx, "code update")

    def _wait_ready(self, ctx: DeployContext, what: str) -> None:
        lambda_ = ctx.aws.client("lambda")

        def failure(configuration: dict[str, Any]) -> str | None:
            if "Failed" in (configuration.get("State"), configuration.get("LastUpdateStatus")):
                reason = configuration.get("StateReason") or configuration.get(
                    "LastUpdateStatusReason"
                )
                return str(reason or "failed")
            return None

        wait_for(
            ctx,
            self.key,
            f"{self.name} {what}",
            lambda: lambda_.get_function_configuration(FunctionName=self.name),
            lambda c: c.get("State") == "Active" and c.get("LastUpdateStatus") != "InProgress",
            failed=failure,
            timeout=300,
        )


class FunctionsStage(Stage):
    name = "functions"
    title = "Lambda functions (guide step 3)"
    needs = ("role", "auth")

    def resources(self, ctx: DeployContext) -> list[Resource]:
        resources: list[Resource] = []
        for source in ctx.functions:
            resources.append(LogGroup(ctx, source.name))
            resources.append(Function(ctx, source.name, build(source)))
        return resources

    def orphan(self, ctx: DeployContext, key: str) -> Resource | None:
        """A handler that was removed from handlers/: its function and log group go too."""
        if key.startswith(FUNCTION_PREFIX):
            return Function(ctx, key.removeprefix(FUNCTION_PREFIX), None)
        if key.startswith(LOG_GROUP_PREFIX):
            return LogGroup(ctx, key.removeprefix(LOG_GROUP_PREFIX))
        return None

    def outputs(self, ctx: DeployContext) -> dict[str, Any]:
        arns = {}
        for source in ctx.functions:
            recorded = ctx.recorded(function_key(source.name)) or {}
            arns[source.name] = recorded.get("arn")
        return {"function_arns": arns}
