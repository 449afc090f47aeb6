"""sendMessage: stores the message, then sends it to everyone in the room and the sender."""

from __future__ import annotations

import uuid
from typing import Any

from chatlib import broadcast, clock, store, validation
from chatlib.events import Event
from chatlib.frames import message_frame
from chatlib.logs import EventLog
from chatlib.route import FrameCall, handle_frame
from chatlib.settings import load_settings

ROUTE_KEY = "sendMessage"
SECONDS_PER_DAY = 86_400


def handler(event: Event, context: object) -> dict[str, Any]:
    return handle_frame(event, context, ROUTE_KEY, _send_message)


def _send_message(call: FrameCall, log: EventLog) -> None:
    settings = load_settings()
    room_id = validation.room_id(call.frame.get("roomId"))
    text = validation.message_text(call.frame, settings.max_message_bytes)
    message = _new_message(call, room_id, text, settings.message_retention_days)
    store.put_message(message)
    log.add(roomId=room_id, messageId=message["messageId"])
    members = [member.connection_id for member in store.room_members(room_id)]
    # The sender always gets its message back, in the room or not: that is its acknowledgement.
    delivery = broadcast.deliver(
        call.endpoint,
        message_frame(message),
        [call.connection_id, *members],
        keep=call.connection_id,
    )
    log.add(recipients=len(members), **delivery.log_fields())


def _new_message(call: FrameCall, room_id: str, text: str, retention_days: int) -> dict[str, Any]:
    timestamp = clock.now_ms()
    message: dict[str, Any] = {
        "messageId": str(uuid.uuid4()),
        "roomId": room_id,
        "timestamp": timestamp,
        "userId": call.caller.user_id,
        "displayName": call.caller.display_name,
        "message": text,
    }
    if retention_days > 0:
        message["expiresAt"] = timestamp // 1000 + retention_days * SECONDS_PER_DAY
    return message
