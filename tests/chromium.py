"""Debian's Chromium for the browser tests: where it is, how it is launched, and what a test
does when it is missing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM = os.environ.get("CHATDEPLOY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skips the calling test on a machine without Chromium. Under CHATDEPLOY_REQUIRE_BROWSER
    (CI, which installs it) it fails instead: a skip there would hide the browser tests."""
    if Path(CHROMIUM).exists():
        return
    missing = f"{CHROMIUM} not found: apt-get install -y chromium"
    if os.environ.get("CHATDEPLOY_REQUIRE_BROWSER"):
        pytest.fail(missing)
    pytest.skip(missing)


def launch(driver: Playwright) -> Browser:
    """Headless Chromium; every launch gets a fresh, temporary user-data dir of its own."""
    return driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
