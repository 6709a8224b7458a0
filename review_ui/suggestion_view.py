"""A model's suggestion for an item, shown only when the library returned one.

Pages never decide visibility: they call :func:`builder.review.suggestions.suggestions_for`
and pass what it returned here; an empty list shows nothing at all (not even a heading, so
an annotator on a control item cannot tell a suggestion was withheld).
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from builder.review.suggestions import SuggestionView
from review_ui.widgets import answer_text, text

__all__ = ["show_suggestions"]


def show_suggestions(views: Sequence[SuggestionView], *, key: str) -> None:
    """A bordered box per model: the model name, its answer and its confidence, as text.

    ``key`` names the container (``suggestion_<key>``) so tests and browser runs find it.
    """
    if not views:
        return
    with st.container(border=True, key=f"suggestion_{key}"):
        st.caption("Model suggestion (may be wrong: judge the item yourself)")
        for v in views:
            score = "" if v.score is None else f" · confidence {v.score:.2f}"
            text(f"{v.model}{score}")
            text(answer_text(v.answer), multiline=True)
