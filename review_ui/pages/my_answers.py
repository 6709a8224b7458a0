"""My answers: an annotator's own recent answers, and revising one while it is undecided.

Only the annotator's own answers appear here: labeling is blind.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from builder.errors import BenchsmithError
from builder.review.queue import my_answers
from builder.store.models import Role
from review_ui.session import benchmark_name, require_role, show_error, workspace
from review_ui.widgets import answer_text

actor = require_role(Role.annotator)
ws = workspace()
st.title("My answers")
try:
    mine = my_answers(ws, actor, benchmark=benchmark_name(), limit=200)
except BenchsmithError as e:
    show_error(e)
    st.stop()
if not mine:
    st.info("You have not answered any item yet.")
    st.stop()
st.dataframe(
    pd.DataFrame(
        {
            "item": [m.source_id for m in mine],
            "answer": [answer_text(m.answer) for m in mine],
            "flags": [", ".join(m.flags) for m in mine],
            "comment": [m.comment for m in mine],
            "answered at (UTC)": [m.created_at.strftime("%Y-%m-%d %H:%M") for m in mine],
            "can revise": [m.revisable for m in mine],
        }
    ),
    hide_index=True,
    width="stretch",
)
open_ones = [m for m in mine if m.revisable]
if open_ones:
    choice = st.selectbox(
        "Revise an answer (possible until the item is decided)",
        options=[m.item_id for m in open_ones],
        format_func={m.item_id: f"{m.source_id}: {answer_text(m.answer)}" for m in open_ones}.get,
        key="revise_choice",
    )
    if st.button("Revise", key="revise"):
        st.session_state["revise_item"] = choice
        st.switch_page("pages/annotate.py")
else:
    st.caption("All your answered items are decided; they can no longer be revised.")
