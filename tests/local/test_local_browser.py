"""The web app as served by local mode, in headless Chromium: two users sign in through the
page (Cognito in the emulator) and one's message reaches the other. Skipped without Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chromium import launch, require_chromium
from local_testkit import PASSWORD, Chat, running_chat

pytest.importorskip("playwright.sync_api")

from playwright.sync_api import Page, expect, sync_playwright


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chat]:
    require_chromium()
    with running_chat(tmp_path_factory.mktemp("state")) as running:
        yield running


def sign_in(page: Page, url: str, email: str) -> None:
    page.goto(url)
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open", timeout=15_000)


@pytest.mark.slow
def test_two_people_chat_in_the_browser(chat: Chat) -> None:
    ana, ben = "ana-browser@example.com", "ben-browser@example.com"
    chat.token(ana), chat.token(ben)  # creates both users, as `chatdeploy users create` would
    with sync_playwright() as driver:
        browser = launch(driver)
        try:
            pages = [browser.new_context().new_page() for _ in range(2)]
            for page, email in zip(pages, (ana, ben), strict=True):
                sign_in(page, chat.urls.page, email)
            box = pages[0].get_by_role("textbox", name="Message")
            box.fill("hello across the local gateway")
            box.press("Enter")
            received = pages[1].locator("#message-list .msg-text", has_text="across the local")
            expect(received).to_be_visible(timeout=15_000)
        finally:
            browser.close()
