"""The code each function runs locally: the very bytes that were uploaded, checked by hash.

Where the zip comes from, in order: Code.Location when the emulator serves it on loopback;
the zip the in-process emulator holds (moto reports a Location it does not serve); the
artifact built from handlers/ now. Whichever it is, its SHA-256 must be the function's
CodeSha256, so what runs is what was deployed (handlers/ may have changed since).
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from chatdeploy.aws import is_loopback
from chatdeploy.errors import ChatdeployError
from chatdeploy.local.deployed import FunctionSpec
from chatdeploy.packaging import Artifact


def code_sha256(data: bytes) -> str:
    """Base64 of the SHA-256, the form Lambda reports as CodeSha256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def uploaded_code(
    lambda_client: Any,
    spec: FunctionSpec,
    *,
    held: Callable[[str], bytes | None],
    built: Iterable[Artifact],
) -> bytes:
    """The function's zip, verified against its CodeSha256."""
    location = lambda_client.get_function(FunctionName=spec.name).get("Code", {}).get("Location")
    if location and is_loopback(location):
        candidates: Iterator[bytes | None] = iter([_fetch(location)])
    else:
        candidates = itertools.chain([held(spec.name)], (artifact.data for artifact in built))
    data = next((c for c in candidates if c and code_sha256(c) == spec.code_sha256), None)
    if data is None:
        raise ChatdeployError(
            f"cannot find the code deployed as {spec.name} (CodeSha256 {spec.code_sha256})",
            hint="run `chatdeploy local` again; it redeploys from handlers/",
        )
    return data


def unpack(data: bytes, directory: Path) -> Path:
    """Extracts a zip the way Lambda does into its task root; refuses paths that escape it."""
    directory.mkdir(parents=True, exist_ok=True)
    root = directory.resolve()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            target = (root / name).resolve()
            if not target.is_relative_to(root):
                raise ChatdeployError(f"the zip entry {name!r} points outside its directory")
        archive.extractall(root)
    return root


def _fetch(location: str) -> bytes:
    with urllib.request.urlopen(location, timeout=30) as answer:
        data: bytes = answer.read()
        return data
