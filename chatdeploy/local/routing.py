"""What the one local port serves, by path, like the hosts it stands in for:

/<stage>                    the WebSocket API (a handshake; anything else gets 426)
/<stage>/@connections/{id}  the @connections management API
everything else             the frontend bucket (GET and HEAD)
"""

from __future__ import annotations

import asyncio

from chatdeploy.local import management_api
from chatdeploy.local.frontend_server import FrontendServer
from chatdeploy.local.gateway import Gateway
from chatdeploy.local.http_server import HttpRequest, HttpResponse


class LocalSite:
    def __init__(self, gateway: Gateway, frontend: FrontendServer) -> None:
        self.gateway = gateway
        self.frontend = frontend

    @property
    def _stage_path(self) -> str:
        return f"/{self.gateway.api.stage}"

    async def respond(self, request: HttpRequest) -> HttpResponse:
        if management_api.is_management_path(request.path):
            return management_api.respond(self.gateway, request)
        if request.path.rstrip("/") == self._stage_path:
            return HttpResponse.json(
                426, {"message": "Upgrade Required"}, (("Upgrade", "websocket"),)
            )
        return await self.frontend.respond(request)

    async def upgrade(
        self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if request.path.rstrip("/") != self._stage_path:
            writer.write(
                HttpResponse.json(403, {"message": "Forbidden"}).serialize(keep_alive=False)
            )
            await writer.drain()
            return
        await self.gateway.upgrade(request, reader, writer)
