"""The review app: log in, then the pages your role allows.

Served by ``benchsmith review`` (``streamlit run review_ui/asgi.py``, which adds the login
cookie's routes) with the workspace in ``BENCHSMITH_*`` variables. To add a page, add one
line to :data:`PAGES`.
"""

from __future__ import annotations

import streamlit as st

from builder.domain import Role
from review_ui.login import login_page, take_sso_login
from review_ui.session import current_user, send_redirect, sign_out
from review_ui.widgets import text

# (page file relative to this one, title, lowest role that sees it). The folder is not
# called pages/: Streamlit reserves that name for its older automatic page discovery, and
# the menu here is built by role instead.
PAGES: list[tuple[str, str, Role]] = [
    ("app_pages/annotate.py", "Annotate", Role.annotator),
    ("app_pages/my_answers.py", "My answers", Role.annotator),
    ("app_pages/adjudicate.py", "Adjudicate", Role.reviewer),
    ("app_pages/dashboard.py", "Dashboard", Role.reviewer),
    ("app_pages/history.py", "Item history", Role.reviewer),
    ("app_pages/users.py", "Users", Role.lead),
    ("app_pages/releases.py", "Releases", Role.lead),
    ("app_pages/leaderboard.py", "Leaderboard", Role.annotator),
    ("app_pages/account.py", "My sessions", Role.annotator),
]

st.set_page_config(page_title="benchsmith review", layout="wide")
send_redirect()  # a login or logout of the last run moves the browser (cookie routes)

actor = current_user()
if actor is None:
    take_sso_login()  # back from the identity provider: a session, or the refusal as a notice
    page = st.navigation([st.Page(login_page, title="Log in", url_path="login")])
else:
    page = st.navigation(
        [st.Page(path, title=title) for path, title, role in PAGES if actor.can(role)]
    )
    with st.sidebar:
        text(f"{actor.name} · {actor.role.value}")
        st.button("Log out", key="logout", on_click=sign_out)
page.run()
