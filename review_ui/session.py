"""Login state and role checks for every page of the review app.

Pages start with ``actor = require_role(Role.X)``: it re-checks the login on the server
(expired session, disabled account, changed role) and stops the page with a refusal when
the role is too low. The library checks the role again on every action, so a page reached
some other way still cannot act. Other pages (releases, leaderboard) use the same helpers:

    from review_ui.session import require_role, workspace, benchmark_name
    actor = require_role(Role.lead)
"""

from __future__ import annotations

import streamlit as st

from builder.config import Settings
from builder.errors import BenchsmithError, PermissionDenied
from builder.review.auth import Actor, AuthSession, check_session, login
from builder.store.models import Role
from builder.workspace import Workspace, open_workspace

__all__ = [
    "AUTH_KEY",
    "benchmark_name",
    "current_user",
    "login_page",
    "logout",
    "require_role",
    "settings",
    "show_error",
    "workspace",
]

AUTH_KEY = "benchsmith_auth"
"""Where the :class:`AuthSession` lives in ``st.session_state`` (server side, per browser tab)."""
_NOTICE_KEY = "benchsmith_notice"


def settings() -> Settings:
    """Settings from the ``BENCHSMITH_*`` variables ``benchsmith review`` sets."""
    return Settings.from_env()


@st.cache_resource(show_spinner=False)
def _open(home: str, database_url: str, registry: str, private_registry: str) -> Workspace:
    # One engine (connection pool) per workspace for the whole server, shared by sessions.
    return open_workspace(Settings.from_env(
        {}, home=home, database_url=database_url, registry=registry,
        private_registry=private_registry,
    ))  # fmt: skip


def workspace() -> Workspace:
    """The workspace the app was started for."""
    s = settings()
    return _open(str(s.home), s.database_url, s.registry, s.private_registry)


def benchmark_name() -> str | None:
    """The benchmark chosen at start-up (None: the workspace's only one)."""
    return settings().benchmark


def current_user() -> Actor | None:
    """The logged-in actor with their current role, or None (session expired, user disabled)."""
    auth: AuthSession | None = st.session_state.get(AUTH_KEY)
    if auth is None:
        return None
    try:
        return check_session(workspace(), auth)
    except PermissionDenied as e:
        logout(notice=str(e))
        return None


def require_role(role: Role) -> Actor:
    """The current actor if their role includes ``role``; otherwise refuse and stop the page."""
    actor = current_user()
    if actor is None:
        st.warning("Please log in first.")
        st.stop()
    assert actor is not None
    if not actor.can(role):
        st.error(
            f"This page needs the {role.value} role; you are logged in as "
            f"{actor.name} ({actor.role.value})."
        )
        st.stop()
    return actor


def logout(notice: str | None = None) -> None:
    """Forget the login (and say why on the login page)."""
    st.session_state.pop(AUTH_KEY, None)
    if notice:
        st.session_state[_NOTICE_KEY] = notice


def show_error(error: BenchsmithError) -> None:
    """A library refusal, shown as is (its message names the problem and the fix)."""
    st.error(str(error))


def login_page() -> None:
    """The login form (the only page before logging in)."""
    st.title("benchsmith review")
    notice = st.session_state.pop(_NOTICE_KEY, None)
    if notice:
        st.info(notice)
    with st.form("login"):
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        try:
            st.session_state[AUTH_KEY] = login(workspace(), name.strip(), password)
        except BenchsmithError as e:
            show_error(e)
        else:
            st.rerun()
