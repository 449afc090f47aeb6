"""Small pieces of local mode: route selection, ARNs in integration URIs, which zip runs,
object keys of the frontend, identity sources."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chatdeploy.errors import ChatdeployError
from chatdeploy.local.authorization import missing_identity
from chatdeploy.local.deployed import FunctionSpec, function_name_of, selection_value
from chatdeploy.local.frontend_server import object_key
from chatdeploy.local.function_code import code_sha256, unpack, uploaded_code
from chatdeploy.packaging import Artifact


@pytest.mark.parametrize(
    ("expression", "body", "expected"),
    [
        ("$request.body.action", '{"action": "sendMessage"}', "sendMessage"),
        ("${request.body.action}", '{"action": "x"}', "x"),
        ("$request.body.message.type", '{"message": {"type": "ping"}}', "ping"),
        ("$request.body.action", '{"action": 7}', "7"),
        ("$request.body.action", '{"action": null}', None),
        ("$request.body.action", '{"action": {"a": 1}}', None),
        ("$request.body.action", "[1, 2]", None),
        ("$request.body.action", "not json", None),
        ("$request.body.action", b"\xff", None),
        ("$request.header.x", '{"action": "x"}', None),
    ],
)
def test_route_selection_values(expression: str, body: str | bytes, expected: str | None) -> None:
    assert selection_value(expression, body) == expected


def test_function_names_in_integration_uris() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:ChatConnect"
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    assert function_name_of(uri) == "ChatConnect"
    assert function_name_of(uri.replace("ChatConnect", "ChatConnect:live")) == "ChatConnect"
    assert function_name_of("http://example.com") is None
    assert function_name_of(None) is None


def spec(data: bytes) -> FunctionSpec:
    return FunctionSpec(
        "F", "f.handler", "python3.12", 3, 128, {}, code_sha256(data), "/aws/lambda/F"
    )


class FakeLambda:
    def __init__(self, location: str) -> None:
        self.location = location

    def get_function(self, FunctionName: str) -> dict[str, Any]:
        return {"Code": {"Location": self.location}}


REMOTE = FakeLambda("https://awslambda-us-east-1-tasks.s3.us-east-1.amazonaws.com/F-1")


def test_the_zip_the_emulator_holds_runs_when_its_hash_matches() -> None:
    deployed, other = b"deployed zip", b"built since"
    chosen = uploaded_code(
        REMOTE, spec(deployed), held=lambda _: deployed, built=[Artifact("f", other)]
    )
    assert chosen == deployed


def test_a_built_artifact_runs_only_when_its_hash_matches() -> None:
    deployed = b"deployed zip"
    chosen = uploaded_code(
        REMOTE, spec(deployed), held=lambda _: None, built=[Artifact("f", deployed)]
    )
    assert chosen == deployed
    with pytest.raises(ChatdeployError, match="cannot find the code deployed as F"):
        uploaded_code(REMOTE, spec(deployed), held=lambda _: b"x", built=[Artifact("f", b"y")])


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_unpack_refuses_entries_that_escape(tmp_path: Path) -> None:
    root = unpack(zip_of({"f.py": b"x = 1", "pkg/m.py": b""}), tmp_path / "ok")
    assert (root / "pkg" / "m.py").exists()
    with pytest.raises(ChatdeployError, match="outside"):
        unpack(zip_of({"../evil.py": b""}), tmp_path / "bad")


@pytest.mark.parametrize(
    ("path", "key"),
    [("/", "index.html"), ("/js/app.js", "js/app.js"), ("/docs/", "docs/index.html")],
)
def test_object_keys_of_paths(path: str, key: str) -> None:
    assert object_key(path) == key


def test_identity_sources() -> None:
    sources = ("route.request.header.Authorization", "route.request.querystring.token")
    headers = [("authorization", "Bearer x")]
    assert not missing_identity(sources, headers, [("token", "t")])
    assert missing_identity(sources, headers, [])
    assert missing_identity(sources, [], [("token", "t")])
    assert missing_identity(sources, headers, [("token", "")])
    assert not missing_identity((), [], [])
