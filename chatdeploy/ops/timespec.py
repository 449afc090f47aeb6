"""Durations and points in time as the user types them: `10m`, `1h`, `2d`, or ISO-8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """`90s`, `10m`, `1h`, `2d`, `1w`; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 30s, 10m, 1h or 2d")
    amount, unit = int(match.group(1)), match.group(2).lower()
    if amount == 0:
        raise ValueError(f"{text!r} is zero; give a positive duration")
    return timedelta(seconds=amount * _UNIT_SECONDS[unit])


def parse_since(text: str, now: datetime) -> datetime:
    """A duration before `now`, or an ISO-8601 time (local time when it has no offset)."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration like 10m, 1h, 2d nor an ISO-8601 time "
            "like 2024-11-25T14:30"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    if moment > now:
        raise ValueError(f"{text!r} is in the future")
    return moment


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


def iso_utc(moment: datetime) -> str:
    """`2024-11-25T14:30:00.123Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
