"""Logins that last: check, list and end the server-side sessions :func:`auth.login` opens.

A session is good while its row is not revoked, not past its absolute expiry
(``Settings.session_max`` after login), not idle longer than ``Settings.session_idle``, and
its user is enabled with the credential stamp the session was opened with. One rule ends
sessions: whatever should log a user out (logging out, a password reset, disabling, a role
change, "end my other sessions") sets ``revoked_at``; the credential stamp comparison
(:func:`auth.judge`, the rule :func:`auth.authorize` applies to every action) only explains
*why*, and backs the rule up for changes made outside ``review.users`` (a hand-edited
database).

``last_seen_at`` is written at most once per :data:`TOUCH_EVERY` per session, not on every
page run, so an idle session ends within that much of ``session_idle``.

The browser gets its cookie from a server route, not from a script (Streamlit scripts
cannot set an HTTP-only cookie): the login page hands the route a one-time
:class:`TicketBook` ticket, which the route exchanges for the token.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from builder.domain import Role
from builder.errors import PermissionDenied
from builder.review._common import clock
from builder.review.auth import Actor, AuthSession, credential_stamp, judge
from builder.store.audit import log_event
from builder.store.sessions import (
    SessionState,
    login_session,
    open_login_sessions,
    revoke_login_session,
    revoke_user_sessions,
    session_state,
    touch_login_session,
)
from builder.workspace import Workspace

__all__ = [
    "TICKETS",
    "TICKET_TTL",
    "TOUCH_EVERY",
    "SessionInfo",
    "TicketBook",
    "check_session",
    "end_other_sessions",
    "end_session",
    "list_sessions",
    "resume",
]

TOUCH_EVERY = timedelta(minutes=1)
"""How stale ``last_seen_at`` may get before a page run writes it again."""
TICKET_TTL = 30.0
"""Seconds a login's one-time cookie ticket stays good (the browser uses it at once)."""


@dataclass(frozen=True)
class SessionInfo:
    """One of a user's open sessions, as the account page lists it (never the token)."""

    id: int
    method: str
    address: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool
    """Whether this is the session asking."""


def _refusal(row: SessionState, at: datetime, idle: timedelta) -> str | None:
    """Why the row no longer logs anyone in (None: it still does, as far as the row goes)."""
    if row.revoked_at is not None:
        return (
            f"the login of {row.name!r} was ended (logged out, or ended from another "
            "session); log in again"
        )
    if at >= row.expires_at:
        return (
            f"the session of {row.name!r} expired at {row.expires_at:%Y-%m-%d %H:%M} UTC; "
            "log in again"
        )
    if at >= row.last_seen_at + idle:
        return (
            f"the session of {row.name!r} was idle since {row.last_seen_at:%Y-%m-%d %H:%M} "
            "UTC and ended; log in again"
        )
    return None


def _role_then(row: SessionState) -> Role:
    """The role the session was opened with: the one whose stamp matches (the current role
    when none does, e.g. after a password reset), so a refusal names a role change."""
    for role in (row.role, *(r for r in Role if r != row.role)):
        if credential_stamp(row.user_id, role, row.disabled, row.password_hash) == row.stamp:
            return role
    return row.role


def resume(ws: Workspace, token: str, *, now: datetime | None = None) -> AuthSession:
    """The session a token opens (e.g. from the browser's cookie), with the user's current role.

    Refuses (:class:`PermissionDenied`, naming why and what to do) an unknown token, a
    revoked, expired or idle session, a disabled user and a changed password or role; a
    revoked session whose user's credentials changed is explained by the change. One read
    (the session joined to its user), and a write only when ``last_seen_at`` is older than
    :data:`TOUCH_EVERY`.
    """
    at = clock(now)
    with ws.db.session() as s:
        row = session_state(s, token) if token else None
        if row is None:
            raise PermissionDenied("this login is not known here (any more); log in again")
        actor = Actor(name=row.name, role=_role_then(row), user_id=row.user_id, stamp=row.stamp)
        credentials = (row.name, row.role, row.disabled, row.password_hash)
        reason = _refusal(row, at, ws.settings.session_idle)
        if reason is not None and row.revoked_at is not None:
            judge(actor, credentials, Role.annotator, "using the review app")  # the change
        if reason is not None:
            raise PermissionDenied(reason)
        current = judge(actor, credentials, Role.annotator, "using the review app")
        if at - row.last_seen_at >= TOUCH_EVERY:
            touch_login_session(s, row.id, at)
        return AuthSession(
            actor=current,
            issued_at=row.created_at,
            expires_at=row.expires_at,
            token=token,
            session_id=row.id,
            method=row.method,
        )


def check_session(ws: Workspace, auth: AuthSession | str, *, now: datetime | None = None) -> Actor:
    """The actor of a session (or of its bare token) with their current role; refuses like
    :func:`resume`."""
    return resume(ws, auth if isinstance(auth, str) else auth.token, now=now).actor


def _open(ws: Workspace, auth: AuthSession, at: datetime) -> tuple[Actor, int]:
    """Check ``auth`` and return its actor and session id (for actions on one's sessions)."""
    actor = check_session(ws, auth, now=at)
    if auth.session_id is None:
        raise AssertionError("a checked session has an id")  # pragma: no cover
    return actor, auth.session_id


def end_session(ws: Workspace, auth: AuthSession, *, now: datetime | None = None) -> bool:
    """Log out: end this session (every tab of the browser holding it); audited.

    False when it had already ended (nothing to do, nothing logged).
    """
    at = clock(now)
    with ws.db.session() as s:
        found = login_session(s, auth.token) if auth.token else None
        if found is None or found[0].id is None:
            return False
        row, user = found
        ended = revoke_login_session(s, row.id, at)  # type: ignore[arg-type]
        if ended:
            log_event(
                s, actor=user.name, action="user.logout", entity="user", entity_id=user.name,
                after={"session": row.id, "method": row.method},
            )  # fmt: skip
        return ended


def end_other_sessions(ws: Workspace, auth: AuthSession, *, now: datetime | None = None) -> int:
    """End every other open session of the user (other browsers, devices); audited.

    Returns how many were ended. Refuses like :func:`check_session` when this session is
    itself no longer good.
    """
    at = clock(now)
    actor, session_id = _open(ws, auth, at)
    assert actor.user_id is not None
    with ws.db.session() as s:
        ended = revoke_user_sessions(s, actor.user_id, at, keep=session_id)
        log_event(
            s, actor=actor.name, action="user.sessions_ended", entity="user",
            entity_id=actor.name, after={"ended": ended, "kept": session_id},
        )  # fmt: skip
    return ended


def list_sessions(
    ws: Workspace, auth: AuthSession, *, now: datetime | None = None
) -> list[SessionInfo]:
    """The user's open sessions, most recently used first, this one marked ``current``.

    Sessions idle past ``Settings.session_idle`` are left out (they log no one in).
    """
    at = clock(now)
    actor, session_id = _open(ws, auth, at)
    assert actor.user_id is not None
    idle = ws.settings.session_idle
    with ws.db.session() as s:
        rows = open_login_sessions(s, actor.user_id, at)
        return [
            SessionInfo(
                id=r.id,
                method=r.method,
                address=r.address,
                user_agent=r.user_agent,
                created_at=r.created_at,
                last_seen_at=r.last_seen_at,
                expires_at=r.expires_at,
                current=r.id == session_id,
            )
            for r in rows
            if r.id is not None and (r.id == session_id or at < r.last_seen_at + idle)
        ]


class TicketBook:
    """One-time, short-lived tickets that stand for a session token inside one server process.

    The login page (a Streamlit script) cannot set an HTTP-only cookie; it sends the browser
    to a server route with a ticket instead, and the route redeems the ticket for the token
    and sets the cookie. The token itself never appears in a URL, a log or the history; a
    ticket is good once, for :data:`TICKET_TTL` seconds.
    """

    def __init__(self, ttl: float = TICKET_TTL) -> None:
        self._ttl = ttl
        self._tickets: dict[str, tuple[float, str, str | None]] = {}
        self._lock = threading.Lock()

    def issue(self, token: str, *, bound: str | None = None) -> str:
        """A new ticket (43 URL-safe characters) for ``token``, good only from the client
        address ``bound`` (None: a client on this machine)."""
        ticket = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._tickets = {k: v for k, v in self._tickets.items() if v[0] > now}
            self._tickets[ticket] = (now + self._ttl, token, bound)
        return ticket

    def redeem(self, ticket: str, *, bound: str | None = None) -> str | None:
        """The token a ticket stands for, once, from the address it was issued for (None:
        unknown, used, expired or another address; a wrong address uses the ticket up)."""
        with self._lock:
            hit = self._tickets.pop(ticket, None)
        if hit is None or hit[0] <= time.monotonic() or hit[2] != bound:
            return None
        return hit[1]


TICKETS = TicketBook()
"""The app server's tickets (the login page and the cookie route share this process)."""
