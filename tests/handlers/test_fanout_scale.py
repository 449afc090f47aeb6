"""One message in a room of 1,000 connections, beside 1,000 connections in other rooms."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import send_message
from chat_testkit import ANA, BEN, ManagementRecorder, Tables, User, frame_event
from chatlib import aws

ROOM_SIZE = 1000
SENDER = "conn-0000"


class DynamoCalls:
    """Every call chatlib's DynamoDB client makes, with its parameters and item count."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.query_items = 0

    def before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, params))

    def after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.name == "Query":
            self.query_items += parsed.get("Count", 0)

    def named(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]


@pytest.fixture
def crowded(tables: Tables) -> Tables:
    users = [User(f"sub-{n}", f"user {n}") for n in range(50)]
    rows = [(f"conn-{n:04}", users[n % 50], "general") for n in range(ROOM_SIZE)]
    rows += [(f"other-{n:04}", BEN, f"room-{n % 7}") for n in range(ROOM_SIZE)]
    tables.add_connections(rows)
    return tables


@pytest.fixture
def dynamo_calls(crowded: Tables) -> DynamoCalls:
    recorder = DynamoCalls()
    events = aws.dynamodb().meta.events  # type: ignore[attr-defined]
    events.register("provide-client-params.dynamodb", recorder.before)
    events.register("after-call.dynamodb", recorder.after)
    return recorder


def send_hello() -> dict[str, Any]:
    body = {"action": "sendMessage", "roomId": "general", "message": "hello, everyone"}
    return send_message.handler(frame_event(body, connection_id=SENDER, user=ANA), None)


def test_one_message_reads_only_its_room_and_reaches_each_member_once(
    crowded: Tables, posts: ManagementRecorder, dynamo_calls: DynamoCalls
) -> None:
    assert send_hello() == {"statusCode": 200}

    assert dynamo_calls.named("Scan") == []
    [query] = dynamo_calls.named("Query")
    assert query["IndexName"] == "RoomIdIndex"
    assert query["ExpressionAttributeValues"] == {":room": {"S": "general"}}
    assert dynamo_calls.query_items == ROOM_SIZE
    received = Counter(target for target, frame in posts.posts if frame["type"] == "message")
    assert set(received) == {f"conn-{n:04}" for n in range(ROOM_SIZE)}
    assert set(received.values()) == {1}


def test_gone_members_are_removed_and_the_sender_is_not(
    crowded: Tables, posts: ManagementRecorder, dynamo_calls: DynamoCalls
) -> None:
    stale = {f"conn-{n:04}" for n in range(1, ROOM_SIZE, 20)}
    posts.gone = stale | {SENDER}

    assert send_hello() == {"statusCode": 200}

    remaining = set(crowded.connections())
    assert remaining.isdisjoint(stale)
    assert SENDER in remaining
    assert len(remaining) == 2 * ROOM_SIZE - len(stale)
    assert len(posts.posts) == ROOM_SIZE - len(stale) - 1
    assert dynamo_calls.named("Scan") == []
    deleted = {params["Key"]["connectionId"]["S"] for params in dynamo_calls.named("DeleteItem")}
    assert deleted == stale
