"""Presence: the list of users now in a room, sent to the room on every join and leave."""

from __future__ import annotations

from collections.abc import Iterable

from chatlib import aws, broadcast, store
from chatlib.events import Identity
from chatlib.frames import presence_frame
from chatlib.logs import EventLog


def announce(
    room_id: str, endpoint: str, *, skip: str | None = None, keep: str | None = None
) -> broadcast.Delivery:
    """Sends the room's presence to its connections, except `skip` (a connection still in
    its $connect, which cannot receive yet)."""
    members = store.room_members(room_id)
    frame = presence_frame(room_id, unique_users(member.user for member in members))
    recipients = [m.connection_id for m in members if m.connection_id != skip]
    return broadcast.deliver(endpoint, frame, recipients, keep=keep)


def unique_users(users: Iterable[Identity]) -> list[Identity]:
    """One entry per user however many connections it has, sorted for a stable list."""
    by_id: dict[str, Identity] = {}
    for user in users:
        by_id.setdefault(user.user_id, user)
    return sorted(by_id.values(), key=lambda user: (user.display_name.casefold(), user.user_id))


def announce_best_effort(
    room_id: str, endpoint: str, log: EventLog, *, skip: str | None = None
) -> None:
    """Presence on connect and disconnect is a courtesy: a failure is logged, and the
    connection is still accepted (or removed)."""
    try:
        delivery = announce(room_id, endpoint, skip=skip)
    except Exception as error:
        log.add(presenceError=aws.error_code(error) or type(error).__name__)
        return
    log.add(presence=delivery.log_fields())
