"""Adjudicate: items whose answers disagree (or agree but were flagged), side by side.

The reviewer picks or edits the final answer and approves, rejects with a reason, or sends
the item back for a fresh round of answers. Items the reviewer answered themselves are not
offered: another reviewer decides them. The queue can be ordered by the lowest Dawid–Skene
posterior first (:mod:`builder.review.skill`); the default order is unchanged.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from builder.domain import Role, TaskType, Verdict
from builder.review.consensus import decide
from builder.review.items import Case, adjudication_queue
from builder.review.skill import QueueOrder, annotator_skill, applicable
from builder.review.suggestions import suggestions_for
from review_ui import notice
from review_ui.extractive import span_picker
from review_ui.guard import page_errors, require_role
from review_ui.session import benchmark_name, workspace
from review_ui.suggestion_view import show_suggestions
from review_ui.widgets import answer_text, plain, show_curation_flags, show_fields, text, visible

ORDER_LABELS = {
    QueueOrder.oldest.value: "Disagreements first, oldest first",
    QueueOrder.lowest_posterior.value: "Lowest Dawid–Skene posterior first",
}

actor = require_role(Role.reviewer)
ws = workspace()
st.title("Adjudicate")
st.caption("Items you answered yourself are left to another reviewer.")
notice.show()
with page_errors():
    _, spec = ws.benchmark(benchmark_name())
usable, why_not = applicable(spec.task)
order = st.radio(
    "Order",
    options=[o.value for o in QueueOrder],
    format_func=ORDER_LABELS.__getitem__,  # trusted: our constant labels
    horizontal=True,
    key="adjudicate_order",
    disabled=not usable,
    # A new order starts at its first item, not at the one picked in the old order.
    on_change=lambda: st.session_state.pop("adjudicate_item", None),
)
if not usable:
    st.caption(plain(why_not, multiline=True))
elif order == QueueOrder.lowest_posterior:
    st.caption(
        "Posterior: the Dawid–Skene probability of the item's most likely label, weighing each "
        "annotator by their estimated skill. With few answers per annotator it is overconfident "
        "(close to 1); it orders the queue and decides nothing."
    )
with page_errors():
    cases = adjudication_queue(ws, actor, benchmark=benchmark_name(), limit=200, order=order)
    skill = (
        annotator_skill(ws, actor, benchmark=benchmark_name())
        if order == QueueOrder.lowest_posterior
        else None
    )
posterior = {i: p.posterior for i, p in skill.items.items()} if skill is not None else {}
if not cases:
    st.info("Nothing to adjudicate: no item has disagreeing or flagged answers.")
    st.stop()

by_id = {c.item_id: c for c in cases}
chosen = st.selectbox(
    f"{len(cases)} item(s) waiting",
    options=list(by_id),
    format_func=lambda i: visible(
        f"{by_id[i].source_id} · {by_id[i].status} · {len(by_id[i].answers)} answers"
        + (f" · posterior {posterior[i]:.2f}" if i in posterior else "")
    ),
    key="adjudicate_item",
)
case: Case = by_id[chosen]

left, right = st.columns([2, 3], gap="large")
with left:
    st.subheader(plain(case.source_id))
    show_fields(case.fields, spec.source.field_kinds, item_id=case.source_id)
    show_curation_flags(case.curation.get("flags") or {})
with right:
    st.subheader("Answers")
    cols = st.columns(max(1, len(case.answers)))
    for col, a in zip(cols, case.answers, strict=False):
        with col, st.container(border=True):
            st.caption("annotator")
            text(a.annotator + (" (revised)" if a.revised else ""))
            st.caption("answer")
            text(answer_text(a.answer), multiline=True)
            if a.flags:
                st.caption("flags")
                text(", ".join(a.flags))
            if a.comment:
                st.caption("comment")
                text(a.comment, multiline=True)

    with page_errors(stop=False):
        model_says = suggestions_for(ws, actor, case.item_id, page="adjudicate")
        show_suggestions(model_says, key="adjudicate")
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
                format_func=visible,
                key=f"final_{case.item_id}",
            )
        elif spec.task.type is TaskType.multilabel:
            final = st.multiselect(
                "Final labels",
                options=labels,
                default=[x for x in start if x in labels],
                format_func=visible,
                key=f"final_{case.item_id}",
            )
        elif spec.task.context_field is not None:  # extractive: spans of the context
            final = span_picker(case.item_id, case.fields.get(spec.task.context_field), start)
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
        with page_errors(stop=False):
            result = decide(
                ws, actor, case.item_id, verdict,
                answer=final if verdict is Verdict.approved else None, reason=reason,
            )  # fmt: skip
            notice.set(f"{case.source_id}: {result.status}")
            # The decided item leaves the queue: the next run selects the first one left.
            st.session_state.pop("adjudicate_item", None)
            st.rerun()
