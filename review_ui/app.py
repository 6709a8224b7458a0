"""The review app: log in, then the pages your role allows.

Started by ``benchsmith review`` (``streamlit run review_ui/app.py``) with the workspace in
``BENCHSMITH_*`` variables. To add a page, add one line to :data:`PAGES`.
"""

from __future__ import annotations

import streamlit as st

from builder.store.models import Role
from review_ui.session import current_user, login_page, logout

# (page file relative to this one, title, lowest role that sees it)
PAGES: list[tuple[str, str, Role]] = [
    ("pages/annotate.py", "Annotate", Role.annotator),
    ("pages/my_answers.py", "My answers", Role.annotator),
    ("pages/adjudicate.py", "Adjudicate", Role.reviewer),
    ("pages/dashboard.py", "Dashboard", Role.reviewer),
    ("pages/history.py", "Item history", Role.reviewer),
    ("pages/users.py", "Users", Role.lead),
    ("pages/releases.py", "Releases", Role.lead),
    ("pages/leaderboard.py", "Leaderboard", Role.annotator),
]

st.set_page_config(page_title="benchsmith review", layout="wide")

actor = current_user()
if actor is None:
    page = st.navigation([st.Page(login_page, title="Log in", url_path="login")])
else:
    page = st.navigation(
        [st.Page(path, title=title) for path, title, role in PAGES if actor.can(role)]
    )
    with st.sidebar:
        st.text(f"{actor.name} · {actor.role.value}")
        st.button("Log out", key="logout", on_click=logout)
page.run()
