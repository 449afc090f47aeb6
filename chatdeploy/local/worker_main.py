"""One Lambda execution environment for `chatdeploy local`: a process that runs one function.

Started by workers.py as `python -I -S -u worker_main.py --channel-fd N --handler mod.fn …`
with the function's unpacked zip as its working directory. It imports the standard library
only, so the handler sees what it would see on Lambda: its own zip first, then the runtime's
boto3 (a directory of links to boto3 and its dependencies), and nothing else installed here.

The invoke protocol runs over a dedicated channel, a Unix socket inherited as fd N, never over
stdout or stderr, which belong to the handler (they become its CloudWatch log). Every message
is a 4-byte big-endian length and a JSON document:
    worker -> parent  {"type": "ready", "initMs": …}  once the handler module is imported
    parent -> worker  {"type": "invoke", "requestId": …, "event": …, "deadlineMs": …}
    worker -> parent  {"type": "result", "requestId": …, "ok": true, "payload": …}
                      {"type": "result", "requestId": …, "ok": false, "error": {errorType, …}}
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import math
import os
import resource
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

_LENGTH = struct.Struct(">I")
Handler = Callable[[Any, Any], Any]


class LambdaContext:
    """The context object a Python handler receives on Lambda."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self._deadline_ms = deadline_ms
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.invoked_function_arn = os.environ.get("CHATDEPLOY_FUNCTION_ARN", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class Channel:
    def __init__(self, fd: int) -> None:
        self._socket = socket.socket(fileno=fd)

    def receive(self) -> dict[str, Any] | None:
        header = self._read(_LENGTH.size)
        if header is None:
            return None
        body = self._read(_LENGTH.unpack(header)[0])
        return None if body is None else dict(json.loads(body))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        self._socket.sendall(_LENGTH.pack(len(body)) + body)

    def _read(self, size: int) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < size:
            chunk = self._socket.recv(size - len(chunks))
            if not chunk:
                return None
            chunks.extend(chunk)
        return bytes(chunks)


def main() -> None:
    arguments = _arguments()
    _isolate(arguments)
    channel = Channel(arguments.channel_fd)
    started = time.perf_counter()
    handler, init_error = _load_handler(arguments.handler)
    init_ms = (time.perf_counter() - started) * 1000
    channel.send({"type": "ready", "initMs": round(init_ms, 2)})
    first = True
    while (message := channel.receive()) is not None:
        result = _invoke(message, handler, init_error, init_ms if first else None)
        channel.send(result)
        first = False


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--runtime-path", action="append", default=[])
    parser.add_argument("--parent-pid", type=int, required=True)
    return parser.parse_args()


def _isolate(arguments: argparse.Namespace) -> None:
    """The task root (cwd) first, then the runtime's libraries; never this file's directory.
    The worker dies with the process that started it, even if that one is killed."""
    here = os.path.dirname(os.path.abspath(__file__))
    standard = [entry for entry in sys.path if entry and os.path.abspath(entry) != here]
    sys.path[:] = [os.getcwd(), *arguments.runtime_path, *standard]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != arguments.parent_pid:
        sys.exit(0)
    _configure_logging()


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class _RequestId(logging.Filter):
    """Puts the request being handled on every log record, as `aws_request_id`."""

    current = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.current
        return True


def _configure_logging() -> None:
    """Like Lambda's Python runtime: the root logger writes to stdout with the request id."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_RequestId())
    layout = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s"
    formatter = logging.Formatter(layout, "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.getLogger().addHandler(handler)


def _load_handler(spec: str) -> tuple[Handler | None, dict[str, Any] | None]:
    module_name, _, function_name = spec.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        return None, _error_document(
            error, "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}"
        )
    function = getattr(module, function_name, None)
    if not callable(function):
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        return None, {
            "errorType": "Runtime.HandlerNotFound",
            "errorMessage": message,
            "stackTrace": [],
        }
    return function, None


def _invoke(
    message: dict[str, Any],
    handler: Handler | None,
    init_error: dict[str, Any] | None,
    init_ms: float | None,
) -> dict[str, Any]:
    request_id = str(message.get("requestId", ""))
    _RequestId.current = request_id
    print(f"START RequestId: {request_id} Version: $LATEST", flush=True)
    started = time.perf_counter()
    if handler is None:
        outcome: dict[str, Any] = {"ok": False, "error": init_error}
    else:
        context = LambdaContext(request_id, int(message.get("deadlineMs", 0)))
        outcome = _call(handler, message.get("event"), context)
    if not outcome["ok"]:
        _log_error(outcome["error"])
    _report(request_id, (time.perf_counter() - started) * 1000, init_ms)
    return {"type": "result", "requestId": request_id, **outcome}


def _call(handler: Handler, event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        payload = handler(event, context)
    except Exception as error:
        return {"ok": False, "error": _error_document(error, type(error).__name__, str(error))}
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as error:
        message = f"Unable to marshal response: {error}"
        return {
            "ok": False,
            "error": {
                "errorType": "Runtime.MarshalError",
                "errorMessage": message,
                "stackTrace": [],
            },
        }
    return {"ok": True, "payload": payload}


def _error_document(error: BaseException, error_type: str, message: str) -> dict[str, Any]:
    # The first frame is this module's, where the handler was called: Lambda shows none of its own.
    stack = traceback.format_list(traceback.extract_tb(error.__traceback__)[1:])
    return {"errorType": error_type, "errorMessage": message, "stackTrace": stack}


def _log_error(error: dict[str, Any]) -> None:
    """One log event, as Lambda writes it: the lines of the trace joined by carriage returns."""
    lines = [
        f"[ERROR] {error['errorType']}: {error['errorMessage']}",
        "Traceback (most recent call last):",
    ]
    lines += [line for entry in error.get("stackTrace", []) for line in entry.splitlines()]
    sys.stdout.write("\r".join(lines) + "\n")
    sys.stdout.flush()


def _report(request_id: str, duration_ms: float, init_ms: float | None) -> None:
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    used_mb = _peak_memory_mb()
    fields = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {max(1, math.ceil(duration_ms))} ms",
        f"Memory Size: {memory} MB",
        f"Max Memory Used: {used_mb} MB",
    ]
    if init_ms is not None:
        fields.append(f"Init Duration: {init_ms:.2f} ms")
    print(f"END RequestId: {request_id}", flush=True)
    print("\t".join(fields), flush=True)


def _peak_memory_mb() -> int:
    """Peak resident memory of this process. ru_maxrss would count the parent's, from before
    the exec that started the worker; /proc's VmHWM does not."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) // 1024


if __name__ == "__main__":
    main()
