"""Annotate: the next item from the queue, the guidelines beside it, a form by task type.

Keyboard: digits pick labels, Enter submits, S skips. Revising an earlier answer (from
"My answers") opens that item here instead of the next one.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from builder.errors import BenchsmithError
from builder.review.consensus import FLAGS
from builder.review.queue import Task, next_item, open_answered, progress, skip, submit
from builder.spec import TaskType
from builder.store.models import Role
from review_ui.session import benchmark_name, require_role, show_error, workspace
from review_ui.widgets import keyboard_shortcuts, show_curation_flags, show_fields

REVISE_KEY = "revise_item"
NOTICE_KEY = "annotate_notice"
FLAG_NAMES = {
    "ambiguous": "ambiguous",
    "out_of_scope": "out of scope",
    "pii": "contains PII",
    "duplicate": "duplicate",
}

actor = require_role(Role.annotator)
ws = workspace()
try:
    bench, spec = ws.benchmark(benchmark_name())
    revising = st.session_state.get(REVISE_KEY)
    task: Task | None = (
        open_answered(ws, actor, revising)
        if revising is not None
        else next_item(ws, actor, benchmark=benchmark_name())
    )
    done = progress(ws, actor, benchmark=benchmark_name())
except BenchsmithError as e:
    show_error(e)
    st.session_state.pop(REVISE_KEY, None)
    st.stop()

st.progress(
    done.fraction,
    text=f"{done.answered} of {done.total} items have all their answers · you answered {done.mine}",
)
notice = st.session_state.pop(NOTICE_KEY, None)
if notice:
    st.success(notice)
if task is None:
    st.success("Nothing left for you to label in this benchmark. Thank you!")
    st.stop()
assert task is not None

labels = spec.task.labels
left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader(f"Revising {task.source_id}" if task.previous else task.source_id)
    show_fields(task.fields)
    show_curation_flags(task.curation_flags)
    prev = task.previous
    with st.form(f"answer_{task.item_id}", clear_on_submit=False, border=True):
        value: Any
        if spec.task.type is TaskType.reference_answer:
            value = st.text_area(
                "Reference answer",
                value=prev.answer if prev else "",
                key=f"answer_text_{task.item_id}",
            )
        else:
            multi = spec.task.type is TaskType.multilabel
            default = prev.answer if prev else ([] if multi else None)
            value = st.pills(
                "Labels (type their numbers)" if multi else "Label (type its number)",
                options=labels,
                selection_mode="multi" if multi else "single",
                default=default,
                format_func=lambda lab: f"{labels.index(lab) + 1} · {lab}",
                key=f"answer_pick_{task.item_id}",
            )
        flags = st.pills(
            "Flags",
            options=list(FLAGS),
            selection_mode="multi",
            default=prev.flags if prev else [],
            format_func=FLAG_NAMES.get,
            key=f"flags_{task.item_id}",
        )
        comment = st.text_input(
            "Comment (optional)", value=prev.comment if prev else "", key=f"comment_{task.item_id}"
        )
        b1, b2 = st.columns(2)
        submitted = b1.form_submit_button(
            "Save revision" if prev else "Submit", type="primary", shortcut="Enter", key="submit"
        )
        skipped = b2.form_submit_button("Cancel" if prev else "Skip", shortcut="S", key="skip")
    if submitted:
        try:
            result = submit(ws, actor, task.item_id, value, flags=flags or [], comment=comment)
        except BenchsmithError as e:
            show_error(e)
        else:
            st.session_state.pop(REVISE_KEY, None)
            st.session_state[NOTICE_KEY] = (
                f"Saved {task.source_id}"
                + (" (revised)" if result.revised else "")
                + ("" if result.status in ("candidate", "in_review") else f": {result.status}")
            )
            st.rerun()
    if skipped:
        try:
            if prev is None:
                skip(ws, actor, task.item_id)
            st.session_state.pop(REVISE_KEY, None)
        except BenchsmithError as e:
            show_error(e)
        else:
            st.rerun()
    st.caption("Keys: digits pick labels · Enter submits · S skips")
with right:
    st.subheader("Guidelines")
    with st.container(height=560):
        if bench.guidelines:
            st.markdown(bench.guidelines)  # the lead's own markdown, not item text
        else:
            st.caption("This benchmark has no guidelines file.")
keyboard_shortcuts()
