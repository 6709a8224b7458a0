"""People: create, list, disable, change roles, passwords and e-mails; demo logins.

Every change is an audit event on the user. Actions taken in the app need a lead; the
shell operator (``auth.operator()``) may always act, since they hold the database.
A password reset, disabling and a role change end the user's open sessions in the same
transaction (``review.sessions`` explains the one rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from builder.domain import Role
from builder.errors import NotFoundError, ReviewError
from builder.review._common import clock
from builder.review.auth import (
    Actor,
    authorize,
    hash_password,
    operator,
    parse_role,
    verify_password,
)
from builder.store.audit import log_event
from builder.store.models import User
from builder.store.sessions import revoke_user_sessions
from builder.store.users import add_user as _insert_user
from builder.store.users import get_user, get_user_by_email
from builder.store.users import list_users as _all_users
from builder.workspace import Workspace

__all__ = [
    "DEMO_USERS",
    "NAME_PATTERN",
    "UserInfo",
    "add_user",
    "disable_user",
    "enable_user",
    "ensure_demo_users",
    "list_users",
    "normalize_email",
    "set_email",
    "set_password",
    "set_role",
    "unlock_user",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$"
_NAME_RE = re.compile(NAME_PATTERN)
_EMAIL_RE = re.compile(
    r"^[^@\s]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)
"""local@domain: a local part without spaces or '@', a dotted DNS name (an identity
provider's ``email`` claim; internationalised domains arrive in their ``xn--`` form)."""

DEMO_USERS: tuple[tuple[str, Role, str], ...] = (
    ("ana", Role.annotator, "ana-demo-pass"),
    ("ben", Role.annotator, "ben-demo-pass"),
    ("rita", Role.reviewer, "rita-demo-pass"),
    ("lea", Role.lead, "lea-demo-pass"),
)
"""The demo's logins: an annotator pair, a reviewer and a lead (name, role, password)."""


@dataclass(frozen=True)
class UserInfo:
    """What ``users list`` shows (never the hash)."""

    name: str
    role: str
    email: str | None
    """The address single sign-on matches (None: the user cannot sign in that way)."""
    can_login: bool
    disabled: bool
    locked_until: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, u: User) -> UserInfo:
        """The public view of a user row."""
        return cls(
            name=u.name,
            role=u.role,
            email=u.email,
            can_login=u.password_hash is not None,
            disabled=u.disabled,
            locked_until=u.locked_until,
            created_at=u.created_at,
        )


def check_name(name: str) -> str:
    """Refuse names that would be awkward in files, URLs and audit logs."""
    if not _NAME_RE.match(name):
        raise ReviewError(
            f"user name {name!r} is not allowed; use 1-128 letters, digits, '.', '_', '@' "
            "or '-', starting with a letter or digit"
        )
    return name


def normalize_email(email: str) -> str:
    """``email`` trimmed and lower-cased, or a :class:`ReviewError` naming what is wrong."""
    value = email.strip().lower()
    if len(value) > 320 or not _EMAIL_RE.match(value):
        raise ReviewError(
            f"e-mail address {email!r} is not valid; give one like name@example.org "
            "(the address the identity provider sends for this person)"
        )
    return value


def _claim_email(s: Session, email: str, name: str) -> None:
    """Refuse an address another user already has."""
    owner = get_user_by_email(s, email)
    if owner is not None and owner.name != name:
        raise ReviewError(
            f"e-mail address {email!r} already belongs to user {owner.name!r}; "
            f"free it first with `benchsmith users set-email {owner.name} --none`"
        )


def _get(s: Session, name: str) -> User:
    user = get_user(s, name)
    if user is None:
        raise NotFoundError(f"no user called {name!r}; see `benchsmith users list`")
    return user


def add_user(
    ws: Workspace,
    name: str,
    role: Role | str,
    password: str | None = None,
    *,
    email: str | None = None,
    actor: Actor | None = None,
) -> UserInfo:
    """Create a user; without a password the user cannot log in (e.g. imported annotators).

    ``email`` (lower-cased, validated, unique) lets the user sign in through single sign-on.
    """
    actor = actor or operator()
    check_name(name)
    role = parse_role(str(role))
    address = normalize_email(email) if email is not None else None
    hashed = hash_password(password) if password is not None else None
    with ws.db.session() as s:
        authorize(s, actor, Role.lead, "adding users")
        if get_user(s, name) is not None:
            raise ReviewError(
                f"user {name!r} already exists; pick another name or change it with "
                "`benchsmith users set-role` / `users set-password`"
            )
        if address is not None:
            _claim_email(s, address, name)
        user = _insert_user(s, name=name, role=role, password_hash=hashed)
        user.email = address
        s.add(user)
        after: dict[str, object] = {"role": role.value, "can_login": hashed is not None}
        if address is not None:
            after["email"] = address
        log_event(
            s,
            actor=actor.name,
            action="user.create",
            entity="user",
            entity_id=name,
            after=after,
        )
        return UserInfo.of(user)


def list_users(ws: Workspace) -> list[UserInfo]:
    """Every user, by name."""
    with ws.db.session() as s:
        return [UserInfo.of(u) for u in _all_users(s)]


def _leads_left(s: Session, without: str) -> int:
    return sum(
        1
        for u in _all_users(s)
        if u.role == Role.lead and not u.disabled and u.password_hash and u.name != without
    )


def _change(
    ws: Workspace, name: str, actor: Actor | None, action: str, field: str, value: object
) -> UserInfo:
    actor = actor or operator()
    with ws.db.session() as s:
        authorize(s, actor, Role.lead, "managing users")
        user = _get(s, name)
        before = getattr(user, field)
        loses_lead = user.role == Role.lead and (
            (field == "disabled" and value) or (field == "role" and value != Role.lead)
        )
        # Only app users can lock themselves out; the shell can always add another lead.
        if loses_lead and actor.user_id is not None and _leads_left(s, name) == 0:
            raise ReviewError(f"{name!r} is the last lead who can log in; add another lead first")
        setattr(user, field, value)
        if field == "password_hash":
            user.failed_logins, user.locked_until = 0, None
            before, value = "(hidden)", "(changed)"
        s.add(user)
        # A reset, disabling or a role change logs the user out everywhere (the one rule).
        if (
            field == "password_hash"
            or (field == "disabled" and value)
            or (field == "role" and value != before)
        ):
            assert user.id is not None
            revoke_user_sessions(s, user.id, clock(None))
        log_event(
            s,
            actor=actor.name,
            action=action,
            entity="user",
            entity_id=name,
            before={field: before},
            after={field: value},
        )
        return UserInfo.of(user)


def disable_user(ws: Workspace, name: str, *, actor: Actor | None = None) -> UserInfo:
    """Stop a user from logging in or acting (their answers stay)."""
    return _change(ws, name, actor, "user.disable", "disabled", True)


def enable_user(ws: Workspace, name: str, *, actor: Actor | None = None) -> UserInfo:
    """Let a disabled user log in again."""
    return _change(ws, name, actor, "user.enable", "disabled", False)


def set_role(ws: Workspace, name: str, role: Role | str, *, actor: Actor | None = None) -> UserInfo:
    """Change a user's role (audited as a role change)."""
    return _change(ws, name, actor, "user.role", "role", parse_role(str(role)))


def set_password(
    ws: Workspace, name: str, password: str, *, actor: Actor | None = None
) -> UserInfo:
    """Set a new password (and clear any lockout)."""
    return _change(ws, name, actor, "user.password", "password_hash", hash_password(password))


def set_email(
    ws: Workspace, name: str, email: str | None, *, actor: Actor | None = None
) -> UserInfo:
    """Set (or, with None, clear) the address single sign-on matches the user by.

    Open sessions stay: the address decides only who may sign in next.
    """
    actor = actor or operator()
    address = normalize_email(email) if email is not None else None
    with ws.db.session() as s:
        authorize(s, actor, Role.lead, "managing users")
        user = _get(s, name)
        if address is not None:
            _claim_email(s, address, name)
        before, user.email = user.email, address
        s.add(user)
        log_event(
            s, actor=actor.name, action="user.email", entity="user", entity_id=name,
            before={"email": before}, after={"email": address},
        )  # fmt: skip
        return UserInfo.of(user)


def unlock_user(ws: Workspace, name: str, *, actor: Actor | None = None) -> UserInfo:
    """Lift every login lock on ``name`` (per address, for new addresses, address-wide).

    The failures before it stop counting: the throttle reads back to the last
    ``user.unlock`` (or ``user.password``) event.
    """
    actor = actor or operator()
    with ws.db.session() as s:
        authorize(s, actor, Role.lead, "managing users")
        user = _get(s, name)
        before = {"failed_logins": user.failed_logins, "locked_until": user.locked_until}
        user.failed_logins, user.locked_until = 0, None
        s.add(user)
        log_event(
            s,
            actor=actor.name,
            action="user.unlock",
            entity="user",
            entity_id=name,
            before={k: v.isoformat() if isinstance(v, datetime) else v for k, v in before.items()},
        )
        return UserInfo.of(user)


def ensure_demo_users(ws: Workspace) -> list[tuple[str, str, str | None]]:
    """Create the demo logins that are missing; return (name, role, password) for each.

    The password is None for a demo user whose password was changed since.
    """
    out: list[tuple[str, str, str | None]] = []
    for name, role, password in DEMO_USERS:
        with ws.db.session() as s:
            existing = get_user(s, name)
            stored = existing.password_hash if existing is not None else None
        if existing is None:
            add_user(ws, name, role, password)
            out.append((name, role.value, password))
        else:
            ok = verify_password(stored, password)
            out.append((name, existing.role, password if ok else None))
    return out
