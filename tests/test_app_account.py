"""My sessions (AppTest) and the app's side of single sign-on (``st.user`` from the provider)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from builder.review.auth import login
from builder.review.sessions import check_session
from builder.review.users import set_email
from builder.workspace import Workspace
from review_ui.session import AUTH_KEY
from tests.support.review import APP, PASSWORD, app_test, texts

SSO_ENV = {
    "BENCHSMITH_OIDC_ISSUER": "https://idp.example.org",
    "BENCHSMITH_OIDC_CLIENT_ID": "review-app",
    "BENCHSMITH_OIDC_CLIENT_SECRET": "a-secret",
    "BENCHSMITH_OIDC_REDIRECT_URI": "http://localhost:8501/oauth2callback",
    "BENCHSMITH_OIDC_PROVIDER": "Okta",
}


def _shown(elements: Any) -> list[str]:
    """What the reader sees: without Markdown escapes and plain()'s word joiners."""
    return [re.sub(r"\\(.)", r"\1", e.value).replace("\u2060", "") for e in elements]


def test_my_sessions_lists_them_and_ends_the_others(app_ws: Workspace) -> None:
    phone = login(app_ws, "ana", PASSWORD, address="198.51.100.7", user_agent="Phone <b>x</b>")
    at = app_test(app_ws, "ana", page="account.py")
    assert not at.exception and [t.value for t in at.title] == ["My sessions"]
    shown = at.dataframe[0].value
    assert list(shown["this one"]) == ["yes", ""]  # this one was used last: listed first
    assert list(shown["address"]) == ["local", "198.51.100.7"]
    assert list(shown["method"]) == ["password", "password"]
    assert list(shown["browser"]) == ["unknown", "Phone <b>x</b>"]  # as data, never markup
    at.button(key="end_others").click().run()
    assert _shown(at.success) == ["Ended 1 other session."]
    assert list(at.dataframe[0].value["this one"]) == ["yes"]
    assert at.button(key="end_others").disabled
    with pytest.raises(Exception, match="was ended"):
        check_session(app_ws, phone)
    assert check_session(app_ws, at.session_state[AUTH_KEY]).name == "ana"  # this one stays


def test_the_login_page_offers_sso_only_when_set_up(
    app_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app_test(app_ws)
    assert [b.label for b in at.button] == ["Log in"]
    for key, value in SSO_ENV.items():
        monkeypatch.setenv(key, value)
    at = app_test(app_ws)
    assert [b.label for b in at.button] == ["Sign in with Okta", "Log in"]


def _back_from_provider(claims: dict[str, object]) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.user = {"is_logged_in": True, **claims}
    return at.run()


def test_a_provider_sign_in_becomes_a_session(
    app_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in SSO_ENV.items():
        monkeypatch.setenv(key, value)
    set_email(app_ws, "rita", "rita@example.org")
    at = _back_from_provider({"email": "Rita@Example.org", "email_verified": True})
    assert not at.exception
    assert "rita · reviewer" in texts(at)
    auth = at.session_state[AUTH_KEY]
    assert auth.method == "oidc" and check_session(app_ws, auth).name == "rita"
    at = _back_from_provider({"email": "who@example.org"})
    assert AUTH_KEY not in at.session_state
    assert _shown(at.info) == [
        "no benchsmith user has the e-mail address 'who@example.org'; ask a lead to add you "
        "(`benchsmith users add NAME --role annotator --email who@example.org`)"
    ]
    assert [b.label for b in at.button] == ["Sign in with Okta", "Log in"]
