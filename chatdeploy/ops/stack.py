"""The deployed stack as the operating commands see it: its outputs and its functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from chatdeploy.aws import is_loopback
from chatdeploy.errors import AwsError, ChatdeployError, UsageError

if TYPE_CHECKING:
    from chatdeploy.aws import AwsContext
    from chatdeploy.workspace import Options, Workspace


class NotDeployed(UsageError):
    """The state file records no deployed stack (or not the part a command needs)."""


@dataclass(frozen=True)
class StackFunction:
    """One Lambda function: `send_message` is deployed as `ChatSendMessage`."""

    logical_name: str
    function_name: str

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"


class DeployedStack:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.name = workspace.config.stack
        if not workspace.has_resources:
            raise NotDeployed(
                f"stack {self.name} is not deployed here (nothing in {workspace.state.path})",
                hint="run `chatdeploy up` (or `chatdeploy local`), or point --state-dir and "
                "-c at the stack you mean",
            )

    @classmethod
    def open(cls, options: Options) -> DeployedStack:
        from chatdeploy.workspace import Workspace

        return cls(Workspace(options))

    @property
    def region(self) -> str:
        return self.workspace.region

    @property
    def endpoint_url(self) -> str | None:
        return self.workspace.endpoint_url

    def aws(self, *, read_only: bool = False) -> AwsContext:
        """AWS access, checked against the recorded account (the first call of a command)."""
        try:
            return self.workspace.checked_aws(read_only=read_only)
        except botocore.exceptions.EndpointConnectionError:
            if not is_loopback(self.endpoint_url):
                raise
            raise AwsError(
                f"nothing answers at {self.endpoint_url}, where `chatdeploy local` ran stack "
                f"{self.name}",
                hint="start `chatdeploy local` again with the same --state-dir",
            ) from None

    def output(self, key: str) -> str:
        value = self.workspace.state.outputs.get(key)
        if not value:
            raise NotDeployed(
                f"stack {self.name} has no {key} recorded; its deploy did not finish",
                hint="run `chatdeploy up` again",
            )
        return str(value)

    def functions(self) -> list[StackFunction]:
        """Every function the stack records, plus any handler found that it does not."""
        recorded: dict[str, Any] = self.workspace.state.outputs.get("function_arns") or {}
        by_name = {
            logical: StackFunction(logical, str(arn).rsplit(":", 1)[-1])
            for logical, arn in recorded.items()
            if arn
        }
        for logical in self._handler_names():
            by_name.setdefault(
                logical, StackFunction(logical, self.workspace.names.function(logical))
            )
        return [by_name[logical] for logical in sorted(by_name)]

    def _handler_names(self) -> list[str]:
        try:
            return [source.name for source in self.workspace.functions()]
        except ChatdeployError:
            # Logs and metrics stay useful when the handler sources are missing or broken.
            return []
