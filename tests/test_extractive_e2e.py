"""Extractive answers end to end on SQLite: ingest → curate (tfidf) → annotate in the app
(two annotators, typed spans located in the context, unanswerable items, an ambiguous span
picked by occurrence) → release → pull → load_release (pandas and ``datasets``) → eval."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from builder.config import Settings
from builder.domain import Role
from builder.evaluate.extractive import squad_v2_scores
from builder.release.pull import load_release
from builder.store.models import Item
from builder.workspace import init_workspace, open_workspace
from tests.support.common import Cli
from tests.support.review import app_env, app_test, make_user, texts
from tests.support.squad import expected_start, squad_rows, squad_spec, write_rows

NAME = "squad-debian"


def _answer_one(at: AppTest, rows: dict[str, dict[str, Any]], shout: bool) -> tuple[str, bool]:
    """Answer the item on screen as its row expects; returns its id and whether an
    ambiguous span had to be picked by occurrence."""
    box = next(t for t in at.text_area if str(t.key).startswith("answer_spans_"))
    item = str(box.key).removeprefix("answer_spans_")
    row = next(r for q, r in rows.items() if q in texts(at))
    if not row["expected_answer"]:
        at.checkbox(key=f"unanswerable_{item}").check()
    else:
        typed = row["expected_answer"]
        # The second annotator types the synopsis in capitals, with doubled spaces: it is
        # located ignoring case and spacing, and stored as the context's own characters.
        box.input(typed.upper().replace(" ", "  ") if shout and " " in typed else typed)
    at.button(key=f"submit_{item}").click().run()
    picked = bool(at.error)
    if picked:
        assert "times in the context" in at.error[0].value, at.error[0].value
        pick = next(s for s in at.selectbox if str(s.key).startswith(f"occurrence_{item}_"))
        assert at.error[0].value.endswith("pick which occurrence is meant")
        pick.set_value(expected_start(row))
        at.button(key=f"submit_{item}").click().run()
        assert not at.error, at.error[0].value
    assert at.success and at.success[0].value.startswith("Saved")
    return row["id"], picked


def test_extractive_benchmark_end_to_end(
    cli: Cli,
    sqlite_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_argon2: None,
) -> None:
    settings = replace(sqlite_settings, cache_dir=tmp_path / "cache")
    app_env(settings, monkeypatch, BENCHSMITH_CACHE=str(settings.cache_dir))
    spec = squad_spec(
        tmp_path, curation={"size": 9, "min_per_stratum": 3, "min_chars": 1}, review={}
    )
    init_workspace(settings, spec)
    ws = open_workspace(settings)
    for name, role in {"ana": Role.annotator, "ben": Role.annotator, "lea": Role.lead}.items():
        make_user(ws, name, role)
    rows = squad_rows({"provide": 3, "language": 3, "licence": 3})
    env = {"BENCHSMITH_HOME": str(settings.home), "BENCHSMITH_REGISTRY": settings.registry,
           "BENCHSMITH_CACHE": str(settings.cache_dir), "BENCHSMITH_USER": "lea",
           "BENCHSMITH_DATABASE_URL": "", "BENCHSMITH_BENCHMARK": ""}  # fmt: skip
    out = cli("ingest", write_rows(tmp_path, rows), env=env)
    assert out.exit_code == 0, out.output
    out = cli("curate", env=env)
    assert out.exit_code == 0, out.output
    with ws.db.session() as s:
        assert len(s.exec(select(Item)).all()) == 9

    by_question = {r["question"]: r for r in rows}
    for who in ("ana", "ben"):
        at = app_test(ws, who)
        done = []
        while any(str(t.key).startswith("answer_spans_") for t in at.text_area):
            done.append(_answer_one(at, by_question, shout=who == "ben"))
        assert sorted(i for i, _ in done) == sorted(r["id"] for r in rows)
        assert any(picked for _, picked in done)  # "C" etc. occur more than once
        assert any("Nothing left" in s.value for s in at.success)
    with ws.db.session() as s:
        statuses = {i.status for i in s.exec(select(Item))}
    assert statuses == {"approved"}

    out = cli("release", "--version", "1.0.0", "--json", env=env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["splits"] == {"test": 9}
    out = cli("pull", f"{NAME}@1.0.0", "--json", env=env)
    assert out.exit_code == 0, out.output

    df = load_release(NAME, "1.0.0", registry=settings.registry, cache_dir=settings.cache_dir)
    assert list(df.columns[:5]) == ["id", "question", "context", "question_type", "answers"]
    by_id = {r["id"]: r for r in rows}
    for rec in df.to_dict("records"):
        row = by_id[rec["id"]]
        texts_, starts = list(rec["answers"]["text"]), list(rec["answers"]["answer_start"])
        if not row["expected_answer"]:
            assert texts_ == [] and starts == []
        else:
            assert texts_ == [row["expected_answer"]]
            assert starts == [expected_start(row)]
            assert rec["context"][starts[0] : starts[0] + len(texts_[0])] == texts_[0]
    hf = load_release(
        NAME, "1.0.0", registry=settings.registry, cache_dir=settings.cache_dir, as_="hf"
    )
    assert set(hf.features["answers"]) == {"text", "answer_start"}
    first = hf[0]
    assert first["answers"] == {
        "text": [by_id[first["id"]]["expected_answer"]] if by_id[first["id"]]["expected_answer"] else [],
        "answer_start": [expected_start(by_id[first["id"]])] if by_id[first["id"]]["expected_answer"] else [],
    }  # fmt: skip

    # Predictions: right on "provide", a partial span on "language", and on "licence" one
    # "" (no answer: right) and the rest a guess (wrong).
    preds: dict[str, str] = {}
    for r in rows:
        kind = r["question_type"]
        if kind == "provide":
            preds[r["id"]] = r["expected_answer"]
        elif kind == "language":
            preds[r["id"]] = f"{r['expected_answer']} and shell"
        else:
            preds[r["id"]] = "" if not any(v == "" for v in preds.values()) else "GPL-2+"
    path = tmp_path / "preds.jsonl"
    path.write_text(
        "".join(json.dumps({"id": k, "prediction": v}) + "\n" for k, v in preds.items())
    )
    out = cli("eval", f"{NAME}@1.0.0", "--predictions", path, "--model", "m", "--json",
              "--bootstrap", "50", env=env)  # fmt: skip
    assert out.exit_code == 0, out.output
    scored = json.loads(out.stdout)
    gold = {r["id"]: {"text": [r["expected_answer"]] if r["expected_answer"] else [],
                      "answer_start": []} for r in rows}  # fmt: skip
    per = [squad_v2_scores(gold[i], preds[i]) for i in gold]
    assert scored["n"] == 9 and scored["missing"] == 0
    assert scored["exact_match"] == pytest.approx(sum(e for e, _ in per) / 9)
    assert scored["f1"] == pytest.approx(sum(f for _, f in per) / 9)
    assert scored["exact_match"] == pytest.approx(4 / 9)
    assert scored["primary_metric"] == "f1"
    ws.db.dispose()


def test_annotations_import_takes_spans_text_and_unanswerable(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    from builder.errors import ReviewError
    from builder.review.annotations_io import import_annotations
    from builder.store.models import Annotation, Record
    from tests.support.review import make_items

    init_workspace(sqlite_settings, squad_spec(tmp_path))
    ws = open_workspace(sqlite_settings)
    rows = squad_rows({"provide": 1, "language": 1, "licence": 1})
    make_items(ws, rows, 3, tmp=tmp_path)
    provide, language, licence = (next(r for r in rows if r["question_type"] == k)
                                  for k in ("provide", "language", "licence"))  # fmt: skip
    start = expected_start(language)
    synopsis, rest = provide["context"].split("\n", 1)
    span = rest[:39].upper()  # located ignoring case, stored as written in the context
    lines = [
        {"source_id": provide["id"], "annotator": "a1", "answer": span},
        {"source_id": language["id"], "annotator": "a1",
         "answer": {"text": [language["expected_answer"]], "answer_start": [start]}},
        {"source_id": licence["id"], "annotator": "a1", "unanswerable": True},
    ]  # fmt: skip
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert import_annotations(ws, path).imported == 3
    with ws.db.session() as s:
        sid = {r.id: r.source_id for r in s.exec(select(Record))}
        items = {i.id: sid[i.record_id] for i in s.exec(select(Item))}
        got = {items[a.item_id]: a.answer for a in s.exec(select(Annotation))}
    assert got == {
        provide["id"]: {"text": [rest[:39]], "answer_start": [len(synopsis) + 1]},
        language["id"]: {"text": [language["expected_answer"]], "answer_start": [start]},
        licence["id"]: {"text": [], "answer_start": []},
    }
    bad = [{"source_id": provide["id"], "annotator": "a2", "answer": "no such words here"},
           {"source_id": provide["id"], "annotator": "a3", "answer": synopsis}]  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in bad))
    with pytest.raises(ReviewError) as e:
        import_annotations(ws, path)
    assert "line 1: answer 'no such words here' is not in the context" in str(e.value)
    assert "line 2: answer 'Adobe Glyph List For New Fonts' appears 2 times" in str(e.value)
    ws.db.dispose()


def test_reviewer_settles_span_against_unanswerable_in_adjudicate(
    sqlite_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_argon2: None,
) -> None:
    from builder.review.queue import submit
    from tests.support.review import actor, make_items

    app_env(sqlite_settings, monkeypatch)
    init_workspace(sqlite_settings, squad_spec(tmp_path))
    ws = open_workspace(sqlite_settings)
    for name, role in {"ana": Role.annotator, "ben": Role.annotator,
                       "rita": Role.reviewer}.items():  # fmt: skip
        make_user(ws, name, role)
    row = squad_rows({"provide": 1})[0]
    (item_id,) = make_items(ws, [row], 1, tmp=tmp_path)
    submit(ws, actor(ws, "ana"), item_id, {"text": [], "answer_start": []})
    submit(ws, actor(ws, "ben"), item_id, row["context"].split("\n")[1][:20])
    with ws.db.session() as s:
        item = s.get(Item, item_id)
        assert item is not None and item.status == "conflict"
    at = app_test(ws, "rita", page="adjudicate.py")
    assert {"unanswerable", "AGL (Adobe Glyph Lis (at 31)"} <= set(texts(at))  # literally
    # The form starts from the first answer (ana's "unanswerable"): the reviewer unticks it.
    assert at.checkbox(key=f"unanswerable_{item_id}").value is True
    at.checkbox(key=f"unanswerable_{item_id}").uncheck()
    at.text_area(key=f"answer_spans_{item_id}").input("glyph LIST for new FONTS")
    at.button(key="approve").click().run()
    assert "appears 2 times" in at.error[0].value
    pick = next(s for s in at.selectbox if str(s.key).startswith(f"occurrence_{item_id}_"))
    pick.set_value(139)
    at.button(key="approve").click().run()
    assert not at.error
    with ws.db.session() as s:
        item = s.get(Item, item_id)
        assert item is not None and item.status == "approved"
        assert item.answer == {"text": ["Glyph List For New Fonts"], "answer_start": [139]}
    ws.db.dispose()
