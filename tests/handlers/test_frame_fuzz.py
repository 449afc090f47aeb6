"""Fuzzed frames on every route: no exception escapes, a frame is either done or answered
with exactly one error frame, and a bad frame stores nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import connect
import default
import get_history
import join_room
import pytest
import send_message
import typing_indicator
from chat_testkit import ANA, BEN, ManagementRecorder, Tables, connect_event, frame_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOM = re.compile(r"[A-Za-z0-9_-]{1,64}")
ERROR_CODES = {
    "bad_json",
    "unknown_action",
    "missing_field",
    "bad_field",
    "bad_room",
    "empty_message",
    "too_long",
}
FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=80)
room_ids = st.one_of(
    st.sampled_from(["general", "lobby", "a", "x" * 64, "x" * 65, "", " general", "gen eral"]),
    st.from_regex(ROOM, fullmatch=True),
    any_text,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=8,
)
messages = st.one_of(
    any_text,
    st.sampled_from(["", "   ", "\n", "é" * 2048, "é" * 2049, "x" * 4097, "\ud800"]),
    json_values,
)
numbers = st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), any_text)


def frames(action: str) -> st.SearchStrategy[dict[str, Any]]:
    optional = {
        "action": st.one_of(st.just(action), any_text, json_values),
        "roomId": st.one_of(room_ids, json_values),
        "message": messages,
        "limit": numbers,
        "before": numbers,
        "userId": any_text,
    }
    return st.fixed_dictionaries({}, optional=optional)


def plausible_frames(action: str) -> st.SearchStrategy[dict[str, Any]]:
    """Frames a real client might send: valid ones and near misses, so both are well explored."""
    required = {
        "action": st.just(action),
        "roomId": st.from_regex(ROOM, fullmatch=True),
        "message": st.one_of(st.text(min_size=1, max_size=200), messages),
    }
    optional = {"limit": st.integers(-5, 120), "before": st.integers(-5, 2 * 10**15)}
    return st.fixed_dictionaries(required, optional=optional)


def bodies(action: str) -> st.SearchStrategy[object]:
    """JSON text of frame-like objects, other JSON, and text that is not JSON at all."""
    as_json = st.one_of(plausible_frames(action), frames(action), json_values).map(json.dumps)
    odd = st.sampled_from(['{"a":' * 5000, "[" * 100_000, "9" * 5000])
    return st.one_of(as_json, any_text, odd)


def is_room(value: object) -> bool:
    return isinstance(value, str) and ROOM.fullmatch(value) is not None


def is_int_in(value: object, lowest: int, highest: int) -> bool:
    return type(value) is int and lowest <= value <= highest


def is_message(value: object) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        return len(value.encode("utf-8")) <= 4096
    except UnicodeEncodeError:
        return False


def parsed(body: str) -> dict[str, Any] | None:
    try:
        frame = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return frame if isinstance(frame, dict) else None


# What a correct frame looks like, written from docs/protocol.md, independently of chatlib.
VALID: dict[str, Callable[[dict[str, Any]], bool]] = {
    "sendMessage": lambda f: is_room(f.get("roomId")) and is_message(f.get("message")),
    "joinRoom": lambda f: is_room(f.get("roomId")),
    "typing": lambda f: is_room(f.get("roomId")),
    "getHistory": lambda f: (
        is_room(f.get("roomId"))
        and (f.get("limit") is None or is_int_in(f.get("limit"), 1, 100))
        and (f.get("before") is None or is_int_in(f.get("before"), 1, 10**15))
    ),
    "$default": lambda f: False,
}
HANDLERS = {
    "sendMessage": send_message.handler,
    "joinRoom": join_room.handler,
    "typing": typing_indicator.handler,
    "getHistory": get_history.handler,
    "$default": default.handler,
}


def reset(tables: Tables) -> tuple[object, object]:
    """Two connections in general, no messages; returns that state as the tables show it."""
    for message in tables.messages():
        tables.client.delete_item(
            TableName="ChatMessages", Key={"messageId": {"S": message["messageId"]}}
        )
    tables.add_connections([("conn-ana", ANA, "general"), ("conn-ben", BEN, "general")])
    return tables.connections(), tables.messages()


ACKNOWLEDGEMENT = {"sendMessage": "message", "joinRoom": "presence", "getHistory": "history"}


def expected_echo(frame: dict[str, Any] | None) -> object:
    action = frame.get("action") if frame is not None else None
    return action[:100] if isinstance(action, str) else None


def has_surrogates(value: object) -> bool:
    return isinstance(value, str) and any("\ud800" <= char <= "\udfff" for char in value)


def check_route(
    route: str, body: str, tables: Tables, posts: ManagementRecorder, baseline: object
) -> bool:
    """Runs one frame against the baseline state; returns whether it was a valid frame."""
    posts.posts.clear()

    answer = HANDLERS[route](frame_event(body, route_key=route), None)

    assert answer == {"statusCode": 200}
    frame = parsed(body)
    valid = frame is not None and VALID[route](frame)
    to_sender = posts.frames_to("conn-ana")
    if not valid:
        [(target, error)] = posts.posts
        assert target == "conn-ana"
        assert error["code"] in ERROR_CODES
        if not has_surrogates(expected_echo(frame)):  # those are echoed with U+FFFD
            assert error["action"] == expected_echo(frame)
        assert (tables.connections(), tables.messages()) == baseline
        return False
    assert [sent for sent in to_sender if sent["type"] == "error"] == []
    if route in ACKNOWLEDGEMENT:
        assert [sent["type"] for sent in to_sender] == [ACKNOWLEDGEMENT[route]]
    stored = tables.messages()
    assert len(stored) == (1 if route == "sendMessage" else 0)
    if route == "sendMessage":
        assert stored[0]["message"] == frame["message"]
    assert reset(tables) == baseline
    return True


@pytest.mark.parametrize("route", sorted(HANDLERS))
def test_fuzzed_frames(route: str, tables: Tables, posts: ManagementRecorder) -> None:
    baseline = reset(tables)
    seen = {True: 0, False: 0}

    @FUZZ
    @given(body=bodies(route))
    def run(body: str) -> None:
        seen[check_route(route, body, tables, posts, baseline)] += 1

    run()

    assert seen[False] > 0
    if route != "$default":
        assert seen[True] > 0, "the strategy never produced a valid frame"


@FUZZ
@given(room=st.one_of(room_ids, st.none()))
def test_fuzzed_connect_rooms(room: str | None, tables: Tables, posts: ManagementRecorder) -> None:
    for connection_id in tables.connections():
        tables.client.delete_item(
            TableName="ChatConnections", Key={"connectionId": {"S": connection_id}}
        )

    answer = connect.handler(connect_event("conn-new", ANA, room=room), None)

    if room is None or is_room(room):
        assert answer["statusCode"] == 200
        assert tables.connections()["conn-new"]["roomId"] == (room or "general")
    else:
        assert answer["statusCode"] == 400
        assert tables.connections() == {}


@FUZZ
@given(body=st.one_of(st.none(), st.integers(), any_text), encoded=st.booleans())
def test_odd_event_bodies(
    body: object, encoded: bool, tables: Tables, posts: ManagementRecorder
) -> None:
    posts.posts.clear()
    event = frame_event("", route_key="sendMessage")
    event["body"], event["isBase64Encoded"] = body, encoded

    assert send_message.handler(event, None) == {"statusCode": 200}
    assert tables.messages() == []
    [(_, error)] = posts.posts
    assert error["code"] in ERROR_CODES
