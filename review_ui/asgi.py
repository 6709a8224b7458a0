"""The served review app: Streamlit's ``st.App`` around ``app.py``, plus the login routes.

``benchsmith review`` runs ``streamlit run review_ui/asgi.py`` (Streamlit finds ``app``
below and serves it with uvicorn, with the usual ``--server.*`` flags); ``app.py`` is the
script every browser session runs. Single sign-on settings, when set, reach ``st.login``
as Streamlit secrets passed here in memory, never written to a file.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from builder.review.sso import streamlit_auth_secrets
from review_ui.routes import routes

app = st.App(Path(__file__).with_name("app.py"), routes=routes(), secrets=streamlit_auth_secrets())
