"""The server → client frames of docs/protocol.md, and the client mistakes that become errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chatlib.events import Identity

Frame = dict[str, Any]

# API Gateway refuses PostToConnection payloads over 128 KiB; keep well below it.
MAX_FRAME_BYTES = 120 * 1024
_MAX_ECHOED_ACTION_CHARS = 100
# The message fields a client sees; the table's expiresAt stays on the server.
MESSAGE_FIELDS = ("messageId", "roomId", "userId", "displayName", "message", "timestamp")


class ClientMistake(Exception):
    """A frame the client got wrong: answered with an error frame, nothing stored."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def encode(frame: Mapping[str, Any]) -> bytes:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_frame(code: str, message: str, action: object) -> Frame:
    return {"type": "error", "code": code, "message": message, "action": _echoed(action)}


def message_frame(message: Mapping[str, Any]) -> Frame:
    return {"type": "message", **public_message(message)}


def public_message(message: Mapping[str, Any]) -> Frame:
    return {field: message[field] for field in MESSAGE_FIELDS if field in message}


def presence_frame(room_id: str, users: Iterable[Identity]) -> Frame:
    listed = [{"userId": user.user_id, "displayName": user.display_name} for user in users]
    return {"type": "presence", "roomId": room_id, "users": listed}


def typing_frame(room_id: str, who: Identity) -> Frame:
    return {
        "type": "typing",
        "roomId": room_id,
        "userId": who.user_id,
        "displayName": who.display_name,
    }


def history_frame(room_id: str, newest_first: Sequence[Mapping[str, Any]], limit: int) -> Frame:
    """Up to `limit` of the messages, as many as fit in one frame, and `more` if any are left.

    The page never ends inside a millisecond: the client asks for the next page with
    `before` = the oldest timestamp it has, so messages sharing that timestamp but left off
    this page would never be shown. Only a page whose every message shares one millisecond is
    cut there, since leaving all of them off would make no progress at all."""
    shown = [public_message(message) for message in newest_first]
    fits = min(limit, _how_many_fit(room_id, shown))
    if fits < len(shown):
        fits = _whole_milliseconds(shown, fits)
    return {
        "type": "history",
        "roomId": room_id,
        "messages": shown[:fits],
        "more": fits < len(shown),
    }


def _how_many_fit(room_id: str, messages: Sequence[Frame]) -> int:
    budget = MAX_FRAME_BYTES - len(
        encode({"type": "history", "roomId": room_id, "messages": [], "more": True})
    )
    for count, message in enumerate(messages):
        budget -= len(encode(message)) + 1  # the comma between list entries
        if budget < 0:
            return count
    return len(messages)


def _whole_milliseconds(newest_first: Sequence[Frame], count: int) -> int:
    """`count`, lowered so that the first `count` messages end at a change of timestamp."""
    boundary = newest_first[count]["timestamp"]
    whole = count
    while whole > 0 and newest_first[whole - 1]["timestamp"] == boundary:
        whole -= 1
    return whole or count


def _echoed(action: object) -> str | None:
    if not isinstance(action, str):
        return None
    # A lone surrogate cannot travel as UTF-8; the echo is only a hint, so replace it.
    clean = action.encode("utf-8", "replace").decode("utf-8")
    return clean[:_MAX_ECHOED_ACTION_CHARS]
