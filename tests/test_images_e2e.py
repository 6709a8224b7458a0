"""An image benchmark end to end on SQLite: ingest → curate → annotate (AppTest) → release →
pull → load_release (pandas bytes, datasets PIL images with the source's pixels) → eval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from builder.config import Settings
from builder.curate.pipeline import curate
from builder.evaluate import evaluate_release
from builder.ingest import ingest_files
from builder.release.pull import load_release
from builder.release.snapshot import publish_release
from builder.review.queue import next_item, submit
from builder.workspace import Workspace
from review_ui.widgets import plain
from tests.support.images import decoded, digit_rows, image_workspace, write_parquet
from tests.support.review import actor, app_env, app_test, make_user


def _label_all(ws: Workspace, labels: dict[str, str], who: str) -> int:
    n = 0
    while (task := next_item(ws, actor(ws, who))) is not None:
        submit(ws, actor(ws, who), task.item_id, labels[task.source_id])
        n += 1
    return n


def test_digits_end_to_end(
    sqlite_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_argon2: None,
) -> None:
    settings = sqlite_settings
    app_env(settings, monkeypatch)
    ws = image_workspace(settings, tmp_path, size=8)
    rows = digit_rows(60)
    src = {r["id"]: r for r in rows}
    report = ingest_files(ws, [write_parquet(tmp_path / "digits.parquet", rows)])
    assert report.summary()["ingested"] == 60
    cur = curate(ws)
    assert len(cur.selected) == 8 and cur.embedder == "image-grey16-hist8-v1"
    for name, role in {"ana": "annotator", "ben": "annotator", "lea": "lead"}.items():
        make_user(ws, name, role)

    # Annotate the first item in the app: the image is shown, captioned with the id.
    at = app_test(ws, "ana")
    images = at.get("image")
    assert len(images) == 2, "the image and its full-size copy"
    first = images[0].proto.imgs[0]
    sid = next(s for s in src if plain(s) == first.caption)
    assert first.alt == sid
    assert at.slider(key=f"zoom_{sid}_image").value == 256
    at.button_group(key=f"answer_pick_{next_item(ws, actor(ws, 'ana')).item_id}").set_value(  # type: ignore[union-attr]
        src[sid]["label"]
    )
    task_id = next_item(ws, actor(ws, "ana")).item_id  # type: ignore[union-attr]
    at.button(key=f"submit_{task_id}").click().run()
    assert [s.value for s in at.success] == [f"Saved {plain(sid)}"]

    labels = {k: str(v["label"]) for k, v in src.items()}
    assert _label_all(ws, labels, "ana") == 7
    assert _label_all(ws, labels, "ben") == 8  # unanimous: auto-approved

    published = publish_release(ws, actor="lea", notes="digits")
    version = published.version
    assert version == "1.0.0"
    reg, cache = ws.settings.registry, tmp_path / "cache"

    df = load_release("digits", version, registry=reg, cache_dir=cache)
    assert len(df) == 8 and list(df.columns[:2]) == ["id", "image"]
    for _, row in df.iterrows():
        cell: dict[str, Any] = row["image"]
        assert isinstance(cell["bytes"], bytes)
        assert cell["bytes"] == src[row["id"]]["image"]["bytes"]  # stored as ingested
        assert row["label"] == labels[row["id"]]

    ds = load_release("digits", version, registry=reg, cache_dir=cache, as_="hf")
    assert type(ds.features["image"]).__name__ == "Image"
    for item in ds:
        pixels = np.asarray(item["image"])
        assert np.array_equal(pixels, decoded(src[item["id"]]["image"]["bytes"]))

    # The published folder itself, as Hugging Face datasets loads it (card configs + Parquet).
    import datasets

    folder = datasets.load_dataset(published.url, split="test", cache_dir=str(tmp_path / "hf"))
    assert type(folder.features["image"]).__name__ == "Image"
    got = {r["id"]: np.asarray(r["image"]) for r in folder}
    assert all(np.array_equal(px, decoded(src[i]["image"]["bytes"])) for i, px in got.items())

    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        "".join(json.dumps({"id": i, "prediction": labels[i]}) + "\n" for i in df["id"]),
        encoding="utf-8",
    )
    result = evaluate_release("digits", version, preds, model="oracle", n_resamples=0,
                              registry=reg, cache_dir=cache)  # fmt: skip
    assert result.missing_ids == [] and result.unknown_ids == []
    assert result.metrics["accuracy"] == 1.0
    ws.db.dispose()
