"""A conversation field (``builder.conversation``) shown as a chat transcript.

One chat bubble per turn: the role and the content as literal text (``st.text`` of
:func:`builder.display.visible`), never Markdown or HTML, so a turn ``**bold**``, an image
``![x](http://…)`` or a role ``:red[agent]`` shows exactly those characters. A long
transcript scrolls inside a fixed-height container.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import streamlit as st

from builder.display import visible

__all__ = ["SCROLL_AFTER_TURNS", "TRANSCRIPT_HEIGHT", "show_conversation"]

TRANSCRIPT_HEIGHT = 480
"""Pixel height of the scrolling container of a long transcript."""
SCROLL_AFTER_TURNS = 4
"""Transcripts with more turns than this scroll."""

# Roles drawn on the asking side (the user avatar); every other role answers.
_ASKING = frozenset({"user", "customer", "human", "client", "caller"})


def show_conversation(turns: Sequence[Any] | None) -> None:
    """Show ``turns`` (a list of ``{role, content}``) as a transcript; a value of another
    shape (an old record) is shown as plain text instead. Raises nothing."""
    if not isinstance(turns, list) or not all(
        isinstance(t, dict) and "role" in t and "content" in t for t in turns
    ):
        st.text(visible("" if turns is None else turns, multiline=True))
        return
    st.text(f"{len(turns)} turn{'s' if len(turns) != 1 else ''}")
    height: int | Literal["content"] = (
        TRANSCRIPT_HEIGHT if len(turns) > SCROLL_AFTER_TURNS else "content"
    )
    with st.container(height=height, border=True):
        for turn in turns:
            role = str(turn["role"])
            # The bubble's name only picks the avatar; the role itself is shown as text.
            side = "user" if role.strip().lower() in _ASKING else "assistant"
            with st.chat_message(side):
                st.text(visible(role))
                st.text(visible(turn["content"], multiline=True))
