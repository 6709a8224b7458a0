"""Annotate: the next item from the queue, the guidelines beside it, a form by task type.

Keyboard: digits pick labels, Enter submits, S skips. Revising an earlier answer (from
"My answers") opens that item here instead of the next one.

Blind: the notice after a submit is "Saved <item>" whatever the others answered and
whether or not the item is gold; the progress bar counts answers (see ``queue.Progress``).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from builder.domain import Role, TaskType
from builder.review.consensus import CHOICE_FLAGS, FLAGS
from builder.review.queue import Task, next_item, open_answered, progress, skip, submit
from review_ui import notice
from review_ui.choices import choice_picker, choices_of
from review_ui.extractive import span_picker
from review_ui.guard import page_errors, require_role
from review_ui.session import REVISE_KEY, benchmark_name, workspace
from review_ui.widgets import keyboard_shortcuts, plain, show_curation_flags, show_fields

FLAG_NAMES = {
    "ambiguous": "ambiguous",
    "out_of_scope": "out of scope",
    "pii": "contains PII",
    "duplicate": "duplicate",
    "no_right_choice": "no choice is right",
    "several_right_choices": "more than one choice is right",
}

actor = require_role(Role.annotator)
ws = workspace()
# A revision refused (the item was decided meanwhile) is dropped: the next run shows the queue.
with page_errors(forget=[REVISE_KEY]):
    bench, spec = ws.benchmark(benchmark_name())
    revising = st.session_state.get(REVISE_KEY)
    task: Task | None = (
        open_answered(ws, actor, revising)
        if revising is not None
        else next_item(ws, actor, benchmark=benchmark_name())
    )
    done = progress(ws, actor, benchmark=benchmark_name())

st.progress(
    done.fraction,
    text=f"{done.given} of {done.needed} answers given · you answered {done.mine}",
)  # trusted: counts
notice.show()
if task is None:
    st.success("Nothing left for you to label in this benchmark. Thank you!")
    st.stop()
assert task is not None

labels = spec.task.labels
left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader(("Revising " if task.previous else "") + plain(task.source_id))
    choices_field = spec.task.choices_field
    show_fields(
        {k: v for k, v in task.fields.items() if k != choices_field},
        spec.source.field_kinds,
        item_id=task.source_id,
    )
    show_curation_flags(task.curation_flags)
    prev = task.previous
    with st.form(f"answer_{task.item_id}", clear_on_submit=False, border=True):
        value: Any
        if choices_field is not None:
            value = choice_picker(
                task.item_id, choices_of(task.fields, choices_field), prev.answer if prev else None
            )
        elif spec.task.context_field is not None:  # extractive: spans of the context
            value = span_picker(
                task.item_id, task.fields.get(spec.task.context_field), prev.answer if prev else None
            )
        elif spec.task.type is TaskType.reference_answer:
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
                format_func=lambda lab: f"{labels.index(lab) + 1} · {plain(lab)}",  # trusted: n
                key=f"answer_pick_{task.item_id}",
            )
        flags = st.pills(
            "Flags",
            options=[f for f in FLAGS if choices_field is not None or f not in CHOICE_FLAGS],
            selection_mode="multi",
            default=prev.flags if prev else [],
            format_func=FLAG_NAMES.get,  # trusted: the constant names above
            key=f"flags_{task.item_id}",
        )
        comment = st.text_input(
            "Comment (optional)", value=prev.comment if prev else "", key=f"comment_{task.item_id}"
        )
        b1, b2 = st.columns(2)
        submitted = b1.form_submit_button(
            "Save revision" if prev else "Submit",
            type="primary",
            shortcut="Enter",
            # Per item: a click on a form a second tab of this user already moved past
            # must not submit the next item's empty form.
            key=f"submit_{task.item_id}",
        )
        skipped = b2.form_submit_button(
            "Cancel" if prev else "Skip", shortcut="S", key=f"skip_{task.item_id}"
        )
    if submitted:
        with page_errors(stop=False):
            saved = submit(ws, actor, task.item_id, value, flags=flags or [], comment=comment)
            st.session_state.pop(REVISE_KEY, None)
            # Only what the annotator did: the item's status would tell them the others' answers.
            notice.set(f"Saved {task.source_id}" + (" (revised)" if saved.revised else ""))
            st.rerun()
    if skipped:
        with page_errors(stop=False):
            if prev is None:
                skip(ws, actor, task.item_id)
            st.session_state.pop(REVISE_KEY, None)
            st.rerun()
    st.caption("Keys: digits pick labels · Enter submits · S skips")
with right:
    st.subheader("Guidelines")
    with st.container(height=560):
        if bench.guidelines:
            # trusted: the lead's own Markdown file (the spec's guidelines), not data
            st.markdown(bench.guidelines)
        else:
            st.caption("This benchmark has no guidelines file.")
keyboard_shortcuts()
