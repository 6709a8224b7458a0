"""A conversation benchmark end to end on SQLite: ingest → curate (tfidf) → annotate in the
real Annotate page (AppTest) → release → pull → load_release (pandas, datasets) → eval."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from datasets import List, Value
from sqlmodel import select

from builder.config import Settings
from builder.curate.pipeline import curate
from builder.domain import Role
from builder.evaluate import evaluate_release
from builder.ingest import ingest_files
from builder.release.pull import load_release
from builder.release.snapshot import publish_release
from builder.review.users import add_user
from builder.store.models import Item, Record
from tests.support.conversation import NAME, conversation_ws, corpus_rows, turns, write_jsonl
from tests.support.review import PASSWORD, app_env, app_test

HOSTILE = turns(
    ("customer", "<script>alert(1)</script>"),
    (":red[agent]", "**bold** ![x](http://evil.example/x.png)"),
    ("customer", "thanks"),
)


def test_conversation_benchmark_end_to_end(
    sqlite_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_argon2: None
) -> None:
    settings = replace(sqlite_settings, cache_dir=tmp_path / "cache")
    ws = conversation_ws(
        settings,
        tmp_path,
        review={"annotators_per_item": 1},
        curation={"strata_field": None},
        release={"splits": {"test": 1.0}},
    )
    corpus = corpus_rows()
    long = max(corpus, key=lambda r: r["turns"])  # 26 turns: the transcript scrolls
    rows = [long, *corpus[::200], {"id": "hostile", "dialog": HOSTILE, "topic": "humor"}]
    topic = {r["id"]: r["topic"] for r in rows}
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", rows)])
    report = curate(ws, embedder="tfidf", size=len(rows))
    assert len(report.selected) == len(rows)
    add_user(ws, "ana", Role.annotator, PASSWORD)
    add_user(ws, "lea", Role.lead, PASSWORD)
    app_env(settings, monkeypatch)

    at = app_test(ws, "ana")
    seen: set[str] = set()
    for _ in rows:
        (pick,) = [b for b in at.button_group if str(b.key).startswith("answer_pick_")]
        item_id = int(str(pick.key).rsplit("_", 1)[1])
        with ws.db.session() as s:
            sid = s.exec(
                select(Record.source_id)
                .join(Item, Item.record_id == Record.id)  # type: ignore[arg-type]
                .where(Item.id == item_id)
            ).one()
        texts = [t.value for t in at.text]
        dialog = next(r["dialog"] for r in rows if r["id"] == sid)
        # Every turn: its role and its content, each as literal text, in a chat bubble.
        for turn in dialog:
            assert turn["role"] in texts and turn["content"] in texts
        assert f"{len(dialog)} turns" in texts
        assert len(at.chat_message) == len(dialog)
        assert not [m.value for m in at.markdown if "evil" in m.value or "alert" in m.value]
        pick.set_value(topic[sid])
        at.button(key=f"submit_{item_id}").click().run()
        assert not at.exception and not at.error
        seen.add(sid)
    assert seen == set(topic)
    assert any("Nothing left for you to label" in s.value for s in at.success)

    with ws.db.session() as s:
        assert {i.status for i in s.exec(select(Item))} == {"approved"}
    publish_release(ws, actor="lea")
    where: dict[str, Any] = {"registry": settings.registry, "cache_dir": settings.cache_dir}

    frame = load_release(NAME, "1.0.0", **where)
    by_id = dict(zip(frame["id"], frame["dialog"], strict=True))
    assert by_id["hostile"] == HOSTILE  # a list of {role, content} dicts
    assert isinstance(by_id[long["id"]], list) and by_id[long["id"]] == long["dialog"]
    assert dict(zip(frame["id"], frame["label"], strict=True)) == topic

    hf = load_release(NAME, "1.0.0", as_="hf", **where)
    assert hf.features["dialog"] == List({"role": Value("string"), "content": Value("string")})
    row = next(r for r in hf if r["id"] == "hostile")
    assert row["dialog"] == HOSTILE

    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        "".join(json.dumps({"id": i, "prediction": t}) + "\n" for i, t in topic.items())
    )
    result = evaluate_release(NAME, "1.0.0", preds, model="oracle", n_resamples=0, **where)
    assert result.primary_metric == "accuracy" and result.primary == 1.0
    assert result.missing_ids == [] and result.unknown_ids == []

    # A released conversation is contamination for a later pool: its role-tagged text.
    again = [{"id": "again", "dialog": long["dialog"], "topic": long["topic"]}]
    ingest_files(ws, [write_jsonl(tmp_path / "again.jsonl", again)])
    later = curate(ws, embedder="tfidf", size=1)
    assert [c["source_id"] for c in later.contaminated] == ["again"]
    ws.db.dispose()
