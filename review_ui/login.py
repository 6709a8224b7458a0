"""The login form: the only page before logging in."""

from __future__ import annotations

import streamlit as st

from builder.review.auth import login
from review_ui import notice
from review_ui.guard import page_errors
from review_ui.session import AUTH_KEY, client_address, workspace

__all__ = ["login_page"]


def login_page() -> None:
    """Title, why one was logged out (if so), the form."""
    st.title("benchsmith review")
    notice.show()
    with st.form("login"):
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        with page_errors(stop=False):
            st.session_state[AUTH_KEY] = login(
                workspace(), name.strip(), password, address=client_address()
            )
            st.rerun()
