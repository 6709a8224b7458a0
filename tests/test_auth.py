"""Users and login: argon2, throttling, expiring sessions, server-side role checks, audit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher

from builder.domain import Role
from builder.errors import NotFoundError, PermissionDenied, ReviewError
from builder.review import auth
from builder.review.auth import (
    GLOBAL_ADDRESSES,
    GLOBAL_FAILURES,
    MAX_FAILURES,
    Actor,
    authorize,
    has_role,
    hash_password,
    login,
    verify_password,
)
from builder.review.sessions import check_session
from builder.review.users import (
    DEMO_USERS,
    add_user,
    disable_user,
    enable_user,
    ensure_demo_users,
    list_users,
    set_password,
    set_role,
    unlock_user,
)
from builder.store.audit import history
from builder.store.models import User, utcnow
from builder.store.users import get_user
from builder.workspace import Workspace
from tests.support.review import ACCOUNT_CHANGES, PASSWORD, make_user

pytestmark = pytest.mark.usefixtures("fast_argon2")

T0 = utcnow().replace(microsecond=0)
BAD_LOGIN = (
    "unknown user or wrong password for {name!r}, or too many failed logins; "
    "check both and try again in a few minutes"
)


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
    assert session.expires_at - session.issued_at == timedelta(hours=12)
    # In use every two hours, it lasts the working day (idle ends it after 3 h)...
    for hours in range(1, 12, 2):
        assert check_session(workspace, session, now=T0 + timedelta(hours=hours)).name == "ana"
    # ...and not a minute more.
    with pytest.raises(PermissionDenied) as err:
        check_session(workspace, session, now=T0 + timedelta(hours=12))
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
        assert str(err.value) == BAD_LOGIN.format(name=name)
    with workspace.db.session() as s:
        events = history(s, entity="user", entity_id="ana")
        assert events[-1].action == "user.login_failed"
        assert events[-1].after == {
            "address": "local",
            "reason": "wrong password",
            "failed_logins": 1,
        }
        assert history(s, entity="user", entity_id="nobody")[0].action == "user.login_failed"


def test_throttling_after_repeated_failures(workspace: Workspace) -> None:
    make_user(workspace, "ana")
    for _ in range(MAX_FAILURES):
        with pytest.raises(PermissionDenied, match="unknown user or wrong password"):
            login(workspace, "ana", "guess-guess", now=T0)
    # Locked: even the right password is refused until the lock passes, in the same words.
    with pytest.raises(PermissionDenied) as err:
        login(workspace, "ana", PASSWORD, now=T0 + timedelta(seconds=30))
    assert str(err.value) == BAD_LOGIN.format(name="ana")
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
    with pytest.raises(PermissionDenied, match="too many failed logins"):
        login(workspace, "ana", PASSWORD, now=at + timedelta(seconds=119))
    assert login(workspace, "ana", PASSWORD, now=at + timedelta(seconds=121)).actor.name == "ana"


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


def test_role_changes_end_open_sessions(workspace: Workspace) -> None:
    make_user(workspace, "rita", Role.reviewer)
    session = login(workspace, "rita", PASSWORD)
    set_role(workspace, "rita", "annotator")
    with pytest.raises(PermissionDenied) as err:
        check_session(workspace, session)
    assert str(err.value) == "the role of 'rita' was changed to annotator; log in again"
    session = login(workspace, "rita", PASSWORD)
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


class CountingHasher(PasswordHasher):
    """The real argon2id hasher (cheap parameters), counting and remembering verifies."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)


def _refused(ws: Workspace, name: str, password: str, **kw: Any) -> str:
    with pytest.raises(PermissionDenied) as err:
        login(ws, name, password, **kw)
    return str(err.value)


def test_unknown_wrong_and_locked_read_the_same_and_cost_one_verify(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(workspace, "ana")
    hasher = CountingHasher()
    monkeypatch.setattr(auth, "_HASHER", hasher)
    with workspace.db.session() as s:
        user = get_user(s, "ana")
        assert user is not None and user.password_hash is not None
        real = user.password_hash
    messages = {}
    for case, name, password in [
        ("unknown", "nobody", PASSWORD),
        ("wrong", "ana", "wrong-password"),
    ]:
        hasher.verified.clear()
        messages[case] = _refused(workspace, name, password, now=T0)
        assert len(hasher.verified) == 1, case
        assert (hasher.verified[0] == real) is (case == "wrong"), case
    for _ in range(MAX_FAILURES - 1):
        _refused(workspace, "ana", "wrong-password", now=T0)
    hasher.verified.clear()
    messages["locked"] = _refused(workspace, "ana", PASSWORD, now=T0 + timedelta(seconds=1))
    # One verify, against the dummy hash: a lock costs what a wrong password costs.
    assert len(hasher.verified) == 1 and hasher.verified[0] != real
    assert messages == {
        "unknown": BAD_LOGIN.format(name="nobody"),
        "wrong": BAD_LOGIN.format(name="ana"),
        "locked": BAD_LOGIN.format(name="ana"),
    }
    # An unknown name locks the same way, so a lock tells nothing about the name either.
    for _ in range(MAX_FAILURES):
        _refused(workspace, "nobody", "wrong-password", now=T0)
    with workspace.db.session() as s:
        reasons = [e.after["reason"] for e in history(s, entity="user", entity_id="nobody")]
    assert reasons == ["unknown user or no login"] * MAX_FAILURES + ["locked for this address"]
    hasher.verified.clear()
    assert login(workspace, "ana", PASSWORD, now=T0 + timedelta(minutes=2)).actor.name == "ana"
    assert hasher.verified == [real]


def test_a_lock_holds_for_the_guessing_address_only(workspace: Workspace) -> None:
    make_user(workspace, "lea", Role.lead)
    for _ in range(MAX_FAILURES):
        _refused(workspace, "lea", "guess-guess", address="203.0.113.9", now=T0)
    at = T0 + timedelta(seconds=10)
    assert _refused(workspace, "lea", PASSWORD, address="203.0.113.9", now=at) == (
        BAD_LOGIN.format(name="lea")
    )
    # The lead, from an address with no failures, is not kept out by someone else's guesses.
    assert login(workspace, "lea", PASSWORD, address="198.51.100.7", now=at).actor.name == "lea"
    assert login(workspace, "lea", PASSWORD, now=at).actor.name == "lea"  # no address known
    # ... and their login does not lift the lock on the guessing address.
    _refused(workspace, "lea", PASSWORD, address="203.0.113.9", now=at)
    with workspace.db.session() as s:
        failed = [
            e.after
            for e in history(s, entity="user", entity_id="lea")
            if e.action == "user.login_failed"
        ]
    assert [(f["address"], f["reason"]) for f in failed][-3:] == [
        ("203.0.113.9", "wrong password"),
        ("203.0.113.9", "locked for this address"),
        ("203.0.113.9", "locked for this address"),
    ]
    assert failed[MAX_FAILURES - 1]["failed_logins"] == MAX_FAILURES


def test_unlock_lifts_every_lock(workspace: Workspace) -> None:
    lea = make_user(workspace, "lea", Role.lead)
    make_user(workspace, "ana")
    for _ in range(MAX_FAILURES):
        _refused(workspace, "ana", "guess-guess", address="203.0.113.9", now=T0)
    with pytest.raises(NotFoundError, match="no user called 'zed'"):
        unlock_user(workspace, "zed")
    with pytest.raises(PermissionDenied, match="managing users needs the lead role"):
        unlock_user(workspace, "ana", actor=make_user(workspace, "ben"))
    unlock_user(workspace, "ana", actor=lea)
    assert login(workspace, "ana", PASSWORD, address="203.0.113.9", now=T0).actor.name == "ana"
    with workspace.db.session() as s:
        assert [e for e in history(s, entity="user", entity_id="ana")][-2].action == "user.unlock"


def test_a_name_locks_for_new_addresses_only_after_many_failures_from_many(
    workspace: Workspace,
) -> None:
    make_user(workspace, "lea", Role.lead)
    login(workspace, "lea", PASSWORD, address="192.0.2.1", now=T0)  # the lead's own machine
    per_address = MAX_FAILURES - 1  # never enough to lock one (name, address) pair
    addresses = [f"203.0.113.{i}" for i in range(-(-GLOBAL_FAILURES // per_address))]
    assert len(addresses) >= GLOBAL_ADDRESSES
    for a in addresses:
        for _ in range(per_address):
            _refused(workspace, "lea", "guess-guess", address=a, now=T0)
    # A new address, even with the right password, is refused for a while ...
    _refused(workspace, "lea", PASSWORD, address="198.51.100.7", now=T0)
    (info,) = [u for u in list_users(workspace) if u.name == "lea"]
    assert info.locked_until is not None and info.locked_until > T0
    # ... but the address the lead logged in from before is not,
    assert login(workspace, "lea", PASSWORD, address="192.0.2.1", now=T0).actor.name == "lea"
    # and the shell can always lift it.
    unlock_user(workspace, "lea")
    assert login(workspace, "lea", PASSWORD, address="198.51.100.7", now=T0).actor.name == "lea"


def test_an_address_guessing_many_names_is_throttled(workspace: Workspace) -> None:
    make_user(workspace, "ana")
    make_user(workspace, "ben")
    login(workspace, "ben", PASSWORD, address="203.0.113.9", now=T0)
    for i in range(auth.ADDRESS_FAILURES):
        _refused(workspace, f"user{i}", "guess-guess", address="203.0.113.9", now=T0)
    _refused(workspace, "ana", PASSWORD, address="203.0.113.9", now=T0)
    # Names that logged in from there before still can; other addresses are not concerned.
    assert login(workspace, "ben", PASSWORD, address="203.0.113.9", now=T0).actor.name == "ben"
    assert login(workspace, "ana", PASSWORD, address="198.51.100.7", now=T0).actor.name == "ana"
    # After the window, the address may try again.
    later = T0 + auth.ADDRESS_WINDOW + timedelta(seconds=1)
    assert login(workspace, "ana", PASSWORD, address="203.0.113.9", now=later).actor.name == "ana"


@pytest.mark.parametrize(("change", "reason"), ACCOUNT_CHANGES)
def test_password_reset_disable_and_role_change_end_sessions(
    workspace: Workspace, change: Callable[[Workspace], object], reason: str
) -> None:
    make_user(workspace, "rita", Role.reviewer)
    first, second = (login(workspace, "rita", PASSWORD) for _ in range(2))
    assert first.actor.stamp == second.actor.stamp is not None
    change(workspace)
    for session in (first, second):
        with pytest.raises(PermissionDenied) as err:
            check_session(workspace, session)
        assert str(err.value) == reason
        # Every action checks it too, not just the app's page loads.
        with workspace.db.session() as s, pytest.raises(PermissionDenied) as err:
            authorize(s, session.actor, Role.annotator, "answering")
        assert str(err.value) == reason


def test_another_login_and_a_no_op_change_keep_sessions(workspace: Workspace) -> None:
    make_user(workspace, "ana")
    first = login(workspace, "ana", PASSWORD)
    login(workspace, "ana", PASSWORD)
    enable_user(workspace, "ana")  # no change: already enabled
    assert check_session(workspace, first).name == "ana"
