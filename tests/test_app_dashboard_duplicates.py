"""Dashboard page (AppTest): the duplicate-removal section of the latest curation run.

The rule, the counts per kind and the removed near duplicates closest to the threshold
(kept id and text, removed id and text, cosine), every string from the report shown
literally (hostile Markdown and a right-to-left override included).
"""

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

KEPT_TEXT = hostile("kept-text") + "\nsecond line"
REMOVED_TEXT = hostile("removed-text")
KEPT_ID = hostile("kept-id")
REMOVED_ID = hostile("removed-id")


def _report(**extra: Any) -> dict[str, Any]:
    return {
        "clusters": [{"cluster": 0, "size": 10, "picked": 2}],
        "near_duplicate_threshold": 0.92,
        "near_duplicate_rule": near_duplicate_rule(0.92),
        "exact_duplicates": 3,
        "near_duplicates": 7,
        "near_duplicate_examples": [
            {
                "source_id": REMOVED_ID,
                "text": REMOVED_TEXT,
                "duplicate_of": KEPT_ID,
                "duplicate_of_text": KEPT_TEXT,
                "cosine": 0.9213,
            },
            {
                "source_id": "r2",
                "text": "removed two",
                "duplicate_of": "k2",
                "duplicate_of_text": "kept two",
                "cosine": 0.95,
            },
        ],
        **extra,
    }


def _store(ws: Workspace, report: dict[str, Any]) -> None:
    bench, _ = ws.benchmark()
    with ws.db.session() as s:
        s.add(CurationRun(benchmark_id=bench.id, report=report))  # type: ignore[arg-type]


def test_duplicates_from_reads_the_report() -> None:
    d = duplicates_from(_report(removed_file="/w/curation/run-1-removed.jsonl"))
    assert d is not None
    assert d.removed == {"exact": 3, "near": 7} and d.total == 10
    assert d.threshold == 0.92 and d.rule.startswith("a record is removed as a near duplicate")
    first = d.examples[0]
    assert (first.kept_id, first.kept_text, first.removed_id, first.removed_text) == (
        KEPT_ID, KEPT_TEXT, REMOVED_ID, REMOVED_TEXT,
    )  # fmt: skip
    assert first.cosine == 0.9213
    assert d.removed_file == "/w/curation/run-1-removed.jsonl"
    assert duplicates_from(None) is None
    old = duplicates_from({"exact_duplicates": 1, "near_duplicates": "x"})  # a v1 report
    assert old is not None and old.removed == {"exact": 1, "near": 0} and old.examples == []


def test_dashboard_shows_rule_counts_and_pairs_literally(app_ws: Workspace) -> None:
    _store(app_ws, _report())
    at = app_test(app_ws, "lea", page="dashboard.py")
    assert not at.exception
    assert "Duplicates removed" in [h.value for h in at.subheader]
    metrics = {shown(m.label): m.value for m in at.metric}
    assert metrics["exact duplicates"] == "3"
    assert metrics["near duplicates"] == "7"
    assert metrics["removed in all"] == "10"
    captions = [shown(c.value) for c in at.caption]
    assert "Rule: " + near_duplicate_rule(0.92) in captions
    assert "cosine 0.9213" in captions and "cosine 0.9500" in captions
    # Ids in captions show as exactly their characters (the override as a visible code).
    assert "kept · " + visible(KEPT_ID) in captions
    assert "removed · " + visible(REMOVED_ID) in captions
    assert "kept · k2" in captions and "removed · r2" in captions
    # Texts are st.text (no Markdown), line breaks kept, the override made visible.
    shown_texts = texts(at)
    assert visible(KEPT_TEXT, multiline=True) in shown_texts
    assert visible(REMOVED_TEXT, multiline=True) in shown_texts
    assert "\u202e" not in "".join(shown_texts)
    assert "kept two" in shown_texts and "removed two" in shown_texts
    # Nothing from the report turns into Markdown anywhere on the page.
    for where, md in markdown_values(at):
        assert active_markdown(md) == [], (where, md)


def test_removed_file_and_old_reports(app_ws: Workspace) -> None:
    path = "/w/curation/run-1-removed.jsonl"
    _store(app_ws, _report(removed_file=path, near_duplicate_examples=[]))
    at = app_test(app_ws, "lea", page="dashboard.py")
    assert not at.exception
    assert path in texts(at)
    assert any(i.value.startswith("This curation run's report has no example") for i in at.info)
    titles = [h.value for h in at.subheader]
    assert not any(t.startswith("Near duplicates closest") for t in titles)
