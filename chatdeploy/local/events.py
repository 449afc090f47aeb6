"""The events API Gateway sends a WebSocket API's functions, shaped as AWS shapes them.

CONNECT, MESSAGE and DISCONNECT events for the route integrations, and the REQUEST event of
the `$connect` authorizer. Ids look like API Gateway's (16 characters of base64).
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def new_id() -> str:
    """An id in API Gateway's style, e.g. `Rk3bAd0foAMCJbQ=`; URL-safe, as it goes in paths."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class ApiFacts:
    api_id: str
    stage: str
    region: str
    account: str

    def method_arn(self, route_key: str) -> str:
        where = f"{self.region}:{self.account}"
        return f"arn:aws:execute-api:{where}:{self.api_id}/{self.stage}/{route_key}"


@dataclass(frozen=True)
class ConnectionFacts:
    """What API Gateway learns about a connection from its opening handshake."""

    connection_id: str
    connected_at_ms: int
    source_ip: str
    domain_name: str
    headers: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str], ...]

    @property
    def user_agent(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "user-agent"), None)


def request_context(
    api: ApiFacts,
    connection: ConnectionFacts,
    route_key: str,
    event_type: str,
    request_id: str,
    *,
    authorizer: dict[str, Any] | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    now = time.time()
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "messageDirection": "IN",
        "stage": api.stage,
        "connectedAt": connection.connected_at_ms,
        "requestTimeEpoch": int(now * 1000),
        "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
        "requestId": request_id,
        "domainName": connection.domain_name,
        "connectionId": connection.connection_id,
        "apiId": api.api_id,
    }
    if message_id is not None:
        context["messageId"] = message_id
    if authorizer is not None:
        context["authorizer"] = authorizer
    return context


def authorizer_event(api: ApiFacts, connection: ConnectionFacts, request_id: str) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": api.method_arn("$connect"),
        **_request_parts(connection),
        "stageVariables": {},
        "requestContext": request_context(api, connection, "$connect", "CONNECT", request_id),
    }


def connect_event(
    api: ApiFacts,
    connection: ConnectionFacts,
    request_id: str,
    authorizer: dict[str, Any] | None,
) -> dict[str, Any]:
    context = request_context(
        api, connection, "$connect", "CONNECT", request_id, authorizer=authorizer
    )
    return {**_request_parts(connection), "requestContext": context, "isBase64Encoded": False}


def message_event(
    api: ApiFacts,
    connection: ConnectionFacts,
    route_key: str,
    request_id: str,
    body: bytes,
    *,
    binary: bool,
    authorizer: dict[str, Any] | None,
) -> dict[str, Any]:
    context = request_context(
        api,
        connection,
        route_key,
        "MESSAGE",
        request_id,
        authorizer=authorizer,
        message_id=new_id(),
    )
    text = base64.b64encode(body).decode() if binary else body.decode("utf-8")
    return {"requestContext": context, "body": text, "isBase64Encoded": binary}


def disconnect_event(
    api: ApiFacts,
    connection: ConnectionFacts,
    request_id: str,
    *,
    status_code: int,
    reason: str,
    authorizer: dict[str, Any] | None,
) -> dict[str, Any]:
    context = request_context(
        api, connection, "$disconnect", "DISCONNECT", request_id, authorizer=authorizer
    )
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    headers = {"Host": connection.domain_name, "X-Forwarded-For": connection.source_ip}
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def _request_parts(connection: ConnectionFacts) -> dict[str, Any]:
    """headers and query string, single- and multi-valued, as the handshake carried them."""
    port = connection.domain_name.rpartition(":")[2] if ":" in connection.domain_name else "80"
    added = (
        ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"),
        ("X-Forwarded-For", connection.source_ip),
        ("X-Forwarded-Port", port),
        ("X-Forwarded-Proto", "http"),
    )
    headers = (*connection.headers, *added)
    parts: dict[str, Any] = {
        "headers": _last_values(headers),
        "multiValueHeaders": _all_values(headers),
    }
    if connection.query:
        parts["queryStringParameters"] = _last_values(connection.query)
        parts["multiValueQueryStringParameters"] = _all_values(connection.query)
    return parts


def _last_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    return dict(pairs)


def _all_values(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return values
