"""Annotate: the next item from the queue, the guidelines beside it, a form by task type.

Keyboard: digits pick labels, Enter submits, S skips (``review_ui.widgets`` owns the keys:
Enter applies a pending digit and submits once the pick is in the form). Revising an
earlier answer (from "My answers") opens that item here instead of the next one.

Pace: the item and its form are one fragment (:func:`labeling`), so a submit reruns only
the fragment — not the menu, the login check or the guidelines. The run a submit triggers
reuses the item it drew (:func:`_task`), saves the answer read from the widgets' state
before drawing anything (:func:`sent_answer`) and draws the next item in that same run;
only an extractive item (whose answer is worked out while drawn) is drawn first, then the
fragment runs again for the next one.

Blind: the notice after a submit is "Saved <item>" whatever the others answered and
whether or not the item is gold; the progress bar counts answers (see ``queue.Progress``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from builder.domain import Role, TaskType
from builder.review.auth import Actor
from builder.review.consensus import CHOICE_FLAGS, FLAGS
from builder.review.queue import Task, next_item, open_answered, progress, skip, submit
from builder.review.suggestions import suggestions_for
from builder.spec import BenchmarkSpec
from builder.workspace import Workspace
from review_ui import notice
from review_ui.choices import choice_picker, choices_of
from review_ui.extractive import span_picker
from review_ui.guard import page_errors, require_role
from review_ui.session import REVISE_KEY, benchmark_name, workspace
from review_ui.suggestion_view import show_suggestions
from review_ui.widgets import keyboard_shortcuts, plain, show_curation_flags, show_fields

FLAG_NAMES = {
    "ambiguous": "ambiguous",
    "out_of_scope": "out of scope",
    "pii": "contains PII",
    "duplicate": "duplicate",
    "no_right_choice": "no choice is right",
    "several_right_choices": "more than one choice is right",
}
# The Task the last run drew, reused by the run its Submit or Skip triggers. (A comment, not
# a docstring: Streamlit's magic would show a bare string on the page.)
_SHOWN = "annotate_shown_task"


@dataclass(frozen=True)
class Answer:
    """What the form holds when it is sent."""

    value: Any
    flags: list[str]
    comment: str
    submitted: bool
    skipped: bool


def _sending(task: Task) -> bool:
    """Whether this run is the one the task's Submit or Skip triggered."""
    return bool(
        st.session_state.get(f"submit_{task.item_id}")
        or st.session_state.get(f"skip_{task.item_id}")
    )


def _task(ws: Workspace, actor: Actor) -> Task | None:
    """The item to show: the one on screen when this run is its Submit or Skip (the queue
    is asked after acting on it), else the revised one or the queue's next."""
    shown: Task | None = st.session_state.get(_SHOWN)
    if shown is not None and _sending(shown):
        return shown
    revising = st.session_state.get(REVISE_KEY)
    task = (
        open_answered(ws, actor, revising)
        if revising is not None
        else next_item(ws, actor, benchmark=benchmark_name())
    )
    st.session_state[_SHOWN] = task
    return task


def sent_answer(task: Task, spec: BenchmarkSpec) -> Answer | None:
    """The answer the form sent, read from its widgets' state before anything is drawn, so
    that a submit saves and moves on without drawing the item it leaves; None when this
    run is not the form's, or for extractive items (their answer is worked out while the
    form is drawn: :func:`answer_form` gives it)."""
    if not _sending(task) or spec.task.context_field is not None:
        return None
    state, n = st.session_state, task.item_id
    typed = spec.task.type is TaskType.reference_answer and spec.task.choices_field is None
    return Answer(
        value=state.get(f"answer_text_{n}" if typed else f"answer_pick_{n}"),
        flags=list(state.get(f"flags_{n}") or []),
        comment=state.get(f"comment_{n}") or "",
        submitted=bool(state.get(f"submit_{n}")),
        skipped=bool(state.get(f"skip_{n}")),
    )


def show_item(task: Task, spec: BenchmarkSpec) -> None:
    """The item's heading, input fields (a multiple-choice item's choices go in the form)
    and what curation noticed about it."""
    st.subheader(("Revising " if task.previous else "") + plain(task.source_id))
    choices_field = spec.task.choices_field
    show_fields(
        {k: v for k, v in task.fields.items() if k != choices_field},
        spec.source.field_kinds,
        item_id=task.source_id,
    )
    show_curation_flags(task.curation_flags)


def answer_form(task: Task, spec: BenchmarkSpec) -> Answer:
    """The answer form for the task type, its flags and comment, Submit and Skip."""
    labels = spec.task.labels
    choices_field = spec.task.choices_field
    prev = task.previous
    with st.form(f"answer_{task.item_id}", clear_on_submit=False, border=True):
        value: Any
        if choices_field is not None:
            value = choice_picker(
                task.item_id, choices_of(task.fields, choices_field), prev.answer if prev else None
            )
        elif spec.task.context_field is not None:  # extractive: spans of the context
            value = span_picker(
                task.item_id,
                task.fields.get(spec.task.context_field),
                prev.answer if prev else None,
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
    return Answer(value, flags or [], comment, submitted, skipped)


def _again() -> None:
    """Draw the fragment again for the next item; the whole page when this run is not the
    fragment's own (a full run, as AppTest makes: Streamlit refuses a fragment rerun there)."""
    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:
        st.rerun()


def act(ws: Workspace, actor: Actor, task: Task, answer: Answer, *, rerun: bool = True) -> bool:
    """Save or skip; True when done (then, with ``rerun``, draw the fragment again for the
    next item). A refusal is shown and the form keeps what was typed."""
    if answer.submitted:
        with page_errors(stop=False):
            saved = submit(
                ws, actor, task.item_id, answer.value, flags=answer.flags, comment=answer.comment
            )
            st.session_state.pop(REVISE_KEY, None)
            st.session_state.pop(_SHOWN, None)
            # Only what the annotator did: the item's status would tell them the others' answers.
            notice.set(f"Saved {task.source_id}" + (" (revised)" if saved.revised else ""))
            if rerun:
                _again()
            return True
    if answer.skipped:
        with page_errors(stop=False):
            if task.previous is None:
                skip(ws, actor, task.item_id)
            st.session_state.pop(REVISE_KEY, None)
            st.session_state.pop(_SHOWN, None)
            if rerun:
                _again()
            return True
    return False


@st.fragment
def labeling(ws: Workspace, actor: Actor, spec: BenchmarkSpec) -> None:
    """Progress, the item, its form: what a submit redraws."""
    # A revision refused (the item was decided meanwhile) is dropped: the next run shows
    # the queue.
    with page_errors(forget=[REVISE_KEY, _SHOWN]):
        task = _task(ws, actor)
        sent = sent_answer(task, spec) if task is not None else None
        # The form's own run: act before drawing anything, then draw the next item in this
        # same run (no second run); a refusal shows and the form is drawn again.
        if task is not None and sent is not None and act(ws, actor, task, sent, rerun=False):
            task, sent = _task(ws, actor), None
    with page_errors():
        done = progress(ws, actor, benchmark=benchmark_name())
    st.progress(
        done.fraction,
        text=f"{done.given} of {done.needed} answers given · you answered {done.mine}",
    )  # trusted: counts
    notice.show()
    if task is None:
        st.success("Nothing left for you to label in this benchmark. Thank you!")
        return
    show_item(task, spec)
    with page_errors(stop=False):  # the library returns [] where the spec hides it
        show_suggestions(suggestions_for(ws, actor, task.item_id, page="annotate"), key="annotate")
    answer = answer_form(task, spec)
    if sent is None:
        act(ws, actor, task, answer)
    st.caption("Keys: digits pick labels · Enter submits · S skips")


actor = require_role(Role.annotator)
ws = workspace()
with page_errors():
    bench, spec = ws.benchmark(benchmark_name())

left, right = st.columns([3, 2], gap="large")
with left:
    labeling(ws, actor, spec)
with right:
    st.subheader("Guidelines")
    with st.container(height=560):
        if bench.guidelines:
            # trusted: the lead's own Markdown file (the spec's guidelines), not data
            st.markdown(bench.guidelines)
        else:
            st.caption("This benchmark has no guidelines file.")
keyboard_shortcuts()
