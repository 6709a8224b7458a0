"""Login sessions of the review app: rows keyed by the sha256 of a token the browser holds.

The token itself never reaches the database: every function here takes the token and
stores or looks up :func:`token_hash` of it, so a copy of the database (a backup, a
replica) holds nothing that logs anyone in.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlmodel import Session, col

from builder.domain import Role
from builder.store.db import run_core
from builder.store.models import LoginSession, User

__all__ = [
    "SessionState",
    "add_login_session",
    "login_session",
    "open_login_sessions",
    "prune_login_sessions",
    "revoke_login_session",
    "revoke_user_sessions",
    "session_state",
    "token_hash",
    "touch_login_session",
]


def token_hash(token: str) -> str:
    """The sha256 hex digest (64 characters) a token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_login_session(
    session: Session,
    *,
    token: str,
    user_id: int,
    method: str,
    stamp: str,
    address: str | None,
    user_agent: str | None,
    at: datetime,
    expires_at: datetime,
) -> LoginSession:
    """Insert a session for ``user_id`` opened at ``at`` (the token is hashed here)."""
    row = LoginSession(
        token_hash=token_hash(token),
        user_id=user_id,
        method=method,
        stamp=stamp,
        address=(address or "")[:64] or None,
        user_agent=(user_agent or "")[:256] or None,
        created_at=at,
        last_seen_at=at,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row


def login_session(session: Session, token: str) -> tuple[LoginSession, User] | None:
    """The session a token opens and its user, read fresh, in one query (None: unknown)."""
    row = session.execute(
        select(LoginSession, User)
        .join(User, col(User.id) == col(LoginSession.user_id))
        .where(col(LoginSession.token_hash) == token_hash(token))
        .execution_options(populate_existing=True)
    ).first()
    return (row[0], row[1]) if row is not None else None


@dataclass(frozen=True)
class SessionState:
    """A session and its user's credentials, as one page run's check reads them."""

    id: int
    method: str
    stamp: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    user_id: int
    name: str
    role: Role
    disabled: bool
    password_hash: str | None


@functools.cache
def _q_session_state() -> Any:
    ls = LoginSession.__table__  # type: ignore[attr-defined]
    u = User.__table__  # type: ignore[attr-defined]
    return (
        select(
            ls.c.id,
            ls.c.method,
            ls.c.stamp,
            ls.c.created_at,
            ls.c.last_seen_at,
            ls.c.expires_at,
            ls.c.revoked_at,
            u.c.id,
            u.c.name,
            u.c.role,
            u.c.disabled,
            u.c.password_hash,
        )
        .join(u, u.c.id == ls.c.user_id)
        .where(ls.c.token_hash == bindparam("th"))
    )


def session_state(session: Session, token: str) -> SessionState | None:
    """The session a token opens and its user's credentials, in one query (None: unknown).

    Core, not ORM: the app runs this on every page run.
    """
    row = run_core(session, _q_session_state(), {"th": token_hash(token)}).first()
    if row is None:
        return None
    return SessionState(
        id=row[0], method=row[1], stamp=row[2], created_at=row[3], last_seen_at=row[4],
        expires_at=row[5], revoked_at=row[6], user_id=row[7], name=row[8], role=Role(row[9]),
        disabled=bool(row[10]), password_hash=row[11],
    )  # fmt: skip


def touch_login_session(session: Session, session_id: int, at: datetime) -> None:
    """Record that the session was used at ``at``."""
    session.execute(
        update(LoginSession).where(col(LoginSession.id) == session_id).values(last_seen_at=at)
    )


def revoke_login_session(session: Session, session_id: int, at: datetime) -> bool:
    """End one session at ``at``; False when it had already ended."""
    result = session.execute(
        update(LoginSession)
        .where(col(LoginSession.id) == session_id, col(LoginSession.revoked_at).is_(None))
        .values(revoked_at=at)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_user_sessions(
    session: Session, user_id: int, at: datetime, *, keep: int | None = None
) -> int:
    """End every open session of ``user_id`` at ``at`` (but ``keep``); returns how many."""
    query = update(LoginSession).where(
        col(LoginSession.user_id) == user_id, col(LoginSession.revoked_at).is_(None)
    )
    if keep is not None:
        query = query.where(col(LoginSession.id) != keep)
    result = session.execute(query.values(revoked_at=at))
    return int(result.rowcount)  # type: ignore[attr-defined]


def open_login_sessions(session: Session, user_id: int, at: datetime) -> list[LoginSession]:
    """The user's sessions neither ended nor past their absolute expiry, newest first."""
    return list(
        session.execute(
            select(LoginSession)
            .where(
                col(LoginSession.user_id) == user_id,
                col(LoginSession.revoked_at).is_(None),
                col(LoginSession.expires_at) > at,
            )
            .order_by(col(LoginSession.last_seen_at).desc(), col(LoginSession.id).desc())
        ).scalars()
    )


def prune_login_sessions(session: Session, user_id: int, before: datetime) -> int:
    """Delete the user's sessions that ended (expired or revoked) before ``before``.

    The audit log keeps every login; the rows only matter while they could log someone in.
    """
    result = session.execute(
        delete(LoginSession).where(
            col(LoginSession.user_id) == user_id,
            (col(LoginSession.expires_at) < before) | (col(LoginSession.revoked_at) < before),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
