"""The guide's steps as stages, in the order a reader of the guide expects them."""

from __future__ import annotations

from chatdeploy.engine import Stage
from chatdeploy.stages.auth import AuthStage
from chatdeploy.stages.cdn import CdnStage
from chatdeploy.stages.frontend import FrontendStage
from chatdeploy.stages.functions import FunctionsStage
from chatdeploy.stages.role import RoleStage
from chatdeploy.stages.tables import TablesStage
from chatdeploy.stages.websocket_api import WebSocketApiStage


def all_stages() -> list[Stage]:
    return [
        TablesStage(),
        RoleStage(),
        FunctionsStage(),
        WebSocketApiStage(),
        AuthStage(),
        FrontendStage(),
        CdnStage(),
    ]
