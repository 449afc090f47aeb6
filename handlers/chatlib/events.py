"""Reading API Gateway WebSocket events: who is calling, from which connection, reply where."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Event = Mapping[str, Any]


class MissingIdentity(RuntimeError):
    """The event carries no authorizer context: the API is wired without the authorizer."""


@dataclass(frozen=True)
class Identity:
    user_id: str
    display_name: str


def request_context(event: Event) -> Mapping[str, Any]:
    context = event.get("requestContext")
    return context if isinstance(context, Mapping) else {}


def connection_id(event: Event) -> str:
    value = request_context(event).get("connectionId")
    if not isinstance(value, str) or not value:
        raise ValueError("the event has no requestContext.connectionId")
    return value


def identity(event: Event) -> Identity:
    """The caller as the authorizer verified it; frames never say who is speaking."""
    authorizer = request_context(event).get("authorizer")
    if not isinstance(authorizer, Mapping):
        raise MissingIdentity("the event has no requestContext.authorizer")
    user_id = authorizer.get("userId") or authorizer.get("principalId")
    if not isinstance(user_id, str) or not user_id:
        raise MissingIdentity("the authorizer context has no userId")
    display_name = authorizer.get("displayName")
    return Identity(user_id, display_name if isinstance(display_name, str) else user_id)


def management_endpoint(event: Event) -> str:
    """The @connections API: MANAGEMENT_API_ENDPOINT if set (local mode), else the event's."""
    configured = os.environ.get("MANAGEMENT_API_ENDPOINT", "").strip()
    if configured:
        return configured.rstrip("/")
    context = request_context(event)
    domain, stage = context.get("domainName"), context.get("stage")
    if not domain or not stage:
        raise ValueError("the event has no domainName/stage and MANAGEMENT_API_ENDPOINT is unset")
    return f"https://{domain}/{stage}"


def query_parameter(event: Event, name: str) -> str | None:
    parameters = event.get("queryStringParameters")
    if not isinstance(parameters, Mapping):
        return None
    value = parameters.get(name)
    return value if isinstance(value, str) else None


def header(event: Event, name: str) -> str | None:
    """A request header by name, whatever case the gateway delivered it in."""
    wanted = name.lower()
    headers = event.get("headers")
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if isinstance(key, str) and key.lower() == wanted and isinstance(value, str):
                return value
    return _multi_value_header(event, wanted)


def _multi_value_header(event: Event, wanted: str) -> str | None:
    headers = event.get("multiValueHeaders")
    if not isinstance(headers, Mapping):
        return None
    for key, values in headers.items():
        if isinstance(key, str) and key.lower() == wanted and isinstance(values, list):
            texts = [value for value in values if isinstance(value, str)]
            return ", ".join(texts) if texts else None
    return None


def offered_subprotocols(event: Event) -> list[str]:
    """The Sec-WebSocket-Protocol values the client offered, in its order."""
    offered = header(event, "Sec-WebSocket-Protocol") or ""
    return [value.strip() for value in offered.split(",") if value.strip()]
