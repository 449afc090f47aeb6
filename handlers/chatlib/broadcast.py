"""Sending one frame to many connections at once through the @connections API."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chatlib import aws, clock, store
from chatlib.frames import encode

# One pool per container, reused by every invocation; its threads start on first use.
_pool = ThreadPoolExecutor(max_workers=aws.FANOUT_WORKERS, thread_name_prefix="fanout")

_SENT, _GONE, _FORGOTTEN, _CONNECTING = "sent", "gone", "forgotten", "connecting"
# Longer than an authorizer plus a $connect integration can take (API Gateway's 29 s limit):
# a row this young that answers 410 may be a connection still being accepted.
CONNECT_GRACE_MS = 30_000


@dataclass
class Delivery:
    """What happened to one fan-out: counts for the log, failures by AWS error code."""

    sent: int = 0
    gone: list[str] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)
    not_forgotten: dict[str, int] = field(default_factory=dict)

    def log_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"sent": self.sent, "gone": len(self.gone)}
        if self.failed:
            fields["failed"] = self.failed
        if self.not_forgotten:
            fields["notForgotten"] = self.not_forgotten
        return fields


def deliver(
    endpoint: str,
    frame: Mapping[str, Any],
    connection_ids: Iterable[str],
    *,
    keep: str | None = None,
) -> Delivery:
    """Posts the frame to each connection once, in parallel. Connections that are gone lose
    their row, except `keep` (the sender: its own $disconnect is already on the way)."""
    recipients = list(dict.fromkeys(connection_ids))
    data = encode(frame)
    client = aws.management(endpoint)  # created here, not racily in the workers
    results = _in_parallel(lambda connection_id: _post(client, data, connection_id), recipients)
    delivery = _tally(recipients, results, keep)
    if delivery.gone:
        aws.dynamodb()  # likewise created before the workers need it
    settled = clock.now_ms() - CONNECT_GRACE_MS
    for outcome in _in_parallel(lambda gone: _forget(gone, settled), delivery.gone):
        if outcome != _FORGOTTEN:
            delivery.not_forgotten[outcome] = delivery.not_forgotten.get(outcome, 0) + 1
    return delivery


def send(endpoint: str, frame: Mapping[str, Any], connection_id: str) -> str:
    """Posts one frame to one connection; returns "sent", "gone" or the AWS error code."""
    return _post(aws.management(endpoint), encode(frame), connection_id)


def _in_parallel(task: Callable[[str], str], connection_ids: list[str]) -> list[str]:
    if len(connection_ids) <= 1:  # no thread hand-off for the common single reply
        return [task(connection_id) for connection_id in connection_ids]
    return list(_pool.map(task, connection_ids))


def _forget(connection_id: str, connected_before_ms: int) -> str:
    """Best effort: a stale row that stays is retried by the next fan-out, or expires by TTL."""
    try:
        store.forget_connection(connection_id, connected_before_ms)
    except store.StillConnecting:
        return _CONNECTING
    except Exception as error:
        return aws.error_code(error) or type(error).__name__
    return _FORGOTTEN


def _post(client: aws.ManagementApi, data: bytes, connection_id: str) -> str:
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=data)
    except Exception as error:
        if aws.is_gone(error):
            return _GONE
        return aws.error_code(error) or type(error).__name__
    return _SENT


def _tally(recipients: list[str], results: list[str], keep: str | None) -> Delivery:
    delivery = Delivery()
    for connection_id, result in zip(recipients, results, strict=True):
        if result == _SENT:
            delivery.sent += 1
        elif result == _GONE:
            if connection_id != keep:
                delivery.gone.append(connection_id)
        else:
            delivery.failed[result] = delivery.failed.get(result, 0) + 1
    return delivery
