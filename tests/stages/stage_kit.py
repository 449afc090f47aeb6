"""Helpers for the auth, frontend and cdn stage tests, against in-process moto.

A `Stack` deploys only these three stages. What they need from the rest (the WebSocket API's
id) is recorded in the state, as the websocket_api stage would have done.
"""

from __future__ import annotations

import copy
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.stub import Stubber

from chatdeploy.aws import ClientHook, is_mutating
from chatdeploy.config import Config
from chatdeploy.context import DeployContext, LocalEndpoints
from chatdeploy.engine import Action, Engine, Outcome, Report
from chatdeploy.stages.auth import AuthStage
from chatdeploy.stages.cdn import CdnStage
from chatdeploy.stages.frontend import FrontendStage
from chatdeploy.stages.websocket_api import API_KEY
from chatdeploy.workspace import Workspace

from snapshot import stages_5_to_7
from support import open_workspace

SITE = Path(__file__).parent / "site"
API_ID = "fakeapi1"
WEBSOCKET_URL = f"wss://{API_ID}.execute-api.us-east-1.amazonaws.com/production"
BUCKET = "chat-frontend-123456789012-us-east-1"


@dataclass
class Stack:
    """The three stages of one stack, deployed run after run from one state directory."""

    state_dir: Path
    site: Path
    config: Config = field(default_factory=Config)
    hooks: list[ClientHook] = field(default_factory=list)

    @classmethod
    def new(cls, tmp_path: Path, config: Config | None = None) -> Stack:
        site = tmp_path / "site"
        shutil.copytree(SITE, site)
        return cls(tmp_path / "state", site, config or Config())

    def workspace(self) -> Workspace:
        workspace = open_workspace(self.state_dir, self.config, hooks=self.hooks)
        if workspace.state.get(API_KEY) is None:
            workspace.state.update(API_KEY, id=API_ID)
        return workspace

    def engine(self, **context: Any) -> tuple[Engine, DeployContext]:
        ctx = self.workspace().context(**context)
        ctx.aws.calls.clear()
        stages = [AuthStage(), FrontendStage(self.site), CdnStage()]
        return Engine(ctx, stages), ctx

    def up(self, **context: Any) -> tuple[Report, DeployContext]:
        engine, ctx = self.engine(**context)
        return engine.up(), ctx

    def plan(self) -> tuple[Report, DeployContext]:
        engine, ctx = self.engine(plan_mode=True)
        return engine.plan(), ctx

    def destroy(self) -> tuple[Report, DeployContext]:
        engine, ctx = self.engine()
        return engine.destroy(), ctx

    def lose_state(self) -> None:
        (self.state_dir / "chat.json").unlink()

    def with_config(self, **sections: dict[str, Any]) -> Stack:
        """The same stack with some config sections changed."""
        raw = self.config.model_dump()
        for name, values in sections.items():
            raw[name] = {**raw[name], **values}
        return Stack(self.state_dir, self.site, Config.model_validate(raw), list(self.hooks))


LOCAL = LocalEndpoints(
    websocket_url="ws://127.0.0.1:8080/production",
    emulator_url="http://127.0.0.1:5001",
    page_url="http://127.0.0.1:8080/",
)


def ok(result: tuple[Report, DeployContext]) -> DeployContext:
    report, ctx = result
    assert report.ok, [(o.key, o.details) for o in report.failures]
    return ctx


def actions(report: Report) -> dict[str, Action]:
    return {outcome.key: outcome.action for outcome in report.outcomes}


def details(report: Report, key: str) -> list[str]:
    return next(o.details for o in report.outcomes if o.key == key)


@dataclass
class Recorder:
    """A reporter that keeps what it is told."""

    updates: list[tuple[str, str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, stage: str, key: str, label: str) -> None:
        pass

    def update(self, key: str, status: str, detail: str = "") -> None:
        self.updates.append((key, status, detail))

    def done(self, outcome: Outcome) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


# -- watching and breaking AWS calls -------------------------------------------------------------


@dataclass
class Spy:
    """Records the parameters of every call, in order (the call log keeps only names)."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, client: Any) -> None:
        client.meta.events.register("provide-client-params", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, copy.deepcopy(params)))

    def mutating(self) -> list[tuple[str, dict[str, Any]]]:
        return [(name, params) for name, params in self.calls if is_mutating(name)]

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]

    def clear(self) -> None:
        self.calls.clear()


class SimulatedCrash(Exception):
    """Stands for the process dying."""


class CrashAfterCall:
    """Dies once the k-th call has taken effect in AWS, before chatdeploy sees its answer:
    the moment a crash loses the most (nothing about it can have been recorded yet)."""

    def __init__(self, k: int, operation: str | None = None) -> None:
        """`operation`: count only calls of that operation."""
        self.k = k
        self.operation = operation
        self.seen = 0
        self._lock = threading.Lock()

    def __call__(self, client: Any) -> None:
        client.meta.events.register("after-call", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        if self.operation not in (None, model.name):
            return
        with self._lock:
            self.seen += 1
            if self.seen == self.k:
                raise SimulatedCrash(f"crash after {model.name} (call {self.k})")


class Stubbed:
    """A botocore Stubber on the client of one service, attached as the AWS layer makes it."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.client: Any = None
        self.stubber: Stubber | None = None

    def __call__(self, client: Any) -> None:
        if client.meta.service_model.service_name == self.service:
            self.client = client
            self.stubber = Stubber(client)
            self.stubber.activate()

    def respond(self, operation: str, response: dict[str, Any], **expected: Any) -> None:
        assert self.stubber is not None
        self.stubber.add_response(operation, response, expected or None)

    def fail(self, operation: str, code: str, status: int = 400, **expected: Any) -> None:
        assert self.stubber is not None
        self.stubber.add_client_error(
            operation, code, http_status_code=status, expected_params=expected or None
        )

    def done(self) -> None:
        assert self.stubber is not None
        self.stubber.assert_no_pending_responses()


def inventory() -> dict[str, Any]:
    """What the three stages leave in the (mocked) account (see tests/snapshot.py)."""
    return stages_5_to_7()
