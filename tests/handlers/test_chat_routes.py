"""The routes as a client sees them: frames received, rows stored, errors answered."""

from __future__ import annotations

import json
from typing import Any

import connect
import default
import disconnect
import get_history
import join_room
import pytest
import send_message
import typing_indicator
from botocore.exceptions import ClientError
from chat_testkit import (
    ANA,
    BEN,
    CEM,
    ManagementRecorder,
    Tables,
    connect_event,
    disconnect_event,
    frame_event,
)
from chatlib import events, store


def send(body: object, connection_id: str = "conn-ana", user: Any = ANA) -> dict[str, Any]:
    return send_message.handler(frame_event(body, connection_id=connection_id, user=user), None)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


# --- $connect -------------------------------------------------------------------------------


def test_connect_stores_the_connection_in_the_requested_room(
    tables: Tables, posts: ManagementRecorder
) -> None:
    answer = connect.handler(connect_event("conn-ana", ANA, room="lobby"), None)

    assert answer["statusCode"] == 200
    row = tables.connections()["conn-ana"]
    assert (row["userId"], row["displayName"], row["roomId"]) == ("sub-ana", "Ana", "lobby")
    assert row["expiresAt"] == row["connectedAt"] // 1000 + 7200


def test_connect_without_room_starts_in_general(tables: Tables, posts: ManagementRecorder) -> None:
    connect.handler(connect_event("conn-ana", ANA), None)

    assert tables.connections()["conn-ana"]["roomId"] == "general"


@pytest.mark.parametrize("room", ["", "has space", "x" * 65, "ünï", "a/b", "general\n"])
def test_connect_with_a_bad_room_is_refused_and_stores_nothing(
    tables: Tables, posts: ManagementRecorder, room: str
) -> None:
    answer = connect.handler(connect_event("conn-ana", ANA, room=room), None)

    assert answer["statusCode"] == 400
    assert tables.connections() == {}
    assert posts.posts == []


def test_connect_tells_the_room_but_not_the_connection_still_connecting(
    tables: Tables, posts: ManagementRecorder
) -> None:
    tables.add_connections([("conn-ben", BEN, "lobby"), ("conn-ben-2", BEN, "lobby")])
    tables.add_connection("conn-cem", CEM, "elsewhere")

    connect.handler(connect_event("conn-ana", ANA, room="lobby"), None)

    assert sorted(posts.recipients("presence")) == ["conn-ben", "conn-ben-2"]
    frame = posts.frames_to("conn-ben")[0]
    assert frame == {
        "type": "presence",
        "roomId": "lobby",
        "users": [
            {"userId": "sub-ana", "displayName": "Ana"},
            {"userId": "sub-ben", "displayName": "Ben"},
        ],
    }


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("chatdeploy, eyJ.token.sig", "chatdeploy"),
        ("eyJ.token.sig", "eyJ.token.sig"),
    ],
)
def test_connect_answers_the_subprotocol_the_token_came_in(
    tables: Tables, posts: ManagementRecorder, offered: str, answered: str
) -> None:
    event = connect_event("conn-ana", ANA, headers={"sec-websocket-protocol": offered})

    answer = connect.handler(event, None)

    assert answer["headers"] == {"Sec-WebSocket-Protocol": answered}


def test_connect_with_the_token_in_the_query_answers_no_subprotocol(
    tables: Tables, posts: ManagementRecorder
) -> None:
    answer = connect.handler(connect_event("conn-ana", ANA, query={"token": "eyJ.a.b"}), None)

    assert answer == {"statusCode": 200}


def test_connect_without_authorizer_context_stores_nothing(
    tables: Tables, posts: ManagementRecorder
) -> None:
    answer = connect.handler(connect_event("conn-x", None), None)

    assert answer["statusCode"] == 500
    assert tables.connections() == {}


def test_connect_is_accepted_even_when_presence_cannot_be_sent(
    tables: Tables, posts: ManagementRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables.add_connection("conn-ben", BEN, "general")

    def broken(**_: object) -> None:
        raise ConnectionError("management API down")

    monkeypatch.setattr(posts, "post_to_connection", broken)
    answer = connect.handler(connect_event("conn-ana", ANA), None)

    assert answer["statusCode"] == 200
    assert "conn-ana" in tables.connections()


# --- $disconnect ----------------------------------------------------------------------------


def test_disconnect_forgets_the_connection_and_tells_its_room(
    tables: Tables, posts: ManagementRecorder
) -> None:
    tables.add_connections(
        [("conn-ana", ANA, "lobby"), ("conn-ben", BEN, "lobby"), ("conn-cem", CEM, "other")]
    )

    answer = disconnect.handler(disconnect_event("conn-ana"), None)

    assert answer["statusCode"] == 200
    assert sorted(tables.connections()) == ["conn-ben", "conn-cem"]
    assert posts.posts == [
        (
            "conn-ben",
            {
                "type": "presence",
                "roomId": "lobby",
                "users": [{"userId": "sub-ben", "displayName": "Ben"}],
            },
        )
    ]


def test_disconnect_of_an_unknown_connection_sends_nothing(
    tables: Tables, posts: ManagementRecorder
) -> None:
    tables.add_connection("conn-ben", BEN, "general")

    assert disconnect.handler(disconnect_event("conn-gone"), None)["statusCode"] == 200
    assert posts.posts == []


# --- sendMessage ----------------------------------------------------------------------------


def test_message_is_stored_and_sent_to_the_room_and_the_sender_once(
    tables: Tables, posts: ManagementRecorder
) -> None:
    tables.add_connections(
        [("conn-ana", ANA, "general"), ("conn-ben", BEN, "general"), ("conn-cem", CEM, "other")]
    )

    answer = send({"action": "sendMessage", "roomId": "general", "message": "Hello World!"})

    assert answer == {"statusCode": 200}
    [stored] = tables.messages()
    assert stored["message"] == "Hello World!"
    assert (stored["roomId"], stored["userId"], stored["displayName"]) == (
        "general",
        "sub-ana",
        "Ana",
    )
    assert "expiresAt" not in stored  # MESSAGE_RETENTION_DAYS=0 keeps messages forever
    assert sorted(posts.recipients("message")) == ["conn-ana", "conn-ben"]
    assert posts.frames_to("conn-ben") == [
        {
            "type": "message",
            "messageId": stored["messageId"],
            "roomId": "general",
            "userId": "sub-ana",
            "displayName": "Ana",
            "message": "Hello World!",
            "timestamp": int(stored["timestamp"]),
        }
    ]


def test_sender_outside_the_room_still_gets_its_acknowledgement(
    tables: Tables, posts: ManagementRecorder
) -> None:
    tables.add_connections([("conn-ana", ANA, "general"), ("conn-ben", BEN, "lobby")])

    send({"action": "sendMessage", "roomId": "lobby", "message": "hi lobby"})

    assert sorted(posts.recipients("message")) == ["conn-ana", "conn-ben"]


def test_identity_comes_from_the_authorizer_not_from_the_frame(
    tables: Tables, posts: ManagementRecorder
) -> None:
    frame = {
        "action": "sendMessage",
        "roomId": "general",
        "message": "it's me",
        "userId": "sub-ben",
        "displayName": "Ben",
    }

    send(frame)

    [stored] = tables.messages()
    assert (stored["userId"], stored["displayName"]) == ("sub-ana", "Ana")
    assert posts.frames_to("conn-ana")[0]["userId"] == "sub-ana"


def test_retention_sets_the_message_ttl(
    tables: Tables, posts: ManagementRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESSAGE_RETENTION_DAYS", "30")

    send({"action": "sendMessage", "roomId": "general", "message": "kept a month"})

    [stored] = tables.messages()
    assert stored["expiresAt"] == stored["timestamp"] // 1000 + 30 * 86400


def test_message_of_exactly_the_limit_in_utf8_bytes_is_accepted(
    tables: Tables, posts: ManagementRecorder
) -> None:
    send({"action": "sendMessage", "roomId": "general", "message": "é" * 2048})  # 4096 bytes

    assert len(tables.messages()) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("not json", "bad_json"),
        ('["sendMessage"]', "bad_json"),
        ({"action": "sendMessage", "message": "hi"}, "missing_field"),
        ({"action": "sendMessage", "roomId": "general"}, "missing_field"),
        ({"action": "sendMessage", "roomId": 7, "message": "hi"}, "bad_field"),
        ({"action": "sendMessage", "roomId": "general", "message": 7}, "bad_field"),
        ({"action": "sendMessage", "roomId": "no spaces", "message": "hi"}, "bad_room"),
        ({"action": "sendMessage", "roomId": "r" * 65, "message": "hi"}, "bad_room"),
        ({"action": "sendMessage", "roomId": "general", "message": " \n\t "}, "empty_message"),
        ({"action": "sendMessage", "roomId": "general", "message": ""}, "empty_message"),
        ({"action": "sendMessage", "roomId": "general", "message": "é" * 2049}, "too_long"),
        ('{"action":"sendMessage","roomId":"general","message":"\\ud800"}', "bad_field"),
    ],
)
def test_bad_message_frames_get_an_error_and_store_nothing(
    tables: Tables, posts: ManagementRecorder, body: object, code: str
) -> None:
    tables.add_connections([("conn-ana", ANA, "general"), ("conn-ben", BEN, "general")])

    answer = send(body)

    assert answer == {"statusCode": 200}
    assert tables.messages() == []
    [(target, frame)] = posts.posts
    assert target == "conn-ana"
    assert frame["type"] == "error"
    assert frame["code"] == code
    expected_action = "sendMessage" if code != "bad_json" else None
    assert frame["action"] == expected_action


def test_too_long_says_how_long_and_the_limit(tables: Tables, posts: ManagementRecorder) -> None:
    send({"action": "sendMessage", "roomId": "general", "message": "é" * 2500})

    assert posts.frames_to("conn-ana")[0]["message"] == "message is 5000 bytes; the limit is 4096"


def test_gone_members_are_removed_but_the_sender_never_is(
    tables: Tables, posts: ManagementRecorder
) -> None:
    tables.add_connections(
        [("conn-ana", ANA, "general"), ("conn-ben", BEN, "general"), ("conn-cem", CEM, "general")]
    )
    posts.gone = {"conn-ana", "conn-ben"}

    send({"action": "sendMessage", "roomId": "general", "message": "anyone?"})

    assert sorted(tables.connections()) == ["conn-ana", "conn-cem"]
    assert posts.recipients("message") == ["conn-cem"]


def test_a_connection_still_being_accepted_is_not_removed_for_its_410(
    tables: Tables, posts: ManagementRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    """API Gateway answers 410 to a post for a connection whose own $connect is still running;
    clients connecting at the same moment must not delete each other's rows."""
    tables.add_connections([("conn-ana", ANA, "general")])
    assert connect.handler(connect_event("conn-ben", BEN), None)["statusCode"] == 200
    posts.gone = {"conn-ben"}
    capsys.readouterr()

    send({"action": "sendMessage", "roomId": "general", "message": "welcome"})

    assert sorted(tables.connections()) == ["conn-ana", "conn-ben"]
    [line] = log_lines(capsys)
    assert (line["gone"], line["notForgotten"]) == (1, {"connecting": 1})


def test_a_message_is_delivered_even_when_stale_rows_cannot_be_deleted(
    tables: Tables,
    posts: ManagementRecorder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tables.add_connections([("conn-ana", ANA, "general"), ("conn-ben", BEN, "general")])
    posts.gone = {"conn-ben"}

    def denied(connection_id: str, connected_before_ms: int) -> None:
        error = {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}
        raise ClientError(error, "DeleteItem")

    monkeypatch.setattr(store, "forget_connection", denied)

    answer = send({"action": "sendMessage", "roomId": "general", "message": "still here"})

    assert answer == {"statusCode": 200}
    assert [frame["type"] for frame in posts.frames_to("conn-ana")] == ["message"]
    [line] = log_lines(capsys)
    assert (line["outcome"], line["gone"], line["notForgotten"]) == (
        "ok",
        1,
        {"AccessDeniedException": 1},
    )


def test_storage_failure_answers_server_error_and_sends_nothing_to_the_room(
    tables: Tables, posts: ManagementRecorder, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    tables.add_connections([("conn-ana", ANA, "general"), ("conn-ben", BEN, "general")])
    monkeypatch.setenv("MESSAGES_TABLE", "NoSuchTable")

    answer = send({"action": "sendMessage", "roomId": "general", "message": "lost?"})

    assert answer["statusCode"] == 500
    assert posts.posts == [
        (
            "conn-ana",
            {
                "type": "error",
                "code": "server_error",
                "message": "the server failed; try again",
                "action": "sendMessage",
            },
        )
    ]
    [line] = log_lines(capsys)
    assert (line["outcome"], line["code"], line["error"]) == (
        "error",
        "server_error",
        "ResourceNotFoundException",
    )


# --- joinRoom ----------------------------------------------------------------------------


def test_join_moves_the_connection_and_tells_both_rooms(
    tables: Tables, posts: ManagementRecorder
) -> None:
    tables.add_connections(
        [("conn-ana", ANA, "general"), ("conn-ben", BEN, "general"), ("conn-cem", CEM, "lobby")]
    )

    event = frame_event({"action": "joinRoom", "roomId": "lobby"}, route_key="joinRoom")
    assert join_room.handler(event, None) == {"statusCode": 200}

    assert tables.connections()["conn-ana"]["roomId"] == "lobby"
    assert posts.frames_to("conn-ben") == [
        {
            "type": "presence",
            "roomId": "general",
            "users": [{"userId": "sub-ben", "displayName": "Ben"}],
        }
    ]
    lobby = {
        "type": "presence",
        "roomId": "lobby",
        "users": [
            {"userId": "sub-ana", "displayName": "Ana"},
            {"userId": "sub-cem", "displayName": "Cem"},
        ],
    }
    assert posts.frames_to("conn-ana") == [lobby]
    assert posts.frames_to("conn-cem") == [lobby]


def test_joining_the_room_one_is_in_sends_its_presence_once(
    tables: Tables, posts: ManagementRecorder
) -> None:
    # How a client that just connected learns who is there: $connect cannot reach it yet.
    tables.add_connections([("conn-ana", ANA, "general"), ("conn-ben", BEN, "general")])

    event = frame_event({"action": "joinRoom", "roomId": "general"}, route_key="joinRoom")
    join_room.handler(event, None)

    assert sorted(posts.recipients("presence")) == ["conn-ana", "conn-ben"]
    assert posts.frames_to("conn-ana")[0]["users"] == [
        {"userId": "sub-ana", "displayName": "Ana"},
        {"userId": "sub-ben", "displayName": "Ben"},
    ]


def test_join_with_a_bad_room_keeps_the_connection_where_it_was(
    tables: Tables, posts: ManagementRecorder
) -> None:
    tables.add_connection("conn-ana", ANA, "general")

    event = frame_event({"action": "joinRoom", "roomId": "../etc"}, route_key="joinRoom")
    join_room.handler(event, None)

    assert tables.connections()["conn-ana"]["roomId"] == "general"
    assert [frame["code"] for _, frame in posts.posts] == ["bad_room"]


def test_join_from_an_unregistered_connection_creates_no_row(
    tables: Tables, posts: ManagementRecorder
) -> None:
    event = frame_event({"action": "joinRoom", "roomId": "lobby"}, route_key="joinRoom")

    answer = join_room.handler(event, None)

    assert answer["statusCode"] == 500
    assert tables.connections() == {}
    assert [frame["code"] for _, frame in posts.posts] == ["server_error"]


# --- getHistory ------------------------------------------------------------------------------


def history(body: dict[str, Any], posts: ManagementRecorder) -> dict[str, Any]:
    get_history.handler(frame_event({"action": "getHistory", **body}, route_key="getHistory"), None)
    [(target, frame)] = posts.posts
    posts.posts.clear()
    assert target == "conn-ana"
    return frame


def test_history_pages_newest_first_with_before_and_more(
    tables: Tables, posts: ManagementRecorder
) -> None:
    for n in range(1, 6):
        tables.add_message(f"m{n}", "general", 1_000 + n)
    tables.add_message("other-room", "lobby", 2_000)

    first = history({"roomId": "general", "limit": 2}, posts)
    assert [m["messageId"] for m in first["messages"]] == ["m5", "m4"]
    assert first["more"] is True
    oldest_seen = first["messages"][-1]["timestamp"]

    second = history({"roomId": "general", "limit": 2, "before": oldest_seen}, posts)
    assert [m["messageId"] for m in second["messages"]] == ["m3", "m2"]

    last = history({"roomId": "general", "limit": 2, "before": 1_002}, posts)
    assert [m["messageId"] for m in last["messages"]] == ["m1"]
    assert last["more"] is False


def all_pages(posts: ManagementRecorder, limit: int) -> list[list[str]]:
    """Every page a client gets by asking again with `before` = the oldest timestamp it has."""
    pages: list[list[str]] = []
    body: dict[str, Any] = {"roomId": "general", "limit": limit}
    while True:
        frame = history(body, posts)
        pages.append([m["messageId"] for m in frame["messages"]])
        if not frame["more"]:
            return pages
        body["before"] = frame["messages"][-1]["timestamp"]


def test_history_paging_does_not_lose_messages_that_share_a_millisecond(
    tables: Tables, posts: ManagementRecorder
) -> None:
    for message_id, timestamp in [("a", 1_000), ("b", 1_001), ("c1", 1_002), ("c2", 1_002)]:
        tables.add_message(message_id, "general", timestamp)
    tables.add_message("d", "general", 1_003)

    pages = all_pages(posts, limit=2)

    # A page of two would end between c1 and c2; it stops before the pair instead.
    assert pages[0] == ["d"]
    assert sorted(pages[1]) == ["c1", "c2"]
    assert pages[2:] == [["b", "a"]]


def test_history_paging_shows_every_message_however_they_are_spread(
    tables: Tables, posts: ManagementRecorder
) -> None:
    timestamps = [1_000, 1_000, 1_001, 1_002, 1_002, 1_002, 1_003, 1_004, 1_004, 1_005]
    for n, timestamp in enumerate(timestamps):
        tables.add_message(f"m{n}", "general", timestamp)

    for limit in (3, 4, 5, 7):  # a page of 1 or 2 cannot hold the three messages of 1,002
        pages = all_pages(posts, limit=limit)
        shown = sorted(m for page in pages for m in page)
        assert shown == sorted(f"m{n}" for n in range(10)), (limit, pages)
        assert all(0 < len(page) <= limit for page in pages), (limit, pages)


def test_history_defaults_to_fifty_and_shows_message_fields_only(
    tables: Tables, posts: ManagementRecorder
) -> None:
    for n in range(60):
        tables.add_message(f"m{n:02}", "general", 10_000 + n)

    frame = history({"roomId": "general"}, posts)

    assert len(frame["messages"]) == 50
    assert frame["more"] is True
    assert frame["messages"][0] == {
        "messageId": "m59",
        "roomId": "general",
        "userId": "sub-ana",
        "displayName": "Ana",
        "message": "hi",
        "timestamp": 10_059,
    }


def test_history_of_an_empty_room(tables: Tables, posts: ManagementRecorder) -> None:
    assert history({"roomId": "quiet"}, posts) == {
        "type": "history",
        "roomId": "quiet",
        "messages": [],
        "more": False,
    }


def test_history_frame_stays_under_the_gateway_payload_limit(
    tables: Tables, posts: ManagementRecorder
) -> None:
    for n in range(100):
        tables.add_message(f"m{n:03}", "general", 10_000 + n, text="x" * 4096)

    get_history.handler(
        frame_event(
            {"action": "getHistory", "roomId": "general", "limit": 100}, route_key="getHistory"
        ),
        None,
    )

    [(_, frame)] = posts.posts
    assert len(json.dumps(frame).encode()) < 128 * 1024
    assert 0 < len(frame["messages"]) < 100
    assert frame["more"] is True
    assert frame["messages"][0]["messageId"] == "m099"


@pytest.mark.parametrize(
    "fields",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": True},
        {"limit": "5"},
        {"limit": 2.5},
        {"before": -1},
        {"before": "yesterday"},
        {"before": 10**20},
    ],
)
def test_history_with_a_bad_limit_or_before_is_bad_field(
    tables: Tables, posts: ManagementRecorder, fields: dict[str, Any]
) -> None:
    frame = history({"roomId": "general", **fields}, posts)

    assert (frame["type"], frame["code"], frame["action"]) == ("error", "bad_field", "getHistory")


# --- typing and $default ---------------------------------------------------------------------


def test_typing_goes_to_the_others_in_the_room_only(
    tables: Tables, posts: ManagementRecorder
) -> None:
    tables.add_connections(
        [("conn-ana", ANA, "general"), ("conn-ben", BEN, "general"), ("conn-cem", CEM, "lobby")]
    )

    event = frame_event({"action": "typing", "roomId": "general"}, route_key="typing")
    assert typing_indicator.handler(event, None) == {"statusCode": 200}

    assert posts.posts == [
        (
            "conn-ben",
            {"type": "typing", "roomId": "general", "userId": "sub-ana", "displayName": "Ana"},
        )
    ]
    assert tables.messages() == []


@pytest.mark.parametrize(
    ("body", "code", "action"),
    [
        ({"action": "dance"}, "unknown_action", "dance"),
        ({"message": "no action"}, "unknown_action", None),
        ({"action": 42}, "unknown_action", None),
        ("{{{", "bad_json", None),
        ("", "bad_json", None),
    ],
)
def test_default_route_answers_unknown_action(
    tables: Tables, posts: ManagementRecorder, body: object, code: str, action: str | None
) -> None:
    answer = default.handler(frame_event(body, route_key="$default"), None)

    assert answer == {"statusCode": 200}
    [(target, frame)] = posts.posts
    assert target == "conn-ana"
    assert (frame["type"], frame["code"], frame["action"]) == ("error", code, action)


# --- endpoint, logs ---------------------------------------------------------------------------


def test_replies_go_to_the_event_endpoint_unless_the_environment_names_one(
    tables: Tables, posts: ManagementRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    send({"action": "sendMessage", "roomId": "general", "message": "hi"})
    monkeypatch.setenv("MANAGEMENT_API_ENDPOINT", "http://127.0.0.1:8080/production")
    send({"action": "sendMessage", "roomId": "general", "message": "hi"})

    assert posts.endpoints == [
        "https://abc123.execute-api.us-east-1.amazonaws.com/production",
        "http://127.0.0.1:8080/production",
    ]


def test_one_json_log_line_per_event_without_the_message_text(
    tables: Tables, posts: ManagementRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    tables.add_connection("conn-ana", ANA, "general")

    send({"action": "sendMessage", "roomId": "general", "message": "secret plans"})
    send({"action": "sendMessage", "roomId": "general", "message": ""})

    ok, rejected = log_lines(capsys)
    assert ok["route"] == "sendMessage"
    assert ok["requestId"] == "req-conn-ana-sendMessage"
    assert ok["connectionId"] == "conn-ana"
    assert ok["outcome"] == "ok"
    assert ok["latency_ms"] >= 0
    assert (rejected["outcome"], rejected["code"]) == ("rejected", "empty_message")
    assert "secret plans" not in json.dumps(ok)


def test_event_endpoint_is_https_domain_and_stage() -> None:
    event = {
        "requestContext": {
            "domainName": "x.execute-api.eu-west-1.amazonaws.com",
            "stage": "production",
        }
    }

    assert (
        events.management_endpoint(event)
        == "https://x.execute-api.eu-west-1.amazonaws.com/production"
    )
