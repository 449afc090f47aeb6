"""What the page does when the server refuses it: these tests stay on the fake backend
(fake_backend.py), because they need a server that refuses WebSocket handshakes on demand and
records what each handshake offered. `chatdeploy local` is a faithful API Gateway: it accepts
every valid token, so a refused reconnect cannot be staged against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from browser_helpers import (
    expect_connected,
    message_with_text,
    messages,
    send,
    sign_in,
    unique_room,
    wait_until,
)
from fake_backend import FakeBackend
from local_backend import ROOT
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

NewPage = Callable[..., Page]
MakeUser = Callable[[str], dict[str, str]]


@pytest.fixture(scope="module")
def backend() -> Iterator[FakeBackend]:
    """Overrides conftest's `chatdeploy local` for this module."""
    fake = FakeBackend(ROOT / "frontend").start()
    try:
        yield fake
    finally:
        fake.stop()


def test_a_refused_reconnect_fetches_a_fresh_token(
    new_page: NewPage, app_url: str, make_user: MakeUser, backend: FakeBackend
) -> None:
    room = unique_room("drop")
    u1, u2 = make_user("Rita"), make_user("Sam")
    p1, p2 = new_page(), new_page()
    sign_in(p1, app_url, u1, room)
    sign_in(p2, app_url, u2, room)
    send(p1, "before the drop")
    expect(message_with_text(p2, "before the drop")).to_be_visible()
    handshakes_before = len(backend.handshakes)
    tokens_before = {h.offered_subprotocols[-1] for h in backend.handshakes if h.status == 101}

    # Drop every connection and refuse new ones for a moment, so the state is observable.
    backend.refuse_connections = True
    try:
        assert backend.drop_connections() >= 2
        for page in (p1, p2):
            state = page.locator("#conn-state")
            expect(state).to_have_attribute("data-state", "reconnecting")
            expect(state).to_have_text("Reconnecting…")
            expect(page.get_by_role("button", name="Send")).to_have_attribute(
                "aria-disabled", "true"
            )
        # Let each page have a retry refused before letting them back in.
        wait_until(
            lambda: (
                len({h.user_id for h in backend.handshakes[handshakes_before:] if h.status == 503})
                == 2
            )
        )
    finally:
        backend.refuse_connections = False

    for page in (p1, p2):
        expect_connected(page)  # backoff retries without a click
    expect(p1.get_by_role("button", name="Reconnect now")).to_be_hidden()

    # The reconnects went to the same room, with the token as a subprotocol, not in the URL.
    again = [h for h in backend.handshakes[handshakes_before:] if h.status == 101]
    assert len({h.user_id for h in again}) == 2
    for handshake in again:
        assert handshake.room == room
        assert "token" not in handshake.path
        assert handshake.offered_subprotocols[0] == "chatdeploy"
        assert len(handshake.offered_subprotocols) == 2
        # Refused attempts make the page fetch a fresh ID token before it tries again.
        assert handshake.offered_subprotocols[1] not in tokens_before

    send(p1, "after the drop")
    expect(message_with_text(p2, "after the drop").locator(".msg-author")).to_have_text("Rita")
    expect(messages(p1).locator(".msg-text")).to_have_text(["before the drop", "after the drop"])
