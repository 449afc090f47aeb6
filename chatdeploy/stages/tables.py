"""Guide step 1: the DynamoDB tables ChatConnections and ChatMessages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatdeploy.engine import Change, Found, Resource, Stage
from chatdeploy.errors import ChatdeployError
from chatdeploy.names import HISTORY_INDEX, ROOM_INDEX, USER_ID_INDEX
from chatdeploy.stages.common import (
    ignore_missing,
    is_ours,
    missing_tags,
    or_none,
    tag_dict,
    tag_list,
    wait_for,
)

if TYPE_CHECKING:
    from chatdeploy.context import DeployContext

TTL_ATTRIBUTE = "expiresAt"


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None = None


@dataclass(frozen=True)
class TableShape:
    """Keys and indexes; everything else comes from the config."""

    kind: str
    hash_key: str
    indexes: tuple[Index, ...]
    number_attributes: frozenset[str] = frozenset()


CONNECTIONS = TableShape(
    "connections",
    "connectionId",
    (Index(USER_ID_INDEX, "userId"), Index(ROOM_INDEX, "roomId", "connectionId")),
)
MESSAGES = TableShape(
    "messages",
    "messageId",
    (Index(HISTORY_INDEX, "roomId", "timestamp"),),
    frozenset({"timestamp"}),
)


class Table(Resource):
    def __init__(self, shape: TableShape, name: str) -> None:
        self.shape = shape
        self.name = name
        self.key = f"tables.{shape.kind}"
        self.label = f"table {name}"

    # -- desired shape ---------------------------------------------------------------------

    def _attribute(self, name: str) -> dict[str, str]:
        return {
            "AttributeName": name,
            "AttributeType": "N" if name in self.shape.number_attributes else "S",
        }

    def _attributes_for(self, indexes: tuple[Index, ...]) -> list[dict[str, str]]:
        names = {self.shape.hash_key}
        for index in indexes:
            names.update(filter(None, (index.hash_key, index.range_key)))
        return [self._attribute(name) for name in sorted(names)]

    @staticmethod
    def _throughput(ctx: DeployContext) -> dict[str, int]:
        tables = ctx.config.tables
        return {
            "ReadCapacityUnits": tables.read_capacity,
            "WriteCapacityUnits": tables.write_capacity,
        }

    def _index_spec(self, ctx: DeployContext, index: Index) -> dict[str, Any]:
        keys = [{"AttributeName": index.hash_key, "KeyType": "HASH"}]
        if index.range_key:
            keys.append({"AttributeName": index.range_key, "KeyType": "RANGE"})
        spec: dict[str, Any] = {
            "IndexName": index.name,
            "KeySchema": keys,
            "Projection": {"ProjectionType": "ALL"},
        }
        if ctx.config.tables.billing_mode == "PROVISIONED":
            spec["ProvisionedThroughput"] = self._throughput(ctx)
        return spec

    # -- the resource interface -------------------------------------------------------------

    def find(self, ctx: DeployContext) -> Found | None:
        dynamodb = ctx.aws.client("dynamodb")
        described = or_none(lambda: dynamodb.describe_table(TableName=self.name))
        if described is None:
            return None
        table = described["Table"]
        tags = tag_dict(dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags"))
        return Found(
            {"name": self.name, "arn": table["TableArn"]},
            {"table": table, "tags": tags},
            owned=is_ours(ctx, tags),
        )

    def create(self, ctx: DeployContext) -> None:
        dynamodb = ctx.aws.client("dynamodb")
        request: dict[str, Any] = {
            "TableName": self.name,
            "AttributeDefinitions": self._attributes_for(self.shape.indexes),
            "KeySchema": [{"AttributeName": self.shape.hash_key, "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [self._index_spec(ctx, i) for i in self.shape.indexes],
            "BillingMode": ctx.config.tables.billing_mode,
            "Tags": tag_list(ctx.names.tags),
        }
        if ctx.config.tables.billing_mode == "PROVISIONED":
            request["ProvisionedThroughput"] = self._throughput(ctx)
        table = dynamodb.create_table(**request)["TableDescription"]
        ctx.record(self.key, name=self.name, arn=table["TableArn"])
        self._wait_active(ctx)

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        table, tags = found.data["table"], found.data["tags"]
        self._check_key(table)
        changes = self._billing_changes(ctx, table)
        existing = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
        for index in self.shape.indexes:
            if index.name not in existing:
                changes.append(Change(f"add index {index.name}", self._adder(ctx, index)))
        absent_tags = missing_tags(tags, ctx.names.tags)
        if absent_tags:
            changes.append(Change("tags", lambda: self._tag(ctx, table["TableArn"], absent_tags)))
        changes += self._protection_changes(ctx)
        return changes

    def delete(self, ctx: DeployContext, found: Found) -> None:
        dynamodb = ctx.aws.client("dynamodb")
        ignore_missing(lambda: dynamodb.delete_table(TableName=self.name))
        wait_for(
            ctx,
            self.key,
            f"{self.name} to be deleted",
            lambda: or_none(lambda: dynamodb.describe_table(TableName=self.name)),
            lambda described: described is None,
        )

    # -- helpers -------------------------------------------------------------------------------

    def _check_key(self, table: dict[str, Any]) -> None:
        hash_keys = [k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH"]
        if hash_keys != [self.shape.hash_key] or len(table["KeySchema"]) != 1:
            raise ChatdeployError(
                f"table {self.name} exists with key {hash_keys}, not {self.shape.hash_key}",
                hint="rename or remove that table; chatdeploy will not rebuild a table with data",
            )

    def _billing_changes(self, ctx: DeployContext, table: dict[str, Any]) -> list[Change]:
        wanted = ctx.config.tables.billing_mode
        current = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        if current != wanted:
            return [Change(f"billing mode {current} -> {wanted}", lambda: self._set_billing(ctx))]
        if wanted == "PROVISIONED":
            now = table.get("ProvisionedThroughput", {})
            target = self._throughput(ctx)
            if any(now.get(name) != value for name, value in target.items()):
                return [Change("provisioned capacity", lambda: self._set_billing(ctx))]
        return []

    def _set_billing(self, ctx: DeployContext) -> None:
        request: dict[str, Any] = {
            "TableName": self.name,
            "BillingMode": ctx.config.tables.billing_mode,
        }
        if ctx.config.tables.billing_mode == "PROVISIONED":
            request["ProvisionedThroughput"] = self._throughput(ctx)
            request["GlobalSecondaryIndexUpdates"] = [
                {
                    "Update": {
                        "IndexName": index.name,
                        "ProvisionedThroughput": self._throughput(ctx),
                    }
                }
                for index in self.shape.indexes
            ]
        ctx.aws.client("dynamodb").update_table(**request)
        self._wait_active(ctx)

    def _adder(self, ctx: DeployContext, index: Index) -> Any:
        def add() -> None:
            ctx.aws.client("dynamodb").update_table(
                TableName=self.name,
                AttributeDefinitions=self._attributes_for((index,)),
                GlobalSecondaryIndexUpdates=[{"Create": self._index_spec(ctx, index)}],
            )
            self._wait_active(ctx)

        return add

    def _tag(self, ctx: DeployContext, arn: str, tags: dict[str, str]) -> None:
        ctx.aws.client("dynamodb").tag_resource(ResourceArn=arn, Tags=tag_list(tags))

    def _protection_changes(self, ctx: DeployContext) -> list[Change]:
        dynamodb = ctx.aws.client("dynamodb")
        changes = []
        backups = dynamodb.describe_continuous_backups(TableName=self.name)
        recovery = backups["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
        pitr_on = recovery.get("PointInTimeRecoveryStatus") == "ENABLED"
        if pitr_on != ctx.config.tables.point_in_time_recovery:
            state = "on" if ctx.config.tables.point_in_time_recovery else "off"
            changes.append(Change(f"point-in-time recovery {state}", lambda: self._set_pitr(ctx)))
        ttl = dynamodb.describe_time_to_live(TableName=self.name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"} or (
            ttl.get("AttributeName") != TTL_ATTRIBUTE
        ):
            changes.append(Change(f"TTL on {TTL_ATTRIBUTE}", lambda: self._enable_ttl(ctx)))
        return changes

    def _set_pitr(self, ctx: DeployContext) -> None:
        ctx.aws.client("dynamodb").update_continuous_backups(
            TableName=self.name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": ctx.config.tables.point_in_time_recovery
            },
        )

    def _enable_ttl(self, ctx: DeployContext) -> None:
        ctx.aws.client("dynamodb").update_time_to_live(
            TableName=self.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )

    def _wait_active(self, ctx: DeployContext) -> None:
        dynamodb = ctx.aws.client("dynamodb")

        def ready(table: dict[str, Any]) -> bool:
            indexes = table.get("GlobalSecondaryIndexes", [])
            return table["TableStatus"] == "ACTIVE" and all(
                index.get("IndexStatus", "ACTIVE") == "ACTIVE" for index in indexes
            )

        wait_for(
            ctx,
            self.key,
            f"{self.name} to be ACTIVE",
            lambda: dynamodb.describe_table(TableName=self.name)["Table"],
            ready,
        )


class TablesStage(Stage):
    name = "tables"
    title = "DynamoDB tables (guide step 1)"

    def resources(self, ctx: DeployContext) -> list[Resource]:
        return [
            Table(CONNECTIONS, ctx.names.connections_table),
            Table(MESSAGES, ctx.names.messages_table),
        ]

    def outputs(self, ctx: DeployContext) -> dict[str, Any]:
        return {
            "connections_table": ctx.names.connections_table,
            "messages_table": ctx.names.messages_table,
        }
