"""My sessions: where the user is logged in, and ending the logins they do not recognise.

Every open login of the user (browser, device) with when it began, when it was last used,
from which address and how (password or single sign-on); this one is marked. Ending the
others logs out every other browser at its next action; this one stays.
"""

from __future__ import annotations

import streamlit as st

from builder.domain import Role
from builder.review.sessions import end_other_sessions, list_sessions
from review_ui import notice
from review_ui.guard import page_errors, require_role
from review_ui.session import current_auth, workspace
from review_ui.widgets import table

require_role(Role.annotator)
auth = current_auth()
assert auth is not None  # require_role stopped the page otherwise
ws = workspace()
st.title("My sessions")
notice.show()
with page_errors():
    mine = list_sessions(ws, auth)
table(
    {
        "this one": ["yes" if m.current else "" for m in mine],
        "logged in (UTC)": [m.created_at.strftime("%Y-%m-%d %H:%M") for m in mine],
        "last seen (UTC)": [m.last_seen_at.strftime("%Y-%m-%d %H:%M") for m in mine],
        "address": [m.address or "unknown" for m in mine],
        "method": ["single sign-on" if m.method == "oidc" else m.method for m in mine],
        "browser": [m.user_agent or "unknown" for m in mine],
    }
)
others = sum(1 for m in mine if not m.current)
if st.button(
    f"End my other sessions ({others})", key="end_others", disabled=others == 0, type="primary"
):
    with page_errors(stop=False):
        ended = end_other_sessions(ws, auth)
        notice.set(f"Ended {ended} other session{'s' if ended != 1 else ''}.")
        st.rerun()
