"""My answers: an annotator's own recent answers, and revising one until a reviewer decides
the item or it is released.

Only the annotator's own answers appear here, with a status that depends only on what they
did and on whether the item is still revisable: labeling is blind.
"""

from __future__ import annotations

import streamlit as st

from builder.domain import Role
from builder.review.my_answers import my_answers
from review_ui.guard import page_errors, require_role
from review_ui.session import REVISE_KEY, benchmark_name, workspace
from review_ui.widgets import answer_text, table, visible

actor = require_role(Role.annotator)
ws = workspace()
st.title("My answers")
with page_errors():
    mine = my_answers(ws, actor, benchmark=benchmark_name(), limit=200)
if not mine:
    st.info("You have not answered any item yet.")
    st.stop()
table(
    {
        "item": [m.source_id for m in mine],
        "answer": [answer_text(m.answer) for m in mine],
        "flags": [", ".join(m.flags) for m in mine],
        "comment": [m.comment for m in mine],
        "answered at (UTC)": [m.created_at.strftime("%Y-%m-%d %H:%M") for m in mine],
        "status": [m.status for m in mine],
        "can revise": [m.revisable for m in mine],
    }
)
open_ones = [m for m in mine if m.revisable]
if open_ones:
    choice = st.selectbox(
        "Revise an answer (possible until a reviewer decides the item or it is released)",
        options=[m.item_id for m in open_ones],
        format_func={
            m.item_id: visible(f"{m.source_id}: {answer_text(m.answer)}") for m in open_ones
        }.get,
        key="revise_choice",
    )
    if st.button("Revise", key="revise"):
        st.session_state[REVISE_KEY] = choice
        st.switch_page("app_pages/annotate.py")
else:
    st.caption(
        "A reviewer decided your answered items or they were released; "
        "they can no longer be revised."
    )
