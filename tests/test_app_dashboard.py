"""Dashboard page (AppTest): sections, agreement figures, curation coverage, refusals."""

from __future__ import annotations

from typing import Any

from builder.review.gold import mark_gold
from builder.review.queue import next_item, submit
from builder.store.items import item_counts
from builder.store.models import CurationRun
from builder.workspace import Workspace
from tests.support.literal import shown
from tests.support.review import actor, app_test


def _label(ws: Workspace, who: str, labels: list[str]) -> None:
    a = actor(ws, who)
    for label in labels:
        task = next_item(ws, a)
        assert task is not None
        submit(ws, a, task.item_id, label)


def _metrics(at: Any) -> dict[str, str]:
    return {shown(m.label): m.value for m in at.metric}


def test_empty_dashboard(app_ws: Workspace) -> None:
    at = app_test(app_ws, "rita", page="dashboard.py")
    assert not at.exception
    assert [h.value for h in at.header] == [
        "Progress", "Annotators", "Agreement", "Gold accuracy", "Annotator skill",
        "Labels of approved items", "Curation coverage",
    ]  # fmt: skip
    assert _metrics(at)["candidate"] == "6"
    assert _metrics(at)["Krippendorff α (nominal)"] == "—"
    infos = [i.value for i in at.info]
    assert "No answers yet." in infos
    assert (
        "No curation run yet: run `benchsmith curate` to see how the sample covers the pool."
        in infos
    )


def test_dashboard_with_answers_gold_and_curation(app_ws: Workspace) -> None:
    lea = actor(app_ws, "lea")
    mark_gold(app_ws, lea, 6, "devel")
    _label(app_ws, "ana", ["devel", "devel", "utils", "net"])
    _label(app_ws, "ben", ["devel", "devel", "utils", "mail"])
    bench, _ = app_ws.benchmark()
    with app_ws.db.session() as s:
        s.add(CurationRun(benchmark_id=bench.id, report={  # type: ignore[arg-type]
            "clusters": [{"cluster": 0, "size": 10, "picked": 2},
                         {"cluster": 1, "size": 5, "picked": 2}],
            "map": {"x": [0.1, 0.2, 0.3], "y": [1.0, 0.5, 0.2], "cluster": [0, 0, 1],
                    "selected": [True, False, True], "source_id": ["a", "b", "c"]},
        }))  # fmt: skip
    at = app_test(app_ws, "lea", page="dashboard.py")
    assert not at.exception
    m = _metrics(at)
    with app_ws.db.session() as s:
        counts = item_counts(s, bench.id)  # type: ignore[arg-type]
    assert {k: m[k] for k in counts} == {k: str(v) for k, v in counts.items()}
    assert counts["approved"] >= 3  # two unanimous items, plus the gold one
    assert m["Krippendorff α (nominal)"] != "—" and m["Fleiss κ"] != "—"
    table = at.dataframe[0].value
    assert list(table["annotator"]) == ["ana", "ben"]
    assert list(table["answers"]) == [4, 4]
    infos = [i.value for i in at.info]
    assert not any(i.startswith("No curation run yet") for i in infos)
    assert not any(i.startswith("No approved items") for i in infos)


def test_annotators_cannot_see_the_dashboard(app_ws: Workspace) -> None:
    at = app_test(app_ws, "ben", page="dashboard.py")
    assert [e.value for e in at.error] == [
        "This page needs the reviewer role; you are logged in as ben (annotator)."
    ]
    assert list(at.metric) == []
