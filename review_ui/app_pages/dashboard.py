"""Dashboard: progress, throughput, agreement, gold accuracy, labels and curation coverage."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd
import streamlit as st

from builder.domain import ItemStatus, Role
from builder.review.dashboard import build_dashboard
from review_ui.anchoring_view import show_anchoring
from review_ui.duplicates_view import show_duplicates
from review_ui.guard import page_errors, require_role
from review_ui.session import benchmark_name, workspace
from review_ui.skill_view import show_skill
from review_ui.widgets import bar_chart, literal_frame, plain, table


def _fmt(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


actor = require_role(Role.reviewer)
ws = workspace()
with page_errors():
    dash = build_dashboard(ws, actor, benchmark=benchmark_name())

st.title(plain(f"Dashboard · {dash.benchmark}"))

st.header("Progress")
order = [s.value for s in ItemStatus]
counts = pd.DataFrame({"status": order, "items": [dash.status_counts.get(s, 0) for s in order]})
cols = st.columns(len(order))
for col, (status, n) in zip(cols, counts.itertuples(index=False), strict=True):
    col.metric(plain(status), n)  # trusted: a count
if dash.total:
    bar_chart(counts, x=alt.X("status", sort=order), y="items")
else:
    st.info("No items yet: run curation to pick the sample.")

st.header("Annotators")
if dash.annotators:
    table(
        {
            "annotator": [a.annotator for a in dash.annotators],
            "answers": [a.answers for a in dash.annotators],
            "last 24 h": [a.last_24h for a in dash.annotators],
            "median s / item": [a.median_seconds for a in dash.annotators],
            "items / hour": [a.items_per_hour for a in dash.annotators],
            "gold answered": [a.gold_answered for a in dash.annotators],
            "gold accuracy": [a.gold_accuracy for a in dash.annotators],
            "agrees with final": [a.agree_with_final for a in dash.annotators],
        }
    )
    if dash.daily:
        daily = pd.DataFrame(dash.daily, columns=["day", "annotator", "items"])
        daily["day"] = pd.to_datetime(daily["day"])
        bar_chart(daily, x="day:T", y="items", color="annotator")
else:
    st.info("No answers yet.")

st.header("Agreement")
ag = dash.agreement
st.caption(
    f"{ag.items} items with two or more answers from {ag.annotators} annotators "
    "(gold items excluded)."
)  # trusted: counts
m = st.columns(5)
m[0].metric("Krippendorff α (nominal)", _fmt(ag.alpha_nominal))
m[1].metric("α (ordinal)", _fmt(ag.alpha_ordinal))
m[2].metric("α (interval)", _fmt(ag.alpha_interval))
m[3].metric("Fleiss κ", _fmt(ag.fleiss))
m[4].metric("Observed agreement", _fmt(ag.percent))
if ag.token_f1 is not None:
    st.metric("Token F1 between annotators (mean pairwise)", _fmt(ag.token_f1))
if ag.note:
    st.caption(plain(ag.note, multiline=True))
if ag.pairwise is not None and len(ag.pairwise.annotators) >= 2:
    names = ag.pairwise.annotators
    cells = literal_frame(
        [
            {"a": names[i], "b": names[j], "kappa": ag.pairwise.kappa[i][j]}
            for i in range(len(names))
            for j in range(len(names))
        ]
    )
    st.subheader("Pairwise Cohen's κ")
    base = alt.Chart(cells.dropna()).encode(x="a:N", y="b:N")
    st.altair_chart(
        base.mark_rect().encode(color=alt.Color("kappa:Q", scale=alt.Scale(domain=[-1, 1])))
        + base.mark_text().encode(text=alt.Text("kappa:Q", format=".2f")),
        width="stretch",
    )
if ag.per_label:
    st.subheader("Per-label agreement")
    bar_chart(
        {"label": list(ag.per_label), "agreement": list(ag.per_label.values())},
        x=alt.X("label", sort=None), y="agreement",
    )  # fmt: skip

st.header("Gold accuracy")
gold = [a for a in dash.annotators if a.gold_answered]
if gold:
    bar_chart(
        {"annotator": [a.annotator for a in gold], "accuracy": [a.gold_accuracy for a in gold],
         "gold answered": [a.gold_answered for a in gold]},
        x="annotator", y=alt.Y("accuracy", scale=alt.Scale(domain=[0, 1])),
        tooltip=["gold answered"],
    )  # fmt: skip
else:
    st.info("No gold answers yet: a lead marks items as gold on the Item history page.")

show_skill(ws, actor, benchmark_name())
show_anchoring(ws, actor, benchmark_name())

st.header("Labels of approved items")
if dash.label_distribution and sum(dash.label_distribution.values()):
    bar_chart(
        {"label": list(dash.label_distribution), "items": list(dash.label_distribution.values())},
        x=alt.X("label", sort=None), y="items",
    )  # fmt: skip
else:
    st.info("No approved items with labels yet.")

st.header("Curation coverage")
cov = dash.coverage
if cov is None:
    st.info("No curation run yet: run `benchsmith curate` to see how the sample covers the pool.")
else:
    if cov.clusters:
        clusters = pd.DataFrame(cov.clusters).melt(
            id_vars="cluster", value_vars=["size", "picked", "approved"],
            var_name="count", value_name="records",
        )  # fmt: skip
        bar_chart(
            clusters,
            x="cluster:O", y=alt.Y("records", scale=alt.Scale(type="symlog")),
            color="count", xOffset="count",
        )  # fmt: skip
    if cov.points:
        pts = literal_frame(cov.points)
        pts["in sample"] = pts.get("selected", False)
        st.altair_chart(
            alt.Chart(pts).mark_circle().encode(
                x="x", y="y",
                color=alt.Color("in sample:N", scale=alt.Scale(range=["#c7c7c7", "#d62728"])),
                size=alt.condition("datum['in sample']", alt.value(40), alt.value(8)),
                tooltip=[c for c in ("source_id", "cluster") if c in pts],
            ),
            width="stretch",
        )  # fmt: skip
    dups = dash.duplicates
    if dups is not None:
        show_duplicates(dups)
