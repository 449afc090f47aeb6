"""`chatdeploy local` from start to Ctrl-C.

1. The state directory is checked: a state file of a real deployment is never touched; one
   left by an earlier local session (its emulator on loopback, now gone) is stale and removed.
2. The local port is bound first, so the WebSocket URL is known before anything is deployed.
3. moto's server starts on an ephemeral loopback port, and the same stages as `up` run against
   it, through the same code (Workspace + Engine.up with LocalEndpoints). The state file then
   records the emulator, so `status`, `users`, `logs`, … work from another shell meanwhile.
4. What was deployed is read back from the emulator; each function's uploaded zip (checked
   against its CodeSha256) is unpacked and run by a worker process.
5. One listener serves the gateway, the @connections API and the frontend until stopped.
6. Stopping closes the connections, stops the workers and the emulator, and removes the state
   file and every temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatdeploy.aws import EMULATOR_CREDENTIALS, is_loopback
from chatdeploy.config import Config, load_config
from chatdeploy.context import LocalEndpoints, Reporter
from chatdeploy.errors import LockedError, StageFailed, StateError, UsageError
from chatdeploy.local.deployed import DeployedApi, FunctionSpec, load_api, load_function
from chatdeploy.local.emulator import LOOPBACK, Emulator, answers
from chatdeploy.local.events import ApiFacts
from chatdeploy.local.function_code import unpack, uploaded_code
from chatdeploy.local.gateway import Gateway, GatewaySettings
from chatdeploy.local.lambda_logs import Echo, LogShipper
from chatdeploy.local.workers import (
    DEFAULT_MAX_WORKERS,
    WorkerFleet,
    WorkerPlan,
    link_runtime_packages,
)
from chatdeploy.names import API_STAGE
from chatdeploy.packaging import build
from chatdeploy.stages.frontend import BUCKET_KEY as FRONTEND_BUCKET_KEY
from chatdeploy.stages.websocket_api import API_KEY
from chatdeploy.state import State, stack_lock
from chatdeploy.workspace import Options, Workspace

DEFAULT_PORT = 8080
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class LocalSettings:
    port: int = DEFAULT_PORT
    idle_timeout_s: float = 600.0
    max_duration_s: float = 7200.0
    max_workers: int = DEFAULT_MAX_WORKERS
    echo: Echo | None = None


@dataclass(frozen=True)
class LocalUrls:
    page: str
    websocket: str
    management: str
    emulator: str


@dataclass(frozen=True)
class Deployment:
    """What `deploy` leaves for `serve`."""

    workspace: Workspace
    api: DeployedApi
    facts: ApiFacts
    plans: list[WorkerPlan]
    bucket: str


class LocalSession:
    """One run of `chatdeploy local`: deploy (blocking), serve (async), close."""

    def __init__(
        self,
        options: Options,
        settings: LocalSettings | None = None,
        *,
        config: Config | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.options = options
        self.settings = settings or LocalSettings()
        self.config = config or load_config(options.config)
        self.reporter = reporter
        self.emulator: Emulator | None = None
        self.deployment: Deployment | None = None
        self.gateway: Gateway | None = None
        self._socket: socket.socket | None = None
        self._scratch = Path(tempfile.mkdtemp(prefix="chatdeploy-local-"))
        self._state_path: Path | None = None

    # -- deploy ------------------------------------------------------------------------------

    def deploy(self) -> LocalUrls:
        """Everything before serving: checks, port, emulator, `up`, code. Blocking."""
        clear_stale_state(self.options.state_dir, self.config.stack)
        self._socket = bind_port(self.settings.port)
        self.emulator = Emulator()
        self.emulator.start()
        urls = self.urls
        workspace = self._workspace(urls.emulator)
        self._state_path = workspace.state.path
        with stack_lock(self.options.state_dir, self.config.stack, "local"):
            ctx = workspace.context(
                reporter=self.reporter,
                local=LocalEndpoints(
                    websocket_url=urls.websocket, emulator_url=urls.emulator, page_url=urls.page
                ),
            )
            report = workspace.engine(ctx).up()
        if not report.ok:
            failed = "; ".join(f"{o.label}: {' '.join(o.details)}" for o in report.failures)
            raise StageFailed(f"deploying to the emulator failed: {failed}")
        self.deployment = self._read_deployment(workspace, urls)
        return urls

    @property
    def urls(self) -> LocalUrls:
        assert self._socket is not None and self.emulator is not None
        port = self._socket.getsockname()[1]
        base = f"http://{LOOPBACK}:{port}"
        return LocalUrls(
            page=f"{base}/",
            websocket=f"ws://{LOOPBACK}:{port}/{API_STAGE}",
            management=f"{base}/{API_STAGE}",
            emulator=self.emulator.url,
        )

    def _workspace(self, emulator_url: str) -> Workspace:
        options = Options(
            config=self.options.config,
            state_dir=self.options.state_dir,
            region=self.options.region or self.config.region or _ambient_region(),
            profile=None,
            endpoint_url=emulator_url,
            handlers=self.options.handlers,
            verbose=self.options.verbose,
            retry=self.options.retry,
        )
        return Workspace(options, config=self.config)

    def _read_deployment(self, workspace: Workspace, urls: LocalUrls) -> Deployment:
        aws = workspace.aws()
        api_id = str((workspace.state.get(API_KEY) or {})["id"])
        api = load_api(aws.client("apigatewayv2"), api_id, API_STAGE)
        plans = self._worker_plans(workspace, sorted(api.functions()), urls)
        facts = ApiFacts(api_id, API_STAGE, workspace.region, aws.account)
        return Deployment(workspace, api, facts, plans, _frontend_bucket(workspace))

    def _worker_plans(
        self, workspace: Workspace, functions: list[str], urls: LocalUrls
    ) -> list[WorkerPlan]:
        """Each function's configuration and uploaded zip, unpacked into a directory of its own."""
        aws, emulator = workspace.aws(), self.emulator
        assert emulator is not None
        lambda_client = aws.client("lambda")
        artifacts = [build(source) for source in workspace.functions()]
        runtime = link_runtime_packages(self._scratch / "runtime")

        def held(name: str) -> bytes | None:
            return emulator.function_code(name, aws.account, workspace.region)

        plans = []
        for name in functions:
            spec = load_function(lambda_client, name)
            code = uploaded_code(lambda_client, spec, held=held, built=artifacts)
            code_dir = unpack(code, self._scratch / name)
            environment = worker_environment(spec, code_dir, workspace.region, urls)
            plans.append(WorkerPlan(spec, code_dir, environment, (runtime,)))
        return plans

    # -- serve -------------------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event, on_ready: Callable[[], None] = lambda: None) -> None:
        """Starts the workers and the listener, calls on_ready, and runs until `stop` is set."""
        from chatdeploy.local.frontend_server import FrontendServer
        from chatdeploy.local.http_server import HttpListener
        from chatdeploy.local.routing import LocalSite

        deployment = self.deployment
        assert deployment is not None and self._socket is not None
        aws = deployment.workspace.aws()
        shipper = LogShipper(aws.client("logs"), self.settings.echo)
        fleet = WorkerFleet(deployment.plans, shipper, self.settings.max_workers)
        self.gateway = Gateway(deployment.api, deployment.facts, fleet, self._gateway_settings())
        frontend = FrontendServer(aws.client("s3"), deployment.bucket)
        listener = HttpListener(self._socket, LocalSite(self.gateway, frontend))
        try:
            await fleet.start()
            await listener.start()
            on_ready()
            await stop.wait()
        finally:
            await self.gateway.stop()
            await listener.stop()
            await fleet.stop()
            await asyncio.to_thread(shipper.close)

    def _gateway_settings(self) -> GatewaySettings:
        return GatewaySettings(
            idle_timeout_s=self.settings.idle_timeout_s,
            max_duration_s=self.settings.max_duration_s,
        )

    # -- close -------------------------------------------------------------------------------

    def close(self) -> None:
        """Stops the emulator and removes what the session made on this machine."""
        if self._socket is not None:
            self._socket.close()
        if self.emulator is not None:
            emulator_url = self.emulator.url
            self.emulator.stop()
            self._forget_state(emulator_url)
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _forget_state(self, emulator_url: str) -> None:
        """The state file describes resources that died with the emulator."""
        if self._state_path is None:
            return
        state = State.load(self._state_path.parent, self.config.stack)
        if state.endpoint_url == emulator_url:
            state.delete_file()


def clear_stale_state(state_dir: Path, stack: str) -> None:
    """Refuses a state file of a real deployment or of a running local session; removes one
    left by a local session that has ended."""
    state = State.load(state_dir, stack)
    if not state.exists:
        return
    endpoint = state.endpoint_url
    if not is_loopback(endpoint):
        if not state.resources():
            return
        where = endpoint or f"AWS account {state.account or '?'} in {state.region or '?'}"
        raise StateError(
            f"{state.path} records stack {stack!r} deployed to {where}; local mode leaves it alone",
            hint="run `chatdeploy local --state-dir .chatdeploy-local` (any other directory)",
        )
    if endpoint and answers(endpoint):
        raise LockedError(
            f"another `chatdeploy local` is running for stack {stack!r} (emulator {endpoint})",
            hint=f"stop it first or use another --state-dir; if none runs, delete {state.path}",
        )
    state.delete_file()


def bind_port(port: int) -> socket.socket:
    try:
        return socket.create_server((LOOPBACK, port), reuse_port=False)
    except OSError as error:
        raise UsageError(
            f"cannot listen on {LOOPBACK}:{port}: {error.strerror}",
            hint="pass --port with a free port (0 picks one)",
        ) from None


def worker_environment(
    spec: FunctionSpec, code_dir: Path, region: str, urls: LocalUrls
) -> dict[str, str]:
    """The function's configured variables, then what Lambda's runtime sets, pointed at the
    emulator and the local gateway. Nothing of this machine's AWS configuration gets in."""
    return {
        **spec.environment,
        "AWS_ENDPOINT_URL": urls.emulator,
        "MANAGEMENT_API_ENDPOINT": urls.management,
        "AWS_ACCESS_KEY_ID": EMULATOR_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": EMULATOR_CREDENTIALS["aws_secret_access_key"],
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
        "AWS_EXECUTION_ENV": "chatdeploy_local",
        "LAMBDA_TASK_ROOT": str(code_dir),
        "_HANDLER": spec.handler,
        "TZ": ":UTC",
        "LANG": "C.UTF-8",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }


def _ambient_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def _frontend_bucket(workspace: Workspace) -> str:
    recorded = workspace.state.get(FRONTEND_BUCKET_KEY) or {}
    name = workspace.state.outputs.get("bucket") or recorded.get("name")
    if name:
        return str(name)
    return workspace.config.frontend.bucket_name or workspace.names.bucket(
        workspace.aws().account, workspace.region
    )


class BackgroundSession:
    """A local session on a thread of its own, for tests and benchmarks: `start` returns once
    it serves, `stop` ends it as Ctrl-C would."""

    def __init__(self, session: LocalSession) -> None:
        self.session = session
        self.urls: LocalUrls | None = None
        self.ready_after_s: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="chatdeploy-local", daemon=True)

    def start(self, timeout: float = 60.0) -> LocalUrls:
        started = time.monotonic()
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"local mode was not ready after {timeout} s")
        if self._failure is not None:
            raise self._failure
        self.ready_after_s = time.monotonic() - started
        assert self.urls is not None
        return self.urls

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def call(self, work: Callable[[], Any]) -> Any:
        """Runs a coroutine function on the session's loop and returns its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(work(), self._loop).result(timeout=60)

    def _run(self) -> None:
        try:
            self.urls = self.session.deploy()
            asyncio.run(self._serve())
        except BaseException as failure:
            self._failure = failure
        finally:
            self._ready.set()
            self.session.close()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.session.serve(self._stop, on_ready=self._ready.set)
