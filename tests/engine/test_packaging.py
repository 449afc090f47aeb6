"""Handler discovery and deterministic zips."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from chatdeploy.errors import ConfigError
from chatdeploy.packaging import build, discover

from support import FIXTURE_HANDLERS


@pytest.fixture
def handlers(tmp_path: Path) -> Path:
    copy = tmp_path / "handlers"
    shutil.copytree(FIXTURE_HANDLERS, copy)
    return copy


def entries(data: bytes) -> list[zipfile.ZipInfo]:
    return zipfile.ZipFile(io.BytesIO(data)).infolist()


def test_discovery_finds_each_module_and_its_route(handlers: Path) -> None:
    found = {f.name: f.route_key for f in discover(handlers)}
    assert found == {
        "authorizer": None,
        "connect": "$connect",
        "default": "$default",
        "disconnect": "$disconnect",
        "send_message": "sendMessage",
    }


def test_the_same_source_gives_the_same_bytes_whatever_the_file_times(handlers: Path) -> None:
    [connect] = [f for f in discover(handlers) if f.name == "connect"]
    first = build(connect)
    for path in handlers.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    (handlers / "chatlib" / "__pycache__").mkdir()
    (handlers / "chatlib" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    again = build(connect)
    assert again.sha256 == first.sha256
    names = [info.filename for info in entries(again.data)]
    assert names == sorted(names) == ["chatlib/__init__.py", "connect.py"]
    assert {info.date_time for info in entries(again.data)} == {(1980, 1, 1, 0, 0, 0)}


def test_a_changed_file_changes_the_hash(handlers: Path) -> None:
    [connect] = [f for f in discover(handlers) if f.name == "connect"]
    before = build(connect).sha256
    (handlers / "chatlib" / "__init__.py").write_text("GREETING = 'changed'\n")
    assert build(connect).sha256 != before


def test_bundled_packages_are_copied_into_that_zip_only(handlers: Path) -> None:
    built = {f.name: build(f) for f in discover(handlers)}
    authorizer_files = {info.filename for info in entries(built["authorizer"].data)}
    assert "rsa/__init__.py" in authorizer_files
    assert not any(
        n.startswith("rsa/") for n in (i.filename for i in entries(built["connect"].data))
    )


def test_a_module_without_a_route_is_refused(handlers: Path) -> None:
    (handlers / "orphan.py").write_text("def handler(event, context):\n    return None\n")
    with pytest.raises(ConfigError, match="must set ROUTE_KEY"):
        discover(handlers)


def test_two_modules_for_one_route_are_refused(handlers: Path) -> None:
    (handlers / "again.py").write_text('ROUTE_KEY = "$connect"\n')
    with pytest.raises(ConfigError, match="more than one handler"):
        discover(handlers)


def test_a_native_package_cannot_be_bundled(
    handlers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site" / "fastthing"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "_speedups.cpython-312-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (handlers / "native.py").write_text('ROUTE_KEY = "native"\nBUNDLE = ("fastthing",)\n')
    [native] = [f for f in discover(handlers) if f.name == "native"]
    with pytest.raises(ConfigError, match="native code"):
        build(native)
