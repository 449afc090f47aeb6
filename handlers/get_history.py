"""getHistory: a page of a room's messages, newest first, back to the sender."""

from __future__ import annotations

from typing import Any

from chatlib import store, validation
from chatlib.events import Event
from chatlib.frames import history_frame
from chatlib.logs import EventLog
from chatlib.route import FrameCall, handle_frame

ROUTE_KEY = "getHistory"


def handler(event: Event, context: object) -> dict[str, Any]:
    return handle_frame(event, context, ROUTE_KEY, _get_history)


def _get_history(call: FrameCall, log: EventLog) -> None:
    room_id = validation.room_id(call.frame.get("roomId"))
    limit = validation.history_limit(call.frame)
    before = validation.history_before(call.frame)
    frame = history_frame(room_id, store.recent_messages(room_id, limit, before), limit)
    log.add(roomId=room_id, messages=len(frame["messages"]), more=frame["more"])
    log.add(reply=call.reply(frame))
