"""Dashboard page (AppTest): the records each curation stage removed and the pairs on both
sides of the near-duplicate threshold (report format 3), every string shown literally."""

from __future__ import annotations

from typing import Any

from builder.curate.report import near_duplicate_rule
from builder.display import visible
from builder.review.duplicates import duplicates_from
from builder.store.models import CurationRun
from builder.workspace import Workspace
from tests.support.hostile import hostile
from tests.support.literal import active_markdown, markdown_values, shown
from tests.support.review import app_test, texts

KEPT_ID = hostile("kept-id")
KEPT_TEXT = hostile("kept-text") + "\nsecond line"
OTHER_TEXT = hostile("other-text")


def _report() -> dict[str, Any]:
    return {
        "format_version": 3,
        "clusters": [{"cluster": 0, "size": 10, "picked": 2}],
        "pool": 40, "filtered": {"empty": 0, "too_short": 2}, "pii_dropped": 1,
        "contaminated": [], "exact_duplicates": 3, "near_duplicates": 4, "after_dedup": 30,
        "held": 0, "selected": ["s"] * 6,
        "near_duplicate_threshold": 0.97,
        "near_duplicate_threshold_source": "embedder default",
        "near_duplicate_rule": near_duplicate_rule(0.97),
        "near_duplicate_examples": [
            {"source_id": "r1", "text": "removed one", "duplicate_of": "k1",
             "duplicate_of_text": "kept one", "cosine": 0.975},
        ],
        "threshold_examples": [
            {"side": "removed", "source_id": "r1", "text": "removed one", "other": "k1",
             "other_text": "kept one", "cosine": 0.975},
            {"side": "kept", "source_id": KEPT_ID, "text": KEPT_TEXT, "other": "k9",
             "other_text": OTHER_TEXT, "cosine": 0.9612},
        ],
    }  # fmt: skip


def test_duplicates_from_reads_stages_and_both_sides() -> None:
    d = duplicates_from(_report())
    assert d is not None
    assert d.threshold == 0.97 and d.threshold_source == "embedder default"
    assert d.stages[0] == ("pool", 40) and d.stages[-1] == ("selected", 6)
    assert dict(d.stages)["not sampled"] == 24
    assert [(p.side, p.first_id, p.second_id) for p in d.threshold_pairs] == [
        ("removed", "r1", "k1"), ("kept", KEPT_ID, "k9"),
    ]  # fmt: skip
    # A v2 report: stages still computed, no pairs on both sides, no source.
    old = duplicates_from({k: v for k, v in _report().items() if k != "threshold_examples"})
    assert old is not None and old.threshold_pairs == [] and old.stages


def test_dashboard_shows_stages_and_pairs_at_the_threshold(app_ws: Workspace) -> None:
    bench, _ = app_ws.benchmark()
    with app_ws.db.session() as s:
        s.add(CurationRun(benchmark_id=bench.id, report=_report()))  # type: ignore[arg-type]
    at = app_test(app_ws, "lea", page="dashboard.py")
    assert not at.exception
    titles = [h.value for h in at.subheader]
    assert "Records removed by each stage" in titles
    assert any(shown(t) == "Pairs at the threshold (0.97, embedder default)" for t in titles)
    # The removed-only section of older reports is not repeated.
    assert not any(t.startswith("Near duplicates closest") for t in titles)
    frames = [df.value for df in at.dataframe]
    stages = next(f for f in frames if list(f.columns) == ["stage", "records"])
    assert list(stages["stage"]) == [
        "pool", "filtered: too_short", "PII dropped", "contaminated", "exact duplicates",
        "near duplicates", "not sampled", "selected",
    ]  # fmt: skip
    assert list(stages["records"]) == [40, 2, 1, 0, 3, 4, 24, 6]
    captions = [shown(c.value) for c in at.caption]
    assert "removed · cosine 0.9750" in captions and "kept · cosine 0.9612" in captions
    assert "kept · " + visible(KEPT_ID) in captions and "kept · k9" in captions
    assert "removed · r1" in captions and "kept · k1" in captions
    shown_texts = texts(at)
    assert visible(KEPT_TEXT, multiline=True) in shown_texts
    assert visible(OTHER_TEXT, multiline=True) in shown_texts
    assert "\u202e" not in "".join(shown_texts)
    for where, md in markdown_values(at):
        assert active_markdown(md) == [], (where, md)
