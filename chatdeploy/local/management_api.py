"""The `@connections` API of the local gateway, as boto3's apigatewaymanagementapi client
expects it at MANAGEMENT_API_ENDPOINT (`http://127.0.0.1:<port>/<stage>`).

POST /<stage>/@connections/{id} sends the body to the connection, GET describes it, DELETE
closes it (its `$disconnect` runs). A connection that is not open answers 410 GoneException;
errors carry `x-amzn-ErrorType` and a JSON body, as AWS's do. Any credentials are accepted.
"""

from __future__ import annotations

import datetime
import urllib.parse

from chatdeploy.local.gateway import Gateway
from chatdeploy.local.http_server import HttpRequest, HttpResponse

CONNECTIONS_SEGMENT = "@connections"


def is_management_path(path: str) -> bool:
    return f"/{CONNECTIONS_SEGMENT}/" in path


def respond(gateway: Gateway, request: HttpRequest) -> HttpResponse:
    stage_part, _, connection_part = request.path.lstrip("/").partition(f"{CONNECTIONS_SEGMENT}/")
    if stage_part.strip("/") != gateway.api.stage:
        return _error(403, "ForbiddenException", "Forbidden")
    connection_id = urllib.parse.unquote(connection_part)
    if not connection_id or "/" in connection_id:
        return _error(400, "BadRequestException", "Invalid connectionId")
    if request.method == "POST":
        return _post(gateway, connection_id, request.body)
    if request.method == "GET":
        return _describe(gateway, connection_id)
    if request.method == "DELETE":
        return _delete(gateway, connection_id)
    return _error(405, "MethodNotAllowedException", f"{request.method} is not supported")


def _post(gateway: Gateway, connection_id: str, data: bytes) -> HttpResponse:
    if len(data) > gateway.settings.max_message_bytes:
        limit = gateway.settings.max_message_bytes
        return _error(413, "PayloadTooLargeException", f"Message too long; the limit is {limit}")
    if not gateway.post(connection_id, data):
        return _gone()
    return HttpResponse(200)


def _describe(gateway: Gateway, connection_id: str) -> HttpResponse:
    connection = gateway.connections.get(connection_id)
    if connection is None or not connection.is_open:
        return _gone()
    facts = connection.facts
    return HttpResponse.json(
        200,
        {
            "connectedAt": _iso(facts.connected_at_ms),
            "identity": {"sourceIp": facts.source_ip, "userAgent": facts.user_agent},
            "lastActiveAt": _iso(connection.last_active_ms),
        },
    )


def _delete(gateway: Gateway, connection_id: str) -> HttpResponse:
    return HttpResponse(204) if gateway.disconnect(connection_id) else _gone()


def _gone() -> HttpResponse:
    return _error(410, "GoneException", None)


def _error(status: int, code: str, message: str | None) -> HttpResponse:
    return HttpResponse.json(status, {"message": message}, (("x-amzn-ErrorType", code),))


def _iso(epoch_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(epoch_ms / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
