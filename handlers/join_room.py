"""joinRoom: moves the connection to another room; presence goes to the old and the new one."""

from __future__ import annotations

from typing import Any

from chatlib import presence, store, validation
from chatlib.events import Event
from chatlib.logs import EventLog
from chatlib.route import FrameCall, handle_frame

ROUTE_KEY = "joinRoom"


def handler(event: Event, context: object) -> dict[str, Any]:
    return handle_frame(event, context, ROUTE_KEY, _join_room)


def _join_room(call: FrameCall, log: EventLog) -> None:
    room_id = validation.room_id(call.frame.get("roomId"))
    old_room = store.move_connection(call.connection_id, room_id)  # NotRegistered: server_error
    log.add(roomId=room_id, fromRoom=old_room)
    if old_room is not None and old_room != room_id:
        presence.announce(old_room, call.endpoint)
    # The new room's list reaches the sender too: that is its acknowledgement.
    delivery = presence.announce(room_id, call.endpoint, keep=call.connection_id)
    log.add(**delivery.log_fields())
