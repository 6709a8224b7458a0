"""Users (leads): who can log in, with which role; add, change roles, disable."""

from __future__ import annotations

import streamlit as st

from builder.domain import Role
from builder.review.users import add_user, disable_user, enable_user, list_users, set_role
from review_ui import notice
from review_ui.guard import page_errors, require_role
from review_ui.session import workspace
from review_ui.widgets import table, visible

ROLES = [r.value for r in Role]

actor = require_role(Role.lead)
ws = workspace()
st.title("Users")
notice.show()
users = list_users(ws)
table(
    {
        "name": [u.name for u in users],
        "role": [u.role for u in users],
        "can log in": [u.can_login for u in users],
        "disabled": [u.disabled for u in users],
        "locked until (UTC)": [
            u.locked_until.strftime("%Y-%m-%d %H:%M") if u.locked_until else "" for u in users
        ],
    }
)


def _act(label: str, fn: object, *args: object) -> None:
    with page_errors(stop=False):
        info = fn(ws, *args, actor=actor)  # type: ignore[operator]
        notice.set(f"{label}: {info.name} ({info.role})")
        st.rerun()


add, change = st.columns(2, gap="large")
with add, st.form("add_user", clear_on_submit=True):
    st.subheader("Add a user")
    name = st.text_input("Name", key="new_name")
    role = st.selectbox("Role", ROLES, key="new_role")
    password = st.text_input("Password", type="password", key="new_password")
    if st.form_submit_button("Add", key="add_user_btn"):
        _act("added", add_user, name.strip(), role, password)
with change, st.form("change_user"):
    st.subheader("Change a user")
    who = st.selectbox("User", [u.name for u in users], format_func=visible, key="change_name")
    new_role = st.selectbox("New role", ROLES, key="change_role")
    c1, c2, c3 = st.columns(3)
    do_role = c1.form_submit_button("Set role", key="set_role_btn")
    do_disable = c2.form_submit_button("Disable", key="disable_btn")
    do_enable = c3.form_submit_button("Enable", key="enable_btn")
    if who and do_role:
        _act("role changed", set_role, who, new_role)
    if who and do_disable:
        _act("disabled", disable_user, who)
    if who and do_enable:
        _act("enabled", enable_user, who)
