"""The login page: the only page before logging in (password, and single sign-on when set up).

Single sign-on runs through Streamlit's ``st.login``: the provider sends the browser back
with its claims in ``st.user``, and :func:`take_sso_login` turns a known, enabled user's
e-mail into the same server-side session a password opens (``builder.review.sso``).
"""

from __future__ import annotations

import streamlit as st

from builder.errors import PermissionDenied
from builder.review.auth import login
from builder.review.sso import PROVIDER_KEY, oidc_settings, sso_login
from review_ui import notice
from review_ui.guard import page_errors
from review_ui.session import client_address, sign_in, user_agent, workspace

__all__ = ["login_page", "take_sso_login"]

_SSO_TRIED = "benchsmith_sso_tried"
"""The e-mail whose sign-on this tab already turned down (not retried on every run)."""


def take_sso_login() -> None:
    """Turn the identity provider's sign-in (``st.user``) into a session, once per tab.

    A refusal (unknown e-mail, disabled user) waits as the login page's notice.
    """
    if oidc_settings() is None:
        return
    claims = st.user.to_dict()  # (``is_logged_in`` is missing, not False, without [auth])
    if not claims.get("is_logged_in"):
        return
    email = claims.get("email")
    if st.session_state.get(_SSO_TRIED) == repr(email):
        return
    st.session_state[_SSO_TRIED] = repr(email)
    try:
        auth = sso_login(
            workspace(),
            email,
            email_verified=claims.get("email_verified"),
            address=client_address(),
            user_agent=user_agent(),
        )
    except PermissionDenied as e:
        notice.set(str(e), kind="info")
        return
    sign_in(auth)
    st.rerun()


def login_page() -> None:
    """Title, why one was logged out (if so), single sign-on (when set up), the form."""
    st.title("benchsmith review")
    notice.show()
    oidc = oidc_settings()
    if oidc is not None and st.button(
        f"Sign in with {oidc.provider}", key="sso_login", type="primary"
    ):
        st.login(PROVIDER_KEY)
    with st.form("login"):
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", type="primary" if oidc is None else "secondary")
    if submitted:
        with page_errors(stop=False):
            auth = login(
                workspace(),
                name.strip(),
                password,
                address=client_address(),
                user_agent=user_agent(),
            )
            sign_in(auth)
            st.rerun()
