"""Leaderboard: models ranked per release version; saturation against the human ceiling."""

from __future__ import annotations

import streamlit as st

from builder.domain import Role
from builder.evaluate import leaderboard
from review_ui.guard import page_errors, require_role
from review_ui.session import benchmark_name, workspace_for_pulls
from review_ui.widgets import plain, table, visible

require_role(Role.annotator)
ws = workspace_for_pulls()
with page_errors():
    bench, _ = ws.benchmark(benchmark_name())
    boards = leaderboard(ws, bench.name)

st.title(plain(f"Leaderboard · {bench.name}"))
if not boards:
    st.info("No evaluations yet. Engineers score a model with:")
    st.code(
        visible(f"benchsmith eval {bench.name}@VERSION --predictions FILE --model NAME"),
        language=None,
    )
for board in boards:
    st.header(plain(f"{board.version} · {board.split}"))
    ceiling = "unknown" if board.human_ceiling is None else f"{board.human_ceiling:.3f}"
    st.caption(
        plain(f"Ranked by {board.metric}; human ceiling {ceiling}")
        + " (one annotator against another)."
    )
    if board.saturated:
        st.warning(
            "Saturated: the best model reaches the human agreement level. Scores above it "
            "measure agreement with these annotators, not ability; grow or harden the benchmark."
        )
    table(
        {
            "rank": [e.rank for e in board.entries],
            "model": [e.model for e in board.entries],
            board.metric: [round(e.value, 4) for e in board.entries],
            "95% CI": ["" if not e.ci else f"{e.ci[0]:.3f} – {e.ci[1]:.3f}" for e in board.entries],
            "pool-weighted": [
                None if e.pool_weighted is None else round(e.pool_weighted, 4)
                for e in board.entries
            ],
            "items": [e.n for e in board.entries],
            "missing": [e.missing for e in board.entries],
            "by": [e.created_by for e in board.entries],
            "at": [e.created_at[:19] for e in board.entries],
        }
    )
