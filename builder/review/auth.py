"""Who may do what: argon2 passwords, throttled logins, expiring sessions, role checks.

Every review action takes an :class:`Actor` and calls :func:`authorize` inside its own
transaction, which re-reads the user: a page the app hides from a role is refused again
here if reached another way, and disabling a user or changing a role takes effect on
their very next action, whatever their browser session says.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session

from builder.errors import PermissionDenied, ReviewError
from builder.review._common import clock
from builder.store.audit import log_event
from builder.store.models import Role, User
from builder.store.review import get_user, transaction, user_state
from builder.workspace import Workspace, current_actor

__all__ = [
    "LOCKOUT",
    "MAX_FAILURES",
    "MIN_PASSWORD_LENGTH",
    "SESSION_TTL",
    "Actor",
    "AuthSession",
    "authorize",
    "check_session",
    "has_role",
    "hash_password",
    "login",
    "operator",
    "parse_role",
    "verify_password",
]

ROLE_ORDER: tuple[Role, ...] = (Role.annotator, Role.reviewer, Role.lead)
MAX_FAILURES = 5
"""Failed logins in a row before the account is locked for a while."""
LOCKOUT = timedelta(minutes=1)
"""First lock; each further failure doubles it, up to :data:`MAX_LOCKOUT`."""
MAX_LOCKOUT = timedelta(hours=1)
SESSION_TTL = timedelta(hours=8)
"""A login is good for one working day."""
MIN_PASSWORD_LENGTH = 8

_HASHER = PasswordHasher()
"""argon2id with the library's RFC 9106 defaults (tests swap in cheaper parameters)."""


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Verified against when the user does not exist, so that an unknown name costs the
    # same time as a wrong password and cannot be told apart by timing. Made on first use:
    # hashing takes a good fraction of a second, too slow for every CLI start.
    return hasher.hash("benchsmith-no-such-user")


_BAD_LOGIN = "unknown user or wrong password for {name!r}; check both and try again"


def parse_role(value: str) -> Role:
    """A :class:`Role` from its name, with a message listing the choices."""
    try:
        return Role(value)
    except ValueError:
        raise ReviewError(
            f"unknown role {value!r}; use one of {', '.join(r.value for r in ROLE_ORDER)}"
        ) from None


def has_role(role: Role | str, need: Role | str) -> bool:
    """Whether ``role`` includes ``need`` (lead ⊇ reviewer ⊇ annotator)."""
    return ROLE_ORDER.index(Role(role)) >= ROLE_ORDER.index(Role(need))


@dataclass(frozen=True)
class Actor:
    """Someone acting: a logged-in user, or the operator at the shell."""

    name: str
    role: Role
    user_id: int | None = None
    """None for the shell operator, who holds the database itself and is not role-checked."""

    def can(self, need: Role | str) -> bool:
        """Whether this actor's (last known) role includes ``need``."""
        return has_role(self.role, need)


def operator() -> Actor:
    """The person running the CLI (``BENCHSMITH_USER`` or the OS login), acting as a lead."""
    return Actor(name=current_actor(), role=Role.lead)


@dataclass(frozen=True)
class AuthSession:
    """A successful login; kept by the app (never in a cookie) and checked on every page."""

    actor: Actor
    issued_at: datetime
    expires_at: datetime


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (refusing ones too short to be worth hashing)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ReviewError(
            f"the password is {len(password)} characters long; use at least {MIN_PASSWORD_LENGTH}"
        )
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash (False when there is none)."""
    try:
        return _HASHER.verify(password_hash or _dummy_hash(_HASHER), password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False


def authorize(session: Session, actor: Actor, need: Role | str, action: str) -> Actor:
    """Re-read the actor's user and refuse unless enabled with a role including ``need``.

    Returns the actor with their current role. The shell operator passes unchecked.
    """
    if actor.user_id is None:
        return actor
    state = user_state(session, actor.user_id)
    if state is None or state[2]:
        raise PermissionDenied(
            f"user {actor.name!r} is disabled or was removed; ask a lead to enable the account"
        )
    name, role, _ = state
    if not has_role(role, need):
        raise PermissionDenied(
            f"{action} needs the {Role(need).value} role but {name!r} is "
            f"{role}; ask a lead to change the role"
        )
    return (
        actor
        if (name, role) == (actor.name, actor.role)
        else replace(actor, role=Role(role), name=name)
    )


def _lockout(failures: int) -> timedelta:
    extra = max(0, failures - MAX_FAILURES)
    return min(LOCKOUT * (2**extra), MAX_LOCKOUT)


def login(
    ws: Workspace,
    name: str,
    password: str,
    *,
    now: datetime | None = None,
    ttl: timedelta = SESSION_TTL,
) -> AuthSession:
    """Check a password and open a session; every attempt is an audit event.

    After :data:`MAX_FAILURES` failures in a row the account is locked, for longer after
    each further failure. Raises :class:`PermissionDenied` without saying whether the name
    or the password was wrong.
    """
    at = clock(now)
    error: PermissionDenied | None = None
    with transaction(ws.db) as s:
        user = get_user(s, name)
        if user is None or user.password_hash is None:
            verify_password(None, password)  # same cost as a real check
            log_event(
                s,
                actor=name,
                action="user.login_failed",
                entity="user",
                entity_id=name,
                after={"reason": "unknown user or no login"},
            )
            error = PermissionDenied(_BAD_LOGIN.format(name=name))
        elif user.locked_until is not None and user.locked_until > at:
            wait = max(1, math.ceil((user.locked_until - at).total_seconds()))
            error = PermissionDenied(
                f"too many failed logins for {name!r}; the account is locked, try again in {wait} s"
            )
        elif not verify_password(user.password_hash, password):
            error = PermissionDenied(_BAD_LOGIN.format(name=name))
            _record_failure(s, user, at)
        elif user.disabled:
            log_event(
                s,
                actor=name,
                action="user.login_failed",
                entity="user",
                entity_id=name,
                after={"reason": "disabled"},
            )
            error = PermissionDenied(f"user {name!r} is disabled; ask a lead to enable the account")
        else:
            if _HASHER.check_needs_rehash(user.password_hash):
                user.password_hash = _HASHER.hash(password)
            user.failed_logins, user.locked_until = 0, None
            s.add(user)
            log_event(s, actor=name, action="user.login", entity="user", entity_id=name)
            assert user.id is not None
            actor = Actor(name=user.name, role=Role(user.role), user_id=user.id)
    # Raised after the commit so the failure count and the audit event are kept.
    if error is not None:
        raise error
    return AuthSession(actor=actor, issued_at=at, expires_at=at + ttl)


def _record_failure(s: Session, user: User, at: datetime) -> None:
    user.failed_logins += 1
    after: dict[str, object] = {"failed_logins": user.failed_logins}
    if user.failed_logins >= MAX_FAILURES:
        user.locked_until = at + _lockout(user.failed_logins)
        after["locked_until"] = user.locked_until.isoformat()
    s.add(user)
    log_event(
        s,
        actor=user.name,
        action="user.login_failed",
        entity="user",
        entity_id=user.name,
        after=after,
    )


def check_session(ws: Workspace, auth: AuthSession, *, now: datetime | None = None) -> Actor:
    """The session's actor with their current role; refuses expired sessions and disabled users."""
    if clock(now) >= auth.expires_at:
        raise PermissionDenied(
            f"the session of {auth.actor.name!r} expired at "
            f"{auth.expires_at:%Y-%m-%d %H:%M} UTC; log in again"
        )
    with transaction(ws.db) as s:
        return authorize(s, auth.actor, Role.annotator, "using the review app")
