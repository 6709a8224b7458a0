"""The multiple-choice part of the Annotate form: the choices, literally, and a letter picker.

Choices are data: each is shown with :func:`review_ui.widgets.text` (``st.text``, never
Markdown), labelled A–J; the picker's options are the letters only. Keys: a letter A–J or
its number (1 = A) picks that choice (``review_ui.widgets`` installs both).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from builder.choices import LETTERS
from review_ui.widgets import text

__all__ = ["choice_picker", "choices_of"]


def choices_of(fields: dict[str, Any], choices_field: str) -> list[str]:
    """The item's choice texts (an empty list when the field is not a list)."""
    value = fields.get(choices_field)
    return [str(c) for c in value] if isinstance(value, list) else []


def choice_picker(item_id: int, choices: list[str], default: str | None) -> str | None:
    """Show ``choices`` as ``A. text`` lines and return the picked letter (None: none yet)."""
    letters = list(LETTERS[: len(choices)])
    with st.container(key=f"answer_choices_{item_id}"):
        st.caption("Choices")
        for letter, choice in zip(letters, choices, strict=True):
            text(f"{letter}. {choice}", multiline=True)
    picked: str | None = st.pills(
        "Answer (type its letter or number)",
        options=letters,
        selection_mode="single",
        default=default if default in letters else None,
        key=f"answer_pick_{item_id}",
    )
    return picked
