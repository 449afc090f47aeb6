"""The chat web app in a real browser, end to end against `chatdeploy local`: the real Lambda
handlers behind the local API Gateway, and Cognito in the emulator."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from browser_helpers import (
    PASSWORD,
    assert_no_token_in,
    expect_connected,
    message_box,
    message_with_text,
    messages,
    room_of,
    send,
    sign_in,
    unique_email,
    unique_room,
    websocket_urls,
)
from local_backend import LocalBackend
from playwright.sync_api import Page, Request, Response, expect

pytestmark = pytest.mark.browser

NewPage = Callable[..., Page]
MakeUser = Callable[[str], dict[str, str]]


def test_sign_up_in_the_page_then_two_users_talk(
    new_page: NewPage, app_url: str, make_user: MakeUser, backend: LocalBackend
) -> None:
    room = unique_room("talk")
    email = unique_email("ana")
    ana = new_page()
    ana.goto(f"{app_url}#{room}")

    # Sign up through the page; the password rules are shown and Cognito's refusal is explained.
    ana.get_by_role("button", name="Create an account").click()
    form = ana.locator("#signup-form")
    expect(form.locator("#password-rules")).to_contain_text("at least 8 characters")
    form.get_by_label("Email", exact=True).fill(email)
    form.get_by_label("Display name").fill("Ana")
    form.get_by_label("Password").fill("weakpass")
    expect(form.locator('li[data-rule="lower"]')).to_have_attribute("data-met", "true")
    expect(form.locator('li[data-rule="upper"]')).to_have_attribute("data-met", "false")
    form.get_by_role("button", name="Create account").click()
    expect(ana.locator("#auth-error")).to_have_text(
        "That password does not meet the rules: at least 8 characters, with an upper-case "
        "letter, a lower-case letter and a number."
    )
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()

    # The page asks for the emailed code. No email leaves local mode: an admin confirms Ana
    # instead, and she signs in.
    confirm = ana.locator("#confirm-form")
    expect(confirm).to_be_visible()
    expect(confirm.get_by_label("Email")).to_have_value(email)
    assert backend.user_status(email) == "UNCONFIRMED"
    backend.confirm_sign_up(email)
    confirm.get_by_role("button", name="Back to sign in").click()
    signin = ana.locator("#signin-form")
    expect(signin.get_by_label("Email")).to_have_value(email)
    signin.get_by_label("Password").fill(PASSWORD)
    signin.get_by_role("button", name="Sign in").click()
    expect_connected(ana)
    assert backend.user_status(email) == "CONFIRMED"
    expect(ana.locator("#me-name")).to_have_text("Ana")
    expect(ana.locator("#room-title")).to_have_text(f"# {room}")

    # Ben was made by an admin and signs in through the form.
    ben_user = make_user("Ben")
    ben = new_page()
    sign_in(ben, app_url, ben_user, room)

    for page in (ana, ben):
        expect(page.locator("#presence-list .person-name")).to_have_text(["Ana", "Ben"])

    send(ana, "Hello Ben!")
    seen_by_ben = message_with_text(ben, "Hello Ben!")
    expect(seen_by_ben.locator(".msg-author")).to_have_text("Ana")
    expect(seen_by_ben).not_to_have_class("msg msg-own")
    expect(message_with_text(ana, "Hello Ben!")).to_have_class("msg msg-own")

    send(ben, "Hi Ana")
    expect(message_with_text(ana, "Hi Ana").locator(".msg-author")).to_have_text("Ben")
    expect(messages(ana).locator(".msg-text")).to_have_text(["Hello Ben!", "Hi Ana"])
    expect(message_box(ana)).to_have_value("")


def test_markup_in_messages_and_names_stays_text(
    new_page: NewPage, app_url: str, make_user: MakeUser
) -> None:
    room = unique_room("xss")
    payload = '<img src=x onerror="window.__x=1">'
    mallory = make_user("<b>Mallory</b>")
    reader = make_user("Reader")
    p1, p2 = new_page(), new_page()
    sign_in(p1, app_url, mallory, room)
    sign_in(p2, app_url, reader, room)

    send(p1, payload)
    for page in (p1, p2):
        seen = message_with_text(page, "onerror")
        expect(seen.locator(".msg-text")).to_have_text(payload)
        expect(seen.locator(".msg-author")).to_have_text("<b>Mallory</b>")
        expect(page.locator("#message-list img, #message-list b, #presence-list b")).to_have_count(
            0
        )
        assert page.evaluate("typeof window.__x") == "undefined"


def test_history_is_there_after_a_reload(
    new_page: NewPage, app_url: str, make_user: MakeUser
) -> None:
    room = unique_room("hist")
    user = make_user("Hana")
    page = new_page()
    sign_in(page, app_url, user, room)
    for text in ("one", "two", "three"):
        send(page, text)
    expect(messages(page).locator(".msg-text")).to_have_text(["one", "two", "three"])

    page.reload()  # the tab's refresh token signs back in, into the room in the URL
    expect_connected(page)
    expect(page.locator("#room-title")).to_have_text(f"# {room}")
    expect(messages(page).locator(".msg-text")).to_have_text(["one", "two", "three"])
    expect(page.locator("#history-status")).to_have_text("This is the start of the room.")


def test_typing_indicator_shows_for_the_other_user(
    new_page: NewPage, app_url: str, make_user: MakeUser
) -> None:
    room = unique_room("typing")
    typer, watcher = make_user("Tara"), make_user("Walt")
    p1, p2 = new_page(), new_page()
    sign_in(p1, app_url, typer, room)
    sign_in(p2, app_url, watcher, room)

    message_box(p1).press_sequentially("hel")
    expect(p2.locator("#typing")).to_have_text("Tara is typing…")
    expect(p1.locator("#typing")).to_have_text("")  # not told about yourself
    # It goes away by itself a few seconds after the last keystroke.
    expect(p2.locator("#typing")).to_have_text("", timeout=10_000)

    # And at once when the typer's message arrives.
    message_box(p1).press_sequentially("lo")
    expect(p2.locator("#typing")).to_have_text("Tara is typing…")
    message_box(p1).press("Enter")
    expect(message_with_text(p2, "hello")).to_be_visible()
    expect(p2.locator("#typing")).to_have_text("")


def test_the_page_reconnects_after_the_server_closes_its_connection(
    new_page: NewPage, app_url: str, make_user: MakeUser, backend: LocalBackend
) -> None:
    room = unique_room("drop")
    rita, sam = make_user("Rita"), make_user("Sam")
    p1, p2 = new_page(), new_page()
    p1.clock.install()  # the page's timers, held below so the backoff wait stays observable
    with p1.expect_response(is_password_sign_in) as signed_in:
        sign_in(p1, app_url, rita, room)
    id_token = signed_in.value.json()["AuthenticationResult"]["IdToken"]
    sign_in(p2, app_url, sam, room)
    send(p1, "before the drop")
    expect(message_with_text(p2, "before the drop")).to_be_visible()

    # Close Rita's connection from the server side, as an admin's DELETE @connections does,
    # while the page's clock stands still: it then waits before retrying until it resumes.
    p1.clock.pause_at(p1.evaluate("Date.now()") + 1_000)
    dropped = backend.drop_connections(rita["email"])
    assert len(dropped) == 1
    state = p1.locator("#conn-state")
    expect(state).to_have_attribute("data-state", "reconnecting")
    expect(state).to_have_text("Reconnecting…")
    expect(p1.get_by_role("button", name="Send")).to_have_attribute("aria-disabled", "true")
    expect(p1.get_by_role("button", name="Reconnect now")).to_be_visible()
    expect(p2.locator("#presence-list .person-name")).to_have_text(["Sam"])  # $disconnect ran

    p1.clock.resume()
    expect_connected(p1)  # the backoff retry, without a click
    expect(p1.get_by_role("button", name="Reconnect now")).to_be_hidden()
    expect(p2.locator("#presence-list .person-name")).to_have_text(["Rita", "Sam"])
    reconnected = backend.connection_ids(rita["email"])
    assert len(reconnected) == 1 and reconnected != dropped

    send(p1, "after the drop")
    expect(message_with_text(p2, "after the drop").locator(".msg-author")).to_have_text("Rita")
    expect(messages(p1).locator(".msg-text")).to_have_text(["before the drop", "after the drop"])

    # Both connections asked for the same room, and the token travelled in neither URL.
    assert [room_of(url) for url in websocket_urls(p1)] == [room, room]
    for url in websocket_urls(p1):
        assert id_token not in url
        assert_no_token_in(url)


def is_password_sign_in(response: Response) -> bool:
    return is_cognito_call(response.request, "USER_PASSWORD_AUTH")


def is_cognito_call(request: Request, auth_flow: str) -> bool:
    return (
        request.method == "POST"
        and request.headers.get("x-amz-target") == "AWSCognitoIdentityProviderService.InitiateAuth"
        and auth_flow in (request.post_data or "")
    )


def test_phone_width_has_no_horizontal_scroll_and_keyboard_reaches_the_message_box(
    new_page: NewPage, app_url: str, make_user: MakeUser
) -> None:
    def no_horizontal_scroll(page: Page) -> None:
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
            " document.body.scrollWidth]"
        )
        assert widths[0] <= widths[1] and widths[2] <= widths[1], widths

    user = make_user("Phone user with quite a long display name")
    page = new_page(width=375, height=740)
    page.goto(app_url)
    expect(page.locator("#signin-form")).to_be_visible()
    no_horizontal_scroll(page)

    room = "a" * 64  # the longest room id
    sign_in(page, app_url, user, room)
    send(page, "x" * 400)  # one long unbreakable word
    send(page, "Short one")
    expect(message_with_text(page, "Short one")).to_be_visible()
    no_horizontal_scroll(page)

    # Keyboard: from the top of the page, the first Tab offers the skip link to the box.
    top_of_page = {"x": 2, "y": 2}
    page.locator(".topbar").click(position=top_of_page)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Skip to message box")).to_be_focused()
    page.keyboard.press("Enter")
    expect(message_box(page)).to_be_focused()

    # Without the skip link, tabbing through the page also gets there.
    page.locator(".topbar").click(position=top_of_page)
    for _ in range(25):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == "composer-input":
            break
    expect(message_box(page)).to_be_focused()
    page.keyboard.type("typed with the keyboard")
    page.keyboard.press("Enter")
    expect(message_with_text(page, "typed with the keyboard")).to_be_visible()

    # The room list opens as a panel on phones and works from the keyboard.
    toggle = page.get_by_role("button", name="Rooms")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#sidebar")).to_be_visible()
    no_horizontal_scroll(page)
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(toggle).to_be_focused()


def test_rooms_switch_by_name_and_follow_the_url(
    new_page: NewPage, app_url: str, make_user: MakeUser
) -> None:
    first, second = unique_room("first"), unique_room("second")
    user = make_user("Rover")
    page = new_page()
    sign_in(page, app_url, user, first)
    send(page, "in the first room")
    expect(message_with_text(page, "in the first room")).to_be_visible()

    page.get_by_label("Join a room by name").fill("not a room!")
    page.get_by_role("button", name="Join").click()
    expect(page.locator("#chat-notice")).to_contain_text("Room names use letters")

    page.get_by_label("Join a room by name").fill(second)
    page.get_by_label("Join a room by name").press("Enter")
    expect(page).to_have_url(f"{app_url}#{second}")
    expect(page.locator("#room-title")).to_have_text(f"# {second}")
    expect(page.locator("#history-status")).to_have_text("No messages yet. Say hello!")
    expect(messages(page)).to_have_count(0)
    expect(page.locator('#room-list a[aria-current="page"]')).to_have_text(f"#{second}")
    expect(message_box(page)).to_be_focused()
    send(page, "in the second room")
    expect(messages(page).locator(".msg-text")).to_have_text(["in the second room"])

    page.go_back()
    expect(page.locator("#room-title")).to_have_text(f"# {first}")
    expect(messages(page).locator(".msg-text")).to_have_text(["in the first room"])
    page.locator("#room-list").get_by_role("link", name=second).click()
    expect(messages(page).locator(".msg-text")).to_have_text(["in the second room"])


def test_older_history_loads_when_scrolling_up(
    new_page: NewPage, app_url: str, make_user: MakeUser, backend: LocalBackend
) -> None:
    room = unique_room("paging")
    user = make_user("Paige")
    backend.seed_messages(
        room, [f"message {i:03d}" for i in range(1, 131)], user_id="seed", name="Seeder"
    )
    page = new_page()
    sign_in(page, app_url, user, room)
    expect(messages(page)).to_have_count(50)
    expect(messages(page).last.locator(".msg-text")).to_have_text("message 130")
    expect(messages(page).last.locator(".msg-author")).to_have_text("Seeder")

    scroller = page.locator("#messages")
    for expected in (100, 130):
        scroller.evaluate("el => { el.scrollTop = 0; }")
        expect(messages(page)).to_have_count(expected)
    expect(messages(page).first.locator(".msg-text")).to_have_text("message 001")
    expect(page.locator("#history-status")).to_have_text("This is the start of the room.")
    texts = messages(page).locator(".msg-text").all_text_contents()
    assert texts == [f"message {i:03d}" for i in range(1, 131)]


def test_length_counter_counts_utf8_bytes_and_blocks_long_messages(
    new_page: NewPage, app_url: str, make_user: MakeUser, backend: LocalBackend
) -> None:
    room = unique_room("len")
    user = make_user("Lena")
    page = new_page()
    sign_in(page, app_url, user, room)
    counter = page.locator("#composer-counter")
    limit = backend.max_message_bytes
    expect(counter).to_have_text(f"0 / {limit} bytes")

    message_box(page).fill("héllo €")  # é is 2 bytes, € is 3
    expect(counter).to_have_text(f"10 / {limit} bytes")

    too_long = "€" * (limit // 3 + 1)
    message_box(page).fill(too_long)
    expect(counter).to_have_text(f"{len(too_long.encode())} / {limit} bytes")
    expect(counter).to_have_attribute("data-level", "over")
    expect(message_box(page)).to_have_attribute("aria-invalid", "true")
    message_box(page).press("Enter")
    expect(page.locator("#chat-notice")).to_contain_text(f"the limit is {limit}")
    expect(message_box(page)).to_have_value(too_long)  # kept, not sent

    # Only what was sent is stored: the round trip of a short message comes after the refusal.
    send(page, "short")
    expect(message_with_text(page, "short")).to_be_visible()
    assert backend.room_messages(room) == ["short"]


def test_sign_out_forgets_the_session(new_page: NewPage, app_url: str, make_user: MakeUser) -> None:
    user = make_user("Otto")
    page = new_page()
    sign_in(page, app_url, user, unique_room("out"))
    stored = page.evaluate("JSON.stringify(Object.keys(sessionStorage))")
    assert "refreshToken" in stored
    assert "ey" not in page.evaluate("JSON.stringify(Object.values(localStorage))")  # no JWTs there

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#auth-info")).to_have_text("You are signed out.")
    expect(page.locator("#chat")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    page.reload()
    expect(page.locator("#signin-form")).to_be_visible()

    # A wrong password is explained in plain words.
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(user["email"])
    form.get_by_label("Password").fill("Wrong-passw0rd")
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#auth-error")).to_have_text("Wrong email or password.")


def test_tokens_are_refreshed_before_they_expire(
    new_page: NewPage, app_url: str, make_user: MakeUser, backend: LocalBackend
) -> None:
    user = make_user("Frida")
    page = new_page()
    page.clock.install()
    sign_in(page, app_url, user, unique_room("refresh"))

    def is_refresh(request: Request) -> bool:
        return is_cognito_call(request, "REFRESH_TOKEN_AUTH")

    with page.expect_request(is_refresh, timeout=10_000):
        # The app client's ID tokens last an hour; the refresh is due 5 minutes before `exp`.
        page.clock.fast_forward("56:00")
    expect_connected(page)

    # The next connection uses the refreshed token: the authorizer accepts it, and the name in
    # it is still the user's display name.
    with page.expect_websocket():
        backend.drop_connections(user["email"])
    expect_connected(page)
    send(page, "after the refresh")
    expect(message_with_text(page, "after the refresh").locator(".msg-author")).to_have_text(
        "Frida"
    )
