"""$connect: registers the connection in its starting room and tells the room."""

from __future__ import annotations

from typing import Any

from chatlib import clock, events, presence, store, validation
from chatlib.events import Event
from chatlib.logs import EventLog
from chatlib.route import ConnectionCall, Response, handle_connection

ROUTE_KEY = "$connect"
DEFAULT_ROOM = "general"
SUBPROTOCOL = "chatdeploy"


def handler(event: Event, context: object) -> dict[str, Any]:
    return handle_connection(event, context, ROUTE_KEY, _connect)


def _connect(call: ConnectionCall, log: EventLog) -> Response:
    room = events.query_parameter(call.event, "room")
    room_id = validation.room_id(DEFAULT_ROOM if room is None else room)
    caller = events.identity(call.event)
    log.add(userId=caller.user_id, roomId=room_id)
    store.put_connection(call.connection_id, caller, room_id, clock.now_ms())
    # The new connection cannot receive frames before $connect returns: tell the others.
    presence.announce_best_effort(room_id, call.endpoint, log, skip=call.connection_id)
    response: Response = {"statusCode": 200}
    answer = chosen_subprotocol(events.offered_subprotocols(call.event))
    if answer is not None:
        response["headers"] = {"Sec-WebSocket-Protocol": answer}
    return response


def chosen_subprotocol(offered: list[str]) -> str | None:
    """`chatdeploy` when offered; a single offered value (the token alone) is echoed, since a
    browser drops a connection whose server picks none of its subprotocols."""
    if SUBPROTOCOL in offered:
        return SUBPROTOCOL
    return offered[0] if len(offered) == 1 else None
