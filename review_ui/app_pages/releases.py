"""Releases (lead): preview the next version's diff and bump, publish it, yank a version."""

from __future__ import annotations

import streamlit as st

from builder.domain import Role
from builder.release.registry import Registry
from builder.release.snapshot import ReleasePlan, plan_release, publish_release, yank_release
from review_ui import notice
from review_ui.guard import page_errors, require_role
from review_ui.session import benchmark_name, workspace_for_pulls
from review_ui.widgets import plain, table, text, visible

actor = require_role(Role.lead)
ws = workspace_for_pulls()
with page_errors():
    bench, spec = ws.benchmark(benchmark_name())
    registry = Registry(ws.settings.registry)
    published = registry.releases(bench.name)

st.title(plain(f"Releases · {bench.name}"))
notice.show()

st.header("Published")
st.caption("Registry: " + plain(registry.url))
if published:
    table(
        {
            "version": [r.version for r in published],
            "created": [r.created_at[:19] for r in published],
            "by": [r.created_by for r in published],
            "items": [r.items for r in published],
            "splits": [", ".join(f"{k} {v}" for k, v in r.splits.items()) for r in published],
            "content hash": [r.content_hash[:16] for r in published],
            "yanked": [r.yanked.reason if r.yanked else "" for r in published],
        }
    )
else:
    st.info("Nothing published yet.")

st.header("Next release")
choice = st.radio(
    "Version",
    ["suggested bump", "major", "minor", "patch"],
    horizontal=True,
    key="release_bump",
    help="The suggested bump follows semver: removed or relabeled items → major, "
    "only added items → minor, card or notes only → patch. A smaller bump than "
    "suggested is refused.",
)
notes = st.text_area("Release notes (card and changelog)", key="release_notes")
bump = None if choice == "suggested bump" else choice
# A plan refused (nothing approved, a bump too small) is shown, and the yank form still is.
plan: ReleasePlan | None = None
with page_errors(stop=False):
    plan = plan_release(ws, benchmark=bench.name, bump=bump, notes=notes)  # type: ignore[arg-type]

if plan is not None:
    summary = plan.summary()
    cols = st.columns(4)
    cols[0].metric("version", plain(plan.version))
    cols[1].metric("parent", plain(plan.parent or "—"))
    cols[2].metric("suggested bump", plain(plan.suggested_bump or "first release"))
    cols[3].metric("items", sum(summary["splits"].values()) + summary["holdout"])  # trusted: n
    text(
        "Splits: "
        + ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
        + (f"; private holdout {summary['holdout']}" if summary["holdout"] else "")
    )
    if plan.diff is not None:
        counts = plan.diff.counts()
        st.subheader("Changes since " + plain(plan.parent))
        table({"change": list(counts), "items": list(counts.values())})
        with st.expander("Changed item ids"):
            for title, ids in (
                ("added", plan.diff.added),
                ("removed", plan.diff.removed),
                ("input changed", plan.diff.input_changed),
            ):
                if ids:
                    text(f"{title}: " + ", ".join(visible(i) for i in ids))
            for r in plan.diff.relabeled:
                text(f"relabeled: {visible(r.id)}: {visible(r.before)} → {visible(r.after)}")
    ag = plan.agreement
    st.caption(
        f"Agreement: {ag.annotators} annotators, {ag.items_multiply_annotated} items with two or "
        f"more answers; human ceiling ({plain(ag.ceiling_metric)}) "
        + ("n/a" if ag.human_ceiling is None else f"{ag.human_ceiling:.3f}")
    )  # trusted: counts
    for w in plan.warnings:
        st.warning(plain(w, multiline=True))
    if st.button("Publish " + plain(plan.version), type="primary", key="publish"):
        with page_errors(stop=False):
            result = publish_release(
                ws,
                actor=actor.name,
                benchmark=bench.name,
                bump=bump,  # type: ignore[arg-type]
                notes=notes,
            )
            notice.set(
                f"Published {result.name}@{result.version} (content hash {result.content_hash[:16]}…)."
            )
            st.rerun()

st.header("Yank a version")
live = [r.version for r in published if r.yanked is None]
if live:
    with st.form("yank"):
        version = st.selectbox(
            "Version", list(reversed(live)), format_func=visible, key="yank_version"
        )
        reason = st.text_input("Reason (shown on every pull)", key="yank_reason")
        if st.form_submit_button("Yank"):
            with page_errors(stop=False):
                yank_release(ws, bench.name, str(version), reason=reason, actor=actor.name)
                notice.set(f"Yanked {bench.name}@{version}.")
                st.rerun()
else:
    st.caption("No live version to yank.")
