"""Each function's code in long-lived worker processes, invoked the way Lambda invokes it.

A worker is `worker_main.py` in a process of its own, started in the function's unpacked zip
with the function's configured environment. Invocations of one function queue for an idle
worker (one warm worker per function, more while invocations overlap). A worker that runs
past the function's timeout is killed and replaced, and the invocation fails as Lambda's does;
so does one whose process dies. The invoke protocol runs over a socket of its own (see
worker_main); the workers' stdout and stderr go to CloudWatch Logs through the LogShipper.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatdeploy.errors import ChatdeployError
from chatdeploy.local.deployed import FunctionSpec
from chatdeploy.local.lambda_logs import LogShipper, new_stream_name

WORKER_MAIN = Path(__file__).with_name("worker_main.py")
# What Lambda's Python runtime provides beside the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
SPAWN_TIMEOUT_S = 30.0
# Lambda runs overlapping invocations in separate environments; a few suffice on one machine.
DEFAULT_MAX_WORKERS = 4
STOP_GRACE_S = 2.0
_LENGTH = struct.Struct(">I")
_LINE_LIMIT = 1024 * 1024


class WorkerDied(Exception):
    """The worker process ended while it had an invocation."""


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation: the handler's answer, or Lambda's error document."""

    request_id: str
    ok: bool
    payload: Any = None
    error: dict[str, Any] | None = None

    @property
    def error_message(self) -> str:
        return str((self.error or {}).get("errorMessage", ""))


@dataclass(frozen=True)
class WorkerPlan:
    """Everything needed to start a worker of one function."""

    spec: FunctionSpec
    code_dir: Path
    environment: Mapping[str, str]
    runtime_path: tuple[Path, ...] = ()
    spawn_timeout_s: float = SPAWN_TIMEOUT_S


def link_runtime_packages(directory: Path, packages: Iterable[str] = RUNTIME_PACKAGES) -> Path:
    """A directory holding links to the installed boto3 and its dependencies, and nothing else:
    the libraries a handler may use without bundling them, as on Lambda."""
    directory.mkdir(parents=True, exist_ok=True)
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        source = origin.parent if spec.submodule_search_locations else origin
        link = directory / source.name
        if not link.exists():
            link.symlink_to(source, target_is_directory=source.is_dir())
    return directory


class WorkerProcess:
    """One running worker: its process, its channel, and its log stream."""

    def __init__(
        self,
        plan: WorkerPlan,
        process: asyncio.subprocess.Process,
        channel: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        stream: str,
        shipper: LogShipper,
    ) -> None:
        self.plan = plan
        self.process = process
        self.stream = stream
        self._reader, self._writer = channel
        self._shipper = shipper
        self._pumps = [
            asyncio.create_task(self._pump(pipe))
            for pipe in (process.stdout, process.stderr)
            if pipe is not None
        ]

    @classmethod
    async def spawn(cls, plan: WorkerPlan, shipper: LogShipper) -> WorkerProcess:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        stream = new_stream_name()
        try:
            process = await asyncio.create_subprocess_exec(
                *_command(plan, child_end.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(child_end.fileno(),),
                env={**plan.environment, "AWS_LAMBDA_LOG_STREAM_NAME": stream},
                cwd=plan.code_dir,
                # Its own session: Ctrl-C in the terminal reaches us, and we stop the workers.
                start_new_session=True,
                limit=_LINE_LIMIT,
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        try:
            channel = await asyncio.open_unix_connection(sock=parent_end, limit=_LINE_LIMIT)
        except BaseException:
            parent_end.close()
            process.kill()
            raise
        worker = cls(plan, process, channel, stream, shipper)
        try:
            await worker._wait_ready()
        except BaseException:  # a failed start, or a cancelled one: no process is left behind
            worker.kill()
            await worker.wait_closed()
            raise
        return worker

    @property
    def label(self) -> str:
        return self.plan.spec.name

    async def call(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Sends one invocation and waits for its result; TimeoutError, or WorkerDied."""
        body = json.dumps(message).encode()
        try:
            self._writer.write(_LENGTH.pack(len(body)) + body)
            await self._writer.drain()
            return await asyncio.wait_for(self._receive(), timeout)
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            raise WorkerDied(str(error)) from None

    def log(self, message: str) -> None:
        self._shipper.write(self.plan.spec.log_group, self.stream, self.label, message)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def stop(self) -> None:
        """Ends the worker: closing its channel lets it exit; then SIGTERM, then SIGKILL."""
        self._writer.close()
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_GRACE_S)
            except TimeoutError:
                self.kill()
        await self.wait_closed()

    async def wait_closed(self) -> None:
        await self.process.wait()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        self._writer.close()

    async def _wait_ready(self) -> None:
        try:
            ready = await asyncio.wait_for(self._receive(), self.plan.spawn_timeout_s)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            raise ChatdeployError(
                f"the worker of {self.label} did not start",
                hint=f"its output (console, log group {self.plan.spec.log_group}) says why",
            ) from None
        if ready.get("type") != "ready":
            raise ChatdeployError(f"the worker of {self.label} sent {ready!r} instead of ready")

    async def _receive(self) -> dict[str, Any]:
        header = await self._reader.readexactly(_LENGTH.size)
        body = await self._reader.readexactly(_LENGTH.unpack(header)[0])
        return dict(json.loads(body))

    async def _pump(self, pipe: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await pipe.readline()
            except ValueError:  # a line over the limit: take what is there
                line = await pipe.read(_LINE_LIMIT)
            if not line:
                return
            self.log(line.decode("utf-8", "replace").rstrip("\n"))


def _command(plan: WorkerPlan, channel_fd: int) -> list[str]:
    # -I: no PYTHON* variables, no user site; -S: no site-packages; -u: unbuffered output.
    command = [sys.executable, "-I", "-S", "-u", str(WORKER_MAIN)]
    command += ["--channel-fd", str(channel_fd), "--handler", plan.spec.handler]
    command += ["--parent-pid", str(os.getpid())]
    for path in plan.runtime_path:
        command += ["--runtime-path", str(path)]
    return command


@dataclass
class FunctionWorkers:
    """The workers of one function, like Lambda's execution environments: one starts with the
    session; an invocation that finds every worker busy starts another (a cold start) up to
    `max_workers`, beyond which invocations queue. A worker that times out or dies is killed
    and replaced in the background."""

    plan: WorkerPlan
    shipper: LogShipper
    max_workers: int = DEFAULT_MAX_WORKERS
    _idle: asyncio.Queue[WorkerProcess] = field(default_factory=asyncio.Queue)
    _workers: set[WorkerProcess] = field(default_factory=set)
    _starting: int = 0
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    _stopping: bool = False

    async def start(self) -> None:
        self._idle.put_nowait(await self._spawn())

    async def invoke(self, event: Any, request_id: str) -> Invocation:
        if self._idle.empty() and len(self._workers) + self._starting < self.max_workers:
            self._start_worker()
        worker = await self._idle.get()
        timeout = float(self.plan.spec.timeout_s)
        message = {
            "type": "invoke",
            "requestId": request_id,
            "event": event,
            "deadlineMs": int((time.time() + timeout) * 1000),
        }
        started = time.monotonic()
        try:
            result = await worker.call(message, timeout)
        except TimeoutError:
            return self._timed_out(worker, request_id, time.monotonic() - started)
        except WorkerDied:
            return self._died(worker, request_id)
        except asyncio.CancelledError:
            self._replace(worker)  # its late answer would be read as the next one's
            raise
        self._idle.put_nowait(worker)
        return _invocation(request_id, result)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await asyncio.gather(*(worker.stop() for worker in self._workers), return_exceptions=True)

    async def _spawn(self) -> WorkerProcess:
        worker = await WorkerProcess.spawn(self.plan, self.shipper)
        self._workers.add(worker)
        return worker

    def _start_worker(self, replacing: WorkerProcess | None = None) -> None:
        # Counted now, not when the task runs: invocations arriving together must see it.
        self._starting += 1
        self._in_background(self._add_worker(replacing))

    async def _add_worker(self, replacing: WorkerProcess | None) -> None:
        """Starts a worker for the idle queue; a replacement keeps trying until it runs."""
        try:
            if replacing is not None:
                await replacing.wait_closed()
            delay = 0.1
            while not self._stopping:
                try:
                    self._idle.put_nowait(await self._spawn())
                    return
                except ChatdeployError as error:
                    self.shipper.write(
                        self.plan.spec.log_group, "chatdeploy", self.plan.spec.name, error.message
                    )
                    if replacing is None:
                        return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        finally:
            self._starting -= 1

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _timed_out(self, worker: WorkerProcess, request_id: str, elapsed: float) -> Invocation:
        limit = self.plan.spec.timeout_s
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        message = f"{stamp}Z {request_id} Task timed out after {limit:.2f} seconds"
        worker.log(message)
        worker.log(f"END RequestId: {request_id}")
        worker.log(
            f"REPORT RequestId: {request_id}\tDuration: {elapsed * 1000:.2f} ms\t"
            f"Memory Size: {self.plan.spec.memory_mb} MB\tStatus: timeout"
        )
        self._replace(worker)
        error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
        return Invocation(request_id, ok=False, error=error)

    def _died(self, worker: WorkerProcess, request_id: str) -> Invocation:
        status = worker.process.returncode
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {status}"
        worker.log(message)
        self._replace(worker)
        error = {"errorType": "Runtime.ExitError", "errorMessage": message}
        return Invocation(request_id, ok=False, error=error)

    def _replace(self, worker: WorkerProcess) -> None:
        worker.kill()
        self._workers.discard(worker)
        self._start_worker(replacing=worker)


def _invocation(request_id: str, result: dict[str, Any]) -> Invocation:
    if result.get("ok"):
        return Invocation(request_id, ok=True, payload=result.get("payload"))
    error = result.get("error") or {"errorType": "Unknown", "errorMessage": "no error document"}
    return Invocation(request_id, ok=False, error=dict(error))


class WorkerFleet:
    """Every function's workers, by function name: what the gateway invokes."""

    def __init__(
        self,
        plans: Iterable[WorkerPlan],
        shipper: LogShipper,
        max_workers: int = DEFAULT_MAX_WORKERS,
    ) -> None:
        self._functions = {
            plan.spec.name: FunctionWorkers(plan, shipper, max_workers) for plan in plans
        }

    @property
    def names(self) -> list[str]:
        return sorted(self._functions)

    async def start(self) -> None:
        results = await asyncio.gather(
            *(workers.start() for workers in self._functions.values()), return_exceptions=True
        )
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            await self.stop()
            raise failures[0]

    async def invoke(self, function: str, event: Any, request_id: str) -> Invocation:
        workers = self._functions.get(function)
        if workers is None:
            error = {
                "errorType": "ResourceNotFoundException",
                "errorMessage": f"Function not found: {function}",
            }
            return Invocation(request_id, ok=False, error=error)
        return await workers.invoke(event, request_id)

    async def stop(self) -> None:
        await asyncio.gather(*(workers.stop() for workers in self._functions.values()))
