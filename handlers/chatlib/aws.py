"""boto3 clients, created on first use and reused for the life of the container.

boto3 is imported here, lazily: importing it costs more than everything else a handler loads,
and the authorizer never needs it. Clients are created under a lock, because boto3's default
session is not safe to share between threads while it builds a client.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, cast

# PostToConnection calls run in parallel; each worker thread needs its own HTTP connection.
# 64 puts the latency floor of 1,000 posts at 20 ms x 1000 / 64 = 0.3 s; beyond that, botocore's
# ~0.5 ms of CPU per call (under the GIL) dominates (bench/bench_handlers.py).
FANOUT_WORKERS = 64

_clients: dict[tuple[str, str | None], object] = {}
_lock = threading.Lock()


class DynamoDB(Protocol):
    def put_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def get_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def update_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def delete_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def query(self, **kwargs: Any) -> dict[str, Any]: ...


class ManagementApi(Protocol):
    def post_to_connection(self, **kwargs: Any) -> dict[str, Any]: ...


def dynamodb() -> DynamoDB:
    """The DynamoDB client; AWS_ENDPOINT_URL (local mode) is honoured by botocore itself."""
    # Stale rows are deleted in parallel by the fan-out workers.
    return cast(DynamoDB, _client("dynamodb", None, max_pool_connections=FANOUT_WORKERS))


def management(endpoint: str) -> ManagementApi:
    """The @connections API client for one endpoint (https://{domain}/{stage})."""
    client = _client("apigatewaymanagementapi", endpoint, max_pool_connections=FANOUT_WORKERS)
    return cast(ManagementApi, client)


def error_code(error: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, or None for any other exception."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return code if isinstance(code, str) else None


def is_gone(error: BaseException) -> bool:
    """API Gateway's answer for a connection that no longer exists: GoneException, HTTP 410."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return False
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error_code(error) == "GoneException" or status == 410


def _client(service: str, endpoint: str | None, *, max_pool_connections: int) -> object:
    key = (service, endpoint)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _new_client(service, endpoint, max_pool_connections)
                _clients[key] = client
    return client


def _new_client(service: str, endpoint: str | None, max_pool_connections: int) -> object:
    import boto3  # lazy on purpose: see the module docstring
    from botocore.config import Config

    config = Config(
        connect_timeout=3,
        read_timeout=10,
        retries={"mode": "standard", "max_attempts": 3},
        max_pool_connections=max_pool_connections,
    )
    return boto3.client(service, endpoint_url=endpoint, config=config)
