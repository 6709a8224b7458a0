"""Login state and the workspace, for every page of the review app.

Pages check the login with :func:`review_ui.guard.require_role`; this module holds what it
checks and the workspace the app serves. A login is a server-side session
(``builder.review.sessions``): the tab keeps its :class:`AuthSession` in
``st.session_state``, and the browser keeps the session's token in the HTTP-only cookie
:data:`COOKIE`, which a new tab or a reload brings back. Scripts cannot set cookies, so
logging in and out sends the browser through the server routes of ``review_ui.routes``
(:func:`redirect`, sent at the top of the next run by :func:`send_redirect`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from urllib.parse import quote

import streamlit as st

from builder.config import Settings
from builder.errors import PermissionDenied
from builder.review.auth import Actor, AuthSession
from builder.review.sessions import TICKETS, end_session, resume
from builder.workspace import Workspace, open_workspace
from review_ui import notice

__all__ = [
    "AUTH_KEY",
    "COOKIE",
    "LOGOUT_PATH",
    "REVISE_KEY",
    "SESSION_PATH",
    "address_of",
    "benchmark_name",
    "client_address",
    "current_auth",
    "current_user",
    "logout",
    "redirect",
    "send_redirect",
    "settings",
    "sign_in",
    "sign_out",
    "user_agent",
    "workspace",
    "workspace_for_pulls",
]

AUTH_KEY = "benchsmith_auth"
"""Where the :class:`AuthSession` lives in ``st.session_state`` (server side, per browser tab)."""
COOKIE = "benchsmith_session"
"""The HTTP-only cookie holding the session token (set and cleared by ``review_ui.routes``)."""
SESSION_PATH = "/benchsmith/session"
"""The route that trades a one-time ticket for the cookie (``?ticket=``), then goes to /."""
LOGOUT_PATH = "/benchsmith/logout"
"""The route that clears the cookie, then goes to /."""
_REDIRECT_KEY = "benchsmith_redirect"
_REFUSED_KEY = "benchsmith_refused_cookie"
"""The cookie token this tab already found refused (not asked about again on every run)."""
REVISE_KEY = "revise_item"
"""The item an annotator chose on My answers to revise; Annotate opens it instead of the next."""


def settings() -> Settings:
    """Settings from the ``BENCHSMITH_*`` variables ``benchsmith review`` sets."""
    return Settings.from_env()


def _with_lifetimes(ws: Workspace, s: Settings) -> Workspace:
    # The shared workspace is opened once per server; session lifetimes come from the
    # environment like the rest of the settings.
    if (ws.settings.session_idle, ws.settings.session_max) == (s.session_idle, s.session_max):
        return ws
    lifetimes = replace(ws.settings, session_idle=s.session_idle, session_max=s.session_max)
    return replace(ws, settings=lifetimes)


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
    return _with_lifetimes(_open(str(s.home), s.database_url, s.registry, s.private_registry), s)


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
    if direct is not None and not isinstance(direct, str):
        return None
    headers = st.context.headers
    forwarded = [v for v in headers.get_all("X-Forwarded-For") if isinstance(v, str)]
    real = headers.get("X-Real-IP")
    return address_of(direct, forwarded, real if isinstance(real, str) else None)


def address_of(direct: str | None, forwarded: list[str], real: str | None) -> str | None:
    """:func:`client_address` from the peer's address (None: this machine) and the proxy's
    ``X-Forwarded-For`` values and ``X-Real-IP`` (the cookie routes use the same rule)."""
    if direct is not None:
        return _ip(direct)
    for value in (",".join(forwarded).split(",")[-1], real or ""):
        if (ip := _ip(value)) is not None:
            return ip
    return None


def user_agent() -> str | None:
    """The browser's ``User-Agent`` (recorded with a session so its owner recognises it)."""
    value = st.context.headers.get("User-Agent")
    return value if isinstance(value, str) else None


def _cookie_token() -> str | None:
    value = st.context.cookies.get(COOKIE)
    if not isinstance(value, str) or not value or value == st.session_state.get(_REFUSED_KEY):
        return None
    return value


def current_auth() -> AuthSession | None:
    """The tab's login, checked again (None: not logged in; the reason waits as a notice).

    The tab's own :class:`AuthSession` first, else the session whose token the browser's
    cookie brought (a reload, a new tab). A refused session is forgotten with its reason.
    """
    auth: AuthSession | None = st.session_state.get(AUTH_KEY)
    token = auth.token if auth is not None else _cookie_token()
    if not token:
        return None
    try:
        checked = resume(workspace(), token)
    except PermissionDenied as e:
        st.session_state[_REFUSED_KEY] = token
        logout(reason=str(e))
        return None
    st.session_state[AUTH_KEY] = checked
    return checked


def current_user() -> Actor | None:
    """The logged-in actor with their current role, or None (session ended, user disabled)."""
    auth = current_auth()
    return auth.actor if auth is not None else None


def redirect(path: str) -> None:
    """Send the browser to ``path`` (on this server) at the start of the next run."""
    st.session_state[_REDIRECT_KEY] = path


def send_redirect() -> None:
    """Send the waiting :func:`redirect`, if any (the app calls this first on every run)."""
    path = st.session_state.pop(_REDIRECT_KEY, None)
    if not path:
        return
    # st.login's own way to move the browser: the frontend sets window.location to the URL.
    from streamlit import config
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
    from streamlit.url_util import make_url_path

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    msg = ForwardMsg()
    msg.auth_redirect.url = make_url_path(config.get_option("server.baseUrlPath") or "", path)
    ctx.enqueue(msg)


def sign_in(auth: AuthSession) -> None:
    """Keep a new login in the tab and have the browser fetch its cookie on the next run."""
    st.session_state[AUTH_KEY] = auth
    st.session_state.pop(_REFUSED_KEY, None)
    # The ticket is good only for the address that logged in: a ticket sent to someone else
    # cannot log their browser into this account.
    ticket = TICKETS.issue(auth.token, bound=client_address())
    redirect(f"{SESSION_PATH}?ticket={quote(ticket)}")


def sign_out() -> None:
    """Log out: end the session on the server (every tab of this browser) and clear the cookie."""
    auth: AuthSession | None = st.session_state.pop(AUTH_KEY, None)
    if auth is not None:
        end_session(workspace(), auth)
        st.session_state[_REFUSED_KEY] = auth.token
    redirect(LOGOUT_PATH)


def logout(reason: str | None = None) -> None:
    """Forget the tab's login (and say why on the login page)."""
    st.session_state.pop(AUTH_KEY, None)
    if reason:
        notice.set(reason, kind="info")
