"""Login state and the workspace, for every page of the review app.

Pages check the login with :func:`review_ui.guard.require_role`; this module holds what it
checks (the :class:`AuthSession` in ``st.session_state``) and the workspace the app serves.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import streamlit as st

from builder.config import Settings
from builder.errors import PermissionDenied
from builder.review.auth import Actor, AuthSession, check_session
from builder.workspace import Workspace, open_workspace
from review_ui import notice

__all__ = [
    "AUTH_KEY",
    "REVISE_KEY",
    "benchmark_name",
    "client_address",
    "current_user",
    "logout",
    "settings",
    "workspace",
    "workspace_for_pulls",
]

AUTH_KEY = "benchsmith_auth"
"""Where the :class:`AuthSession` lives in ``st.session_state`` (server side, per browser tab)."""
REVISE_KEY = "revise_item"
"""The item an annotator chose on My answers to revise; Annotate opens it instead of the next."""


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


def workspace_for_pulls() -> Workspace:
    """The workspace, for pages that pull releases from the registry."""
    # The shared workspace is opened without the environment's cache setting; pulls made
    # from a page honour BENCHSMITH_CACHE like the CLI does.
    ws = workspace()
    return replace(ws, settings=replace(ws.settings, cache_dir=settings().cache_dir))


def benchmark_name() -> str | None:
    """The benchmark chosen at start-up (None: the workspace's only one)."""
    return settings().benchmark


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip().strip("[]")))
    except ValueError:
        return None


def client_address() -> str | None:
    """The browser's address, for the login throttle (None: not known).

    The connection's own address; when that is this machine (Streamlit reports None), the
    last ``X-Forwarded-For`` entry or ``X-Real-IP``, which a TLS proxy on this machine sets
    (see the README). Headers from any other peer are ignored: anyone can send them.
    """
    direct = st.context.ip_address
    if direct is not None:
        return _ip(direct) if isinstance(direct, str) else None
    headers = st.context.headers
    forwarded = [v for v in headers.get_all("X-Forwarded-For") if isinstance(v, str)]
    real = headers.get("X-Real-IP")
    for value in (",".join(forwarded).split(",")[-1], real if isinstance(real, str) else ""):
        if (ip := _ip(value)) is not None:
            return ip
    return None


def current_user() -> Actor | None:
    """The logged-in actor with their current role, or None (session expired, user disabled)."""
    auth: AuthSession | None = st.session_state.get(AUTH_KEY)
    if auth is None:
        return None
    try:
        return check_session(workspace(), auth)
    except PermissionDenied as e:
        logout(reason=str(e))
        return None


def logout(reason: str | None = None) -> None:
    """Forget the login (and say why on the login page)."""
    st.session_state.pop(AUTH_KEY, None)
    if reason:
        notice.set(reason, kind="info")
