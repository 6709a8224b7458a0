"""Item history: every answer, decision and audit event of one item; leads mark gold here."""

from __future__ import annotations

import json

import streamlit as st

from builder.domain import Role, TaskType
from builder.review.consensus import answer_from_text
from builder.review.gold import mark_gold, unmark_gold
from builder.review.items import find_item, item_history
from review_ui.guard import page_errors, require_role
from review_ui.session import benchmark_name, workspace
from review_ui.widgets import answer_text, plain, show_curation_flags, show_fields, table, text

actor = require_role(Role.reviewer)
ws = workspace()
st.title("Item history")
source_id = st.text_input("Source id of the item", key="history_source").strip()
if not source_id:
    st.caption("Type a source id (see `benchsmith items list`).")
    st.stop()
with page_errors():
    item_id = find_item(ws, source_id, benchmark=benchmark_name())
    hist = item_history(ws, actor, item_id)
    _, spec = ws.benchmark(benchmark_name())

case = hist.case
st.subheader(plain(case.source_id))
text(
    f"status {case.status} · revision {case.revision} · final answer "
    f"{answer_text(case.answer)}" + (" · gold" if case.is_gold else "")
)
show_fields(case.fields, spec.source.field_kinds, item_id=case.source_id)
show_curation_flags(case.curation.get("flags") or {})

st.subheader("Answers")
if hist.answers:
    table(
        {
            "at (UTC)": [a.created_at.strftime("%Y-%m-%d %H:%M:%S") for a in hist.answers],
            "annotator": [a.annotator for a in hist.answers],
            "answer": [answer_text(a.answer) for a in hist.answers],
            "flags": [", ".join(a.flags) for a in hist.answers],
            "comment": [a.comment for a in hist.answers],
            "current": [a.current for a in hist.answers],
        }
    )
else:
    st.caption("No answers yet.")

st.subheader("Decisions")
if hist.decisions:
    table(
        {
            "at (UTC)": [d.created_at.strftime("%Y-%m-%d %H:%M:%S") for d in hist.decisions],
            "by": [d.reviewer or "auto-approval" for d in hist.decisions],
            "verdict": [d.verdict for d in hist.decisions],
            "answer": [answer_text(d.answer) for d in hist.decisions],
            "reason": [d.reason for d in hist.decisions],
        }
    )
else:
    st.caption("No decisions yet.")

st.subheader("Audit log")
table(
    {
        "at (UTC)": [e.at.strftime("%Y-%m-%d %H:%M:%S") for e in hist.events],
        "actor": [e.actor for e in hist.events],
        "action": [e.action for e in hist.events],
        "before": [json.dumps(e.before, ensure_ascii=False) for e in hist.events],
        "after": [json.dumps(e.after, ensure_ascii=False) for e in hist.events],
    }
)

if actor.can(Role.lead):
    st.subheader("Gold")
    with st.form(f"gold_{item_id}"):
        hint = "labels, comma-separated" if spec.task.type is TaskType.multilabel else "the answer"
        known = st.text_input(
            f"Known answer ({hint})",
            value=answer_text(case.answer) if case.is_gold else "",
            key=f"gold_answer_{item_id}",
        )
        g1, g2 = st.columns(2)
        set_gold = g1.form_submit_button("Mark as gold", key="mark_gold")
        unset = g2.form_submit_button("Unmark gold", key="unmark_gold", disabled=not case.is_gold)
    with page_errors(stop=False):
        if set_gold:
            mark_gold(ws, actor, item_id, answer_from_text(spec.task, known))
            st.rerun()
        if unset:
            unmark_gold(ws, actor, item_id)
            st.rerun()
