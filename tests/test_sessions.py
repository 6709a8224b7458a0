"""Server-side login sessions on SQLite and PostgreSQL: expiry, revocation, stamps, tokens."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import col, select
from starlette.requests import Request

from builder.config import SESSION_IDLE, SESSION_MAX, Settings
from builder.domain import Role
from builder.errors import ConfigError, PermissionDenied
from builder.review.auth import login
from builder.review.sessions import (
    TOUCH_EVERY,
    TicketBook,
    check_session,
    end_other_sessions,
    end_session,
    list_sessions,
    resume,
)
from builder.review.users import enable_user, set_role
from builder.store.audit import history
from builder.store.models import LoginSession, utcnow
from builder.store.users import get_user
from builder.workspace import Workspace
from tests.support.review import ACCOUNT_CHANGES, PASSWORD, make_user

pytestmark = pytest.mark.usefixtures("fast_argon2")

T0 = utcnow().replace(microsecond=0)


def _rows(ws: Workspace) -> list[LoginSession]:
    with ws.db.session() as s:
        return list(s.exec(select(LoginSession).order_by(col(LoginSession.id))).all())


def test_the_token_is_never_stored_in_clear(workspace: Workspace) -> None:
    make_user(workspace, "ana")
    auth = login(workspace, "ana", PASSWORD, address="203.0.113.9", user_agent="Firefox/140")
    assert len(auth.token) >= 43 and auth.token not in repr(auth)
    (row,) = _rows(workspace)
    assert row.token_hash == hashlib.sha256(auth.token.encode()).hexdigest()
    assert (row.method, row.address, row.user_agent) == ("password", "203.0.113.9", "Firefox/140")
    # Not in any column of any table: dump every row of every table as text.
    with workspace.db.session() as s:
        tables = [
            "loginsession", "auditevent", '"user"',
        ]  # fmt: skip
        dump = " ".join(
            str(tuple(r)) for t in tables for r in s.execute(text(f"SELECT * FROM {t}"))
        )
    assert auth.token not in dump and row.token_hash in dump
    # Two logins: two different tokens, two sessions.
    again = login(workspace, "ana", PASSWORD)
    assert again.token != auth.token and len(_rows(workspace)) == 2


def test_absolute_and_idle_expiry_and_a_touch_at_most_once_a_minute(workspace: Workspace) -> None:
    make_user(workspace, "ana")
    ws = replace(
        workspace,
        settings=replace(
            workspace.settings, session_idle=timedelta(hours=1), session_max=timedelta(hours=3)
        ),
    )
    auth = login(ws, "ana", PASSWORD, now=T0)
    assert auth.expires_at == T0 + timedelta(hours=3)
    # Page runs within a minute do not write.
    for seconds in (1, 30, 59):
        check_session(ws, auth, now=T0 + timedelta(seconds=seconds))
    assert _rows(ws)[0].last_seen_at == T0
    check_session(ws, auth, now=T0 + TOUCH_EVERY)
    assert _rows(ws)[0].last_seen_at == T0 + TOUCH_EVERY
    # Used every 50 minutes it lives until the absolute end, and no longer.
    for minutes in (50, 100, 150):
        assert check_session(ws, auth.token, now=T0 + timedelta(minutes=minutes)).name == "ana"
    with pytest.raises(PermissionDenied) as err:
        check_session(ws, auth, now=T0 + timedelta(hours=3))
    end = T0 + timedelta(hours=3)
    assert (
        str(err.value) == f"the session of 'ana' expired at {end:%Y-%m-%d %H:%M} UTC; log in again"
    )
    # Left alone for an hour, a session ends.
    idle = login(ws, "ana", PASSWORD, now=T0)
    check_session(ws, idle, now=T0 + timedelta(minutes=59))
    with pytest.raises(PermissionDenied) as err:
        check_session(ws, idle, now=T0 + timedelta(minutes=59) + timedelta(hours=1))
    assert str(err.value) == (
        f"the session of 'ana' was idle since {T0 + timedelta(minutes=59):%Y-%m-%d %H:%M} UTC "
        "and ended; log in again"
    )


def test_session_lifetimes_come_from_settings() -> None:
    default = Settings.from_env({})
    assert (default.session_idle, default.session_max) == (SESSION_IDLE, SESSION_MAX)
    env = {"BENCHSMITH_SESSION_IDLE_MINUTES": "45", "BENCHSMITH_SESSION_MAX_HOURS": "10"}
    s = Settings.from_env(env)
    assert (s.session_idle, s.session_max) == (timedelta(minutes=45), timedelta(hours=10))
    for bad in ("0", "-5", "1.5", "soon"):
        with pytest.raises(ConfigError) as err:
            Settings.from_env({"BENCHSMITH_SESSION_MAX_HOURS": bad})
        assert str(err.value) == (
            f"BENCHSMITH_SESSION_MAX_HOURS={bad!r} is not a positive whole number; set it to "
            "e.g. 12 or unset it"
        )


def test_logout_and_ending_the_other_sessions(workspace: Workspace) -> None:
    make_user(workspace, "ana")
    make_user(workspace, "ben")
    here, there, elsewhere = (
        login(workspace, "ana", PASSWORD, address=a) for a in ("10.0.0.1", "10.0.0.2", "10.0.0.3")
    )
    bens = login(workspace, "ben", PASSWORD)
    listed = list_sessions(workspace, here)
    assert sorted((v.address, v.current) for v in listed) == [
        ("10.0.0.1", True), ("10.0.0.2", False), ("10.0.0.3", False),
    ]  # fmt: skip
    assert end_session(workspace, there) is True
    assert end_session(workspace, there) is False  # already ended: nothing to do
    with pytest.raises(PermissionDenied) as err:
        check_session(workspace, there)
    assert str(err.value) == (
        "the login of 'ana' was ended (logged out, or ended from another session); log in again"
    )
    assert [v.address for v in list_sessions(workspace, here)] != ["10.0.0.2"]
    assert end_other_sessions(workspace, here) == 1  # elsewhere; there had ended already
    with pytest.raises(PermissionDenied, match="was ended"):
        check_session(workspace, elsewhere)
    assert check_session(workspace, here).name == "ana"
    assert check_session(workspace, bens).name == "ben"  # someone else's sessions stay
    assert [(v.address, v.current) for v in list_sessions(workspace, here)] == [("10.0.0.1", True)]
    with workspace.db.session() as s:
        actions = [e.action for e in history(s, entity="user", entity_id="ana")]
    assert actions.count("user.logout") == 1 and actions.count("user.sessions_ended") == 1
    # An ended session cannot end others.
    with pytest.raises(PermissionDenied):
        end_other_sessions(workspace, there)
    with pytest.raises(PermissionDenied, match="not known here"):
        resume(workspace, "made-up-token")


@pytest.mark.parametrize(("change", "reason"), ACCOUNT_CHANGES)
def test_a_reset_disable_or_role_change_revokes_the_users_sessions(
    workspace: Workspace, change: Callable[[Workspace], object], reason: str
) -> None:
    make_user(workspace, "rita", Role.reviewer)
    make_user(workspace, "ana")
    ritas = [login(workspace, "rita", PASSWORD) for _ in range(2)]
    anas = login(workspace, "ana", PASSWORD)
    change(workspace)
    ended = {r.id: r.revoked_at is not None for r in _rows(workspace)}
    assert [ended[a.session_id] for a in (*ritas, anas)] == [True, True, False]
    with pytest.raises(PermissionDenied) as err:
        check_session(workspace, ritas[0])
    assert str(err.value) == reason  # the change explains the ended session


def test_no_op_account_changes_keep_sessions(workspace: Workspace) -> None:
    make_user(workspace, "rita", Role.reviewer)
    auth = login(workspace, "rita", PASSWORD)
    set_role(workspace, "rita", "reviewer")
    enable_user(workspace, "rita")
    assert check_session(workspace, auth).role == Role.reviewer
    assert _rows(workspace)[0].revoked_at is None


def test_a_stamp_mismatch_refuses_even_without_revocation(workspace: Workspace) -> None:
    """Changes made outside review.users (a hand-edited database) still end the session."""
    make_user(workspace, "ana")
    auth = login(workspace, "ana", PASSWORD)
    with workspace.db.session() as s:
        user = get_user(s, "ana")
        assert user is not None
        user.role = Role.reviewer
        s.add(user)
    with pytest.raises(PermissionDenied) as err:
        check_session(workspace, auth)
    assert str(err.value) == "the role of 'ana' was changed to reviewer; log in again"
    assert _rows(workspace)[0].revoked_at is None


def test_tickets_are_good_once_and_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    book = TicketBook(ttl=30)
    ticket = book.issue("the-token")
    assert "the-token" not in ticket and len(ticket) >= 43
    assert book.redeem(ticket) == "the-token"
    assert book.redeem(ticket) is None
    assert book.redeem("guessed") is None
    # Good only from the address that logged in (and used up by a try from another).
    bound = book.issue("the-token", bound="198.51.100.7")
    assert book.redeem(bound, bound="203.0.113.66") is None
    assert book.redeem(bound, bound="198.51.100.7") is None
    bound = book.issue("the-token", bound="198.51.100.7")
    assert book.redeem(bound, bound="198.51.100.7") == "the-token"
    late = book.issue("other-token")
    import builder.review.sessions as sessions

    now = sessions.time.monotonic()
    monkeypatch.setattr(sessions.time, "monotonic", lambda: now + 31)
    assert book.redeem(late) is None


def _request(
    path: str, *, scheme: str = "http", peer: str = "127.0.0.1", **headers: str
) -> Request:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    path, _, query = path.partition("?")
    return Request(
        {
            "type": "http", "scheme": scheme, "method": "GET", "path": path,
            "query_string": query.encode(), "headers": raw, "client": (peer, 50000),
            "server": ("127.0.0.1", 8501),
        }
    )  # fmt: skip


@pytest.mark.parametrize(
    ("scheme", "peer", "headers", "secure"),
    [
        ("http", "127.0.0.1", {}, False),
        ("https", "203.0.113.5", {}, True),  # Streamlit serving TLS itself
        ("http", "127.0.0.1", {"x_forwarded_proto": "https"}, True),  # the documented proxy
        ("http", "203.0.113.5", {"x_forwarded_proto": "https"}, False),  # anyone can say it
    ],
)
def test_the_cookie_route_sets_an_http_only_cookie_secure_over_tls(
    scheme: str, peer: str, headers: dict[str, str], secure: bool
) -> None:
    from review_ui import routes
    from review_ui.session import COOKIE

    ticket = routes.TICKETS.issue("tok-123", bound=None if peer == "127.0.0.1" else peer)
    request = _request(
        f"/benchsmith/session?ticket={ticket}", scheme=scheme, peer=peer,
        cookie="_streamlit_user=abc; other=1", **headers,
    )  # fmt: skip
    endpoint = {r.path: r.endpoint for r in routes.routes()}["/benchsmith/session"]  # type: ignore[attr-defined]
    response = asyncio.run(endpoint(request))
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookies = response.headers.getlist("set-cookie")
    (ours,) = [c for c in cookies if c.startswith(f"{COOKIE}=")]
    attrs = {a.strip().split("=")[0].lower() for a in ours.split(";")}
    assert ours.startswith(f"{COOKIE}=tok-123;")
    assert {"httponly", "path", "max-age", "samesite"} <= attrs
    assert "samesite=lax" in ours.lower() and "path=/" in ours.lower()
    assert ("secure" in attrs) is secure
    assert any(
        c.startswith('_streamlit_user="";') or c.startswith("_streamlit_user=;") for c in cookies
    )
    # The ticket was good once.
    again = asyncio.run(endpoint(_request(f"/benchsmith/session?ticket={ticket}")))
    assert not [c for c in again.headers.getlist("set-cookie") if c.startswith(f"{COOKIE}=")]
    logout = {r.path: r.endpoint for r in routes.routes()}["/benchsmith/logout"]  # type: ignore[attr-defined]
    cleared = asyncio.run(logout(_request("/benchsmith/logout", cookie=f"{COOKIE}=tok-123")))
    (gone,) = [c for c in cleared.headers.getlist("set-cookie") if c.startswith(f"{COOKIE}=")]
    assert "max-age=0" in gone.lower() and cleared.headers["location"] == "/"


@pytest.mark.parametrize(
    ("bound", "peer", "headers"),
    [
        ("198.51.100.7", "127.0.0.1", {"x_forwarded_for": "203.0.113.66"}),  # another browser
        ("198.51.100.7", "203.0.113.66", {}),
        (None, "127.0.0.1", {"sec_fetch_site": "cross-site"}),  # a link on another site
    ],
)
def test_a_ticket_does_not_log_in_another_browser(
    bound: str | None, peer: str, headers: dict[str, str]
) -> None:
    from review_ui import routes
    from review_ui.session import COOKIE

    ticket = routes.TICKETS.issue("tok-456", bound=bound)
    endpoint = {r.path: r.endpoint for r in routes.routes()}["/benchsmith/session"]  # type: ignore[attr-defined]
    response = asyncio.run(
        endpoint(_request(f"/benchsmith/session?ticket={ticket}", peer=peer, **headers))
    )
    assert response.status_code == 303
    assert not [c for c in response.headers.getlist("set-cookie") if c.startswith(f"{COOKIE}=")]
    # Behind the proxy, the right browser's ticket works.
    ticket = routes.TICKETS.issue("tok-456", bound="198.51.100.7")
    response = asyncio.run(
        endpoint(
            _request(
                f"/benchsmith/session?ticket={ticket}", x_forwarded_for="10.0.0.1, 198.51.100.7"
            )
        )
    )
    assert [c for c in response.headers.getlist("set-cookie") if c.startswith(f"{COOKIE}=tok-456")]


def test_a_login_deletes_the_users_sessions_ended_long_ago(workspace: Workspace) -> None:
    make_user(workspace, "ana")
    make_user(workspace, "ben")
    old = login(workspace, "ana", PASSWORD, now=T0 - timedelta(days=40))  # expired day 39
    ended = login(workspace, "ana", PASSWORD, now=T0 - timedelta(days=31))
    end_session(workspace, ended, now=T0 - timedelta(days=31))
    recent = login(workspace, "ana", PASSWORD, now=T0 - timedelta(days=2))  # expired, kept
    bens = login(workspace, "ben", PASSWORD, now=T0 - timedelta(days=40))  # not ana's
    login(workspace, "ana", PASSWORD, now=T0)
    kept = [r.id for r in _rows(workspace)]
    assert old.session_id not in kept and ended.session_id not in kept
    assert recent.session_id in kept and bens.session_id in kept and len(kept) == 3
