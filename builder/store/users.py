"""Users: names, roles, password hashes and lockouts."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import Session, col

from builder.domain import Role
from builder.store.db import run_core
from builder.store.models import User

__all__ = [
    "add_user",
    "count_users",
    "get_user",
    "get_user_by_email",
    "get_user_by_id",
    "list_users",
    "user_credentials",
    "user_state",
]


def get_user(session: Session, name: str) -> User | None:
    """The user called ``name``, if any."""
    return session.execute(select(User).where(col(User.name) == name)).scalars().first()


def get_user_by_email(session: Session, email: str) -> User | None:
    """The user whose (lower-cased) e-mail is ``email``, if any."""
    return session.execute(select(User).where(col(User.email) == email)).scalars().first()


def get_user_by_id(session: Session, user_id: int) -> User | None:
    """The user with id ``user_id``, if any (always re-read, never the identity map's copy)."""
    return session.get(User, user_id, populate_existing=True)


@functools.cache
def _q_user_state() -> Any:
    u = User.__table__  # type: ignore[attr-defined]
    return select(u.c.name, u.c.role, u.c.disabled).where(u.c.id == bindparam("uid"))


def user_state(session: Session, user_id: int) -> tuple[str, Role, bool] | None:
    """(name, role, disabled) of a user, read fresh (the role check on every action)."""
    row = run_core(session, _q_user_state(), {"uid": user_id}).first()
    return (row[0], row[1], bool(row[2])) if row is not None else None


@functools.cache
def _q_user_credentials() -> Any:
    u = User.__table__  # type: ignore[attr-defined]
    return select(u.c.name, u.c.role, u.c.disabled, u.c.password_hash).where(
        u.c.id == bindparam("uid")
    )


def user_credentials(session: Session, user_id: int) -> tuple[str, Role, bool, str | None] | None:
    """(name, role, disabled, password hash) read fresh: every action checks its login is current."""
    row = run_core(session, _q_user_credentials(), {"uid": user_id}).first()
    return (row[0], Role(row[1]), bool(row[2]), row[3]) if row is not None else None


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.execute(select(User).order_by(col(User.name))).scalars())


def count_users(session: Session) -> int:
    """Users in the workspace (0 means nobody has been added yet)."""
    return int(session.execute(select(func.count()).select_from(User)).scalar_one())


def add_user(session: Session, *, name: str, role: Role, password_hash: str | None) -> User:
    """Insert a user (the caller checked the name is free)."""
    user = User(name=name, role=role, password_hash=password_hash)
    session.add(user)
    session.flush()
    return user
