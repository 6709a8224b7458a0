"""The Dashboard's annotator-skill section: Dawid–Skene skill beside gold accuracy, flags.

Names come from people and are shown literally: in tables (``table``), in flag messages
through :func:`~review_ui.widgets.plain`. The numbers behind it are in
:mod:`builder.review.skill`.
"""

from __future__ import annotations

import streamlit as st

from builder.display import visible
from builder.review.auth import Actor
from builder.review.skill import SkillReport, SkillStatus, annotator_skill
from builder.workspace import Workspace
from review_ui.guard import page_errors
from review_ui.widgets import literal_frame, plain, table

__all__ = ["show_skill"]


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def show_skill(ws: Workspace, actor: Actor, benchmark: str | None) -> None:
    """The section: compute (or reuse) the fit, then :func:`show_report`."""
    st.header("Annotator skill")
    # The first fit after new answers takes seconds at 100k answers; reruns reuse it.
    with page_errors(stop=False):
        with st.spinner("Estimating annotator skill…"):
            report = annotator_skill(ws, actor, benchmark=benchmark)
        show_report(report)


def show_report(report: SkillReport) -> None:
    """Per-annotator skill table, flags below the threshold, confusion matrices."""
    if not report.applicable:
        st.info(plain(report.note, multiline=True))
        return
    if not report.annotators:
        st.info("No answers yet.")
        return
    st.caption(
        "Dawid–Skene skill (crowd-kit): the accuracy each annotator's estimated confusion "
        "matrix implies, Σ prior(c) · P(answers c | true c); Dawid & Skene 1979. Gold items "
        "are left out of the fit, so gold accuracy is an independent check. Advisory only: "
        "it changes no label."
    )
    if report.note:
        st.caption(plain(report.note, multiline=True))
    rows = report.annotators
    table(
        {
            "annotator": [a.annotator for a in rows],
            "answers": [a.answers for a in rows],
            "skill (Dawid–Skene)": [a.skill for a in rows],
            "status": [a.status.value for a in rows],
            "gold accuracy": [a.gold_accuracy for a in rows],
            "gold answered": [a.gold_answered for a in rows],
            "agrees with others' majority": [a.mv_agreement for a in rows],
            "compared": [a.mv_compared for a in rows],
        }
    )
    for a in report.flagged:
        st.warning(
            plain(
                f"{a.annotator}: skill {_pct(a.skill)} is below the threshold "
                f"{report.threshold:g} over {a.answers} answers (gold accuracy "
                f"{_pct(a.gold_accuracy)} on {a.gold_answered})."
            )
        )
    few = [a for a in rows if a.status is SkillStatus.too_few]
    if few:
        st.caption(
            plain(
                f"Too few to judge (fewer than {report.min_answers} answers, or no overlap "
                f"with others): {', '.join(a.annotator for a in few)}."
            )
        )
    # trusted: numbers
    st.caption(
        f"Threshold {report.threshold:g} (spec review.skill_threshold); {len(report.items)} "
        f"items fitted in {report.iterations} EM iterations; majority vote and Dawid–Skene "
        f"pick different labels on {report.disagreements} items."
    )
    per_label = [(a.annotator, lab, v) for a in rows for lab, v in a.per_label.items()]
    if per_label:  # multilabel: one binary fit per label
        with st.expander("Skill per label"):
            table(
                {
                    "annotator": [n for n, _, _ in per_label],
                    "label": [lab for _, lab, _ in per_label],
                    "skill": [v for _, _, v in per_label],
                }
            )
    with_matrix = [a for a in rows if a.confusion]
    if with_matrix:
        with st.expander("Confusion matrices (row: true label, column: answered)"):
            names = [a.annotator for a in with_matrix]
            pick = st.selectbox(
                "Annotator", options=range(len(names)), format_func=lambda i: visible(names[i]),
                key="skill_confusion_annotator",
            )  # fmt: skip
            chosen = with_matrix[pick]
            frame = literal_frame(
                [{"true label": t, **answered} for t, answered in chosen.confusion.items()]
            )
            st.dataframe(frame, hide_index=True, width="stretch")
