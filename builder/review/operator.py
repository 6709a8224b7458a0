"""The operator at the shell: who they are, and the one rule every changing command applies.

The acting name comes from ``BENCHSMITH_USER``, else the OS login (:func:`operator_name`,
the same name ``workspace.current_actor`` writes in the audit log). :func:`acting_operator`
checks it the same way for every command that changes a workspace: the name must be an
enabled user of the workspace whose role includes the one the command needs (the table of
commands and roles is ``MUTATING`` in ``builder/cli/_common.py``).

``init`` records the operator as the workspace's first lead (a user without a password, so
not a login of the review app unless one is set later). A workspace made before that rule,
or one whose leads were all removed, has no enabled lead: the first changing command's
operator is then recorded as its lead (a new user, or a promotion), audited as
``user.create`` / ``user.role`` with ``"via": "first operator"``. From then on a name that is
not a lead is refused with the fix: ``benchsmith users add NAME --role lead`` run by a lead,
or ``BENCHSMITH_USER`` set to a lead's name.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from builder.config import Settings
from builder.domain import Role
from builder.errors import PermissionDenied, ReviewError
from builder.review.auth import Actor, has_role, hash_password
from builder.review.users import check_name
from builder.store.audit import log_event
from builder.store.models import User
from builder.store.users import add_user, list_users
from builder.workspace import InitResult, Workspace, init_workspace, open_workspace

__all__ = [
    "FIRST_OPERATOR",
    "OperatorName",
    "acting_operator",
    "init_as_lead",
    "operator_name",
]

FIRST_OPERATOR = "first operator"
"""The ``via`` of the audit event that records an operator as a workspace's first lead."""


@dataclass(frozen=True)
class OperatorName:
    """The acting name and where it came from, for the error that refuses it."""

    name: str
    source: str
    """``BENCHSMITH_USER``, ``OS user``, or what a library caller names."""


def operator_name(explicit: str | None = None) -> OperatorName:
    """The acting name: ``explicit``, else ``BENCHSMITH_USER``, else the OS login.

    Raises ReviewError when the name is not a valid user name (see ``users add``).
    """
    if explicit:
        who = OperatorName(explicit, "the caller")
    elif os.environ.get("BENCHSMITH_USER"):
        who = OperatorName(os.environ["BENCHSMITH_USER"], "BENCHSMITH_USER")
    else:
        try:
            who = OperatorName(getpass.getuser(), "OS user")
        except (KeyError, OSError):
            who = OperatorName("cli", "OS user")
    try:
        check_name(who.name)
    except ReviewError as e:
        raise ReviewError(
            f"{e} (the acting name, from {who.source}); set BENCHSMITH_USER"
        ) from None
    return who


def acting_operator(
    ws: Workspace,
    need: Role | str,
    action: str,
    *,
    who: OperatorName | None = None,
    password: str | None = None,
) -> Actor:
    """The operator as an :class:`Actor` allowed to do ``action``, or PermissionDenied.

    ``need`` is the role the action needs. When the workspace has no enabled lead, the
    operator is recorded as its lead first (see the module notes); ``password`` (only then)
    lets that lead log in to the review app. The returned actor has no ``user_id``: it was
    checked here, and the shell keeps its power to act on the last lead who can log in.
    """
    who = who or operator_name()
    need = Role(need)
    with ws.db.session() as s:
        users = list_users(s)
        user = next((u for u in users if u.name == who.name), None)
        if not any(u.role == Role.lead and not u.disabled for u in users):
            if user is not None and user.disabled:
                why, fix = "is disabled", f"users enable {who.name}"
                raise PermissionDenied(_refusal(who, need, action, why, fix))
            _adopt(s, who, user, password)
            return Actor(name=who.name, role=Role.lead)
        if user is None:
            why, fix = (
                "is not a user of this workspace",
                f"users add {who.name} --role {need.value}",
            )
        elif user.disabled:
            why, fix = "is disabled", f"users enable {who.name}"
        elif not has_role(user.role, need):
            why, fix = (
                f"has the {user.role.value} role",
                f"users set-role {who.name} --role {need.value}",
            )
        else:
            return Actor(name=user.name, role=user.role)
    raise PermissionDenied(_refusal(who, need, action, why, fix))


def _refusal(who: OperatorName, need: Role, action: str, why: str, fix: str) -> str:
    return (
        f"{action} needs the {need.value} role, but the acting name {who.name!r} (from "
        f"{who.source}) {why}; ask a lead to run `benchsmith {fix}`, or set BENCHSMITH_USER "
        f"to the name of {'an' if need == Role.annotator else 'a'} {need.value}"
    )


def _adopt(s: Session, who: OperatorName, user: User | None, password: str | None) -> None:
    """Record ``who`` as the workspace's lead (create or promote), audited."""
    hashed = hash_password(password) if password is not None else None
    if user is None:
        add_user(s, name=who.name, role=Role.lead, password_hash=hashed)
        action, before = "user.create", None
    else:
        before = {"role": user.role.value}
        user.role = Role.lead
        if hashed is not None:
            user.password_hash = hashed
        s.add(user)
        action = "user.role"
    log_event(
        s,
        actor=who.name,
        action=action,
        entity="user",
        entity_id=who.name,
        before=before,
        after={
            "role": Role.lead.value,
            "can_login": hashed is not None or bool(user and user.password_hash),
            "via": FIRST_OPERATOR,
            "source": who.source,
        },
    )


def init_as_lead(
    settings: Settings,
    spec_path: str | Path,
    *,
    update: bool = False,
    who: OperatorName | None = None,
    password: str | None = None,
) -> tuple[InitResult, Actor]:
    """``init``: register the benchmark and record the operator as the first lead.

    In an existing workspace the operator must already be a lead (checked before the spec
    is touched); in a new one they become its lead. Returns the result and the operator.
    """
    who = who or operator_name()
    if password is not None:
        hash_password(password)  # refuse a short password before anything is created
    if _exists(settings):
        ws = open_workspace(settings)
        try:
            acting_operator(ws, Role.lead, "`benchsmith init`", who=who, password=password)
        finally:
            ws.db.dispose()
    result = init_workspace(settings, spec_path, update=update)
    ws = open_workspace(settings)
    try:
        actor = acting_operator(ws, Role.lead, "`benchsmith init`", who=who, password=password)
    finally:
        ws.db.dispose()
    return result, actor


def _exists(settings: Settings) -> bool:
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return bool(url.database) and Path(str(url.database)).is_file()
    return settings.home.is_dir()
