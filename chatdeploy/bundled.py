"""Where the shipped Lambda code, web app and example config live.

In a wheel they sit in chatdeploy/_bundled/; in a source checkout, beside the package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / "_bundled" / name, _PACKAGE.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"chatdeploy is missing its bundled {name}; reinstall it")


def handlers_dir() -> Path:
    return _find("handlers")


def frontend_dir() -> Path:
    return _find("frontend")


def example_config() -> Path:
    return _find("config.example.yaml")
