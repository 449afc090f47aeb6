"""A wscat-like session: typed lines become messages, incoming frames are shown readably."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatdeploy.ops.smoke import send_message_frame
from chatdeploy.ops.wsclient import ChatConnection, Frame, Received

HELP = "type a line to send it; /join ROOM, /history, /help, /quit"
HISTORY_LIMIT = 20
_ROOM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Line:
    """One line for the terminal; `kind` picks its colour (message, info, error, raw)."""

    text: str
    kind: str = "message"


def describe(frame: Frame) -> list[Line]:
    kind = frame.get("type")
    if kind == "message":
        return [Line(_message_line(frame))]
    if kind == "history":
        return _history_lines(frame)
    if kind == "presence":
        names = ", ".join(
            str(u.get("displayName", u.get("userId"))) for u in frame.get("users", [])
        )
        return [Line(f"* #{frame.get('roomId')}: {names or 'nobody'} here", "info")]
    if kind == "typing":
        return [Line(f"* {frame.get('displayName')} is typing in #{frame.get('roomId')}", "info")]
    if kind == "error":
        action = f" ({frame['action']})" if frame.get("action") else ""
        return [Line(f"! {frame.get('code')}: {frame.get('message')}{action}", "error")]
    return [Line(f"? {json.dumps(frame, ensure_ascii=False)}", "raw")]


def _message_line(message: dict[str, Any]) -> str:
    timestamp = message.get("timestamp")
    when = (
        datetime.fromtimestamp(timestamp / 1000).strftime("%H:%M:%S")
        if isinstance(timestamp, int | float)
        else "--:--:--"
    )
    who = message.get("displayName") or message.get("userId") or "?"
    return f"[{when}] #{message.get('roomId')} {who}: {message.get('message')}"


def _history_lines(frame: Frame) -> list[Line]:
    messages = list(reversed(frame.get("messages", [])))  # the server sends newest first
    header = f"history of #{frame.get('roomId')}: {len(messages)} message(s), oldest first"
    lines = [Line(header, "info"), *(Line(_message_line(m)) for m in messages)]
    if frame.get("more"):
        lines.append(Line("(older messages exist)", "info"))
    return lines


class Session:
    def __init__(
        self,
        connection: ChatConnection,
        room: str,
        show: Callable[[Line], None],
        *,
        linger: float = 1.0,
    ):
        self.connection = connection
        self.room = room
        self.show = show
        # When piped input ends, answers may still be on their way: wait for this much quiet.
        self.linger = linger
        self._last_frame_at = time.monotonic()
        for early in connection.received:
            self._on_frame(early)
        connection.received.clear()
        connection.on_frame = self._on_frame

    def _on_frame(self, received: Received) -> None:
        self._last_frame_at = time.monotonic()
        for line in describe(received.frame):
            self.show(line)

    async def run(self, lines: AsyncIterator[str]) -> str | None:
        """Until /quit or the end of input (None), or until the server closes (how it did)."""
        typing = asyncio.ensure_future(self._read_commands(lines))
        closed = asyncio.ensure_future(self.connection.wait_closed())
        done, _ = await asyncio.wait({typing, closed}, return_when=asyncio.FIRST_COMPLETED)
        for task in (typing, closed):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return closed.result() if closed in done and typing not in done else None

    async def _read_commands(self, lines: AsyncIterator[str]) -> None:
        async for line in lines:
            if not await self.handle(line.strip()):
                return
        await self._until_quiet(limit=5 * self.linger)

    async def _until_quiet(self, limit: float) -> None:
        """Returns once no frame came for `linger` seconds, or after `limit` seconds."""
        started = self._last_frame_at = time.monotonic()
        while (now := time.monotonic()) - started < limit:
            quiet = now - self._last_frame_at
            if quiet >= self.linger:
                return
            await asyncio.sleep(self.linger - quiet)

    async def handle(self, line: str) -> bool:
        """Acts on one typed line; False when the session should end."""
        if not line:
            return True
        command, _, argument = line.partition(" ")
        if command in {"/quit", "/exit"}:
            return False
        if command == "/join":
            await self._join(argument.strip())
        elif command == "/history":
            await self.connection.send(
                {"action": "getHistory", "roomId": self.room, "limit": HISTORY_LIMIT}
            )
        elif command == "/help":
            self.show(Line(HELP, "info"))
        elif command.startswith("/"):
            self.show(Line(f"unknown command {command}; {HELP}", "error"))
        else:
            await self.connection.send(send_message_frame(self.room, line))
        return True

    async def _join(self, room: str) -> None:
        if not _ROOM.match(room):
            self.show(Line(f"{room!r} is not a room id: 1-64 of A-Z a-z 0-9 _ -", "error"))
            return
        await self.connection.send({"action": "joinRoom", "roomId": room})
        self.room = room
        self.show(Line(f"now in #{room}", "info"))


async def stdin_lines() -> AsyncIterator[str]:
    """Lines typed on stdin. A daemon thread reads them, so a blocked read never holds up exit."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line
