"""The handler environment of docs/protocol.md, read from os.environ."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    connections_table: str
    messages_table: str
    room_index: str
    history_index: str
    max_message_bytes: int
    message_retention_days: int
    connection_ttl_seconds: int


def load_settings() -> Settings:
    """Reads the environment on every call: it costs microseconds and tests may change it."""
    return Settings(
        connections_table=os.environ["CONNECTIONS_TABLE"],
        messages_table=os.environ["MESSAGES_TABLE"],
        room_index=os.environ.get("ROOM_INDEX", "RoomIdIndex"),
        history_index=os.environ.get("HISTORY_INDEX", "RoomIdTimestampIndex"),
        max_message_bytes=_int_variable("MAX_MESSAGE_BYTES", 4096),
        message_retention_days=_int_variable("MESSAGE_RETENTION_DAYS", 0),
        connection_ttl_seconds=_int_variable("CONNECTION_TTL_SECONDS", 7200),
    )


def _int_variable(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default
