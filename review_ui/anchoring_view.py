"""Dashboard section: does seeing a model's suggestion pull annotators towards it?

Drawn from :func:`builder.review.anchoring.anchoring`; shown only once the benchmark has
suggestions (without any there is nothing to anchor on).
"""

from __future__ import annotations

import streamlit as st

from builder.review.anchoring import MIN_CONTROL, AnchoringReport, anchoring
from builder.review.auth import Actor
from builder.workspace import Workspace
from review_ui.guard import page_errors
from review_ui.widgets import table

__all__ = ["render_anchoring", "show_anchoring"]

_MODES = {
    "hidden": "Suggestions are hidden from everyone (review.suggestions: hidden).",
    "reviewers": "Annotators label blind; reviewers see suggestions while adjudicating "
    "(review.suggestions: reviewers), so answers cannot be anchored.",
}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def _ci(ci: tuple[float, float] | None, signed: bool = False) -> str:
    if ci is None:
        return "—"
    f = "{:+.1f}" if signed else "{:.1f}"
    return f"{f.format(100 * ci[0])} … {f.format(100 * ci[1])}"


def show_anchoring(ws: Workspace, actor: Actor, benchmark: str | None) -> None:
    """The section, computed by the library for ``actor`` (a reviewer or lead)."""
    with page_errors(stop=False):
        render_anchoring(anchoring(ws, actor, benchmark=benchmark))


def render_anchoring(report: AnchoringReport) -> None:
    """Per annotator, agreement with the suggestion where shown vs control items."""
    if not report.items_with_suggestions:
        return
    st.header("Anchoring on model suggestions")
    if not report.measured:
        st.caption(_MODES.get(report.mode, ""))  # trusted: constant texts keyed by the mode
        return
    st.caption(
        f"Annotators see suggestions except on a blind control share of "
        f"{100 * report.control_share:.1f} % of items (review.suggestion_control). Agreement "
        "with the suggestion where it was shown against where it was not: a higher rate when "
        "shown means anchoring. 95 % Wilson intervals for the rates, Newcombe's hybrid score "
        f"interval for the difference; under {MIN_CONTROL} control answers it cannot be judged."
    )  # trusted: numbers and constants
    if not report.annotators:
        st.info("No answers to items with suggestions yet.")
        return
    rows = report.annotators
    table(
        {
            "annotator": [a.annotator for a in rows],
            "shown: answers": [a.shown for a in rows],
            "shown: agree": [_pct(a.shown_rate) for a in rows],
            "shown: 95 % CI": [_ci(a.shown_ci) for a in rows],
            "control: answers": [a.control for a in rows],
            "control: agree": [_pct(a.control_rate) for a in rows],
            "control: 95 % CI": [_ci(a.control_ci) for a in rows],
            "difference (points)": [
                "—" if a.difference is None else f"{100 * a.difference:+.1f}" for a in rows
            ],
            "difference: 95 % CI": [_ci(a.difference_ci, signed=True) for a in rows],
            "reading": [a.note for a in rows],
        }
    )
