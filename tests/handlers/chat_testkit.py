"""Helpers for the handler tests: the tables of docs/protocol.md in moto, a recording
@connections API, and API Gateway WebSocket events."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

HANDLERS_DIR = Path(__file__).resolve().parents[2] / "handlers"
CONNECTIONS_TABLE = "ChatConnections"
MESSAGES_TABLE = "ChatMessages"
DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"

HANDLER_ENV = {
    "CONNECTIONS_TABLE": CONNECTIONS_TABLE,
    "MESSAGES_TABLE": MESSAGES_TABLE,
    "USER_ID_INDEX": "UserIdIndex",
    "ROOM_INDEX": "RoomIdIndex",
    "HISTORY_INDEX": "RoomIdTimestampIndex",
    "MAX_MESSAGE_BYTES": "4096",
    "MESSAGE_RETENTION_DAYS": "0",
    "CONNECTION_TTL_SECONDS": "7200",
}


@dataclass(frozen=True)
class User:
    user_id: str
    display_name: str


ANA = User("sub-ana", "Ana")
BEN = User("sub-ben", "Ben")
CEM = User("sub-cem", "Cem")


def create_tables() -> None:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=CONNECTIONS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "connectionId", "AttributeType": "S"},
            {"AttributeName": "userId", "AttributeType": "S"},
            {"AttributeName": "roomId", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "connectionId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            _index("UserIdIndex", ("userId", "HASH")),
            _index("RoomIdIndex", ("roomId", "HASH"), ("connectionId", "RANGE")),
        ],
    )
    client.create_table(
        TableName=MESSAGES_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "messageId", "AttributeType": "S"},
            {"AttributeName": "roomId", "AttributeType": "S"},
            {"AttributeName": "timestamp", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "messageId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            _index("RoomIdTimestampIndex", ("roomId", "HASH"), ("timestamp", "RANGE")),
        ],
    )


def _index(name: str, *keys: tuple[str, str]) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": attr, "KeyType": kind} for attr, kind in keys],
        "Projection": {"ProjectionType": "ALL"},
    }


class Tables:
    """Reads and seeds the tables the way a test (not the handlers) may: with Scans."""

    def __init__(self) -> None:
        self.client = boto3.client("dynamodb")
        self.resource = boto3.resource("dynamodb")

    def connections(self) -> dict[str, dict[str, Any]]:
        rows = self.resource.Table(CONNECTIONS_TABLE).scan()["Items"]
        return {row["connectionId"]: row for row in rows}

    def messages(self) -> list[dict[str, Any]]:
        return self.resource.Table(MESSAGES_TABLE).scan()["Items"]

    def add_connection(self, connection_id: str, user: User, room: str) -> None:
        self.add_connections([(connection_id, user, room)])

    def add_connections(self, rows: list[tuple[str, User, str]]) -> None:
        with self.resource.Table(CONNECTIONS_TABLE).batch_writer() as batch:
            for connection_id, user, room in rows:
                batch.put_item(
                    Item={
                        "connectionId": connection_id,
                        "userId": user.user_id,
                        "displayName": user.display_name,
                        "roomId": room,
                        "connectedAt": 1_700_000_000_000,
                        "expiresAt": 1_700_007_200,
                    }
                )

    def add_message(self, message_id: str, room: str, timestamp: int, text: str = "hi") -> None:
        self.resource.Table(MESSAGES_TABLE).put_item(
            Item={
                "messageId": message_id,
                "roomId": room,
                "timestamp": timestamp,
                "userId": ANA.user_id,
                "displayName": ANA.display_name,
                "message": text,
            }
        )


class ManagementRecorder:
    """Stands in for the @connections API: records every post, answers 410 for `gone` ids."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.endpoints: list[str] = []
        self.gone: set[str] = set()
        self._lock = threading.Lock()

    def client_for(self, endpoint: str) -> ManagementRecorder:
        self.endpoints.append(endpoint)
        return self

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> dict[str, Any]:
        if ConnectionId in self.gone:
            raise ClientError(
                {
                    "Error": {"Code": "GoneException", "Message": "gone"},
                    "ResponseMetadata": {"HTTPStatusCode": 410},
                },
                "PostToConnection",
            )
        with self._lock:
            self.posts.append((ConnectionId, json.loads(Data)))
        return {}

    def frames_to(self, connection_id: str) -> list[dict[str, Any]]:
        return [frame for target, frame in self.posts if target == connection_id]

    def recipients(self, frame_type: str) -> list[str]:
        return [target for target, frame in self.posts if frame["type"] == frame_type]


def request_context(
    connection_id: str, user: User | None, route_key: str, event_type: str
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "connectionId": connection_id,
        "requestId": f"req-{connection_id}-{route_key}",
        "domainName": DOMAIN,
        "stage": "production",
        "apiId": "abc123",
    }
    if user is not None:
        context["authorizer"] = {
            "principalId": user.user_id,
            "userId": user.user_id,
            "displayName": user.display_name,
        }
    return context


def frame_event(
    body: object,
    *,
    connection_id: str = "conn-ana",
    user: User | None = ANA,
    route_key: str = "sendMessage",
) -> dict[str, Any]:
    """A MESSAGE event; a str body is sent as is, anything else as JSON."""
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "requestContext": request_context(connection_id, user, route_key, "MESSAGE"),
        "body": text,
        "isBase64Encoded": False,
    }


def connect_event(
    connection_id: str,
    user: User | None = ANA,
    *,
    room: str | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    parameters = dict(query or {})
    if room is not None:
        parameters["room"] = room
    return {
        "requestContext": request_context(connection_id, user, "$connect", "CONNECT"),
        "queryStringParameters": parameters or None,
        "headers": {"Host": DOMAIN, **(headers or {})},
        "isBase64Encoded": False,
    }


def disconnect_event(connection_id: str, user: User | None = ANA) -> dict[str, Any]:
    return {
        "requestContext": request_context(connection_id, user, "$disconnect", "DISCONNECT"),
        "isBase64Encoded": False,
    }
