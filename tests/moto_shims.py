"""Read-only calls moto lacks but AWS has, added for the in-process tests only.

chatdeploy uses GetAuthorizers to find an authorizer by name when the state file is lost; moto
5.2 does not implement it. Against moto's server (local mode) the engine skips that listing.
"""

from __future__ import annotations

import json
from typing import Any

from moto.apigatewayv2.responses import ApiGatewayV2Response


def _get_authorizers(self: Any) -> tuple[int, dict[str, str], str]:
    api_id = self.path.split("/")[-2]
    api = self.apigatewayv2_backend.get_api(api_id)
    items = [authorizer.to_json() for authorizer in api.authorizers.values()]
    return 200, {}, json.dumps({"items": items})


def install() -> None:
    if not hasattr(ApiGatewayV2Response, "get_authorizers"):
        ApiGatewayV2Response.get_authorizers = _get_authorizers
