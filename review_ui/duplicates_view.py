"""The Dashboard's duplicate-removal section: the rule, counts per kind, records removed per
stage, pairs at the threshold (both sides).

Every string from the report (rule, source ids, texts, file path) is shown literally: ids in
captions through :func:`~review_ui.widgets.plain`, texts as ``st.text`` through
:func:`~builder.display.visible`.
"""

from __future__ import annotations

import streamlit as st

from builder.review.duplicates import Duplicates, ThresholdPair
from review_ui.widgets import plain, table, text


def show_duplicates(dups: Duplicates) -> None:
    """Records removed per kind, the rule they were removed by, and example pairs."""
    st.subheader("Duplicates removed")
    cols = st.columns(len(dups.removed) + 1)
    for col, (kind, n) in zip(cols, dups.removed.items(), strict=False):
        # trusted: kinds are ours (exact, near) and counts are numbers
        col.metric(plain(f"{kind} duplicates"), n)
    # trusted: a constant label and a count
    cols[-1].metric("removed in all", dups.total)
    if dups.rule:
        st.caption(plain(f"Rule: {dups.rule}", multiline=True))
    if dups.removed_file:
        st.caption("Every removed record, with the kept record it duplicates, is listed in:")
        text(dups.removed_file)
    if dups.stages:
        st.subheader("Records removed by each stage")
        table({"stage": [k for k, _ in dups.stages], "records": [n for _, n in dups.stages]})
    if dups.threshold_pairs:
        _threshold_pairs(dups)
        return
    if not dups.examples:
        if dups.removed.get("near"):
            st.info("This curation run's report has no example pairs (an older report).")
        return
    thr = f" (threshold {dups.threshold:g})" if dups.threshold is not None else ""
    # trusted: a constant and a number
    st.subheader("Near duplicates closest to the threshold" + thr)
    for pair in dups.examples:
        cosine = "—" if pair.cosine is None else f"{pair.cosine:.4f}"
        st.caption(f"cosine {cosine}")  # trusted: a number
        kept, removed = st.columns(2)
        with kept:
            st.caption(plain(f"kept · {pair.kept_id}"))
            text(pair.kept_text, multiline=True)
        with removed:
            st.caption(plain(f"removed · {pair.removed_id}"))
            text(pair.removed_text, multiline=True)


def _threshold_pairs(dups: Duplicates) -> None:
    """The pairs closest to the threshold, removed ones (above) and kept ones (below)."""
    thr = f"{dups.threshold:g}" if dups.threshold is not None else "?"
    source = f", {dups.threshold_source}" if dups.threshold_source else ""
    st.subheader(plain(f"Pairs at the threshold ({thr}{source})"))
    st.caption(
        "Removed: cosine at or above the threshold, the right one was removed. Kept: just "
        "below it, both were kept."
    )
    for pair in dups.threshold_pairs:
        _pair(pair)


def _pair(pair: ThresholdPair) -> None:
    cosine = "—" if pair.cosine is None else f"{pair.cosine:.4f}"
    # trusted: our side names and a number
    st.caption(f"{pair.side} · cosine {cosine}")
    left, right = st.columns(2)
    first_label = "kept" if pair.side == "kept" else "removed"
    with left:
        st.caption(plain(f"kept · {pair.second_id}"))
        text(pair.second_text, multiline=True)
    with right:
        st.caption(plain(f"{first_label} · {pair.first_id}"))
        text(pair.first_text, multiline=True)
