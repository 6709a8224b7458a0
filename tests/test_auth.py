"""Users and login: argon2, throttling, expiring sessions, server-side role checks, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from builder.errors import NotFoundError, PermissionDenied, ReviewError
from builder.review.auth import (
    MAX_FAILURES,
    Actor,
    check_session,
    has_role,
    hash_password,
    login,
    verify_password,
)
from builder.review.users import (
    DEMO_USERS,
    add_user,
    disable_user,
    enable_user,
    ensure_demo_users,
    list_users,
    set_password,
    set_role,
)
from builder.store.audit import history
from builder.store.models import Role, User, utcnow
from builder.store.review import get_user
from builder.workspace import Workspace
from tests.review_support import PASSWORD, fast_argon2, make_user  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("fast_argon2")

T0 = utcnow().replace(microsecond=0)


def test_password_hashing() -> None:
    h = hash_password("s3cret-enough")
    assert h.startswith("$argon2id$") and "s3cret" not in h
    assert verify_password(h, "s3cret-enough")
    assert not verify_password(h, "s3cret-enougH")
    assert not verify_password(None, "anything")
    assert not verify_password("not-a-hash", "anything")
    with pytest.raises(ReviewError, match="the password is 5 characters long; use at least 8"):
        hash_password("short")


def test_roles_include_the_ones_before() -> None:
    assert has_role("lead", "reviewer") and has_role("reviewer", "annotator")
    assert not has_role("annotator", "reviewer") and not has_role("reviewer", "lead")


def test_login_and_audit(workspace: Workspace) -> None:
    make_user(workspace, "ana")
    session = login(workspace, "ana", PASSWORD, now=T0)
    assert session.actor.name == "ana" and session.actor.role == Role.annotator
    assert session.expires_at - session.issued_at == timedelta(hours=8)
    assert check_session(workspace, session, now=T0 + timedelta(hours=1)).name == "ana"
    with pytest.raises(PermissionDenied) as err:
        check_session(workspace, session, now=T0 + timedelta(hours=8))
    assert str(err.value) == (
        f"the session of 'ana' expired at {session.expires_at:%Y-%m-%d %H:%M} UTC; log in again"
    )
    with workspace.db.session() as s:
        assert [e.action for e in history(s, entity="user", entity_id="ana")] == [
            "user.create",
            "user.login",
        ]


def test_wrong_password_and_unknown_user_read_the_same(workspace: Workspace) -> None:
    make_user(workspace, "ana")
    for name in ("ana", "nobody"):
        with pytest.raises(PermissionDenied) as err:
            login(workspace, name, "wrong-password", now=T0)
        assert str(err.value) == (
            f"unknown user or wrong password for {name!r}; check both and try again"
        )
    with workspace.db.session() as s:
        events = history(s, entity="user", entity_id="ana")
        assert events[-1].action == "user.login_failed"
        assert events[-1].after == {"failed_logins": 1}
        assert history(s, entity="user", entity_id="nobody")[0].action == "user.login_failed"


def test_throttling_after_repeated_failures(workspace: Workspace) -> None:
    make_user(workspace, "ana")
    for _ in range(MAX_FAILURES):
        with pytest.raises(PermissionDenied, match="unknown user or wrong password"):
            login(workspace, "ana", "guess-guess", now=T0)
    # Locked: even the right password is refused until the lock passes.
    with pytest.raises(PermissionDenied) as err:
        login(workspace, "ana", PASSWORD, now=T0 + timedelta(seconds=30))
    assert str(err.value) == (
        "too many failed logins for 'ana'; the account is locked, try again in 30 s"
    )
    assert login(workspace, "ana", PASSWORD, now=T0 + timedelta(seconds=61)).actor.name == "ana"
    with workspace.db.session() as s:
        user = get_user(s, "ana")
        assert user is not None and user.failed_logins == 0 and user.locked_until is None


def test_lockout_grows_with_further_failures(workspace: Workspace) -> None:
    make_user(workspace, "ana")
    at = T0
    for _ in range(MAX_FAILURES):
        with pytest.raises(PermissionDenied):
            login(workspace, "ana", "guess-guess", now=at)
    at += timedelta(minutes=2)
    with pytest.raises(PermissionDenied, match="wrong password"):
        login(workspace, "ana", "guess-again", now=at)  # sixth failure: two minutes
    with pytest.raises(PermissionDenied, match="try again in 120 s"):
        login(workspace, "ana", PASSWORD, now=at)


def test_disabled_and_passwordless_users_cannot_log_in(workspace: Workspace) -> None:
    make_user(workspace, "ana")
    add_user(workspace, "imported", Role.annotator)
    disable_user(workspace, "ana")
    with pytest.raises(PermissionDenied, match="user 'ana' is disabled; ask a lead"):
        login(workspace, "ana", PASSWORD)
    with pytest.raises(PermissionDenied, match="unknown user or wrong password"):
        login(workspace, "imported", "")
    enable_user(workspace, "ana")
    assert login(workspace, "ana", PASSWORD).actor.name == "ana"


def test_role_changes_apply_to_open_sessions(workspace: Workspace) -> None:
    make_user(workspace, "rita", Role.reviewer)
    session = login(workspace, "rita", PASSWORD)
    set_role(workspace, "rita", "annotator")
    assert check_session(workspace, session).role == Role.annotator
    disable_user(workspace, "rita")
    with pytest.raises(PermissionDenied, match="disabled or was removed"):
        check_session(workspace, session)
    with workspace.db.session() as s:
        roles = [e for e in history(s, entity="user", entity_id="rita") if e.action == "user.role"]
        assert roles[0].before == {"role": "reviewer"} and roles[0].after == {"role": "annotator"}


def test_user_management_rules(workspace: Workspace) -> None:
    lea = make_user(workspace, "lea", Role.lead)
    ana = make_user(workspace, "ana")
    with pytest.raises(ReviewError, match="user 'ana' already exists"):
        add_user(workspace, "ana", "annotator", "another-password")
    with pytest.raises(ReviewError, match="user name 'a b' is not allowed"):
        add_user(workspace, "a b", "annotator")
    with pytest.raises(ReviewError, match="unknown role 'boss'; use one of annotator, reviewer"):
        add_user(workspace, "bob", "boss")
    with pytest.raises(NotFoundError, match="no user called 'zed'"):
        disable_user(workspace, "zed")
    with pytest.raises(PermissionDenied, match="adding users needs the lead role"):
        add_user(workspace, "eve", "lead", "password-123", actor=ana)
    # A lead in the app cannot remove the last lead login; the shell operator can.
    with pytest.raises(ReviewError, match="'lea' is the last lead who can log in"):
        disable_user(workspace, "lea", actor=lea)
    set_password(workspace, "ana", "new-password-1", actor=lea)
    assert login(workspace, "ana", "new-password-1").actor.name == "ana"
    assert [(u.name, u.role, u.can_login) for u in list_users(workspace)] == [
        ("ana", "annotator", True),
        ("lea", "lead", True),
    ]


def test_demo_users_are_created_once(workspace: Workspace) -> None:
    first = ensure_demo_users(workspace)
    assert first == [(n, r.value, p) for n, r, p in DEMO_USERS]
    assert ensure_demo_users(workspace) == first
    for name, _, password in first:
        assert password is not None
        assert login(workspace, name, password).actor.name == name
    set_password(workspace, "ana", "changed-password")
    assert ensure_demo_users(workspace)[0] == ("ana", "annotator", None)


def test_actor_of_a_removed_user_is_refused(workspace: Workspace) -> None:
    ghost = Actor(name="ghost", role=Role.lead, user_id=9999)
    with pytest.raises(PermissionDenied, match="user 'ghost' is disabled or was removed"):
        add_user(workspace, "x1", "annotator", actor=ghost)
    with workspace.db.session() as s:
        assert s.get(User, 9999) is None
