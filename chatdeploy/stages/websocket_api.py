"""Guide step 4: the API Gateway WebSocket API, its routes, authorizer and production stage.

AWS accepts duplicate API names and route keys, and duplicate permission statement ids fail;
so everything is looked up before it is created, and diffed rather than recreated.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from chatdeploy.engine import Change, Found, Resource, Stage
from chatdeploy.names import API_STAGE
from chatdeploy.packaging import AUTHORIZER, FunctionSource
from chatdeploy.stages.common import (
    InlineRolePolicy,
    ignore_missing,
    is_ours,
    lambda_invocation_uri,
    missing_tags,
    or_none,
    policy_document,
    the_one,
)
from chatdeploy.stages.functions import function_key

if TYPE_CHECKING:
    from chatdeploy.context import DeployContext

API_KEY = "websocket_api.api"
AUTHORIZER_KEY = "websocket_api.authorizer"
ROUTE_PREFIX = "websocket_api.route."
INTEGRATION_PREFIX = "websocket_api.integration."
PERMISSION_PREFIX = "websocket_api.permission."
ROUTE_SELECTION = "$request.body.action"
PERMISSION_SID = "chatdeploy-apigateway"
CONNECT_ROUTE = "$connect"


def api_id(ctx: DeployContext) -> str:
    return str(ctx.require(API_KEY, "id"))


def api_arn(ctx: DeployContext, path: str) -> str:
    return ctx.arn("execute-api", f"{api_id(ctx)}/{path}")


class Api(Resource):
    key = API_KEY

    def __init__(self, name: str) -> None:
        self.name = name
        self.label = f"WebSocket API {name}"

    def find(self, ctx: DeployContext) -> Found | None:
        apigw = ctx.aws.client("apigatewayv2")
        recorded = ctx.recorded(self.key)
        api = or_none(lambda: apigw.get_api(ApiId=recorded["id"])) if recorded else None
        if api is None:
            apis = [
                a
                for page in _pages(apigw.get_apis)
                for a in page["Items"]
                if a["Name"] == self.name
            ]
            tagged = [a for a in apis if is_ours(ctx, a.get("Tags", {}))]
            api = the_one(tagged or apis, f"WebSocket APIs named {self.name}")
        if api is None:
            return None
        return Found(
            {"id": api["ApiId"], "endpoint": api.get("ApiEndpoint")},
            api,
            owned=is_ours(ctx, api.get("Tags", {})),
        )

    def create(self, ctx: DeployContext) -> None:
        api = ctx.aws.client("apigatewayv2").create_api(
            Name=self.name,
            ProtocolType="WEBSOCKET",
            RouteSelectionExpression=ROUTE_SELECTION,
            Description=f"chatdeploy stack {ctx.names.stack}",
            Tags=ctx.names.tags,
        )
        ctx.record(self.key, id=api["ApiId"], endpoint=api.get("ApiEndpoint"))

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        apigw = ctx.aws.client("apigatewayv2")
        api_identifier = found.record["id"]
        changes = []
        if found.data.get("RouteSelectionExpression") != ROUTE_SELECTION:
            changes.append(
                Change(
                    f"route selection {ROUTE_SELECTION}",
                    lambda: apigw.update_api(
                        ApiId=api_identifier, RouteSelectionExpression=ROUTE_SELECTION
                    ),
                )
            )
        absent = missing_tags(found.data.get("Tags", {}), ctx.names.tags)
        if absent:
            arn = f"arn:{ctx.aws.partition}:apigateway:{ctx.region}::/apis/{api_identifier}"
            changes.append(Change("tags", lambda: apigw.tag_resource(ResourceArn=arn, Tags=absent)))
        return changes

    def delete(self, ctx: DeployContext, found: Found) -> None:
        apigw = ctx.aws.client("apigatewayv2")
        ignore_missing(lambda: apigw.delete_api(ApiId=found.record["id"]))


def _child_call(ctx: DeployContext, verb: str, kind: str, api: str, **kwargs: Any) -> Any:
    """get/delete/list one kind of API part: integration, authorizer or route."""
    operation = getattr(ctx.aws.client("apigatewayv2"), f"{verb}_{kind}")
    return operation(ApiId=api, **kwargs)


def _id_field(kind: str) -> str:
    return f"{kind.capitalize()}Id"


def _get_child(ctx: DeployContext, kind: str, api: str, identifier: str) -> dict[str, Any] | None:
    return or_none(lambda: _child_call(ctx, "get", kind, api, **{_id_field(kind): identifier}))


def _delete_child(ctx: DeployContext, kind: str, api: str, identifier: str) -> None:
    ignore_missing(lambda: _child_call(ctx, "delete", kind, api, **{_id_field(kind): identifier}))


class _ApiChild(Resource):
    """A part of the API (integration, authorizer, route), found by its recorded id when that
    id belongs to the current API, else by listing the API's parts."""

    after: tuple[str, ...] = (API_KEY,)
    kind: str

    @abstractmethod
    def matches(self, ctx: DeployContext, item: dict[str, Any]) -> bool: ...

    def find(self, ctx: DeployContext) -> Found | None:
        current_api = api_id(ctx)
        recorded = ctx.recorded(self.key)
        item = None
        if recorded and recorded.get("api") == current_api:
            item = _get_child(ctx, self.kind, current_api, recorded["id"])
        if item is None:
            listing = getattr(ctx.aws.client("apigatewayv2"), f"get_{self.kind}s")
            pages = _pages(listing, ApiId=current_api)
            candidates = [i for page in pages for i in page["Items"] if self.matches(ctx, i)]
            item = the_one(candidates, f"{self.label} entries")
        if item is None:
            return None
        return Found({"id": item[_id_field(self.kind)], "api": current_api}, item)

    def delete(self, ctx: DeployContext, found: Found) -> None:
        _delete_child(ctx, self.kind, found.record["api"], found.record["id"])

    def _diff(self, found: Found, wanted: dict[str, Any]) -> list[str]:
        return [name for name, value in wanted.items() if found.data.get(name) != value]


class Integration(_ApiChild):
    kind = "integration"

    def __init__(self, function: FunctionSource) -> None:
        self.function = function
        self.key = f"{INTEGRATION_PREFIX}{function.name}"
        self.label = f"integration {function.name}"

    def _settings(self, ctx: DeployContext) -> dict[str, Any]:
        function_arn = ctx.require(function_key(self.function.name), "arn")
        return {
            "IntegrationType": "AWS_PROXY",
            "IntegrationMethod": "POST",
            "IntegrationUri": lambda_invocation_uri(ctx, function_arn),
        }

    def matches(self, ctx: DeployContext, item: dict[str, Any]) -> bool:
        return bool(item.get("IntegrationUri") == self._settings(ctx)["IntegrationUri"])

    def create(self, ctx: DeployContext) -> None:
        created = ctx.aws.client("apigatewayv2").create_integration(
            ApiId=api_id(ctx), **self._settings(ctx)
        )
        ctx.record(self.key, id=created["IntegrationId"], api=api_id(ctx))

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        wanted = self._settings(ctx)
        differing = self._diff(found, wanted)
        if not differing:
            return []
        update = lambda: ctx.aws.client("apigatewayv2").update_integration(  # noqa: E731
            ApiId=found.record["api"], IntegrationId=found.record["id"], **wanted
        )
        return [Change(", ".join(differing), update)]


class Authorizer(_ApiChild):
    key = AUTHORIZER_KEY
    kind = "authorizer"

    def __init__(self, name: str) -> None:
        self.name = name
        self.label = f"authorizer {name}"

    def _settings(self, ctx: DeployContext) -> dict[str, Any]:
        # No identity source: API Gateway would demand *every* listed source, but the token
        # comes either in ?token= or in Sec-WebSocket-Protocol. The authorizer answers 401
        # itself when both are missing.
        function_arn = ctx.require(function_key(AUTHORIZER), "arn")
        return {
            "Name": self.name,
            "AuthorizerType": "REQUEST",
            "AuthorizerUri": lambda_invocation_uri(ctx, function_arn),
            "IdentitySource": [],
        }

    def matches(self, ctx: DeployContext, item: dict[str, Any]) -> bool:
        return bool(item.get("Name") == self.name)

    def find(self, ctx: DeployContext) -> Found | None:
        """Recorded id first, then the one `$connect` uses, then a listing by name. moto has no
        GetAuthorizers, so against an emulator the listing is skipped."""
        current_api = api_id(ctx)
        recorded = ctx.recorded(self.key)
        if recorded and recorded.get("api") == current_api:
            item = _get_child(ctx, self.kind, current_api, recorded["id"])
            if item is not None:
                return Found({"id": item["AuthorizerId"], "api": current_api}, item)
        pages = _pages(ctx.aws.client("apigatewayv2").get_routes, ApiId=current_api)
        connect = [r for page in pages for r in page["Items"] if r["RouteKey"] == CONNECT_ROUTE]
        if connect and connect[0].get("AuthorizerId"):
            item = _get_child(ctx, self.kind, current_api, connect[0]["AuthorizerId"])
            if item is not None and self.matches(ctx, item):
                return Found({"id": item["AuthorizerId"], "api": current_api}, item)
        if ctx.aws.is_emulator:
            return None
        return super().find(ctx)

    def create(self, ctx: DeployContext) -> None:
        created = ctx.aws.client("apigatewayv2").create_authorizer(
            ApiId=api_id(ctx), **self._settings(ctx)
        )
        ctx.record(self.key, id=created["AuthorizerId"], api=api_id(ctx))

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        wanted = self._settings(ctx)
        current = dict(found.data)
        current.setdefault("IdentitySource", [])
        differing = [name for name, value in wanted.items() if current.get(name) != value]
        if not differing:
            return []
        update = lambda: ctx.aws.client("apigatewayv2").update_authorizer(  # noqa: E731
            ApiId=found.record["api"], AuthorizerId=found.record["id"], **wanted
        )
        return [Change(", ".join(differing), update)]


class Route(_ApiChild):
    kind = "route"

    def __init__(self, function: FunctionSource, route_key: str, has_authorizer: bool) -> None:
        self.function = function
        self.route_key = route_key
        self.key = f"{ROUTE_PREFIX}{route_key}"
        self.label = f"route {route_key}"
        self.authorized = has_authorizer and route_key == CONNECT_ROUTE
        needs = [API_KEY, f"{INTEGRATION_PREFIX}{function.name}"]
        if self.authorized:
            needs.append(AUTHORIZER_KEY)
        self.after = tuple(needs)

    def _settings(self, ctx: DeployContext) -> dict[str, Any]:
        integration = ctx.require(f"{INTEGRATION_PREFIX}{self.function.name}", "id")
        settings: dict[str, Any] = {
            "RouteKey": self.route_key,
            "Target": f"integrations/{integration}",
            "AuthorizationType": "CUSTOM" if self.authorized else "NONE",
        }
        if self.authorized:
            settings["AuthorizerId"] = ctx.require(AUTHORIZER_KEY, "id")
        return settings

    def matches(self, ctx: DeployContext, item: dict[str, Any]) -> bool:
        return bool(item.get("RouteKey") == self.route_key)

    def create(self, ctx: DeployContext) -> None:
        created = ctx.aws.client("apigatewayv2").create_route(
            ApiId=api_id(ctx), **self._settings(ctx)
        )
        ctx.record(self.key, id=created["RouteId"], api=api_id(ctx))

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        wanted = self._settings(ctx)
        differing = self._diff(found, wanted)
        if not differing:
            return []
        update = lambda: ctx.aws.client("apigatewayv2").update_route(  # noqa: E731
            ApiId=found.record["api"], RouteId=found.record["id"], **wanted
        )
        return [Change(", ".join(differing), update)]


class InvokePermission(Resource):
    """Lets this API, and only this API, invoke one function."""

    after = (API_KEY,)

    def __init__(self, ctx: DeployContext, logical_name: str) -> None:
        self.logical_name = logical_name
        self.function_name = ctx.names.function(logical_name)
        self.key = f"{PERMISSION_PREFIX}{logical_name}"
        self.label = f"invoke permission {self.function_name}"

    def find(self, ctx: DeployContext) -> Found | None:
        lambda_ = ctx.aws.client("lambda")
        policy = or_none(lambda: lambda_.get_policy(FunctionName=self.function_name))
        statements = json.loads(policy["Policy"]).get("Statement", []) if policy else []
        ours = next((s for s in statements if s.get("Sid") == PERMISSION_SID), None)
        if ours is None:
            return None
        return Found({"function": self.function_name, "sid": PERMISSION_SID}, ours)

    def create(self, ctx: DeployContext) -> None:
        ctx.aws.client("lambda").add_permission(
            FunctionName=self.function_name,
            StatementId=PERMISSION_SID,
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=api_arn(ctx, "*"),
        )
        ctx.record(self.key, function=self.function_name, sid=PERMISSION_SID)

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        condition = found.data.get("Condition", {}).get("ArnLike", {})
        if condition.get("AWS:SourceArn") == api_arn(ctx, "*"):
            return []

        def replace() -> None:
            self.delete(ctx, found)
            self.create(ctx)

        return [Change("source ARN (the API was replaced)", replace)]

    def delete(self, ctx: DeployContext, found: Found) -> None:
        lambda_ = ctx.aws.client("lambda")
        ignore_missing(
            lambda: lambda_.remove_permission(
                FunctionName=self.function_name, StatementId=PERMISSION_SID
            )
        )


class ProductionStage(Resource):
    key = "websocket_api.stage"
    label = f"stage {API_STAGE}"

    def __init__(self, after: tuple[str, ...]) -> None:
        self.after = after

    def find(self, ctx: DeployContext) -> Found | None:
        apigw = ctx.aws.client("apigatewayv2")
        current_api = api_id(ctx)
        stage = or_none(lambda: apigw.get_stage(ApiId=current_api, StageName=API_STAGE))
        return Found({"name": API_STAGE, "api": current_api}, stage) if stage else None

    def create(self, ctx: DeployContext) -> None:
        # AutoDeploy makes every route change live without create_deployment (which moto lacks).
        ctx.aws.client("apigatewayv2").create_stage(
            ApiId=api_id(ctx), StageName=API_STAGE, AutoDeploy=True, Tags=ctx.names.tags
        )
        ctx.record(self.key, name=API_STAGE, api=api_id(ctx))

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        if found.data.get("AutoDeploy"):
            return []
        update = lambda: ctx.aws.client("apigatewayv2").update_stage(  # noqa: E731
            ApiId=found.record["api"], StageName=API_STAGE, AutoDeploy=True
        )
        return [Change("auto-deploy on", update)]

    def delete(self, ctx: DeployContext, found: Found) -> None:
        apigw = ctx.aws.client("apigatewayv2")
        ignore_missing(lambda: apigw.delete_stage(ApiId=found.record["api"], StageName=API_STAGE))


def manage_connections_policy(ctx: DeployContext) -> dict[str, Any]:
    return policy_document(
        {
            "Sid": "PostToOwnConnections",
            "Effect": "Allow",
            "Action": "execute-api:ManageConnections",
            "Resource": api_arn(ctx, f"{API_STAGE}/*/@connections/*"),
        }
    )


class WebSocketApiStage(Stage):
    name = "websocket_api"
    title = "API Gateway WebSocket API (guide step 4)"
    needs = ("functions",)

    def resources(self, ctx: DeployContext) -> list[Resource]:
        has_authorizer = any(f.is_authorizer for f in ctx.functions)
        resources: list[Resource] = [
            Api(ctx.names.api),
            InlineRolePolicy(
                "websocket_api.manage_connections",
                "ManageConnections",
                manage_connections_policy,
                after=(API_KEY,),
            ),
        ]
        if has_authorizer:
            resources.append(Authorizer(ctx.names.authorizer))
        for function in ctx.functions:
            resources.append(InvokePermission(ctx, function.name))
            if function.route_key:
                resources.append(Integration(function))
                resources.append(Route(function, function.route_key, has_authorizer))
        routes = tuple(r.key for r in resources if isinstance(r, Route))
        resources.append(ProductionStage(after=(API_KEY, *routes)))
        return resources

    def orphan(self, ctx: DeployContext, key: str) -> Resource | None:
        if key.startswith(PERMISSION_PREFIX):
            return InvokePermission(ctx, key.removeprefix(PERMISSION_PREFIX))
        record = ctx.recorded(key) or {}
        if key.startswith((ROUTE_PREFIX, INTEGRATION_PREFIX)) and record.get("id"):
            return _RecordedApiChild(key, record)
        return None

    def outputs(self, ctx: DeployContext) -> dict[str, Any]:
        api = ctx.recorded(API_KEY) or {}
        if not api:
            return {"api_id": None, "websocket_url": None}
        url = (
            ctx.local.websocket_url
            if ctx.local
            else f"wss://{api['id']}.execute-api.{ctx.region}.amazonaws.com/{API_STAGE}"
        )
        return {"api_id": api["id"], "websocket_url": url}


class _RecordedApiChild(Resource):
    """A route or integration left over from a removed handler, known only by its record."""

    def __init__(self, key: str, record: dict[str, Any]) -> None:
        self.key = key
        self.kind = "route" if key.startswith(ROUTE_PREFIX) else "integration"
        self.label = f"{self.kind} {key.rsplit('.', 1)[-1]}"
        self.record = record

    def find(self, ctx: DeployContext) -> Found | None:
        item = _get_child(ctx, self.kind, self.record["api"], self.record["id"])
        return Found(self.record) if item else None

    def create(self, ctx: DeployContext) -> None:
        raise RuntimeError("a leftover is only ever removed")

    def delete(self, ctx: DeployContext, found: Found) -> None:
        _delete_child(ctx, self.kind, self.record["api"], self.record["id"])


def _pages(operation: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """All pages of an apigatewayv2 Get* listing (it has NextToken but no paginators)."""
    pages = []
    token = None
    while True:
        page = operation(**kwargs, **({"NextToken": token} if token else {}))
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            return pages
