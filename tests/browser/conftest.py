"""Browser tests: headless Debian Chromium driven by Playwright, against `chatdeploy local`.

The `backend` fixture is the only place that knows what serves the app: one `chatdeploy local`
process for the whole session (local_backend.py), with the real handlers and the emulator's
Cognito. A module may override `backend` with anything offering `page_url` and `create_user`
(test_page_resilience.py uses the fake backend for what local mode cannot do).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

pytest.importorskip(
    "playwright", reason="the test extra is not installed (pip install -e '.[test]')"
)

from browser_helpers import PASSWORD, assert_no_token_in, unique_email
from chromium import launch, require_chromium
from local_backend import LocalBackend, running_local_backend
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

expect.set_options(timeout=10_000)


class ChatBackend(Protocol):
    """What every backend of these tests offers."""

    @property
    def page_url(self) -> str: ...

    def create_user(self, email: str, password: str, name: str) -> None: ...


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    """One `chatdeploy local` for the session; tests keep apart by unique users and rooms."""
    with running_local_backend(tmp_path_factory.mktemp("chatdeploy-local")) as running:
        yield running


@pytest.fixture
def app_url(backend: ChatBackend) -> str:
    """The page's URL (what `chatdeploy local` prints)."""
    return backend.page_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one test module. Not for the session: while a sync Playwright runs, its
    event loop counts as running in this thread, and any other `sync_playwright()` in the same
    pytest run (tests/local/test_local_browser.py) would refuse to start."""
    require_chromium()
    with sync_playwright() as pw:
        instance = launch(pw)
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
        page._chat_socket_urls = []  # of every WebSocket the page opened
        page.on(
            "console", lambda msg, p=page: p._chat_log.append(f"console.{msg.type}: {msg.text}")
        )
        page.on("pageerror", lambda exc, p=page: p._chat_log.append(f"pageerror: {exc}"))
        page.on("websocket", lambda ws, p=page: p._chat_socket_urls.append(ws.url))
        pages.append(page)
        return page

    yield _open
    for context in contexts:
        context.close()
    # The page sends its token as a subprotocol: never in a URL (logs keep URLs).
    for page in pages:
        for url in page._chat_socket_urls:
            assert_no_token_in(url)
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
def make_user(backend: ChatBackend) -> Callable[[str], dict[str, str]]:
    """A confirmed user (admin calls, like `chatdeploy users create`): {email, password, name}."""

    def _make(name: str) -> dict[str, str]:
        user = {"email": unique_email(name), "password": PASSWORD, "name": name}
        backend.create_user(user["email"], user["password"], name)
        return user

    return _make
