"""Opens a stack for a command: config, state, region, endpoint and AWS access, checked against
each other before any AWS call is made."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from chatdeploy.aws import AwsContext, ClientHook, RetryPolicy, known_regions
from chatdeploy.bundled import handlers_dir
from chatdeploy.config import Config, load_config
from chatdeploy.context import DeployContext, LocalEndpoints, Reporter, SilentReporter
from chatdeploy.engine import Engine
from chatdeploy.errors import ConfigError, StateError, UsageError
from chatdeploy.names import Names
from chatdeploy.packaging import FunctionSource, discover
from chatdeploy.state import DEFAULT_STATE_DIR, State


@dataclass(frozen=True)
class Options:
    """What the user chose on the command line (None: not given)."""

    config: Path | None = None
    state_dir: Path = DEFAULT_STATE_DIR
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    handlers: Path | None = None
    verbose: bool = False
    client_hooks: tuple[ClientHook, ...] = field(default=())
    retry: RetryPolicy | None = None


class Workspace:
    def __init__(self, options: Options, *, config: Config | None = None) -> None:
        self.options = options
        self.config = config or load_config(options.config)
        self.names = Names(self.config.stack)
        self.state = State.load(options.state_dir, self.config.stack)
        self.endpoint_url = self._endpoint()
        self.region = self._region()
        self._aws: dict[bool, AwsContext] = {}

    @property
    def has_resources(self) -> bool:
        return bool(self.state.resources())

    def _endpoint(self) -> str | None:
        explicit = self.options.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        recorded = self.state.endpoint_url
        if explicit is None:
            return recorded
        if self.has_resources and explicit != recorded:
            where = recorded or "real AWS"
            raise StateError(
                f"stack {self.config.stack!r} was deployed to {where}, not {explicit}",
                hint="drop --endpoint-url / AWS_ENDPOINT_URL, or use another --state-dir",
            )
        return explicit

    def _region(self) -> str:
        explicit = self.options.region or self.config.region
        recorded = self.state.region if self.has_resources else None
        if explicit and recorded and explicit != recorded:
            raise StateError(
                f"stack {self.config.stack!r} lives in {recorded}, not {explicit}",
                hint="use the stack's region, or another --state-dir for a second copy",
            )
        region = explicit or recorded or _ambient_region(self.options.profile)
        if region is None:
            raise UsageError(
                "no AWS region given",
                hint="pass --region, set `region:` in chatdeploy.yaml, or export AWS_REGION",
            )
        if self.endpoint_url is None and region not in known_regions():
            raise UsageError(f"unknown AWS region {region!r}", hint="check --region / AWS_REGION")
        return region

    def aws(self, *, read_only: bool = False) -> AwsContext:
        if read_only not in self._aws:
            self._aws[read_only] = AwsContext(
                self.region,
                profile=self.options.profile,
                endpoint_url=self.endpoint_url,
                read_only=read_only,
                retry=self.options.retry,
                client_hooks=self.options.client_hooks,
            )
        return self._aws[read_only]

    def checked_aws(self, *, read_only: bool = False) -> AwsContext:
        """AWS access for a command that works on what is deployed, after checking that the
        credentials are for the account the state file records."""
        aws = self.aws(read_only=read_only)
        self._bind_account(aws)
        return aws

    def functions(self) -> list[FunctionSource]:
        functions = discover(self.options.handlers or _handlers_override() or handlers_dir())
        known = {f.name for f in functions}
        explicit = "overrides" in self.config.functions.model_fields_set
        for name in self.config.functions.overrides if explicit else ():
            if name not in known:
                raise ConfigError(
                    f"functions.overrides.{name}: no such handler",
                    hint=f"known handlers: {', '.join(sorted(known))}",
                )
        return functions

    def context(
        self,
        *,
        reporter: Reporter | None = None,
        plan_mode: bool = False,
        local: LocalEndpoints | None = None,
        wait: bool = False,
        keep_logs: bool = False,
    ) -> DeployContext:
        """A deploy context bound to this stack's account (checked against the state file)."""
        functions = self.functions()
        aws = self.aws(read_only=plan_mode)
        self._bind_account(aws)
        return DeployContext(
            config=self.config,
            names=self.names,
            aws=aws,
            state=self.state,
            functions=functions,
            reporter=reporter or SilentReporter(),
            plan_mode=plan_mode,
            local=local,
            wait=wait,
            keep_logs=keep_logs,
        )

    def engine(self, ctx: DeployContext) -> Engine:
        from chatdeploy.stages import all_stages

        return Engine(ctx, all_stages())

    def _bind_account(self, aws: AwsContext) -> None:
        account = aws.account
        recorded = self.state.account
        if recorded and recorded != account and self.has_resources:
            raise StateError(
                f"stack {self.config.stack!r} belongs to AWS account {recorded}; your "
                f"credentials are for {account}",
                hint="switch AWS_PROFILE to that account, or use another --state-dir",
            )
        self.state.bind(region=self.region, account=account, endpoint_url=self.endpoint_url)


def _handlers_override() -> Path | None:
    """CHATDEPLOY_HANDLERS: deploy handler modules from another directory (see the README)."""
    value = os.environ.get("CHATDEPLOY_HANDLERS")
    return Path(value) if value else None


def _ambient_region(profile: str | None) -> str | None:
    """AWS_REGION (which botocore itself does not read), else AWS_DEFAULT_REGION or the
    profile's region, as boto3 resolves them."""
    import boto3
    import botocore.exceptions

    if os.environ.get("AWS_REGION"):
        return os.environ["AWS_REGION"]
    try:
        region: str | None = boto3.Session(profile_name=profile).region_name
        return region
    except botocore.exceptions.ProfileNotFound:
        raise UsageError(
            f"AWS profile '{profile}' not found", hint="check --profile / AWS_PROFILE"
        ) from None
