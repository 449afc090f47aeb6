"""Regenerates docs/screenshot.png: two users talking, seen by one of them.

    python tests/browser/take_screenshot.py [OUTPUT]

Runs `chatdeploy local` and Debian Chromium as the browser tests do; everything on 127.0.0.1.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

# Run as a script, it sees only its own folder; tests/ holds the shared Chromium launcher.
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from browser_helpers import PASSWORD, message_box, message_with_text, send, sign_in
from chromium import launch
from conftest import ROOT
from local_backend import running_local_backend
from playwright.sync_api import expect, sync_playwright

CONVERSATION = [
    ("ben", "Morning! Did the deploy go through?"),
    ("ana", "Yes, chatdeploy up finished in about two minutes. The page is on CloudFront now."),
    ("ben", "Nice. I closed my laptop on the train and it reconnected by itself."),
    ("ana", "Same room and everything?"),
    ("ben", "Same room, history and all."),
]


def main(output: Path) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="chatdeploy-screenshot-") as home,
        running_local_backend(Path(home)) as backend,
    ):
        users = {
            "ana": {"email": "ana@example.com", "password": PASSWORD, "name": "Ana"},
            "ben": {"email": "ben@example.com", "password": PASSWORD, "name": "Ben"},
            "chen": {"email": "chen@example.com", "password": PASSWORD, "name": "Chen"},
        }
        for user in users.values():
            backend.create_user(user["email"], user["password"], user["name"])
        with sync_playwright() as pw:
            browser = launch(pw)
            pages = {}
            for key, size in (("ana", (1080, 640)), ("ben", (1080, 640)), ("chen", (800, 600))):
                context = browser.new_context(
                    viewport={"width": size[0], "height": size[1]}, color_scheme="light"
                )
                pages[key] = context.new_page()
                sign_in(pages[key], backend.page_url, users[key], "general")
            ana = pages["ana"]
            ana.get_by_label("Join a room by name").fill("release-notes")
            ana.get_by_label("Join a room by name").press("Enter")
            ana.locator("#room-list").get_by_role("link", name="general").click()
            for who, text in CONVERSATION:
                send(pages[who], text)
                expect(message_with_text(ana, text)).to_be_visible()
            message_box(pages["ben"]).press_sequentially("Let me tell the others")
            expect(ana.locator("#typing")).to_have_text("Ben is typing…")
            message_box(ana).fill("See you at the demo")
            ana.locator(".topbar").click(position={"x": 2, "y": 2})  # no focus ring in the shot
            ana.screenshot(path=str(output))
            browser.close()
    print(f"wrote {output} ({output.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshot.png")
