"""Debian's Chromium driven by Playwright, for the browser tests (no ``playwright install``).

Call :func:`require_browser` first (skips locally, fails in CI, without Chromium or
Playwright); :func:`chromium` starts the browser and :class:`Tab` opens a page in it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.common import missing
from tests.support.review import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


def require_browser() -> None:
    """Skip locally (fail in CI) unless the system Chromium and Playwright are installed."""
    if not CHROMIUM.exists():
        missing(
            "Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
        )
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        missing("the playwright Python package is not installed")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``), closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


class Tab:
    """A new browser tab for the app at ``url``: ``page`` is the Playwright page; every request
    for evil.example lands in ``evil`` and every dialog (dismissed) in ``dialogs``."""

    def __init__(self, browser: Any, url: str, *, height: int = 1000) -> None:
        self.page = browser.new_context(viewport={"width": 1400, "height": height}).new_page()
        self.url = url
        self.evil: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", self._request)
        self.page.on("dialog", self._dialog)

    def _request(self, request: Any) -> None:
        if "evil.example" in request.url:
            self.evil.append(request.url)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def log_in(self, name: str, password: str = PASSWORD) -> None:
        """Open the app and submit the login form (does not wait for what comes next)."""
        self.page.goto(self.url)
        self.page.get_by_label("User name").fill(name)
        self.page.get_by_label("Password", exact=True).fill(password)
        self.page.get_by_role("button", name="Log in").click()


_ONE_LIVE_FORM = """() => {
  const live = (sel) => Array.from(document.querySelectorAll(sel))
    .filter((b) => !b.closest('[data-stale="true"]'));
  return live('[class*="st-key-submit_"] button').length === 1 &&
         live('[class*="st-key-skip_"] button').length === 1;
}"""


def wait_for_item_form(page: Any) -> None:
    """Wait until the Annotate form of the item on screen is mounted.

    Submit and Skip are keyed by item, so each item mounts new buttons, and their keyboard
    shortcuts (Enter, S) exist only once the new buttons are on the page; the item's
    heading alone can arrive first.
    """
    page.wait_for_function(_ONE_LIVE_FORM)
