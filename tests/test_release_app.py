"""The Releases and Leaderboard pages (Streamlit AppTest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from builder.evaluate import evaluate_release, record_evaluation
from builder.release.registry import Registry
from builder.store.models import Item, Record
from builder.workspace import Workspace
from tests.support.literal import shown
from tests.support.review import app_test


@pytest.fixture
def approved_ws(app_ws: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Workspace:  # fmt: skip
    """The app workspace with its 6 items approved (answer = the corpus' section)."""
    monkeypatch.setenv("BENCHSMITH_CACHE", str(tmp_path / "cache"))
    section = {str(r["package"]): r["section"] for r in sample_rows}
    with app_ws.db.session() as s:
        for item, sid in s.exec(select(Item, Record.source_id).join(Record)):
            item.status, item.answer = "approved", section[sid]
            s.add(item)
    return app_ws


def test_lead_previews_and_publishes(approved_ws: Workspace, tmp_path: Path) -> None:
    at = app_test(approved_ws, "lea", page="releases.py")
    assert not at.exception
    assert shown(at.title[0].value) == "Releases · debian-sections"
    metrics = {shown(m.label): shown(m.value) for m in at.metric}
    assert metrics == {
        "version": "1.0.0",
        "parent": "—",
        "suggested bump": "first release",
        "items": "6",
    }
    at.button(key="publish").click().run()
    assert not at.exception
    assert shown(at.success[0].value).startswith("Published debian-sections@1.0.0 (content hash ")
    assert Registry(approved_ws.settings.registry).versions("debian-sections") == ["1.0.0"]
    # The next preview is a patch on top of 1.0.0, and 1.0.0 is listed.
    assert {m.label: shown(m.value) for m in at.metric}["version"] == "1.0.1"
    assert list(at.dataframe[0].value["version"]) == ["1.0.0"]
    # Previewing 1.0.1 pulled its parent into BENCHSMITH_CACHE, not the user's home cache.
    assert list((tmp_path / "cache").glob("*/debian-sections/1.0.0/manifest.json"))

    at.selectbox(key="yank_version").select("1.0.0")
    at.text_input(key="yank_reason").input("wrong labels")
    at.button[-1].click().run()
    assert [shown(s.value) for s in at.success] == ["Yanked debian-sections@1.0.0."]
    assert (
        Registry(approved_ws.settings.registry).yank_info("debian-sections", "1.0.0").reason
        == "wrong labels"
    )  # type: ignore[union-attr]


def test_non_leads_cannot_open_releases(approved_ws: Workspace) -> None:
    at = app_test(approved_ws, "rita", page="releases.py")
    assert [e.value for e in at.error] == [
        "This page needs the lead role; you are logged in as rita (reviewer)."
    ]
    assert not at.button


def test_leaderboard_page(approved_ws: Workspace, tmp_path: Path) -> None:
    at = app_test(approved_ws, "ana", page="leaderboard.py")
    assert at.info[0].value.startswith("No evaluations yet.")
    from builder.release.snapshot import publish_release

    publish_release(approved_ws, actor="lea")
    from builder.release.pull import load_release

    test = load_release("debian-sections", "1.0.0", registry=approved_ws.settings.registry,
                        cache_dir=tmp_path / "cache")  # fmt: skip
    (tmp_path / "p.jsonl").write_text(
        "".join(f'{{"id": "{i}", "prediction": "libs"}}\n' for i in test["id"])
    )
    result = evaluate_release("debian-sections", "1.0.0", tmp_path / "p.jsonl", model="all-libs", n_resamples=0,
                  registry=approved_ws.settings.registry, cache_dir=tmp_path / "cache")  # fmt: skip
    record_evaluation(approved_ws, result, actor="eng")
    at = app_test(approved_ws, "ana", page="leaderboard.py")
    assert not at.exception
    assert shown(at.header[0].value) == "1.0.0 · test"
    df = at.dataframe[0].value
    assert list(df["model"]) == ["all-libs"] and list(df["rank"]) == [1]
    assert df["accuracy"][0] == pytest.approx(round(result.primary, 4))
