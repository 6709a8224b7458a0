"""Adjudicate: items whose answers disagree (or agree but were flagged), side by side.

The reviewer picks or edits the final answer and approves, rejects with a reason, or sends
the item back for a fresh round of answers.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from builder.errors import BenchsmithError
from builder.review.consensus import Verdict, decide
from builder.review.items import Case, adjudication_queue
from builder.spec import TaskType
from builder.store.models import Role
from review_ui.session import benchmark_name, require_role, show_error, workspace
from review_ui.widgets import answer_text, show_curation_flags, show_fields

NOTICE_KEY = "adjudicate_notice"

actor = require_role(Role.reviewer)
ws = workspace()
st.title("Adjudicate")
notice = st.session_state.pop(NOTICE_KEY, None)
if notice:
    st.success(notice)
try:
    _, spec = ws.benchmark(benchmark_name())
    cases = adjudication_queue(ws, actor, benchmark=benchmark_name(), limit=200)
except BenchsmithError as e:
    show_error(e)
    st.stop()
if not cases:
    st.info("Nothing to adjudicate: no item has disagreeing or flagged answers.")
    st.stop()

by_id = {c.item_id: c for c in cases}
chosen = st.selectbox(
    f"{len(cases)} item(s) waiting",
    options=list(by_id),
    format_func=lambda i: (
        f"{by_id[i].source_id} · {by_id[i].status} · {len(by_id[i].answers)} answers"
    ),
    key="adjudicate_item",
)
case: Case = by_id[chosen]

left, right = st.columns([2, 3], gap="large")
with left:
    st.subheader(case.source_id)
    show_fields(case.fields)
    show_curation_flags(case.curation.get("flags") or {})
with right:
    st.subheader("Answers")
    cols = st.columns(max(1, len(case.answers)))
    for col, a in zip(cols, case.answers, strict=False):
        with col, st.container(border=True):
            st.caption("annotator")
            st.text(a.annotator + (" (revised)" if a.revised else ""))
            st.caption("answer")
            st.text(answer_text(a.answer))
            if a.flags:
                st.caption("flags")
                st.text(", ".join(a.flags))
            if a.comment:
                st.caption("comment")
                st.text(a.comment)

    st.subheader("Decision")
    start = case.suggestion if case.suggestion is not None else case.answers[0].answer
    labels = spec.task.labels
    with st.form(f"decide_{case.item_id}"):
        final: Any
        if spec.task.type is TaskType.classification:
            final = st.selectbox(
                "Final label",
                options=labels,
                index=labels.index(start) if start in labels else 0,
                key=f"final_{case.item_id}",
            )
        elif spec.task.type is TaskType.multilabel:
            final = st.multiselect(
                "Final labels",
                options=labels,
                default=[x for x in start if x in labels],
                key=f"final_{case.item_id}",
            )
        else:
            final = st.text_area("Final answer", value=str(start), key=f"final_{case.item_id}")
        reason = st.text_input("Reason (required to reject)", key=f"reason_{case.item_id}")
        b1, b2, b3 = st.columns(3)
        approve = b1.form_submit_button("Approve", type="primary", key="approve")
        reject = b2.form_submit_button("Reject", key="reject")
        send_back = b3.form_submit_button("Send back", key="send_back")
    verdict = (
        Verdict.approved if approve else Verdict.rejected if reject else
        Verdict.sent_back if send_back else None
    )  # fmt: skip
    if verdict is not None:
        try:
            result = decide(
                ws, actor, case.item_id, verdict,
                answer=final if verdict is Verdict.approved else None, reason=reason,
            )  # fmt: skip
        except BenchsmithError as e:
            show_error(e)
        else:
            st.session_state[NOTICE_KEY] = f"{case.source_id}: {result.status}"
            st.session_state.pop("adjudicate_item", None)
            st.rerun()
