"""Evaluation end to end: release → predictions → scores (equal to scikit-learn's) → leaderboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.preprocessing import MultiLabelBinarizer
from sqlmodel import select

from builder.config import Settings
from builder.errors import ReleaseError
from builder.evaluate import evaluate_release, leaderboard, read_predictions, record_evaluation
from builder.evaluate.baseline import MODEL_NAME, baseline_predictions
from builder.release.pull import load_release
from builder.release.snapshot import publish_release
from builder.store.models import Item, Record
from builder.workspace import Workspace
from tests.support.common import SAMPLE_DATA, Cli
from tests.support.releases import (
    LEAD,
    NAME,
    add_users,
    approve,
    ingest,
    open_ws,
    pull_kw,
    seed,
    source_ids,
)


def _write(path: Path, preds: dict[str, Any]) -> Path:
    path.write_text(
        "".join(json.dumps({"id": i, "prediction": p}) + "\n" for i, p in preds.items())
    )
    return path


def _test_rows(ws: Workspace, version: str = "1.0.0") -> list[dict[str, Any]]:
    df = load_release(NAME, version, **pull_kw(ws))
    return list(df.to_dict("records"))


def test_scores_equal_scikit_learn_with_missing_and_unknown_ids(
    rel_ws: Workspace, tmp_path: Path
) -> None:
    with rel_ws.db.session() as s:
        for n, item in enumerate(s.exec(select(Item).order_by(Item.id))):  # type: ignore[arg-type]
            item.weight = 1.0 + (n % 4) * 2.5  # unequal inclusion weights
            s.add(item)
    publish_release(rel_ws, actor=LEAD)
    rows = _test_rows(rel_ws)
    preds: dict[str, Any] = {}
    for n, r in enumerate(rows):
        if n % 7 == 3:
            continue  # missing
        preds[r["id"]] = "misc" if n % 3 == 0 else r["label"]
    preds[rows[1]["id"]] = "bogus-label"
    preds["not-in-release"] = "libs"
    preds["also-unknown"] = None
    result = evaluate_release(
        NAME,
        "1.0.0",
        _write(tmp_path / "p.jsonl", preds),
        model="m",
        n_resamples=200,
        **pull_kw(rel_ws),
    )
    out = result.to_dict()

    gold = [r["label"] for r in rows]
    filled = [preds.get(r["id"]) or "<missing>" for r in rows]
    w = [r["weight"] for r in rows]
    present = sorted(set(gold) | {p for p in filled if p != "<missing>"})
    assert out["accuracy"] == pytest.approx(accuracy_score(gold, filled))
    assert out["macro_f1"] == pytest.approx(
        f1_score(gold, filled, labels=present, average="macro", zero_division=0)
    )
    assert out["pool_weighted"]["accuracy"] == pytest.approx(
        accuracy_score(gold, filled, sample_weight=w)
    )
    assert out["pool_weighted"]["macro_f1"] == pytest.approx(
        f1_score(gold, filled, labels=present, average="macro", zero_division=0, sample_weight=w)
    )
    per_label = f1_score(gold, filled, labels=present, average=None, zero_division=0)
    for lab, f in zip(present, per_label, strict=True):
        assert out["per_label"][lab]["f1"] == pytest.approx(f)
    labels = out["confusion"]["labels"]
    assert "bogus-label" in labels
    assert np.array_equal(
        np.array(out["confusion"]["matrix"]), confusion_matrix(gold, filled, labels=labels)
    )
    for cluster, sl in out["slices"]["cluster"].items():
        idx = [i for i, r in enumerate(rows) if str(r["cluster"]) == cluster]
        assert sl["n"] == len(idx)
        assert sl["accuracy"] == pytest.approx(
            accuracy_score([gold[i] for i in idx], [filled[i] for i in idx])
        )
        lo, hi = sl["ci"]["accuracy"]
        assert lo <= sl["accuracy"] <= hi
    assert set(out["slices"]) == {"cluster", "label", "stratum"}
    assert out["missing_ids"] == sorted(r["id"] for n, r in enumerate(rows) if n % 7 == 3)
    assert out["missing"] == len(out["missing_ids"])
    assert out["unknown_ids"] == ["also-unknown", "not-in-release"]
    assert out["unknown_labels"] == {"bogus-label": 1}
    assert out["human_ceiling"] == pytest.approx(0.8) and out["primary_metric"] == "accuracy"
    again = evaluate_release(
        NAME, "1.0.0", tmp_path / "p.jsonl", model="m", n_resamples=200, **pull_kw(rel_ws)
    )
    assert again.to_dict()["ci"] == out["ci"]  # seeded bootstrap


def test_cli_eval_stores_and_leaderboard_flags_saturation(
    cli: Cli, rel_ws: Workspace, tmp_path: Path
) -> None:
    publish_release(rel_ws, actor=LEAD)
    add_users(rel_ws, eng="annotator")  # storing a score needs a user of the workspace
    rows = _test_rows(rel_ws)
    weak = _write(
        tmp_path / "weak.jsonl",
        {r["id"]: ("libs" if i % 2 else r["label"]) for i, r in enumerate(rows)},
    )
    perfect = _write(tmp_path / "perfect.jsonl", {r["id"]: r["label"] for r in rows})
    env = {"BENCHSMITH_HOME": str(rel_ws.settings.home), "BENCHSMITH_REGISTRY": rel_ws.settings.registry,
           "BENCHSMITH_CACHE": str(rel_ws.settings.cache_dir), "BENCHSMITH_USER": "eng"}  # fmt: skip
    out = cli(
        "eval",
        f"{NAME}@1.0.0",
        "--predictions",
        str(weak),
        "--model",
        "weak",
        "--json",
        "--bootstrap",
        "50",
        env=env,
    )
    assert out.exit_code == 0, out.output
    # Scored in the publishing workspace: its own key verifies the release, so no warning.
    assert "publisher was not" not in out.stderr and "Warning" not in out.stderr, out.stderr
    data = json.loads(out.stdout)
    assert {
        "accuracy",
        "macro_f1",
        "per_label",
        "confusion",
        "ci",
        "pool_weighted",
        "slices",
        "n",
    } <= set(data)
    assert data["n"] == len(rows) and data["saturated"] is False and data["evaluation_id"] == 1
    assert data["accuracy"] == pytest.approx(
        np.mean([i % 2 == 0 or r["label"] == "libs" for i, r in enumerate(rows)])
    )

    boards = leaderboard(rel_ws, NAME)
    assert (
        len(boards) == 1
        and boards[0].saturated is False
        and boards[0].human_ceiling == pytest.approx(0.8)
    )
    out = cli(
        "eval",
        f"{NAME}@latest",
        "--predictions",
        str(perfect),
        "--model",
        "oracle",
        "--bootstrap",
        "50",
        env=env,
    )
    assert out.exit_code == 0, out.output
    assert (
        "  human ceiling (accuracy): 0.800  — SATURATED: the model reaches the human ceiling"
        in out.stdout
    )
    assert (
        out.stdout.splitlines()[-1]
        == f"stored as evaluation 2; see `benchsmith leaderboard {NAME}`"
    )

    out = cli("leaderboard", NAME, "--json", env=env)
    (board,) = json.loads(out.stdout)
    assert [(e["rank"], e["model"]) for e in board["entries"]] == [(1, "oracle"), (2, "weak")]
    assert board["saturated"] is True and board["entries"][0]["value"] == 1.0
    assert board["entries"][1]["created_by"] == "eng"
    text = cli("leaderboard", NAME, env=env).stdout
    assert text.splitlines()[0] == f"{NAME}@1.0.0 (test) — ranked by accuracy; human ceiling 0.800"
    assert "SATURATED: the best model reaches the human agreement level" in text

    # A re-run of a model replaces its earlier standing.
    cli(
        "eval",
        f"{NAME}@1.0.0",
        "--predictions",
        str(perfect),
        "--model",
        "weak",
        "--bootstrap",
        "0",
        env=env,
    )
    (board,) = leaderboard(rel_ws, NAME)
    assert [(e.rank, e.model, e.value) for e in board.entries] == [
        (1, "oracle", 1.0),
        (1, "weak", 1.0),
    ]

    # Without a workspace the scores print but are not stored.
    bare = {**env, "BENCHSMITH_HOME": str(tmp_path / "nowhere")}
    out = cli(
        "eval",
        f"{NAME}@1.0.0",
        "--predictions",
        str(weak),
        "--model",
        "w",
        "--bootstrap",
        "0",
        env=bare,
    )
    assert out.exit_code == 0
    assert f"Note: not stored: no workspace at {tmp_path / 'nowhere'}" in out.stderr


def test_bad_predictions_files_name_the_line(tmp_path: Path) -> None:
    cases = {
        '{"id": "a", "prediction": "x"}\nnot json\n': "line 2: line: Invalid JSON",
        '{"id": "a"}\n': 'line 1: prediction: Field required; each line must be {"id": "...", "prediction": ...}',
        '{"id": "a", "prediction": "x"}\n\n{"id": "a", "prediction": "y"}\n': "line 3: id 'a' was already predicted on line 1; give one prediction per id",
        '{"id": "a", "prediction": ["x"]}\n': "line 1: a classification prediction is a string, got ['x']",
    }
    for n, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"p{n}.jsonl"
        path.write_text(text)
        with pytest.raises(ReleaseError) as e:
            read_predictions(path, "classification")
        assert str(e.value).startswith(f"{path}: {message}"), str(e.value)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ReleaseError, match="has no predictions; write one JSON line per item"):
        read_predictions(tmp_path / "empty.jsonl", "classification")
    with pytest.raises(ReleaseError, match="does not exist; pass --predictions FILE"):
        read_predictions(tmp_path / "nope.jsonl", "classification")
    preds, digest = read_predictions(_write(tmp_path / "ok.jsonl", {"1": "x"}), "classification")
    assert preds == {"1": "x"} and len(digest) == 64


def _variant_ws(
    settings: Settings, rows: list[dict[str, Any]], tmp: Path, answer: Any, **task: Any
) -> Workspace:
    ws = open_ws(settings, tmp, task=task)
    ingest(ws, rows, tmp)
    add_users(ws, **{LEAD: "lead"})
    approve(ws, rows, source_ids(rows), answer=answer, disagree_every=0)
    publish_release(ws, actor=LEAD)
    return ws


def test_multilabel_end_to_end(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    rows = sample_rows[:40]
    ws = _variant_ws(sqlite_settings, rows, tmp_path, lambda r: sorted({r["section"], "misc"}) if len(r["package"]) % 2 else [r["section"]],
                     type="multilabel")  # fmt: skip
    test = _test_rows(ws)
    preds = {r["id"]: [str(x) for x in r["labels"]][:1] for r in test}
    result = evaluate_release(
        NAME, "1.0.0", _write(tmp_path / "p.jsonl", preds), model="m", n_resamples=50, **pull_kw(ws)
    )
    out = result.to_dict()
    mlb = MultiLabelBinarizer().fit([list(r["labels"]) for r in test])
    g = mlb.transform([list(r["labels"]) for r in test])
    p = mlb.transform([preds[r["id"]] for r in test])
    assert out["micro_f1"] == pytest.approx(f1_score(g, p, average="micro"))
    assert out["exact_match"] == pytest.approx(accuracy_score(g, p))
    assert result.primary_metric == "micro_f1" and out["human_ceiling"] == pytest.approx(1.0)
    ws.db.dispose()


def test_reference_answer_end_to_end(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    rows = sample_rows[:30]
    ws = _variant_ws(
        sqlite_settings,
        rows,
        tmp_path,
        lambda r: f"The {r['section']} section",
        type="reference_answer",
        labels=[],
    )
    test = _test_rows(ws)
    # Half exact after SQuAD normalisation ("the" and punctuation dropped), half one of two tokens.
    preds = {
        r["id"]: (
            r["answer"].lower().replace("the ", "") + "." if i % 2 else r["answer"].split()[1]
        )
        for i, r in enumerate(test)
    }
    out = evaluate_release(
        NAME, "1.0.0", _write(tmp_path / "p.jsonl", preds), model="m", n_resamples=0, **pull_kw(ws)
    ).to_dict()
    exact = sum(1 for i in range(len(test)) if i % 2) / len(test)
    assert out["exact_match"] == pytest.approx(exact)
    assert out["token_f1"] == pytest.approx(exact + (1 - exact) * (2 * 1 * 0.5 / 1.5))
    assert out["ci"] == {"exact_match": None, "token_f1": None}
    ws.db.dispose()


def test_baseline_trains_outside_the_benchmark_and_scores(
    rel_ws: Workspace, tmp_path: Path
) -> None:
    publish_release(rel_ws, actor=LEAD)
    report = baseline_predictions(
        rel_ws,
        f"{NAME}@1.0.0",
        labels_file=SAMPLE_DATA,
        label_field="section",
        out=tmp_path / "b.jsonl",
    )
    with rel_ws.db.session() as s:
        items = set(s.exec(select(Record.source_id).join(Item, Item.record_id == Record.id)))  # type: ignore[arg-type]
    assert report.trained_on == 60 - len(items) == 20
    test = _test_rows(rel_ws)
    lines = [json.loads(x) for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == [r["id"] for r in test] and report.predicted == len(test)
    result = evaluate_release(
        NAME, "1.0.0", tmp_path / "b.jsonl", model=MODEL_NAME, n_resamples=0, **pull_kw(rel_ws)
    )
    assert (
        result.metrics["n"] == len(test) and result.missing_ids == [] and result.unknown_ids == []
    )
    assert record_evaluation(rel_ws, result, actor="eng") == 1
    assert leaderboard(rel_ws, NAME)[0].entries[0].model == MODEL_NAME


def test_evaluations_store_and_rank_on_both_backends(
    settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = open_ws(settings, tmp_path)
    rows = sample_rows[:25]
    seed(ws, rows, tmp_path)
    publish_release(ws, actor=LEAD)
    test = _test_rows(ws)
    for model, right in (("half", 2), ("all", 1)):
        path = _write(
            tmp_path / f"{model}.jsonl",
            {r["id"]: r["label"] if i % right == 0 else "x" for i, r in enumerate(test)},
        )
        record_evaluation(
            ws,
            evaluate_release(NAME, "1.0.0", path, model=model, n_resamples=20, **pull_kw(ws)),
            actor="eng",
        )
    (board,) = leaderboard(ws, NAME, version="1.0.0")
    assert [(e.rank, e.model) for e in board.entries] == [(1, "all"), (2, "half")]
    assert board.entries[0].value == 1.0 and board.entries[0].ci == [1.0, 1.0]
    assert board.saturated is True  # 1.0 ≥ the ceiling of 0.8 (every 5th pilot answer disagrees)
    assert leaderboard(ws, NAME, version="9.9.9") == [] and leaderboard(ws, NAME, split="dev") == []
    ws.db.dispose()
