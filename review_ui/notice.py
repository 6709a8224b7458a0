"""What the last action did ("Saved …", "Published …"), shown once on the next run.

An action saves, sets the notice and calls ``st.rerun()`` so that the page is drawn again
from the new state; anything shown before the rerun is lost with the old run, so the
notice waits in ``st.session_state`` until :func:`show` takes it:

    from review_ui import notice
    notice.set(f"Saved {task.source_id}")
    st.rerun()
    ...
    notice.show()  # where the page wants it, once
"""

from __future__ import annotations

from typing import Literal

import streamlit as st

from review_ui.widgets import plain

__all__ = ["set", "show"]

_KEY = "benchsmith_notice"


def set(message: str, *, kind: Literal["success", "info"] = "success") -> None:
    """Show ``message`` on the next run (``info``: a reason, e.g. why one was logged out)."""
    st.session_state[_KEY] = (kind, message)


def show() -> None:
    """The waiting notice, if any, shown as text and forgotten."""
    kind, message = st.session_state.pop(_KEY, None) or ("success", "")
    if message:
        (st.info if kind == "info" else st.success)(plain(message, multiline=True))
