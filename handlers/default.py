"""$default: any frame no route matched gets an error frame (bad_json or unknown_action)."""

from __future__ import annotations

from typing import Any

from chatlib.events import Event
from chatlib.frames import ClientMistake
from chatlib.logs import EventLog
from chatlib.route import FrameCall, handle_frame

ROUTE_KEY = "$default"
ACTIONS = ("sendMessage", "joinRoom", "getHistory", "typing")


def handler(event: Event, context: object) -> dict[str, Any]:
    return handle_frame(event, context, ROUTE_KEY, _unknown_action)


def _unknown_action(call: FrameCall, log: EventLog) -> None:
    action = call.frame.get("action")
    if action is None:
        raise ClientMistake("unknown_action", f"the frame has no action; use one of {_listed()}")
    raise ClientMistake("unknown_action", f"unknown action; use one of {_listed()}")


def _listed() -> str:
    return ", ".join(ACTIONS)
