"""Releases (lead): preview the next version's diff and bump, publish it, yank a version."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from builder.errors import BenchsmithError
from builder.release.registry import Registry
from builder.release.snapshot import plan_release, publish_release, yank_release
from builder.store.models import Role
from review_ui.session import benchmark_name, require_role, settings, show_error, workspace

_NOTICE = "releases_notice"

actor = require_role(Role.lead)
# The shared workspace is opened without the environment's cache setting; pulls made
# from this page honour BENCHSMITH_CACHE like the CLI does.
ws = replace(workspace(), settings=replace(workspace().settings, cache_dir=settings().cache_dir))
try:
    bench, spec = ws.benchmark(benchmark_name())
    registry = Registry(ws.settings.registry)
    published = registry.releases(bench.name)
except BenchsmithError as e:
    show_error(e)
    st.stop()

st.title(f"Releases · {bench.name}")
notice = st.session_state.pop(_NOTICE, None)
if notice:
    st.success(notice)

st.header("Published")
st.caption(f"Registry: {registry.url}")
if published:
    st.dataframe(
        pd.DataFrame(
            {
                "version": [r.version for r in published],
                "created": [r.created_at[:19] for r in published],
                "by": [r.created_by for r in published],
                "items": [r.items for r in published],
                "splits": [", ".join(f"{k} {v}" for k, v in r.splits.items()) for r in published],
                "content hash": [r.content_hash[:16] for r in published],
                "yanked": [r.yanked.reason if r.yanked else "" for r in published],
            }
        ),
        hide_index=True,
        width="stretch",
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
try:
    plan = plan_release(ws, benchmark=bench.name, bump=bump, notes=notes)  # type: ignore[arg-type]
except BenchsmithError as e:
    show_error(e)
    plan = None

if plan is not None:
    summary = plan.summary()
    cols = st.columns(4)
    cols[0].metric("version", plan.version)
    cols[1].metric("parent", plan.parent or "—")
    cols[2].metric("suggested bump", plan.suggested_bump or "first release")
    cols[3].metric("items", sum(summary["splits"].values()) + summary["holdout"])
    st.write(
        "Splits: "
        + ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
        + (f"; private holdout {summary['holdout']}" if summary["holdout"] else "")
    )
    if plan.diff is not None:
        counts = plan.diff.counts()
        st.subheader(f"Changes since {plan.parent}")
        st.dataframe(
            pd.DataFrame({"change": list(counts), "items": list(counts.values())}),
            hide_index=True,
        )
        with st.expander("Changed item ids"):
            for title, ids in (
                ("added", plan.diff.added),
                ("removed", plan.diff.removed),
                ("input changed", plan.diff.input_changed),
            ):
                if ids:
                    st.text(f"{title}: " + ", ".join(ids))
            for r in plan.diff.relabeled:
                st.text(f"relabeled: {r.id}: {r.before} → {r.after}")
    ag = plan.agreement
    st.caption(
        f"Agreement: {ag.annotators} annotators, {ag.items_multiply_annotated} items with two or "
        f"more answers; human ceiling ({ag.ceiling_metric}) "
        + ("n/a" if ag.human_ceiling is None else f"{ag.human_ceiling:.3f}")
    )
    for w in plan.warnings:
        st.warning(w)
    if st.button(f"Publish {plan.version}", type="primary", key="publish"):
        try:
            result = publish_release(
                ws,
                actor=actor.name,
                benchmark=bench.name,
                bump=bump,
                notes=notes,  # type: ignore[arg-type]
            )
        except BenchsmithError as e:
            show_error(e)
        else:
            st.session_state[_NOTICE] = (
                f"Published {result.name}@{result.version} (content hash {result.content_hash[:16]}…)."
            )
            st.rerun()

st.header("Yank a version")
live = [r.version for r in published if r.yanked is None]
if live:
    with st.form("yank"):
        version = st.selectbox("Version", list(reversed(live)), key="yank_version")
        reason = st.text_input("Reason (shown on every pull)", key="yank_reason")
        if st.form_submit_button("Yank"):
            try:
                yank_release(ws, bench.name, str(version), reason=reason, actor=actor.name)
            except BenchsmithError as e:
                show_error(e)
            else:
                st.session_state[_NOTICE] = f"Yanked {bench.name}@{version}."
                st.rerun()
else:
    st.caption("No live version to yank.")
