"""typing: tells the others in the room that the sender is typing; nothing is stored."""

from __future__ import annotations

from typing import Any

from chatlib import broadcast, store, validation
from chatlib.events import Event
from chatlib.frames import typing_frame
from chatlib.logs import EventLog
from chatlib.route import FrameCall, handle_frame

ROUTE_KEY = "typing"


def handler(event: Event, context: object) -> dict[str, Any]:
    return handle_frame(event, context, ROUTE_KEY, _typing)


def _typing(call: FrameCall, log: EventLog) -> None:
    room_id = validation.room_id(call.frame.get("roomId"))
    others = [
        member.connection_id
        for member in store.room_members(room_id)
        if member.connection_id != call.connection_id
    ]
    delivery = broadcast.deliver(call.endpoint, typing_frame(room_id, call.caller), others)
    log.add(roomId=room_id, recipients=len(others), **delivery.log_fields())
