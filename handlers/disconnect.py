"""$disconnect: forgets the connection and tells the room it was in."""

from __future__ import annotations

from typing import Any

from chatlib import presence, store
from chatlib.events import Event
from chatlib.logs import EventLog
from chatlib.route import ConnectionCall, Response, handle_connection

ROUTE_KEY = "$disconnect"


def handler(event: Event, context: object) -> dict[str, Any]:
    return handle_connection(event, context, ROUTE_KEY, _disconnect)


def _disconnect(call: ConnectionCall, log: EventLog) -> Response:
    room_id = store.remove_connection(call.connection_id)
    log.add(roomId=room_id)
    if room_id is not None:
        presence.announce_best_effort(room_id, call.endpoint, log)
    return {"statusCode": 200}
