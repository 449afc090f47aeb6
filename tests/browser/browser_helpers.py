"""Small helpers shared by the browser tests (kept out of conftest.py so they can be imported)."""

from __future__ import annotations

import re
import time
import urllib.parse
import uuid
from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect

PASSWORD = "Passw0rdOK"


def unique_email(label: str) -> str:
    safe = re.sub(r"[^a-z0-9]+", "", label.lower())[:12] or "user"
    return f"{safe}-{uuid.uuid4().hex[:8]}@example.com"


def unique_room(label: str = "room") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def sign_in(page: Page, url: str, user: dict[str, str], room: str | None = None) -> None:
    """Opens the app (in `room` when given), signs in through the form, waits until connected."""
    page.goto(url + (f"#{room}" if room else ""))
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(user["email"])
    form.get_by_label("Password").fill(user["password"])
    form.get_by_role("button", name="Sign in").click()
    expect_connected(page)


def expect_connected(page: Page) -> None:
    state = page.locator("#conn-state")
    expect(state).to_have_attribute("data-state", "open")
    expect(state).to_have_text("Connected")


def message_box(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message")


def send(page: Page, text: str) -> None:
    box = message_box(page)
    box.fill(text)
    box.press("Enter")


def messages(page: Page) -> Locator:
    return page.locator("#message-list > li.msg")


def message_with_text(page: Page, text: str) -> Locator:
    return messages(page).filter(has=page.locator(".msg-text", has_text=text))


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Polls a condition on the test side (the backend's records); fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def websocket_urls(page: Page) -> list[str]:
    """The URL of every WebSocket the page opened (recorded by conftest's new_page)."""
    return list(page._chat_socket_urls)


def room_of(websocket_url: str) -> str | None:
    """The `room` a WebSocket URL asks for."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(websocket_url).query)
    return query.get("room", [None])[0]


def assert_no_token_in(websocket_url: str) -> None:
    """The WebSocket URL carries the room and nothing else: no token, no JWT."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(websocket_url).query)
    assert set(query) <= {"room"}, f"the WebSocket URL has parameters {sorted(query)}"
    assert not re.search(r"eyJ[\w-]*\.", websocket_url), "the WebSocket URL holds a JWT"
