"""Guide step 8.1 automated: two clients in one room, one sends, both must receive it."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from chatdeploy.errors import ChatdeployError
from chatdeploy.ops.wsclient import ChatConnection, Clock, Frame, Received, open_chat

GUIDE_MESSAGE = "Hello World!"
DEFAULT_ROOM = "general"
_LOGS_HINT = "`chatdeploy logs --function send_message --since 5m` shows what the handler did"


class SmokeFailed(ChatdeployError):
    """The stack answered, but not as the protocol says."""


@dataclass(frozen=True)
class SmokeResult:
    url: str
    room: str
    message_id: str
    connect_ms: float
    second_connect_ms: float
    round_trip_ms: float
    delivery_ms: float


def send_message_frame(room: str, message: str) -> Frame:
    """The guide's wscat frame."""
    return {"action": "sendMessage", "message": message, "roomId": room}


async def run_smoke(
    url: str,
    token: str,
    *,
    room: str = DEFAULT_ROOM,
    message: str = GUIDE_MESSAGE,
    connect_wait: float = 10.0,
    timeout: float = 10.0,
    clock: Clock = time.perf_counter,
) -> SmokeResult:
    async with contextlib.AsyncExitStack() as open_connections:
        sender = await open_chat(url, token, room, wait=connect_wait, clock=clock)
        open_connections.push_async_callback(sender.close)
        listener = await open_chat(url, token, room, wait=connect_wait, clock=clock)
        open_connections.push_async_callback(listener.close)
        sent_at = await sender.send(send_message_frame(room, message))
        own_copy = await _sender_copy(sender, room, message, timeout)
        message_id = str(own_copy.frame.get("messageId"))
        other_copy = await _listener_copy(listener, message_id, timeout)
    return SmokeResult(
        url=url,
        room=room,
        message_id=message_id,
        connect_ms=sender.connect_seconds * 1000,
        second_connect_ms=listener.connect_seconds * 1000,
        round_trip_ms=(own_copy.at - sent_at) * 1000,
        delivery_ms=(other_copy.at - sent_at) * 1000,
    )


async def _sender_copy(sender: ChatConnection, room: str, message: str, timeout: float) -> Received:
    def answer(frame: Frame) -> bool:
        is_copy = (
            frame.get("type") == "message"
            and frame.get("roomId") == room
            and frame.get("message") == message
        )
        return is_copy or frame.get("type") == "error"

    try:
        received = await sender.wait_for(answer, timeout)
    except TimeoutError:
        raise SmokeFailed(
            f"the sending client got no copy of its message within {timeout:g}s",
            hint=_LOGS_HINT,
        ) from None
    if received.frame.get("type") == "error":
        frame = received.frame
        raise SmokeFailed(
            f"the server refused the message: {frame.get('code')}: {frame.get('message')}"
        )
    return received


async def _listener_copy(listener: ChatConnection, message_id: str, timeout: float) -> Received:
    def same_message(frame: Frame) -> bool:
        return frame.get("type") == "message" and frame.get("messageId") == message_id

    try:
        return await listener.wait_for(same_message, timeout)
    except TimeoutError:
        raise SmokeFailed(
            f"the second client did not receive the message within {timeout:g}s "
            "(the sender got its copy, so delivery to the room failed)",
            hint=_LOGS_HINT,
        ) from None
