"""What every handler does around its own work: read the event, time it, log one line, and
turn client mistakes and unexpected failures into the answers docs/protocol.md promises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatlib import broadcast, events, validation
from chatlib.events import Event, Identity
from chatlib.frames import ClientMistake, Frame, error_frame
from chatlib.logs import EventLog

Response = dict[str, Any]


@dataclass(frozen=True)
class FrameCall:
    """A client frame on a route: who sent it, from which connection, and where replies go."""

    connection_id: str
    caller: Identity
    endpoint: str
    frame: Frame

    def reply(self, frame: Frame) -> str:
        return broadcast.send(self.endpoint, frame, self.connection_id)


@dataclass(frozen=True)
class ConnectionCall:
    """A $connect or $disconnect event."""

    event: Event
    connection_id: str
    endpoint: str


FrameWork = Callable[[FrameCall, EventLog], None]
ConnectionWork = Callable[[ConnectionCall, EventLog], Response]


def handle_frame(event: Event, context: object, route: str, work: FrameWork) -> Response:
    """Runs `work` on the event's frame. A client mistake becomes an error frame to the sender
    (200: the connection stays open); anything unexpected is logged, answered with server_error
    where possible, and returns 500. Never raises."""
    log = EventLog(route, event, context)
    try:
        return _run_frame_work(event, work, log)
    finally:
        log.emit()


def handle_connection(event: Event, context: object, route: str, work: ConnectionWork) -> Response:
    """Runs `work` for $connect/$disconnect: a client mistake answers 400, a failure 500."""
    log = EventLog(route, event, context)
    try:
        call = ConnectionCall(event, events.connection_id(event), events.management_endpoint(event))
        response = work(call, log)
        log.add(outcome="ok" if response.get("statusCode") == 200 else "refused")
        return response
    except ClientMistake as mistake:
        log.add(outcome="rejected", code=mistake.code)
        return {"statusCode": 400, "body": mistake.message}
    except Exception as error:
        log.failed(error)
        return {"statusCode": 500}
    finally:
        log.emit()


def _run_frame_work(event: Event, work: FrameWork, log: EventLog) -> Response:
    connection_id = endpoint = None
    action: object = None
    try:
        connection_id = events.connection_id(event)
        endpoint = events.management_endpoint(event)
        caller = events.identity(event)
        log.add(userId=caller.user_id)
        frame = validation.parse_frame(event)
        action = frame.get("action")
        work(FrameCall(connection_id, caller, endpoint, frame), log)
        log.add(outcome="ok")
        return {"statusCode": 200}
    except ClientMistake as mistake:
        log.add(outcome="rejected", code=mistake.code)
        answer = error_frame(mistake.code, mistake.message, action)
        _reply_quietly(endpoint, connection_id, answer, log)
        return {"statusCode": 200}
    except Exception as error:
        log.failed(error)
        answer = error_frame("server_error", "the server failed; try again", action)
        _reply_quietly(endpoint, connection_id, answer, log)
        return {"statusCode": 500}


def _reply_quietly(
    endpoint: str | None, connection_id: str | None, frame: Frame, log: EventLog
) -> None:
    """Sends an error frame; a failure here is only logged, it must not hide the first one."""
    if endpoint is None or connection_id is None:
        return
    try:
        result = broadcast.send(endpoint, frame, connection_id)
    except Exception as error:
        result = type(error).__name__
    if result != "sent":
        log.add(reply=result)
