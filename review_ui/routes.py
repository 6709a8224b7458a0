"""The server routes of the login cookie (Starlette, mounted beside Streamlit by ``asgi.py``).

A Streamlit script cannot set an HTTP-only cookie, so the login page sends the browser to
``/benchsmith/session?ticket=…``: the route trades the one-time ticket for the session
token (``builder.review.sessions.TICKETS``, same process), sets the cookie and sends the
browser back to the app, which finds the cookie on the new connection. ``/benchsmith/logout``
clears it. Both also drop Streamlit's own sign-in cookies (``st.login``): a single sign-on
is turned into a benchsmith session once, and logging out must not sign the user back in.

The cookie is HttpOnly, SameSite=Lax, Path=/ (or the base URL path), lives as long as the
longest session (``Settings.session_max``; the server ends it sooner when idle or revoked)
and is Secure when the app is served over TLS: by Streamlit itself (``server.sslCertFile``)
or by a TLS proxy on this machine that sends ``X-Forwarded-Proto: https`` (README, Serving
to a team).
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route
from streamlit import config

from builder.config import Settings
from builder.review.sessions import TICKETS
from review_ui.session import COOKIE, LOGOUT_PATH, SESSION_PATH, address_of

__all__ = ["is_tls", "routes"]

_STREAMLIT_USER_COOKIES = ("_streamlit_user", "_streamlit_user_tokens")


def _base() -> str:
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_tls(request: Request) -> bool:
    """Whether the browser reached the app over TLS: directly, or through a proxy on this
    machine (only a loopback peer's ``X-Forwarded-Proto`` is believed: anyone can send it)."""
    if request.url.scheme in ("https", "wss"):
        return True
    peer = request.client.host if request.client is not None else None
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
    return _loopback(peer) and forwarded == "https"


def _client(request: Request) -> str | None:
    """The browser's address by the app's own rule (``session.client_address``)."""
    peer = request.client.host if request.client is not None else None
    return address_of(
        None if peer is None or _loopback(peer) else peer,
        request.headers.getlist("x-forwarded-for"),
        request.headers.get("x-real-ip"),
    )


def _home(request: Request) -> RedirectResponse:
    response = RedirectResponse(f"{_base()}/", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    path = _base() or "/"
    for name in request.cookies:
        if name.startswith(_STREAMLIT_USER_COOKIES):
            response.delete_cookie(name, path=path)
    return response


async def _session(request: Request) -> RedirectResponse:
    """Trade ``?ticket=`` for the session cookie, then go to the app (an unknown, used or
    expired ticket, one from another address or another site just goes to the app)."""
    token = TICKETS.redeem(request.query_params.get("ticket", ""), bound=_client(request))
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        token = None  # the login page sends the browser here itself, never another site
    response = _home(request)
    if token is not None:
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(Settings.from_env().session_max.total_seconds()),
            path=_base() or "/",
            secure=is_tls(request),
            httponly=True,
            samesite="lax",
        )
    return response


async def _logout(request: Request) -> RedirectResponse:
    """Clear the session cookie (the page ended the session on the server first)."""
    response = _home(request)
    response.delete_cookie(COOKIE, path=_base() or "/", secure=is_tls(request), httponly=True)
    return response


def routes() -> list[Route]:
    """The cookie routes, at the server's base URL path."""
    return [
        Route(f"{_base()}{SESSION_PATH}", _session, methods=["GET"]),
        Route(f"{_base()}{LOGOUT_PATH}", _logout, methods=["GET"]),
    ]
