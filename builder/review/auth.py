"""Who may do what: argon2 passwords, throttled logins, expiring sessions, role checks.

Every review action takes an :class:`Actor` and calls :func:`authorize` inside its own
transaction, which re-reads the user: a page the app hides from a role is refused again
here if reached another way. A login carries a credential stamp (a digest of the user's
password hash, role and disabled flag); resetting the password, changing the role or
disabling the user changes it, which ends every session opened before on its next action.

A login answers the same message, after the same single argon2 verify, whether the name is
unknown, the password wrong or the login locked. Locks are per (name, client address)
first, so guesses from one address cannot lock the name out from another; a name is locked
for the addresses it never logged in from only after many failures from many addresses;
``benchsmith users unlock NAME`` always lifts the locks. The counters are the
``user.login_failed`` audit events (``after`` holds the address and the reason).

A successful login (:func:`login`, or single sign-on through ``review.sso``) opens a
server-side session (:func:`open_session`): a row keyed by the sha256 of a random token
that only the browser holds; ``review.sessions`` checks, lists and ends them.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session

from builder.domain import Role
from builder.errors import PermissionDenied, ReviewError
from builder.review._common import clock
from builder.store.audit import log_event, recent_events
from builder.store.models import AuditEvent, User
from builder.store.sessions import add_login_session, prune_login_sessions
from builder.store.users import get_user, user_credentials
from builder.workspace import Workspace, current_actor

__all__ = [
    "ADDRESS_FAILURES",
    "GLOBAL_ADDRESSES",
    "GLOBAL_FAILURES",
    "KEEP_ENDED",
    "LOCAL_ADDRESS",
    "LOCKOUT",
    "MAX_FAILURES",
    "MIN_PASSWORD_LENGTH",
    "Actor",
    "AuthSession",
    "annotator_account",
    "authorize",
    "credential_stamp",
    "has_role",
    "hash_password",
    "judge",
    "login",
    "open_session",
    "operator",
    "parse_role",
    "verify_password",
]

ROLE_ORDER: tuple[Role, ...] = (Role.annotator, Role.reviewer, Role.lead)
MAX_FAILURES = 5
"""Failed logins in a row for one name from one address before that pair is locked a while."""
LOCKOUT = timedelta(minutes=1)
"""First lock; each further failure doubles it, up to :data:`MAX_LOCKOUT`."""
MAX_LOCKOUT = timedelta(hours=1)
GLOBAL_FAILURES = 50
"""Failures for one name within :data:`GLOBAL_WINDOW`, from at least
:data:`GLOBAL_ADDRESSES` addresses, that lock the name for :data:`GLOBAL_LOCKOUT` from
every address it did not log in from lately."""
GLOBAL_ADDRESSES = 5
GLOBAL_WINDOW = timedelta(hours=1)
GLOBAL_LOCKOUT = timedelta(minutes=15)
ADDRESS_FAILURES = 30
"""Failures from one address, whatever the names, within :data:`ADDRESS_WINDOW`, after
which that address may only log in as the names it logged in as lately."""
ADDRESS_WINDOW = timedelta(minutes=15)
THROTTLE_WINDOW = timedelta(hours=24)
"""Failures older than this are forgotten."""
_EVENT_LIMIT = 2000
"""The most audit events one login reads for its counters (the newest)."""
_KNOWN_LOGINS = 20
"""How many of a name's last successful logins make their addresses known (exempt from
the global and the per-address throttle, never from the (name, address) lock)."""
LOCAL_ADDRESS = "local"
"""The address of a login whose client address is not known (a library caller)."""
MIN_PASSWORD_LENGTH = 8
KEEP_ENDED = timedelta(days=30)
"""How long a user's ended sessions stay in the table (the audit log keeps logins for good)."""

_HASHER = PasswordHasher()
"""argon2id with the library's RFC 9106 defaults (tests swap in cheaper parameters)."""


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Verified against when the user does not exist or the login is locked, so that neither
    # answers faster than a wrong password. Made on first use: hashing takes a good
    # fraction of a second, too slow for every CLI start.
    return hasher.hash("benchsmith-no-such-user")


_BAD_LOGIN = (
    "unknown user or wrong password for {name!r}, or too many failed logins; "
    "check both and try again in a few minutes"
)
_COUNTED = ("wrong password", "unknown user or no login")
"""Reasons of the failures that count towards a lock (not: locked, disabled)."""
_RESETS = ("user.unlock", "user.password")
"""Events after which a name has no failures."""


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
    stamp: str | None = None
    """:func:`credential_stamp` at login: once the user's password, role or disabled flag
    changes, the actor is refused. None (an actor made in code, not by :func:`login`): not
    compared."""

    def can(self, need: Role | str) -> bool:
        """Whether this actor's (last known) role includes ``need``."""
        return has_role(self.role, need)


def operator() -> Actor:
    """The person running the CLI (``BENCHSMITH_USER`` or the OS login), acting as a lead.

    The default actor of library calls made without one. The CLI never relies on it: every
    command that changes the workspace first checks the name against the workspace's users
    (``builder.review.operator.acting_operator``) and passes the actor it returns.
    """
    return Actor(name=current_actor(), role=Role.lead)


@dataclass(frozen=True)
class AuthSession:
    """A successful login: a server-side session row and the token that opens it.

    The app keeps it in the tab's state and the token in an HTTP-only cookie; every page
    run checks it again (``review.sessions.check_session``).
    """

    actor: Actor
    issued_at: datetime
    expires_at: datetime
    """The absolute end (``Settings.session_max`` after login); idle sessions end sooner."""
    token: str = field(default="", repr=False)
    """The secret the browser holds (43 URL-safe characters); only its sha256 is stored."""
    session_id: int | None = None
    method: str = "password"
    """``password`` or ``oidc``."""


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


def credential_stamp(
    user_id: int, role: Role | str, disabled: bool, password_hash: str | None
) -> str:
    """A digest of what a login was granted on; any change ends the sessions opened before."""
    material = f"{user_id}\0{Role(role).value}\0{int(disabled)}\0{password_hash or ''}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def authorize(session: Session, actor: Actor, need: Role | str, action: str) -> Actor:
    """Re-read the actor's user and refuse unless enabled with a role including ``need``.

    An actor from :func:`login` is also refused once the user's password, role or disabled
    flag changed since. Returns the actor with their current role. The shell operator
    passes unchecked.
    """
    if actor.user_id is None:
        return actor
    return judge(actor, user_credentials(session, actor.user_id), need, action)


def annotator_account(session: Session, actor: Actor) -> tuple[Actor, int]:
    """``actor`` authorised to label, with their user id; raises PermissionDenied for a
    role below annotator and ReviewError for a shell operator (answers need an account)."""
    actor = authorize(session, actor, Role.annotator, "labeling")
    if actor.user_id is None:
        raise ReviewError(
            f"{actor.name!r} is acting from the shell; answers need a user account "
            "(`benchsmith users add`) or `benchsmith annotations import`"
        )
    return actor, actor.user_id


def judge(
    actor: Actor,
    state: tuple[str, Role, bool, str | None] | None,
    need: Role | str,
    action: str,
) -> Actor:
    """:func:`authorize`'s rule on the user's (name, role, disabled, password hash) as just
    read (None: no such user), for callers that read it with something else."""
    assert actor.user_id is not None
    if state is None or state[2]:
        raise PermissionDenied(
            f"user {actor.name!r} is disabled or was removed; ask a lead to enable the account"
        )
    name, role, disabled, password_hash = state
    if actor.stamp is not None and actor.stamp != credential_stamp(
        actor.user_id, role, disabled, password_hash
    ):
        raise PermissionDenied(
            f"the role of {name!r} was changed to {role.value}; log in again"
            if role != actor.role
            else f"the password of {name!r} was changed; log in again with the new one"
        )
    if not has_role(role, need):
        raise PermissionDenied(
            f"{action} needs the {Role(need).value} role but {name!r} is "
            f"{role}; ask a lead to change the role"
        )
    return (
        actor if (name, role) == (actor.name, actor.role) else replace(actor, role=role, name=name)
    )


def _lockout(failures: int) -> timedelta:
    extra = max(0, failures - MAX_FAILURES)
    return min(LOCKOUT * (2**extra), MAX_LOCKOUT)


def _details(event: AuditEvent) -> dict[str, object]:
    return event.after if isinstance(event.after, dict) else {}


def _counted(event: AuditEvent) -> bool:
    return event.action == "user.login_failed" and _details(event).get("reason") in _COUNTED


@dataclass(frozen=True)
class _Throttle:
    """What the audit log says about one name and one address just before an attempt."""

    locked: str | None
    """Why the attempt is refused without looking at the password (None: it is not)."""
    pair_failures: int
    """Counted failures in a row for the name from the address."""
    recent_addresses: frozenset[object]
    """Addresses of the name's counted failures within :data:`GLOBAL_WINDOW`."""
    recent_failures: int


def _throttle(s: Session, name: str, address: str, user: User | None, at: datetime) -> _Throttle:
    events = recent_events(
        s,
        actions=("user.login_failed", "user.login", *_RESETS),
        since=at - THROTTLE_WINDOW,
        limit=_EVENT_LIMIT,
        entity="user",
        entity_id=name,
    )
    reset_at: datetime | None = None
    since_reset: list[AuditEvent] = []
    for e in events:  # newest first, back to the last unlock or password change
        if e.action in _RESETS:
            reset_at = e.at
            break
        since_reset.append(e)
    pair, last_failure = 0, None
    for e in since_reset:
        if _details(e).get("address") != address:
            continue
        if e.action == "user.login":
            break
        if _counted(e):
            pair += 1
            last_failure = last_failure or e.at
    recent = [e for e in since_reset if _counted(e) and e.at >= at - GLOBAL_WINDOW]
    # Every query runs whatever the outcome, so a lock does not answer faster either.
    known = _known(s, name, address)
    address_failures = _address_failures(s, address, at, reset_at)
    locked: str | None = None
    if last_failure is not None and pair >= MAX_FAILURES and last_failure + _lockout(pair) > at:
        locked = "locked for this address"
    elif known:
        pass  # the global and the address-wide lock spare where the name logged in lately
    elif user is not None and user.locked_until is not None and user.locked_until > at:
        locked = "locked for new addresses"
    elif address_failures >= ADDRESS_FAILURES:
        locked = "address throttled"
    return _Throttle(
        locked=locked,
        pair_failures=pair,
        recent_addresses=frozenset(_details(e).get("address") for e in recent),
        recent_failures=len(recent),
    )


def _known(s: Session, name: str, address: str) -> bool:
    """Whether the name's last successful logins include one from ``address``."""
    logins = recent_events(
        s, actions=("user.login",), since=None, limit=_KNOWN_LOGINS, entity="user", entity_id=name
    )
    return any(_details(e).get("address") == address for e in logins)


def _address_failures(s: Session, address: str, at: datetime, reset_at: datetime | None) -> int:
    """Counted failures from ``address`` lately, whatever the name."""
    since = at - ADDRESS_WINDOW
    if reset_at is not None:
        since = max(since, reset_at)  # unlocking a name lifts this throttle for it too
    events = recent_events(s, actions=("user.login_failed",), since=since, limit=_EVENT_LIMIT)
    return sum(1 for e in events if _counted(e) and _details(e).get("address") == address)


def login(
    ws: Workspace,
    name: str,
    password: str,
    *,
    address: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> AuthSession:
    """Check a password and open a server-side session; every attempt is an audit event.

    ``address`` is the client's (None: :data:`LOCAL_ADDRESS`); it and ``user_agent`` are
    recorded with the session, which ends ``ws.settings.session_max`` after ``now``. After :data:`MAX_FAILURES`
    failures in a row from one address the name is locked for that address, longer after
    each further failure. An unknown name, a wrong password and a lock all raise the same
    :class:`PermissionDenied` after one argon2 verify, so none tells which names exist.
    """
    at = clock(now)
    where = address or LOCAL_ADDRESS
    error: PermissionDenied | None = None
    with ws.db.session() as s:
        user = get_user(s, name)
        throttle = _throttle(s, name, where, user, at)
        stored = user.password_hash if user is not None else None
        # Exactly one verify on every path: against the dummy hash when the name is unknown
        # or the login is locked, so that neither answers faster than a wrong password.
        ok = verify_password(stored if throttle.locked is None else None, password)
        if not ok:
            reason = throttle.locked or ("wrong password" if stored else "unknown user or no login")
            _record_failure(s, name, user, where, reason, throttle, at)
            error = PermissionDenied(_BAD_LOGIN.format(name=name))
        elif user is None or user.id is None or stored is None:
            raise AssertionError("a verified password belongs to a user")  # pragma: no cover
        elif user.disabled:
            _log(s, name, "user.login_failed", {"address": where, "reason": "disabled"}, at)
            error = PermissionDenied(f"user {name!r} is disabled; ask a lead to enable the account")
        else:
            if _HASHER.check_needs_rehash(stored):
                user.password_hash = _HASHER.hash(password)
            user.failed_logins = 0
            s.add(user)
            _log(s, name, "user.login", {"address": where, "method": "password"}, at)
            auth = open_session(
                s, user, method="password", address=where, user_agent=user_agent, at=at,
                ttl=ws.settings.session_max,
            )  # fmt: skip
    # Raised after the commit so the failure and its audit event are kept.
    if error is not None:
        raise error
    return auth


def open_session(
    s: Session,
    user: User,
    *,
    method: str,
    address: str | None,
    user_agent: str | None,
    at: datetime,
    ttl: timedelta,
) -> AuthSession:
    """Open a session for ``user`` (already checked) in ``s``'s transaction.

    The token is 32 random bytes from :mod:`secrets` (URL-safe base64); the row keeps its
    sha256, the user's :func:`credential_stamp`, ``address``, ``user_agent`` and
    ``at + ttl`` as the absolute expiry. The user's sessions that ended more than
    :data:`KEEP_ENDED` ago are deleted (the audit log keeps every login).
    """
    if user.id is None:
        raise AssertionError("a session belongs to a stored user")  # pragma: no cover
    prune_login_sessions(s, user.id, at - KEEP_ENDED)
    token = secrets.token_urlsafe(32)
    stamp = credential_stamp(user.id, user.role, user.disabled, user.password_hash)
    row = add_login_session(
        s, token=token, user_id=user.id, method=method, stamp=stamp, address=address,
        user_agent=user_agent, at=at, expires_at=at + ttl,
    )  # fmt: skip
    actor = Actor(name=user.name, role=Role(user.role), user_id=user.id, stamp=stamp)
    return AuthSession(
        actor=actor, issued_at=at, expires_at=at + ttl, token=token, session_id=row.id,
        method=method,
    )  # fmt: skip


def _log(s: Session, name: str, action: str, after: dict[str, object], at: datetime) -> None:
    event = log_event(s, actor=name, action=action, entity="user", entity_id=name, after=after)
    event.at = at  # the attempt's own time: the throttle counts by it (tests fix the clock)


def _record_failure(
    s: Session,
    name: str,
    user: User | None,
    address: str,
    reason: str,
    throttle: _Throttle,
    at: datetime,
) -> None:
    after: dict[str, object] = {"address": address, "reason": reason}
    if reason in _COUNTED:
        failures = throttle.pair_failures + 1
        after["failed_logins"] = failures
        if failures >= MAX_FAILURES:
            after["locked_until"] = (at + _lockout(failures)).isoformat()
        if user is not None:
            user.failed_logins += 1
            many = throttle.recent_failures + 1 >= GLOBAL_FAILURES
            if many and len(throttle.recent_addresses | {address}) >= GLOBAL_ADDRESSES:
                user.locked_until = at + GLOBAL_LOCKOUT
                after["locked_for_new_addresses_until"] = user.locked_until.isoformat()
            s.add(user)
    _log(s, name, "user.login_failed", after, at)
