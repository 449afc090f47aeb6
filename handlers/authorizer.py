"""REQUEST authorizer of $connect: admits a connection only with a valid Cognito ID token.

The token comes from the query string (`?token=`) or, to keep it out of URLs and logs, as a
WebSocket subprotocol (`Sec-WebSocket-Protocol: chatdeploy, <token>`). No token, or something
that is not a JWT: raise "Unauthorized" (API Gateway answers 401). A JWT that fails
verification: a Deny policy (403). Otherwise an Allow policy whose context carries the
identity every route reads. Tokens are never logged.
"""

from __future__ import annotations

from typing import Any

from chatlib import events
from chatlib.events import Event
from chatlib.idtoken import (
    Expectations,
    JwksUnavailable,
    MalformedToken,
    TokenRejected,
    display_name,
    verify_id_token,
)
from chatlib.logs import EventLog

BUNDLE = ("rsa",)  # rsa.verify with a PublicKey(n, e) never imports pyasn1
SUBPROTOCOL = "chatdeploy"


def handler(event: Event, context: object) -> dict[str, Any]:
    log = EventLog("authorizer", event, context)
    try:
        return _authorize(event, log)
    except Exception as error:
        if log.fields["outcome"] is None:  # not a refusal we already logged: a failure
            log.failed(error)
        raise
    finally:
        log.emit()


def _authorize(event: Event, log: EventLog) -> dict[str, Any]:
    token = token_from(event)
    if token is None:
        log.add(outcome="unauthorized", reason="no_token")
        raise Exception("Unauthorized")
    try:
        claims = verify_id_token(token, Expectations.from_environment())
    except MalformedToken:
        log.add(outcome="unauthorized", reason="malformed")
        raise Exception("Unauthorized") from None
    except TokenRejected as rejection:
        log.add(outcome="deny", reason=rejection.reason)
        return policy("Deny", event, principal="unauthorized")
    except JwksUnavailable as error:
        log.failed(error, code="jwks_unavailable")
        raise
    user_id = claims["sub"]
    log.add(outcome="allow", userId=user_id)
    context = {"userId": user_id, "displayName": display_name(claims)}
    return policy("Allow", event, principal=user_id, context=context)


def token_from(event: Event) -> str | None:
    """`?token=`, else the subprotocol offered beside `chatdeploy` (or offered alone)."""
    query_token = events.query_parameter(event, "token")
    if query_token:
        return query_token
    offered = events.offered_subprotocols(event)
    others = [value for value in offered if value != SUBPROTOCOL]
    return others[0] if len(others) == 1 else None


def policy(
    effect: str, event: Event, *, principal: str, context: dict[str, str] | None = None
) -> dict[str, Any]:
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}
    answer: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
    }
    if context is not None:
        answer["context"] = context
    return answer
