"""`chatdeploy local` as the browser tests' backend: started as a user starts it (a separate
process, `chatdeploy local --port 0 --quiet --state-dir S`, everything on 127.0.0.1) and stopped
with Ctrl-C (SIGINT). What the tests need of it comes from its state file and the emulator:
users in the stack's Cognito pool, rows of the chat's tables, and the @connections API.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[2]
STACK = "chat"
READY_WITHIN_S = 60.0
STOP_WITHIN_S = 30.0
LEFTOVER_GRACE_S = 3.0
# Local mode's emulator takes any credentials; these are the ones it hands its own workers.
EMULATOR_KEYS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


@dataclass(frozen=True)
class LocalBackend:
    """A running `chatdeploy local`, as its state file describes it."""

    page_url: str
    websocket_url: str
    emulator_url: str
    region: str
    user_pool_id: str
    client_id: str
    connections_table: str
    messages_table: str
    max_message_bytes: int

    # -- users ---------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        return boto3.client(
            service, endpoint_url=self.emulator_url, region_name=self.region, **EMULATOR_KEYS
        )

    def create_user(self, email: str, password: str, name: str) -> None:
        """A confirmed user with a permanent password (as `chatdeploy users create` makes)."""
        idp = self.client("cognito-idp")
        idp.admin_create_user(
            UserPoolId=self.user_pool_id,
            Username=email,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "name", "Value": name},
            ],
            MessageAction="SUPPRESS",
        )
        idp.admin_set_user_password(
            UserPoolId=self.user_pool_id, Username=email, Password=password, Permanent=True
        )

    def confirm_sign_up(self, email: str) -> None:
        """What the emailed code would do; no email leaves local mode."""
        self.client("cognito-idp").admin_confirm_sign_up(
            UserPoolId=self.user_pool_id, Username=email
        )

    def user_status(self, email: str) -> str:
        return str(self._user(email)["UserStatus"])

    def user_id(self, email: str) -> str:
        """The user's `sub`: the userId the authorizer passes to the handlers."""
        attributes = self._user(email)["UserAttributes"]
        return next(str(a["Value"]) for a in attributes if a["Name"] == "sub")

    def _user(self, email: str) -> dict[str, Any]:
        idp = self.client("cognito-idp")
        return dict(idp.admin_get_user(UserPoolId=self.user_pool_id, Username=email))

    # -- connections ---------------------------------------------------------------------------

    def connection_ids(self, email: str) -> list[str]:
        """The user's open connections, from ChatConnections' UserIdIndex."""
        answer = self.client("dynamodb").query(
            TableName=self.connections_table,
            IndexName="UserIdIndex",
            KeyConditionExpression="userId = :user",
            ExpressionAttributeValues={":user": {"S": self.user_id(email)}},
        )
        return [item["connectionId"]["S"] for item in answer["Items"]]

    def drop_connections(self, email: str) -> list[str]:
        """Closes the user's connections from the server side, as an admin would; their ids."""
        dropped = self.connection_ids(email)
        statuses = [self.drop_connection(connection_id) for connection_id in dropped]
        assert statuses == [204] * len(dropped), statuses
        return dropped

    def drop_connection(self, connection_id: str) -> int:
        """DELETE @connections/{id} at the page's origin; the HTTP status (204: closed)."""
        quoted = urllib.parse.quote(connection_id, safe="")
        request = urllib.request.Request(
            f"{self.management_url}/@connections/{quoted}", method="DELETE"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return refused.code

    @property
    def management_url(self) -> str:
        """`<page origin>/<stage>`, the stage being the WebSocket URL's path."""
        stage = urllib.parse.urlsplit(self.websocket_url).path
        return self.page_url.rstrip("/") + stage

    # -- messages ------------------------------------------------------------------------------

    def seed_messages(self, room: str, texts: list[str], *, user_id: str, name: str) -> None:
        """Rows in ChatMessages as sendMessage stores them (docs/protocol.md), one minute
        apart and ending a minute ago, oldest first."""
        start = int(time.time() * 1000) - 60_000 * (len(texts) + 1)
        items = [
            _message_item(room, text, start + index * 60_000, user_id, name)
            for index, text in enumerate(texts)
        ]
        dynamodb = self.client("dynamodb")
        for first in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": item}} for item in items[first : first + 25]]
            answer = dynamodb.batch_write_item(RequestItems={self.messages_table: batch})
            assert not answer.get("UnprocessedItems"), answer["UnprocessedItems"]

    def room_messages(self, room: str) -> list[str]:
        """The texts stored for the room, oldest first."""
        answer = self.client("dynamodb").query(
            TableName=self.messages_table,
            IndexName="RoomIdTimestampIndex",
            KeyConditionExpression="roomId = :room",
            ExpressionAttributeValues={":room": {"S": room}},
        )
        return [item["message"]["S"] for item in answer["Items"]]


def _message_item(
    room: str, text: str, timestamp: int, user_id: str, name: str
) -> dict[str, dict[str, str]]:
    return {
        "messageId": {"S": str(uuid.uuid4())},
        "roomId": {"S": room},
        "timestamp": {"N": str(timestamp)},
        "userId": {"S": user_id},
        "displayName": {"S": name},
        "message": {"S": text},
    }


# -- the process ---------------------------------------------------------------------------------


@contextmanager
def running_local_backend(home: Path) -> Iterator[LocalBackend]:
    """Starts `chatdeploy local` with its state in `home`/state, yields once it serves, and
    stops it with SIGINT; fails if anything of it is still running afterwards."""
    state_dir = home / "state"
    process = _start(home, state_dir)
    output = _drain(process)
    try:
        _wait_until_ready(process, output)
        yield _backend_from_state(state_dir)
    finally:
        _stop(process, output)


def _start(home: Path, state_dir: Path) -> subprocess.Popen[str]:
    # The checkout's chatdeploy (and so its handlers/ and frontend/), none of this machine's
    # AWS configuration, and a process group of its own so nothing of it can outlive the tests.
    ambient = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CHATDEPLOY"))}
    environment = {
        **ambient,
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    command = ["local", "--port", "0", "--quiet", "--state-dir", str(state_dir)]
    return subprocess.Popen(
        [sys.executable, "-m", "chatdeploy", *command],
        cwd=home,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _drain(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """Reads the process's output on a thread, so a full pipe never blocks it."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, name="chatdeploy-local-output", daemon=True).start()
    return lines


def _wait_until_ready(process: subprocess.Popen[str], output: queue.Queue[str]) -> None:
    seen: list[str] = []
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            seen.append(output.get(timeout=0.5))
        except queue.Empty:
            continue
        if seen[-1].startswith("ready in"):
            return
    raise RuntimeError("chatdeploy local did not become ready:\n" + "".join(seen))


def _backend_from_state(state_dir: Path) -> LocalBackend:
    state = json.loads((state_dir / f"{STACK}.json").read_text())
    outputs = state["outputs"]
    page_url = outputs["frontend_url"]
    return LocalBackend(
        page_url=page_url,
        websocket_url=outputs["websocket_url"],
        emulator_url=state["endpoint_url"],
        region=state["region"],
        user_pool_id=outputs["user_pool_id"],
        client_id=outputs["user_pool_client_id"],
        connections_table=outputs["connections_table"],
        messages_table=outputs["messages_table"],
        max_message_bytes=_page_config(page_url)["maxMessageBytes"],
    )


def _page_config(page_url: str) -> dict[str, Any]:
    """The config.json the page reads at start."""
    with urllib.request.urlopen(urllib.parse.urljoin(page_url, "config.json"), timeout=10) as got:
        config: dict[str, Any] = json.load(got)
    return config


def _stop(process: subprocess.Popen[str], output: queue.Queue[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    finally:
        leftovers = _kill_leftovers(process.pid)
        if process.stdout is not None:
            process.stdout.close()
    if leftovers:
        lines = "".join(_queued(output))
        raise AssertionError(f"chatdeploy local left processes behind after Ctrl-C:\n{lines}")


def _kill_leftovers(group: int) -> bool:
    """True if members of the process group outlive their leader by more than a moment
    (they are killed then)."""
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while _group_alive(group):
        if time.monotonic() > deadline:
            os.killpg(group, signal.SIGKILL)
            return True
        time.sleep(0.05)
    return False


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _queued(lines: queue.Queue[str]) -> Iterator[str]:
    while not lines.empty():
        yield lines.get_nowait()
