"""The local record of a stack: `.chatdeploy/<stack>.json`, and the lock beside it.

Every resource's ids are written the moment it exists (temp file, fsync, rename), so a crash at
any point loses nothing. The lock is an flock on `<stack>.lock`: the kernel releases it when its
holder dies, so a killed run never blocks the next one; the pid written into the file lets us
name the holder, and recognise a lock file left behind by a dead one.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatdeploy.errors import LockedError, StateError

SCHEMA_VERSION = 1
DEFAULT_STATE_DIR = Path(".chatdeploy")
_SECRET_WORDS = ("password", "secret", "token")


def state_path(state_dir: Path, stack: str) -> Path:
    return state_dir / f"{stack}.json"


class State:
    """The state of one stack. Thread-safe: stages record resources concurrently."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self._data = data
        self._lock = threading.RLock()

    @classmethod
    def new(cls, path: Path, stack: str) -> State:
        return cls(
            path,
            {
                "schema_version": SCHEMA_VERSION,
                "stack": stack,
                "region": None,
                "account": None,
                "endpoint_url": None,
                "resources": {},
                "outputs": {},
            },
        )

    @classmethod
    def load(cls, state_dir: Path, stack: str) -> State:
        """The stack's state; a fresh one if there is no file yet."""
        path = state_path(state_dir, stack)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls.new(path, stack)
        except OSError as error:
            raise StateError(f"cannot read state file {path}: {error.strerror}") from None
        return cls(path, _validate(text, path, stack))

    @property
    def exists(self) -> bool:
        return self.path.exists()

    @property
    def stack(self) -> str:
        return str(self._data["stack"])

    @property
    def region(self) -> str | None:
        return self._data.get("region")

    @property
    def account(self) -> str | None:
        return self._data.get("account")

    @property
    def endpoint_url(self) -> str | None:
        return self._data.get("endpoint_url")

    @property
    def outputs(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._data.get("outputs", {}))

    def resources(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._data["resources"])

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._data["resources"].get(key)
            return copy.deepcopy(found) if found is not None else None

    def bind(self, *, region: str, account: str, endpoint_url: str | None) -> None:
        """Record where the stack lives; written with the first resource."""
        with self._lock:
            self._data.update(region=region, account=account, endpoint_url=endpoint_url)

    def record(self, key: str, values: dict[str, Any]) -> None:
        _refuse_secrets(key, values)
        with self._lock:
            if self._data["resources"].get(key) == values and self.exists:
                return
            self._data["resources"][key] = copy.deepcopy(values)
            self.save()

    def update(self, key: str, **values: Any) -> None:
        """Merge values into a recorded resource."""
        with self._lock:
            merged = {**(self._data["resources"].get(key) or {}), **values}
            self.record(key, merged)

    def forget(self, key: str) -> None:
        with self._lock:
            if self._data["resources"].pop(key, None) is not None:
                self.save()

    def set_outputs(self, outputs: dict[str, Any]) -> None:
        with self._lock:
            if self._data.get("outputs") != outputs or not self.exists:
                self._data["outputs"] = copy.deepcopy(outputs)
                self.save()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._data)

    def save(self) -> None:
        with self._lock:
            self._data["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            _write_atomically(self.path, json.dumps(self._data, indent=2, sort_keys=True) + "\n")

    def delete_file(self) -> None:
        with self._lock, contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _validate(text: str, path: Path, stack: str) -> dict[str, Any]:
    move_away = f"move {path} aside; `chatdeploy up` then adopts what exists in AWS"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise StateError(
            f"state file {path} is not valid JSON (line {error.lineno})", hint=move_away
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("resources"), dict):
        raise StateError(f"state file {path} is not a chatdeploy state file", hint=move_away)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise StateError(
            f"state file {path} has schema version {version!r}; this chatdeploy reads "
            f"version {SCHEMA_VERSION}",
            hint="use the chatdeploy version that wrote it, or " + move_away,
        )
    if data.get("stack") != stack:
        raise StateError(
            f"state file {path} belongs to stack {data.get('stack')!r}, not {stack!r}",
            hint="check `stack:` in your config or use another --state-dir",
        )
    return data


def _refuse_secrets(key: str, values: dict[str, Any]) -> None:
    for name in values:
        if any(word in name.lower() for word in _SECRET_WORDS):
            raise ValueError(f"refusing to store {key}.{name} in the state file")


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@dataclass(frozen=True)
class LockInfo:
    pid: int
    host: str
    command: str
    started: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} (`chatdeploy {self.command}`, since {self.started})"


@contextlib.contextmanager
def stack_lock(state_dir: Path, stack: str, command: str) -> Iterator[LockInfo | None]:
    """Hold the stack's lock for the duration; yields the info of a dead holder it replaced."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / f"{stack}.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _wait_for_lock_info(descriptor)
            who = holder.describe() if holder else "another process"
            raise LockedError(
                f"stack {stack!r} is locked by {who}",
                hint="wait for that run to finish; a killed run's lock frees itself",
            ) from None
        stale = _read_lock_info(descriptor)
        mine = LockInfo(
            os.getpid(), socket.gethostname(), command, time.strftime("%Y-%m-%d %H:%M:%S")
        )
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(mine.__dict__).encode(), 0)
        try:
            yield stale
        finally:
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)


def _wait_for_lock_info(descriptor: int, patience: float = 1.0) -> LockInfo | None:
    """The holder writes who it is just after taking the lock; give it that moment."""
    deadline = time.monotonic() + patience
    while (info := _read_lock_info(descriptor)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return info


def _read_lock_info(descriptor: int) -> LockInfo | None:
    raw = os.pread(descriptor, 4096, 0)
    if not raw:
        return None
    try:
        return LockInfo(**json.loads(raw))
    except (ValueError, TypeError):
        return None
