"""Item history: every answer, decision and audit event of one item; leads mark gold here."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from builder.errors import BenchsmithError
from builder.review.consensus import answer_from_text, mark_gold, unmark_gold
from builder.review.items import find_item, item_history
from builder.store.models import Role
from review_ui.session import benchmark_name, require_role, show_error, workspace
from review_ui.widgets import answer_text, show_curation_flags, show_fields

actor = require_role(Role.reviewer)
ws = workspace()
st.title("Item history")
source_id = st.text_input("Source id of the item", key="history_source").strip()
if not source_id:
    st.caption("Type a source id (see `benchsmith items list`).")
    st.stop()
try:
    item_id = find_item(ws, source_id, benchmark=benchmark_name())
    hist = item_history(ws, actor, item_id)
    _, spec = ws.benchmark(benchmark_name())
except BenchsmithError as e:
    show_error(e)
    st.stop()

case = hist.case
st.subheader(case.source_id)
st.text(
    f"status {case.status} · revision {case.revision} · final answer "
    f"{answer_text(case.answer)}" + (" · gold" if case.is_gold else "")
)
show_fields(case.fields)
show_curation_flags(case.curation.get("flags") or {})

st.subheader("Answers")
if hist.answers:
    st.dataframe(
        pd.DataFrame(
            {
                "at (UTC)": [a.created_at.strftime("%Y-%m-%d %H:%M:%S") for a in hist.answers],
                "annotator": [a.annotator for a in hist.answers],
                "answer": [answer_text(a.answer) for a in hist.answers],
                "flags": [", ".join(a.flags) for a in hist.answers],
                "comment": [a.comment for a in hist.answers],
                "current": [a.current for a in hist.answers],
            }
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.caption("No answers yet.")

st.subheader("Decisions")
if hist.decisions:
    st.dataframe(
        pd.DataFrame(
            {
                "at (UTC)": [d.created_at.strftime("%Y-%m-%d %H:%M:%S") for d in hist.decisions],
                "by": [d.reviewer or "auto-approval" for d in hist.decisions],
                "verdict": [d.verdict for d in hist.decisions],
                "answer": [answer_text(d.answer) for d in hist.decisions],
                "reason": [d.reason for d in hist.decisions],
            }
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.caption("No decisions yet.")

st.subheader("Audit log")
st.dataframe(
    pd.DataFrame(
        {
            "at (UTC)": [e.at.strftime("%Y-%m-%d %H:%M:%S") for e in hist.events],
            "actor": [e.actor for e in hist.events],
            "action": [e.action for e in hist.events],
            "before": [json.dumps(e.before, ensure_ascii=False) for e in hist.events],
            "after": [json.dumps(e.after, ensure_ascii=False) for e in hist.events],
        }
    ),
    hide_index=True,
    width="stretch",
)

if actor.can(Role.lead):
    st.subheader("Gold")
    with st.form(f"gold_{item_id}"):
        hint = "labels, comma-separated" if spec.task.type == "multilabel" else "the answer"
        text = st.text_input(
            f"Known answer ({hint})",
            value=answer_text(case.answer) if case.is_gold else "",
            key=f"gold_answer_{item_id}",
        )
        g1, g2 = st.columns(2)
        set_gold = g1.form_submit_button("Mark as gold", key="mark_gold")
        unset = g2.form_submit_button("Unmark gold", key="unmark_gold", disabled=not case.is_gold)
    try:
        if set_gold:
            mark_gold(ws, actor, item_id, answer_from_text(spec.task, text))
            st.rerun()
        if unset:
            unmark_gold(ws, actor, item_id)
            st.rerun()
    except BenchsmithError as e:
        show_error(e)
