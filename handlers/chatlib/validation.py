"""Checks of client frames; each failure raises ClientMistake with a protocol error code."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from chatlib.events import Event
from chatlib.frames import ClientMistake, Frame

ROOM_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEFAULT_HISTORY_LIMIT = 50
MAX_HISTORY_LIMIT = 100
_LATEST_PLAUSIBLE_MS = 10**15  # year 33658: any larger `before` is a client mistake


def parse_frame(event: Event) -> Frame:
    """The event body as a JSON object, or bad_json."""
    body = event.get("body")
    if isinstance(body, str) and event.get("isBase64Encoded"):
        body = _decoded_base64(body)
    if not isinstance(body, str):
        raise ClientMistake("bad_json", "the frame is not a JSON object")
    try:
        frame = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError, over-long integers, deep nesting
        raise ClientMistake("bad_json", "the frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise ClientMistake("bad_json", "the frame is not a JSON object")
    return frame


def room_id(value: object) -> str:
    if value is None:
        raise ClientMistake("missing_field", "roomId is required")
    if not isinstance(value, str):
        raise ClientMistake("bad_field", "roomId must be a string")
    if not ROOM_PATTERN.fullmatch(value):
        raise ClientMistake("bad_room", "a room id is 1 to 64 of A-Z a-z 0-9 _ -")
    return value


def message_text(frame: Frame, max_bytes: int) -> str:
    text = frame.get("message")
    if text is None:
        raise ClientMistake("missing_field", "message is required")
    if not isinstance(text, str):
        raise ClientMistake("bad_field", "message must be a string")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ClientMistake("bad_field", "message is not valid Unicode text") from None
    if not text.strip():
        raise ClientMistake("empty_message", "message is empty")
    if size > max_bytes:
        raise ClientMistake("too_long", f"message is {size} bytes; the limit is {max_bytes}")
    return text


def history_limit(frame: Frame) -> int:
    limit = _optional_int(frame, "limit", 1, MAX_HISTORY_LIMIT)
    return DEFAULT_HISTORY_LIMIT if limit is None else limit


def history_before(frame: Frame) -> int | None:
    return _optional_int(frame, "before", 1, _LATEST_PLAUSIBLE_MS)


def _optional_int(frame: Frame, name: str, lowest: int, highest: int) -> int | None:
    value: Any = frame.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise ClientMistake("bad_field", f"{name} must be an integer from {lowest} to {highest}")
    return value


def _decoded_base64(body: str) -> str | None:
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
