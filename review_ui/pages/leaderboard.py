"""Leaderboard: models ranked per release version; saturation against the human ceiling."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from builder.errors import BenchsmithError
from builder.evaluate import leaderboard
from builder.store.models import Role
from review_ui.session import benchmark_name, require_role, settings, show_error, workspace

require_role(Role.annotator)
# The shared workspace is opened without the environment's cache setting; pulls made
# from this page honour BENCHSMITH_CACHE like the CLI does.
ws = replace(workspace(), settings=replace(workspace().settings, cache_dir=settings().cache_dir))
try:
    bench, _ = ws.benchmark(benchmark_name())
    boards = leaderboard(ws, bench.name)
except BenchsmithError as e:
    show_error(e)
    st.stop()

st.title(f"Leaderboard · {bench.name}")
if not boards:
    st.info(
        "No evaluations yet. Engineers score a model with "
        f"`benchsmith eval {bench.name}@VERSION --predictions FILE --model NAME`."
    )
for board in boards:
    st.header(f"{board.version} · {board.split}")
    ceiling = "unknown" if board.human_ceiling is None else f"{board.human_ceiling:.3f}"
    st.caption(
        f"Ranked by {board.metric}; human ceiling {ceiling} (one annotator against another)."
    )
    if board.saturated:
        st.warning(
            "Saturated: the best model reaches the human agreement level. Scores above it "
            "measure agreement with these annotators, not ability; grow or harden the benchmark."
        )
    st.dataframe(
        pd.DataFrame(
            {
                "rank": [e.rank for e in board.entries],
                "model": [e.model for e in board.entries],
                board.metric: [round(e.value, 4) for e in board.entries],
                "95% CI": [
                    "" if not e.ci else f"{e.ci[0]:.3f} – {e.ci[1]:.3f}" for e in board.entries
                ],
                "pool-weighted": [
                    None if e.pool_weighted is None else round(e.pool_weighted, 4)
                    for e in board.entries
                ],
                "items": [e.n for e in board.entries],
                "missing": [e.missing for e in board.entries],
                "by": [e.created_by for e in board.entries],
                "at": [e.created_at[:19] for e in board.entries],
            }
        ),
        hide_index=True,
        width="stretch",
    )
