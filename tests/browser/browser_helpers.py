"""Small helpers shared by the browser tests (kept out of conftest.py so they can be imported)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from playwright.sync_api import Page, expect

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


def message_box(page: Page):
    return page.get_by_role("textbox", name="Message")


def send(page: Page, text: str) -> None:
    box = message_box(page)
    box.fill(text)
    box.press("Enter")


def messages(page: Page):
    return page.locator("#message-list > li.msg")


def message_with_text(page: Page, text: str):
    return messages(page).filter(has=page.locator(".msg-text", has_text=text))


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Polls a condition on the test side (the backend's records); fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
