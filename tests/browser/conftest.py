"""Browser tests: headless Debian Chromium driven by Playwright, against a fake backend.

The `backend` fixture is the only place that knows what serves the app. Today it is
fake_backend.FakeBackend; to run these tests against `chatdeploy local` instead, replace the
fixture with one that starts it and offers the same few attributes (page_url, websocket_url,
cognito_endpoint, client_id, create_user, drop_connections, refuse_connections).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "playwright", reason="the test extra is not installed (pip install -e '.[test]')"
)

from browser_helpers import PASSWORD, unique_email
from fake_backend import FakeBackend
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
ARTIFACTS = ROOT / "test-artifacts"
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

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def backend() -> Iterator[FakeBackend]:
    fake = FakeBackend(FRONTEND).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def app_url(backend: FakeBackend) -> str:
    """The page's URL (what `chatdeploy local` prints)."""
    return backend.page_url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} not found: apt-get install -y chromium"
        if os.environ.get("CHATDEPLOY_REQUIRE_BROWSER"):
            pytest.fail(missing)  # CI installs it; a skip there would hide the browser tests
        pytest.skip(missing)
    with sync_playwright() as pw:
        # launch() gives every run a fresh, temporary user-data dir of its own.
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """Opens pages, each in its own browser context (own storage: a separate user)."""
    contexts: list[BrowserContext] = []
    pages: list[Page] = []
    request.node._chat_pages = pages  # for the failure screenshot hook below

    def _open(width: int = 1100, height: int = 720) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page._chat_log = []  # console errors and page errors, saved on failure
        page.on(
            "console", lambda msg, p=page: p._chat_log.append(f"console.{msg.type}: {msg.text}")
        )
        page.on("pageerror", lambda exc, p=page: p._chat_log.append(f"pageerror: {exc}"))
        pages.append(page)
        return page

    yield _open
    for context in contexts:
        context.close()
    # Uncaught errors and CSP / Trusted Types violations fail the test that caused them.
    problems = [
        line
        for page in pages
        for line in page._chat_log
        if line.startswith("pageerror")
        or "Content Security Policy" in line
        or "TrustedHTML" in line
    ]
    assert not problems, "browser reported:\n" + "\n".join(problems)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """On a failed browser test, save a screenshot (and the console log) of every page."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    pages = getattr(item, "_chat_pages", [])
    if not pages:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("::")[-1])
    for index, page in enumerate(pages):
        try:
            shot = ARTIFACTS / f"{stem}-page{index}.png"
            page.screenshot(path=str(shot), full_page=True)
            (ARTIFACTS / f"{stem}-page{index}.log").write_text(
                "\n".join([f"url: {page.url}", *page._chat_log]) + "\n"
            )
            report.sections.append(("browser artifacts", f"saved {shot}"))
        except Exception as exc:  # the page may be gone; the report matters more
            report.sections.append(("browser artifacts", f"no screenshot of page {index}: {exc}"))


@pytest.fixture
def make_user(backend: FakeBackend) -> Callable[[str], dict[str, str]]:
    """A confirmed user (admin calls, like `chatdeploy users create`): {email, password, name}."""

    def _make(name: str) -> dict[str, str]:
        user = {"email": unique_email(name), "password": PASSWORD, "name": name}
        backend.create_user(user["email"], user["password"], name)
        return user

    return _make
