"""Discovers the Lambda functions under handlers/ and builds their deterministic zips.

Layout of handlers/:
    <name>.py       one function each; `handler(event, context)`; Lambda handler `<name>.handler`
    chatlib/        shared code, copied into every zip
A function module declares, as literal module-level constants:
    ROUTE_KEY = "sendMessage"      the WebSocket route it serves (the authorizer module has none)
    BUNDLE = ("rsa",)              optional: pure-Python packages to copy into its zip from the
                                   environment chatdeploy runs in (boto3 is in the Lambda runtime)
The module named `authorizer` is the REQUEST authorizer of `$connect`.

The same source always gives the same bytes: entries sorted, timestamps fixed, modes normalised.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.util
import io
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from chatdeploy.errors import ConfigError

SHARED_PACKAGE = "chatlib"
AUTHORIZER = "authorizer"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}
_NATIVE_SUFFIXES = {".so", ".pyd", ".dylib"}


@dataclass(frozen=True)
class FunctionSource:
    name: str
    module: Path
    route_key: str | None
    bundle: tuple[str, ...] = ()

    @property
    def is_authorizer(self) -> bool:
        return self.name == AUTHORIZER

    @property
    def handler(self) -> str:
        return f"{self.name}.handler"


@dataclass(frozen=True)
class Artifact:
    """A built zip."""

    function: str
    data: bytes

    @cached_property
    def sha256(self) -> str:
        """Base64 of the SHA-256, the form Lambda reports as CodeSha256."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()

    @property
    def size(self) -> int:
        return len(self.data)


def discover(handlers_dir: Path) -> list[FunctionSource]:
    functions = []
    for module in sorted(handlers_dir.glob("*.py")):
        if module.name.startswith("_"):
            continue
        constants = _module_constants(module)
        route_key = constants.get("ROUTE_KEY")
        name = module.stem
        if name != AUTHORIZER and not isinstance(route_key, str):
            raise ConfigError(f"{module}: a handler module must set ROUTE_KEY = '<route>'")
        bundle = constants.get("BUNDLE", ())
        if not isinstance(bundle, tuple) or not all(isinstance(b, str) for b in bundle):
            raise ConfigError(f"{module}: BUNDLE must be a tuple of package names")
        route = route_key if isinstance(route_key, str) and name != AUTHORIZER else None
        functions.append(FunctionSource(name, module, route, bundle))
    routes = [f.route_key for f in functions if f.route_key]
    duplicates = sorted({route for route in routes if routes.count(route) > 1})
    if duplicates:
        raise ConfigError(f"{handlers_dir}: more than one handler for route(s) {duplicates}")
    return functions


def build(function: FunctionSource) -> Artifact:
    files: dict[str, bytes] = {function.module.name: function.module.read_bytes()}
    shared = function.module.parent / SHARED_PACKAGE
    if shared.is_dir():
        files.update(_tree(shared, SHARED_PACKAGE))
    for package in function.bundle:
        files.update(_installed_package(package, function.name))
    return Artifact(function.name, _zip(files))


def _module_constants(module: Path) -> dict[str, object]:
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    constants: dict[str, object] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name) and target.id in {"ROUTE_KEY", "BUNDLE"}:
                try:
                    constants[target.id] = ast.literal_eval(statement.value)
                except ValueError:
                    raise ConfigError(f"{module}: {target.id} must be a literal") from None
    return constants


def _tree(root: Path, prefix: str) -> dict[str, bytes]:
    files = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_dir() or _SKIPPED_PARTS & set(relative.parts):
            continue
        if path.suffix in _SKIPPED_SUFFIXES:
            continue
        files[f"{prefix}/{relative.as_posix()}"] = path.read_bytes()
    return files


def _installed_package(package: str, function: str) -> dict[str, bytes]:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"handler {function} bundles {package!r}, which is not installed here",
            hint=f"pip install {package}",
        )
    origin = Path(spec.origin)
    if not spec.submodule_search_locations:
        return {origin.name: origin.read_bytes()}
    files = _tree(origin.parent, package)
    native = sorted(name for name in files if Path(name).suffix in _NATIVE_SUFFIXES)
    if native:
        raise ConfigError(
            f"handler {function} bundles {package!r}, which has native code ({native[0]})",
            hint="bundle only pure-Python packages; one zip must run on arm64, x86_64 and locally",
        )
    return files


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()
