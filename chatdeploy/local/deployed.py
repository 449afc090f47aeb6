"""What was deployed, as the emulator reports it: the WebSocket API and its functions.

The local gateway runs from this, never from our config, so what runs is what was deployed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

CONNECT = "$connect"
DISCONNECT = "$disconnect"
DEFAULT = "$default"
_FUNCTION_IN_URI = re.compile(r":lambda:path/[^/]+/functions/(?P<arn>.+?)/invocations$")
_BODY_SELECTION = re.compile(r"^\$\{?request\.body\.(?P<path>[A-Za-z0-9_.\-]+)\}?$")


@dataclass(frozen=True)
class Authorizer:
    authorizer_id: str
    name: str
    function: str | None
    # e.g. "route.request.header.Auth", "route.request.querystring.token"
    identity_sources: tuple[str, ...]


@dataclass(frozen=True)
class Route:
    key: str
    function: str | None  # None: an integration local mode cannot run
    authorizer: Authorizer | None
    authorization_type: str
    # Set for a two-way route: the integration's body goes back to the client.
    response_selection: str | None = None


@dataclass(frozen=True)
class DeployedApi:
    api_id: str
    name: str
    stage: str
    route_selection: str
    routes: dict[str, Route]

    def functions(self) -> set[str]:
        names = {route.function for route in self.routes.values() if route.function}
        names |= {
            route.authorizer.function
            for route in self.routes.values()
            if route.authorizer and route.authorizer.function
        }
        return names

    def select_route(self, body: str | bytes) -> Route | None:
        """The route a frame goes to: its selection value's route, else $default, else None."""
        key = selection_value(self.route_selection, body)
        if key is not None and key in self.routes and not key.startswith("$"):
            return self.routes[key]
        return self.routes.get(DEFAULT)


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    runtime: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    code_sha256: str
    log_group: str


def selection_value(expression: str, body: str | bytes) -> str | None:
    """Evaluates `$request.body.<path>` against a frame; None for non-JSON or no value."""
    import json

    match = _BODY_SELECTION.match(expression.strip())
    if match is None:
        return None
    try:
        value: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    for part in match.group("path").split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    return str(value)


def function_name_of(integration_uri: str | None) -> str | None:
    """`arn:…:apigateway:…:lambda:path/2015-03-31/functions/<arn>/invocations` -> its name."""
    match = _FUNCTION_IN_URI.search(integration_uri or "")
    if match is None:
        return None
    arn = match.group("arn")
    parts = arn.split(":")
    if len(parts) >= 7 and parts[5] == "function":
        return parts[6]
    return arn


def load_api(apigw: Any, api_id: str, stage: str) -> DeployedApi:
    api = apigw.get_api(ApiId=api_id)
    integrations = {
        item["IntegrationId"]: item for item in _all_items(apigw.get_integrations, ApiId=api_id)
    }
    authorizers: dict[str, Authorizer] = {}
    routes: dict[str, Route] = {}
    for item in _all_items(apigw.get_routes, ApiId=api_id):
        authorizer = None
        authorizer_id = item.get("AuthorizerId")
        if item.get("AuthorizationType") == "CUSTOM" and authorizer_id:
            if authorizer_id not in authorizers:
                authorizers[authorizer_id] = _load_authorizer(apigw, api_id, authorizer_id)
            authorizer = authorizers[authorizer_id]
        routes[item["RouteKey"]] = Route(
            key=item["RouteKey"],
            function=_target_function(item.get("Target"), integrations),
            authorizer=authorizer,
            authorization_type=item.get("AuthorizationType", "NONE"),
            response_selection=item.get("RouteResponseSelectionExpression"),
        )
    return DeployedApi(
        api_id=api_id,
        name=api.get("Name", api_id),
        stage=stage,
        route_selection=api.get("RouteSelectionExpression", "$request.body.action"),
        routes=routes,
    )


def load_function(lambda_client: Any, name: str) -> FunctionSpec:
    configuration = lambda_client.get_function_configuration(FunctionName=name)
    logging = configuration.get("LoggingConfig") or {}
    return FunctionSpec(
        name=configuration["FunctionName"],
        handler=configuration["Handler"],
        runtime=configuration.get("Runtime", ""),
        timeout_s=int(configuration.get("Timeout", 3)),
        memory_mb=int(configuration.get("MemorySize", 128)),
        environment=dict((configuration.get("Environment") or {}).get("Variables") or {}),
        code_sha256=configuration["CodeSha256"],
        log_group=logging.get("LogGroup") or f"/aws/lambda/{configuration['FunctionName']}",
    )


def _load_authorizer(apigw: Any, api_id: str, authorizer_id: str) -> Authorizer:
    item = apigw.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id)
    return Authorizer(
        authorizer_id=authorizer_id,
        name=item.get("Name", authorizer_id),
        function=function_name_of(item.get("AuthorizerUri")),
        identity_sources=tuple(item.get("IdentitySource") or ()),
    )


def _target_function(target: str | None, integrations: dict[str, dict[str, Any]]) -> str | None:
    if not target or not target.startswith("integrations/"):
        return None
    integration = integrations.get(target.removeprefix("integrations/"))
    if integration is None or integration.get("IntegrationType") != "AWS_PROXY":
        return None
    return function_name_of(integration.get("IntegrationUri"))


def _all_items(operation: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = operation(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get("Items", []))
        token = page.get("NextToken")
        if not token:
            return items
