"""The app shell (AppTest): login, navigation by role, logout, expiry, server-side refusals."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from builder.review.auth import AuthSession, login
from builder.review.users import disable_user
from builder.store.models import Annotation, utcnow
from builder.workspace import Workspace
from review_ui.session import AUTH_KEY
from tests.support.review import ACCOUNT_CHANGES, APP, PAGES, PASSWORD, app_test, texts


def _shown(elements: Any) -> list[str]:
    """The elements' text as the reader sees it (without the Markdown escapes)."""
    return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]


def _login(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    return at.button[0].click().run()


def test_login_page_then_annotate(app_ws: Workspace) -> None:
    at = app_test(app_ws)
    assert [t.value for t in at.title] == ["benchsmith review"]
    assert [b.label for b in at.button] == ["Log in"]
    _login(at, "ana", "nope-nope-nope")
    assert _shown(at.error) == [
        "unknown user or wrong password for 'ana', or too many failed logins; "
        "check both and try again in a few minutes"
    ]
    _login(at, "ana", PASSWORD)
    assert not at.exception
    assert "ana · annotator" in texts(at)
    # Annotate is the annotator's first page: an item and its form are on screen.
    assert at.button_group(key="answer_pick_1").label == "Label (type its number)"


def test_logout_forgets_the_login(app_ws: Workspace) -> None:
    # (That the browser then shows the login page is checked in test_browser.py: AppTest
    # keeps rendering the page it had open when the navigation changes under it.)
    at = app_test(app_ws, "rita")
    assert "rita · reviewer" in texts(at)
    at.button(key="logout").click().run()
    assert AUTH_KEY not in at.session_state


def _fresh(auth: AuthSession) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.session_state[AUTH_KEY] = auth
    return at.run()


def test_expired_session_and_disabled_user_are_sent_to_login(app_ws: Workspace) -> None:
    auth = login(app_ws, "ana", PASSWORD, now=utcnow() - timedelta(hours=13))
    at = _fresh(auth)
    assert [b.label for b in at.button] == ["Log in"]
    assert _shown(at.info)[0].startswith("the session of 'ana' expired at ")
    assert AUTH_KEY not in at.session_state
    auth = login(app_ws, "ben", PASSWORD)
    disable_user(app_ws, "ben")
    at = _fresh(auth)
    assert [b.label for b in at.button] == ["Log in"]
    assert _shown(at.info) == [
        "user 'ben' is disabled or was removed; ask a lead to enable the account"
    ]


@pytest.mark.parametrize(
    ("user", "allowed", "refused"),
    [
        ("ana", ["annotate", "my_answers"], ["adjudicate", "dashboard", "history", "users"]),
        ("rita", ["annotate", "adjudicate", "dashboard", "history"], ["users"]),
        ("lea", ["annotate", "adjudicate", "dashboard", "history", "users"], []),
    ],
)
def test_every_page_refuses_a_role_too_low(
    app_ws: Workspace, user: str, allowed: list[str], refused: list[str]
) -> None:
    """Pages reached directly (not through the menu) check the role again."""
    role = {"ana": "annotator", "rita": "reviewer", "lea": "lead"}[user]
    needs = {"adjudicate": "reviewer", "dashboard": "reviewer", "history": "reviewer",
             "users": "lead"}  # fmt: skip
    for page in refused:
        at = app_test(app_ws, user, page=f"{page}.py")
        assert not at.exception
        assert [e.value for e in at.error] == [
            f"This page needs the {needs[page]} role; you are logged in as {user} ({role})."
        ]
    for page in allowed:
        at = app_test(app_ws, user, page=f"{page}.py")
        assert not at.exception and not at.error, page


def test_pages_without_login_ask_to_log_in(app_ws: Workspace) -> None:
    for page in ("annotate", "my_answers", "adjudicate", "dashboard", "history", "users"):
        at = app_test(app_ws, page=f"{page}.py")
        assert [w.value for w in at.warning] == ["Please log in first."], page


@pytest.mark.parametrize(
    ("user", "menu"),
    [
        ("ana", ["annotate", "my_answers"]),
        ("rita", ["annotate", "my_answers", "adjudicate", "dashboard", "history"]),
        ("lea", ["annotate", "my_answers", "adjudicate", "dashboard", "history", "users"]),
    ],
)
def test_the_menu_follows_the_role(app_ws: Workspace, user: str, menu: list[str]) -> None:
    at = app_test(app_ws, user)
    for page in ("annotate", "my_answers", "adjudicate", "dashboard", "history", "users"):
        if page not in menu:
            with pytest.raises(ValueError) as err:
                at.switch_page(f"app_pages/{page}.py")
            # The menu holds the allowed pages (and others' pages, e.g. releases), never this.
            known = set(ast.literal_eval(str(err.value).split("Known pages: ")[1][:-1]))
            assert {str(PAGES / f"{p}.py") for p in menu} <= known
            assert str(PAGES / f"{page}.py") not in known
    for page in menu:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception and not at.error, page


@pytest.mark.parametrize(("change", "reason"), ACCOUNT_CHANGES)
def test_a_reset_disable_or_role_change_logs_open_tabs_out(
    app_ws: Workspace, change: Callable[[Workspace], object], reason: str
) -> None:
    tabs = [app_test(app_ws, "rita", page=page) for page in (None, "dashboard.py")]
    assert "rita · reviewer" in texts(tabs[0]) and not tabs[1].error
    change(app_ws)
    for at in tabs:
        at.run()
        assert AUTH_KEY not in at.session_state
    # The app's next run shows the login page with the reason; a page run alone asks to log in.
    assert [b.label for b in tabs[0].button] == ["Log in"]
    assert _shown(tabs[0].info) == [reason]
    assert [w.value for w in tabs[1].warning] == ["Please log in first."]


def test_two_tabs_of_one_user_each_submit_their_item(app_ws: Workspace) -> None:
    first, second = app_test(app_ws, "ana"), app_test(app_ws, "ana")
    # Both tabs show the item leased to ana; the first tab answers it.
    assert first.button_group(key="answer_pick_1") and second.button_group(key="answer_pick_1")
    first.button_group(key="answer_pick_1").set_value("devel")
    first.button(key="submit_1").click().run()
    assert not first.error and first.button_group(key="answer_pick_2")
    # The second tab's click is taken for the item it showed, never for the next item's
    # empty form ("no label given"): ana's later choice on item 1 revises her own answer
    # (append-only, the first kept as superseded), and the tab moves on to the next item.
    second.button_group(key="answer_pick_1").set_value("utils")
    second.button(key="submit_1").click().run()
    assert not second.error
    assert any("revised" in m.value for m in second.success)
    second.button_group(key="answer_pick_2").set_value("net")
    second.button(key="submit_2").click().run()
    assert not second.error
    with app_ws.db.session() as s:
        rows = s.exec(select(Annotation).order_by(Annotation.id)).all()  # type: ignore[arg-type]
    assert [(a.item_id, a.answer, a.is_current) for a in rows] == [
        (1, "devel", False),
        (1, "utils", True),
        (2, "net", True),
    ]


@pytest.mark.parametrize(
    ("direct", "headers", "address"),
    [
        ("203.0.113.5", [("X-Forwarded-For", "198.51.100.7")], "203.0.113.5"),  # not trusted
        (None, [("X-Forwarded-For", "10.9.9.9, 198.51.100.7")], "198.51.100.7"),  # the proxy's
        (None, [("X-Real-IP", "2001:db8::1")], "2001:db8::1"),
        (None, [("X-Forwarded-For", "not-an-address")], None),
        (None, [], None),
    ],
)
def test_client_address_trusts_only_a_proxy_on_this_machine(
    monkeypatch: pytest.MonkeyPatch,
    direct: str | None,
    headers: list[tuple[str, str]],
    address: str | None,
) -> None:
    from streamlit.runtime.context import StreamlitHeaders

    from review_ui import session

    context = SimpleNamespace(ip_address=direct, headers=StreamlitHeaders(headers))
    monkeypatch.setattr(session.st, "context", context)
    assert session.client_address() == address
