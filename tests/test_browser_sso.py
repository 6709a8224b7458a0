"""Single sign-on through a real OpenID Connect provider, in the real browser.

The provider is ``oidc-provider-mock`` (Authlib's OIDC server behind a page where one picks
who signs in), started as its own process on loopback; the app is served as
``benchsmith review`` serves it, with the ``BENCHSMITH_OIDC_*`` variables set.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from builder.config import Settings
from builder.review.server import start_app
from builder.review.users import add_user, disable_user
from builder.store.audit import history
from builder.store.models import LoginSession
from builder.workspace import Workspace, init_workspace, open_workspace
from review_ui.session import COOKIE
from tests.support.browser import Tab, chromium, require_browser
from tests.support.common import SAMPLE_SPEC, free_port
from tests.support.review import make_items

pytestmark = pytest.mark.browser

CLAIMS = [
    {"sub": "ana-at-idp", "email": "Ana@Example.org", "email_verified": True},
    {"sub": "stranger-at-idp", "email": "stranger@example.org", "email_verified": True},
    {"sub": "ben-at-idp", "email": "ben@example.org", "email_verified": True},
]


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[str]:
    """An OIDC provider process on loopback; its issuer URL."""
    port = free_port()
    args = [sys.executable, "-m", "oidc_provider_mock", "--port", str(port)]
    for claims in CLAIMS:
        args += ["--user-claims", json.dumps(claims)]
    log = (tmp_path / "idp.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration") as r:
                    assert json.load(r)["issuer"].rstrip("/") == issuer
                break
            except (urllib.error.URLError, OSError):
                assert proc.poll() is None and time.monotonic() < deadline, "provider down"
                time.sleep(0.2)
        yield issuer
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture
def served(
    tmp_path: Path,
    sample_rows: list[dict[str, Any]],
    provider: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Workspace, str]]:
    require_browser()
    settings = Settings.from_env({}, home=tmp_path / "ws")
    init_workspace(settings, SAMPLE_SPEC)
    ws = open_workspace(settings)
    make_items(ws, sample_rows, 4, tmp=tmp_path)
    add_user(ws, "ana", "annotator", email="ana@example.org")  # no password: SSO only
    add_user(ws, "ben", "annotator", email="ben@example.org")
    disable_user(ws, "ben")
    port = free_port()
    for key, value in {
        "ISSUER": provider,
        "CLIENT_ID": "benchsmith-review",
        "CLIENT_SECRET": "a-client-secret",
        "REDIRECT_URI": f"http://127.0.0.1:{port}/oauth2callback",
        "PROVIDER": "Mock IdP",
    }.items():
        monkeypatch.setenv(f"BENCHSMITH_OIDC_{key}", value)
    server = start_app(settings, port=port, log=tmp_path / "app.log")
    try:
        yield ws, server.url
    finally:
        server.stop()
        ws.db.dispose()


def _sign_in(browser: Any, url: str, subject: str) -> Any:
    """A new browser profile signing in at the provider as ``subject``; its page."""
    page = Tab(browser, url).page
    page.goto(url)
    page.get_by_role("button", name="Sign in with Mock IdP").click()
    page.get_by_role("button", name=subject).click()  # the provider's page: who signs in
    return page


def test_sso_login_through_the_provider_opens_a_lasting_session(
    served: tuple[Workspace, str],
) -> None:
    ws, url = served
    with chromium() as browser:
        page = _sign_in(browser, url, "ana-at-idp")
        page.get_by_text("ana · annotator", exact=True).wait_for(timeout=30_000)
        names = {c["name"] for c in page.context.cookies()}
        # Streamlit's sign-in cookie was traded for benchsmith's session cookie.
        assert COOKIE in names and not {n for n in names if n.startswith("_streamlit_user")}
        page.reload()
        page.get_by_text("ana · annotator", exact=True).wait_for(timeout=30_000)
        with ws.db.session() as s:
            rows = s.exec(select(LoginSession)).all()
            events = [(e.action, e.after) for e in history(s, entity="user", entity_id="ana")]
        assert [(r.method, r.revoked_at) for r in rows] == [("oidc", None)]
        assert events[-1] == (
            "user.login",
            {"address": "local", "method": "oidc", "email": "ana@example.org"},
        )
        # Logging out does not sign the user straight back in through the provider.
        page.get_by_role("button", name="Log out").click()
        page.get_by_role("button", name="Sign in with Mock IdP").wait_for(timeout=30_000)
        page.reload()
        page.get_by_role("button", name="Sign in with Mock IdP").wait_for(timeout=30_000)
        assert not page.get_by_text("ana · annotator").count()


@pytest.mark.parametrize(
    ("subject", "message", "who"),
    [
        (
            "stranger-at-idp",
            "no benchsmith user has the e-mail address 'stranger@example.org'; ask a lead to "
            "add you (`benchsmith users add NAME --role annotator --email stranger@example.org`)",
            "stranger@example.org",
        ),
        ("ben-at-idp", "user 'ben' is disabled; ask a lead to enable the account", "ben"),
    ],
)
def test_sso_refuses_an_unknown_email_and_a_disabled_user(
    served: tuple[Workspace, str], subject: str, message: str, who: str
) -> None:
    ws, url = served
    with chromium() as browser:
        page = _sign_in(browser, url, subject)
        shown = page.get_by_text(message[:24])
        shown.wait_for(timeout=30_000)
        # Shown literally: plain() only adds word joiners (U+2060) so '@' cannot autolink.
        assert shown.inner_text().replace("\u2060", "") == message
        page.get_by_role("button", name="Log in").wait_for()  # password login stays
        assert not [c for c in page.context.cookies() if c["name"] == COOKIE]
    with ws.db.session() as s:
        assert not s.exec(select(LoginSession)).all()
        (event,) = [e for e in history(s, entity="user", entity_id=who)
                    if e.action == "user.login_failed"]  # fmt: skip
    assert event.after["method"] == "oidc" and event.actor == who
