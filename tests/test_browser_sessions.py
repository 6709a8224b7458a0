"""Logins that last, in the real browser: the HTTP-only cookie, reloads, tabs, logout, disable.

Starts the served app (``benchsmith review``'s ``st.App`` with the cookie routes) through
:func:`builder.review.server.start_app` and drives Debian's Chromium with Playwright.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from builder.config import Settings
from builder.review.server import AppServer, start_app
from builder.review.users import add_user, disable_user
from builder.store.models import LoginSession
from builder.store.sessions import token_hash
from builder.workspace import Workspace, init_workspace, open_workspace
from review_ui.session import COOKIE
from tests.support.browser import Tab, chromium, require_browser
from tests.support.common import SAMPLE_SPEC, free_port
from tests.support.review import make_items

pytestmark = pytest.mark.browser

PASSWORDS = {"ana": "ana-browser-pw", "rita": "rita-browser-pw"}


@pytest.fixture
def served(tmp_path: Path, sample_rows: list[dict[str, Any]]) -> Iterator[tuple[Workspace, str]]:
    require_browser()
    settings = Settings.from_env({}, home=tmp_path / "ws")
    init_workspace(settings, SAMPLE_SPEC)
    ws = open_workspace(settings)
    make_items(ws, sample_rows, 4, tmp=tmp_path)
    add_user(ws, "ana", "annotator", PASSWORDS["ana"])
    add_user(ws, "rita", "reviewer", PASSWORDS["rita"])
    server: AppServer = start_app(settings, port=free_port(), log=tmp_path / "app.log")
    try:
        yield ws, server.url
    finally:
        server.stop()
        ws.db.dispose()


def _logged_in(page: Any, who: str) -> None:
    page.get_by_text(who, exact=True).wait_for(timeout=30_000)


def _login_form(page: Any) -> None:
    page.get_by_role("button", name="Log in").wait_for(timeout=30_000)


def _sessions(ws: Workspace) -> list[LoginSession]:
    with ws.db.session() as s:
        return list(s.exec(select(LoginSession).order_by(LoginSession.id)).all())  # type: ignore[arg-type]


def test_a_login_survives_reloads_and_new_tabs_of_the_same_browser_only(
    served: tuple[Workspace, str],
) -> None:
    ws, url = served
    with chromium() as browser:
        tab = Tab(browser, url)
        tab.log_in("ana", PASSWORDS["ana"])
        _logged_in(tab.page, "ana · annotator")
        # The browser went through the cookie route and back to the app.
        tab.page.wait_for_url(f"{url}/**")
        assert "ticket" not in tab.page.url and "/benchsmith/" not in tab.page.url
        (cookie,) = [c for c in tab.page.context.cookies() if c["name"] == COOKIE]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
        assert not cookie["secure"]  # plain HTTP on loopback; see test_routes_* for TLS
        assert cookie["expires"] > 0  # persistent: closing the browser keeps the day's login
        # Scripts cannot read it.
        assert COOKIE not in tab.page.evaluate("document.cookie")
        (row,) = _sessions(ws)
        assert row.token_hash == token_hash(cookie["value"]) != cookie["value"]
        # Streamlit reports no address for a loopback peer (see client_address): "local".
        assert row.method == "password" and row.address == "local"
        assert row.user_agent and "Chrome" in row.user_agent

        tab.page.reload()
        _logged_in(tab.page, "ana · annotator")
        second = tab.page.context.new_page()
        second.goto(url)
        _logged_in(second, "ana · annotator")
        stranger = Tab(browser, url).page  # another browser profile: no cookie
        stranger.goto(url)
        _login_form(stranger)
        assert len(_sessions(ws)) == 1  # reloads and tabs reuse the one session

        # Logging out in one tab ends the session for every tab of the browser.
        tab.page.get_by_role("button", name="Log out").click()
        _login_form(tab.page)
        assert not [c for c in tab.page.context.cookies() if c["name"] == COOKIE]
        second.get_by_role("link", name="My sessions").click()
        _login_form(second)
        second.get_by_text("was ended (logged out, or ended from another session)").wait_for()
        (row,) = _sessions(ws)
        assert row.revoked_at is not None
        tab.page.reload()
        _login_form(tab.page)


def test_disabling_a_user_ends_their_open_session_on_the_next_action(
    served: tuple[Workspace, str],
) -> None:
    ws, url = served
    with chromium() as browser:
        tab = Tab(browser, url)
        tab.log_in("rita", PASSWORDS["rita"])
        _logged_in(tab.page, "rita · reviewer")
        disable_user(ws, "rita")
        assert all(r.revoked_at is not None for r in _sessions(ws))
        tab.page.get_by_role("link", name="My sessions").click()
        _login_form(tab.page)
        tab.page.get_by_text(
            "user 'rita' is disabled or was removed; ask a lead to enable the account"
        ).wait_for()
        # A reload brings the (ended) cookie back: still refused, with the reason.
        tab.page.reload()
        _login_form(tab.page)
        tab.page.get_by_text("user 'rita' is disabled or was removed").wait_for()


def test_my_sessions_lists_and_ends_the_other_logins(served: tuple[Workspace, str]) -> None:
    ws, url = served
    with chromium() as browser:
        laptop, phone = Tab(browser, url), Tab(browser, url)
        for t in (laptop, phone):
            t.log_in("ana", PASSWORDS["ana"])
            _logged_in(t.page, "ana · annotator")
        assert [r.revoked_at for r in _sessions(ws)] == [None, None]
        laptop.page.get_by_role("link", name="My sessions").click()
        laptop.page.get_by_role("button", name="End my other sessions (1)").wait_for()
        laptop.page.get_by_role("button", name="End my other sessions (1)").click()
        laptop.page.get_by_text("Ended 1 other session.").wait_for()
        laptop.page.reload()
        _logged_in(laptop.page, "ana · annotator")
        phone.page.reload()
        _login_form(phone.page)
        assert [r.revoked_at is None for r in _sessions(ws)] == [True, False]  # laptop, phone
