"""What API Gateway makes of a REQUEST authorizer: identity sources, the answer, the policy.

- An identity source the request lacks: 401, and the authorizer is not invoked.
- The authorizer fails with the message "Unauthorized": 401.
- Any other failure, or an answer without a usable policy: 500.
- A policy that denies execute-api:Invoke on the method ARN, or does not allow it: 403.
- Otherwise the connection goes on, with `principalId` and the answer's `context` as
  `requestContext.authorizer` of every event of the connection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chatdeploy.local.workers import Invocation

_INVOKE_ACTION = "execute-api:Invoke"


@dataclass(frozen=True)
class Decision:
    status: int | None  # None: allowed
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.status is None


UNAUTHORIZED = Decision(401)
FORBIDDEN = Decision(403)
FAILED = Decision(500)


def missing_identity(
    sources: Iterable[str],
    headers: Iterable[tuple[str, str]],
    query: Iterable[tuple[str, str]],
) -> bool:
    """Whether any declared identity source is absent or empty in the request."""
    header_values = {name.lower(): value for name, value in headers}
    query_values = dict(query)
    for declared in sources:
        source = declared.strip()
        if source.startswith("route.request.header."):
            value = header_values.get(source.removeprefix("route.request.header.").lower())
        elif source.startswith("route.request.querystring."):
            value = query_values.get(source.removeprefix("route.request.querystring."))
        else:
            continue  # stage variables and context values: present by construction here
        if not value:
            return True
    return False


def decide(invocation: Invocation, method_arn: str, latency_ms: int) -> Decision:
    if not invocation.ok:
        return UNAUTHORIZED if invocation.error_message == "Unauthorized" else FAILED
    answer = invocation.payload
    if not isinstance(answer, Mapping) or "principalId" not in answer:
        return FAILED
    context = answer.get("context") or {}
    if not isinstance(context, Mapping) or not all(_is_scalar(v) for v in context.values()):
        return FAILED
    statements = _statements(answer.get("policyDocument"))
    if statements is None:
        return FAILED
    if _matches(statements, "Deny", method_arn) or not _matches(statements, "Allow", method_arn):
        return FORBIDDEN
    details = {**context, "principalId": answer["principalId"], "integrationLatency": latency_ms}
    return Decision(None, details)


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def _statements(policy: object) -> list[Mapping[str, Any]] | None:
    if not isinstance(policy, Mapping):
        return None
    statements = policy.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, Mapping) for s in statements):
        return None
    return statements


def _matches(statements: list[Mapping[str, Any]], effect: str, method_arn: str) -> bool:
    return any(
        statement.get("Effect") == effect
        and _any_match(statement.get("Action"), _INVOKE_ACTION, ignore_case=True)
        and _any_match(statement.get("Resource"), method_arn, ignore_case=False)
        for statement in statements
    )


def _any_match(patterns: object, value: str, *, ignore_case: bool) -> bool:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list):
        return False
    return any(isinstance(p, str) and _glob(p, value, ignore_case) for p in patterns)


def _glob(pattern: str, value: str, ignore_case: bool) -> bool:
    """IAM wildcards: `*` any run of characters, `?` any one character."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    flags = re.IGNORECASE if ignore_case else 0
    return re.fullmatch(regex, value, flags | re.DOTALL) is not None
