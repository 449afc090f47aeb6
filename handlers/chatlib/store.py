"""The two tables of docs/protocol.md: ChatConnections and ChatMessages.

Items travel in DynamoDB's typed form ({"S": ...}, {"N": ...}); our attributes are only
strings and integers, so a two-line codec replaces boto3's heavier resource layer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chatlib import aws
from chatlib.events import Identity
from chatlib.settings import load_settings

Item = dict[str, Any]


class NotRegistered(Exception):
    """The connection has no row (it disconnected, or was removed as gone)."""


@dataclass(frozen=True)
class Member:
    """A connection in a room."""

    connection_id: str
    user: Identity


def put_connection(connection_id: str, who: Identity, room_id: str, connected_at_ms: int) -> None:
    settings = load_settings()
    expires_at = connected_at_ms // 1000 + settings.connection_ttl_seconds
    row: dict[str, str | int] = {
        "connectionId": connection_id,
        "userId": who.user_id,
        "displayName": who.display_name,
        "roomId": room_id,
        "connectedAt": connected_at_ms,
        "expiresAt": expires_at,
    }
    aws.dynamodb().put_item(TableName=settings.connections_table, Item=_typed(row))


def remove_connection(connection_id: str) -> str | None:
    """Deletes the connection's row; returns the room it was in (None if there was no row)."""
    answer = aws.dynamodb().delete_item(
        TableName=load_settings().connections_table,
        Key=_typed({"connectionId": connection_id}),
        ReturnValues="ALL_OLD",
    )
    old = _plain(answer.get("Attributes", {}))
    room = old.get("roomId")
    return room if isinstance(room, str) else None


def move_connection(connection_id: str, room_id: str) -> str | None:
    """Puts the connection in another room; returns the room it was in."""
    try:
        answer = aws.dynamodb().update_item(
            TableName=load_settings().connections_table,
            Key=_typed({"connectionId": connection_id}),
            UpdateExpression="SET #room = :room",
            ConditionExpression="attribute_exists(#id)",
            ExpressionAttributeNames={"#room": "roomId", "#id": "connectionId"},
            ExpressionAttributeValues={":room": {"S": room_id}},
            ReturnValues="UPDATED_OLD",
        )
    except Exception as error:
        if aws.error_code(error) == "ConditionalCheckFailedException":
            raise NotRegistered(connection_id) from None
        raise
    old = _plain(answer.get("Attributes", {})).get("roomId")
    return old if isinstance(old, str) else None


class StillConnecting(Exception):
    """The row is younger than the connect grace: its 410 may only mean $connect is running."""


def forget_connection(connection_id: str, connected_before_ms: int) -> None:
    """Deletes a stale row (one API Gateway reported gone), but only one stored before
    `connected_before_ms`: API Gateway also answers 410 for a connection whose own $connect has
    not finished yet, and that row must stay. DeleteItem, not BatchWriteItem: the execution
    role grants only the calls the handlers make one item at a time."""
    try:
        aws.dynamodb().delete_item(
            TableName=load_settings().connections_table,
            Key=_typed({"connectionId": connection_id}),
            ConditionExpression="attribute_not_exists(#at) OR #at < :settled",
            ExpressionAttributeNames={"#at": "connectedAt"},
            ExpressionAttributeValues={":settled": {"N": str(connected_before_ms)}},
        )
    except Exception as error:
        if aws.error_code(error) == "ConditionalCheckFailedException":
            raise StillConnecting(connection_id) from None
        raise


def room_members(room_id: str) -> list[Member]:
    """Every connection in the room, read from the room index (a Query, never a Scan)."""
    settings = load_settings()
    rows = _query(
        TableName=settings.connections_table,
        IndexName=settings.room_index,
        KeyConditionExpression="#room = :room",
        ProjectionExpression="#id, #user, #name",
        ExpressionAttributeNames={
            "#room": "roomId",
            "#id": "connectionId",
            "#user": "userId",
            "#name": "displayName",
        },
        ExpressionAttributeValues={":room": {"S": room_id}},
    )
    return [_member(row) for row in rows]


def put_message(message: Mapping[str, str | int]) -> None:
    settings = load_settings()
    aws.dynamodb().put_item(TableName=settings.messages_table, Item=_typed(message))


def recent_messages(room_id: str, limit: int, before_ms: int | None) -> list[Item]:
    """Up to `limit + 1` messages of the room, newest first, older than `before_ms` if given:
    one more than a page, which tells whether older ones remain."""
    settings = load_settings()
    condition = "#room = :room"
    names = {"#room": "roomId"}
    values: dict[str, Any] = {":room": {"S": room_id}}
    if before_ms is not None:
        condition += " AND #ts < :before"
        names["#ts"] = "timestamp"  # a reserved word in DynamoDB expressions
        values[":before"] = {"N": str(before_ms)}
    rows = _query(
        TableName=settings.messages_table,
        IndexName=settings.history_index,
        KeyConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ScanIndexForward=False,
        Limit=limit + 1,
        wanted=limit + 1,
    )
    return [_plain(row) for row in rows]


def _query(*, wanted: int | None = None, **parameters: Any) -> list[Item]:
    rows: list[Item] = []
    for page in _pages(parameters):
        rows.extend(page)
        if wanted is not None and len(rows) >= wanted:
            return rows[:wanted]
    return rows


def _pages(parameters: dict[str, Any]) -> Iterator[list[Item]]:
    client = aws.dynamodb()
    while True:
        answer = client.query(**parameters)
        yield answer.get("Items", [])
        last_key = answer.get("LastEvaluatedKey")
        if not last_key:
            return
        parameters = {**parameters, "ExclusiveStartKey": last_key}


def _member(row: Item) -> Member:
    plain = _plain(row)
    user_id = str(plain.get("userId", ""))
    who = Identity(user_id, str(plain.get("displayName") or user_id))
    return Member(str(plain["connectionId"]), who)


def _typed(plain: Mapping[str, str | int]) -> Item:
    return {
        name: {"N": str(value)} if isinstance(value, int) else {"S": value}
        for name, value in plain.items()
    }


def _plain(typed: Mapping[str, Mapping[str, str]]) -> dict[str, str | int]:
    plain: dict[str, str | int] = {}
    for name, value in typed.items():
        if "N" in value:
            plain[name] = int(value["N"])
        elif "S" in value:
            plain[name] = value["S"]
    return plain
