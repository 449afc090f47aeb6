"""What every stage works with: the config, names, AWS access, the state and the reporter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from chatdeploy.aws import AwsContext
from chatdeploy.config import Config
from chatdeploy.engine import Outcome, Unknown
from chatdeploy.names import Names
from chatdeploy.packaging import FunctionSource
from chatdeploy.state import State


class Reporter(Protocol):
    """Receives progress; the CLI shows it live, tests ignore it."""

    def add(self, stage: str, key: str, label: str) -> None: ...

    def update(self, key: str, status: str, detail: str = "") -> None: ...

    def done(self, outcome: Outcome) -> None: ...

    def warn(self, message: str) -> None: ...


class SilentReporter:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def add(self, stage: str, key: str, label: str) -> None:
        pass

    def update(self, key: str, status: str, detail: str = "") -> None:
        pass

    def done(self, outcome: Outcome) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@dataclass(frozen=True)
class LocalEndpoints:
    """Set by `chatdeploy local`: where the local gateway and the emulator listen."""

    websocket_url: str
    emulator_url: str
    page_url: str


@dataclass
class DeployContext:
    config: Config
    names: Names
    aws: AwsContext
    state: State
    functions: list[FunctionSource]
    reporter: Reporter = field(default_factory=SilentReporter)
    plan_mode: bool = False
    local: LocalEndpoints | None = None
    wait: bool = False
    keep_logs: bool = False

    @property
    def region(self) -> str:
        return self.aws.region

    @property
    def account(self) -> str:
        return self.aws.account

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:{self.aws.partition}:{service}:{where}:{self.account}:{resource}"

    def recorded(self, key: str) -> dict[str, Any] | None:
        return self.state.get(key)

    def record(self, key: str, **values: Any) -> None:
        """Keep ids in the state file; call it the moment a resource exists."""
        if not self.plan_mode:
            self.state.update(key, **values)

    def require(self, key: str, field_name: str) -> Any:
        """A value another resource recorded; `Unknown` when that resource does not exist (yet):
        a plan shows it as to be created, a destroy as already gone with its parent."""
        record = self.state.get(key) or {}
        if field_name not in record:
            raise Unknown(key)
        return record[field_name]

    def progress(self, key: str, detail: str) -> None:
        self.reporter.update(key, "waiting", detail)

    def warn(self, message: str) -> None:
        self.reporter.warn(message)
