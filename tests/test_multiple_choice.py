"""Multiple choice end to end on SQLite, slices, agreement per task type.

Real components throughout: the bundled demo questions (data/mcq_debian.jsonl.gz), ingest,
tfidf curation, the Annotate page in AppTest, the consensus policy, a signed release
pulled into pandas and ``datasets``, and ``eval`` with letters, indices and choice texts.
Expected numbers are computed here, independently of the scoring code.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from builder.choices import LETTERS, to_letter
from builder.config import Settings
from builder.curate.pipeline import curate
from builder.domain import ItemStatus, TaskType
from builder.errors import IngestError, ReviewError, SpecError
from builder.evaluate import evaluate_release, leaderboard, record_evaluation
from builder.evaluate.multiple_choice import position_bias
from builder.evaluate.scoring import SMALL_SLICE
from builder.evaluate.slicing import slice_lines
from builder.ingest import ingest_files
from builder.release.pull import load_release
from builder.release.snapshot import publish_release
from builder.review.agreement import krippendorff_alpha, mean_pairwise_token_f1
from builder.review.annotations_io import import_annotations
from builder.review.dashboard import agreement_from
from builder.review.queue import next_item, submit
from builder.spec import TaskSpec, load_spec
from builder.store.annotations import AnswerRow
from builder.store.models import Annotation, Item
from builder.workspace import Workspace
from tests.support.common import Cli
from tests.support.mcq import MCQ_DATA, MCQ_SPEC, mcq_rows, mcq_spec, mcq_workspace, write_rows
from tests.support.review import actor, app_env, app_test, make_items, texts

N = 48


@pytest.fixture
def mcq_ws(sqlite_settings: Settings, tmp_path: Path, fast_argon2: None) -> Any:
    ws = mcq_workspace(sqlite_settings, tmp_path, curation={"size": N})
    yield ws
    ws.db.dispose()


def _statuses(ws: Workspace) -> dict[int, ItemStatus]:
    with ws.db.session() as s:
        return {i.id: ItemStatus(i.status) for i in s.exec(select(Item)).all()}  # type: ignore[misc]


def test_mcq_end_to_end(
    mcq_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    ws = mcq_ws
    rows = mcq_rows(N)
    truth = {r["id"]: r["true_answer"] for r in rows}
    ingest_files(ws, [write_rows(tmp_path, rows)])
    curate(ws, embedder="tfidf")
    assert len(_statuses(ws)) >= 30

    # Annotate page: the choices shown literally under letters, the answer picked by key.
    app_env(ws.settings, monkeypatch)
    at = app_test(ws, "ana")
    task = next_item(ws, actor(ws, "ana"))
    assert task is not None
    choices = task.fields["choices"]
    shown = texts(at)
    for letter, choice in zip(LETTERS, choices, strict=False):
        assert f"{letter}. {choice}" in shown
    pick = at.button_group(key=f"answer_pick_{task.item_id}")
    assert list(pick.options) == list(LETTERS[: len(choices)])
    flags = at.button_group(key=f"flags_{task.item_id}")
    assert list(flags.options)[-2:] == ["no choice is right", "more than one choice is right"]
    pick.set_value(truth[task.source_id])
    at.button(key=f"submit_{task.item_id}").click().run()
    assert not at.error, [e.value for e in at.error]

    # The rest through the library: both annotators give the true letter; ben flags one
    # item "no choice is right", which sends it to a reviewer although both agree.
    flagged: int | None = None
    for name in ("ana", "ben"):
        who = actor(ws, name)
        while (t := next_item(ws, who)) is not None:
            flag = ["no_right_choice"] if name == "ben" and flagged is None else []
            if flag:
                flagged = t.item_id
            submit(ws, who, t.item_id, truth[t.source_id], flags=flag)
    status = _statuses(ws)
    assert flagged is not None and status[flagged] is ItemStatus.consensus
    approved = [i for i, st in status.items() if st is ItemStatus.approved]
    assert len(approved) == len(status) - 1

    # Release, then pull into pandas and `datasets`.
    publish_release(ws, actor="lea")
    cache = ws.settings.cache_dir
    df = load_release("mcq-debian", registry=ws.settings.registry, cache_dir=cache)
    assert len(df) == len(approved)
    for col in ("id", "question", "description", "choices", "answer", "answer_index", "subject"):
        assert col in df.columns
    for r in df.to_dict("records"):
        assert r["answer"] == truth[r["id"]]
        assert LETTERS[r["answer_index"]] == r["answer"]
        source = next(x for x in rows if x["id"] == r["id"])
        assert list(r["choices"]) == source["choices"] and r["subject"] == source["subject"]
    hf = load_release("mcq-debian", registry=ws.settings.registry, cache_dir=cache, as_="hf")
    assert hf.num_rows == len(df)
    assert hf.features["answer_index"].dtype == "int64"
    assert sorted(hf["answer"]) == sorted(df["answer"])

    # Predictions: a model right on every third item, else "B"; as letters, 0-based
    # indices and choice texts the scores are identical.
    gold = {r["id"]: (r["answer"], list(r["choices"])) for r in df.to_dict("records")}
    ids = sorted(gold)
    letters = {i: gold[i][0] if n % 3 == 0 else "B" for n, i in enumerate(ids)}
    forms = {
        "letters": letters,
        "indices": {i: LETTERS.index(x) for i, x in letters.items()},
        "texts": {i: gold[i][1][LETTERS.index(x)] for i, x in letters.items()},
    }
    expected = sum(letters[i] == gold[i][0] for i in ids) / len(ids)
    subject = dict(zip(df["id"], df["subject"], strict=True))
    by_subject: dict[str, list[bool]] = {}
    for i in ids:
        by_subject.setdefault(subject[i], []).append(letters[i] == gold[i][0])
    results = {}
    for form, preds in forms.items():
        path = tmp_path / f"{form}.jsonl"
        path.write_text(
            "".join(json.dumps({"id": i, "prediction": p}) + "\n" for i, p in preds.items())
        )
        res = evaluate_release(
            "mcq-debian", "latest", path, model=form, n_resamples=300,
            registry=ws.settings.registry, cache_dir=cache,
        )  # fmt: skip
        results[form] = res
        m = res.to_dict()
        assert m["task_type"] == "multiple_choice" and m["primary_metric"] == "accuracy"
        assert m["accuracy"] == pytest.approx(expected)
        lo, hi = m["ci"]["accuracy"]
        assert lo <= expected <= hi
        assert m["unknown_labels"] == {}
        bias = m["position_bias"]
        n_b = sum(x == "B" for x in letters.values())
        assert bias["B"]["predicted"] == pytest.approx(n_b / len(ids))
        gold_b = sum(g == "B" for g, _ in gold.values()) / len(ids)
        assert bias["B"]["gold"] == pytest.approx(gold_b)
        sliced = m["slices"]["subject"]
        assert set(sliced) == set(by_subject)
        for value, hits in by_subject.items():
            got = sliced[value]
            assert got["n"] == len(hits)
            assert got["accuracy"] == pytest.approx(sum(hits) / len(hits))
            assert got["small"] is (len(hits) < SMALL_SLICE)
            slo, shi = got["ci"]["accuracy"]
            assert slo <= got["accuracy"] <= shi
    assert results["letters"].metrics == results["indices"].metrics == results["texts"].metrics
    lines = slice_lines(results["letters"].to_dict(), "accuracy")
    assert "  by subject:" in lines
    assert any("(small)" in line for line in lines) is any(
        len(h) < SMALL_SLICE for h in by_subject.values()
    )

    # Leaderboard on one slice: ranked by that slice's accuracy.
    record_evaluation(ws, results["letters"], actor="lea")
    always_a = tmp_path / "a.jsonl"
    always_a.write_text("".join(json.dumps({"id": i, "prediction": "A"}) + "\n" for i in ids))
    res_a = evaluate_release(
        "mcq-debian", "latest", always_a, model="always-a", n_resamples=0,
        registry=ws.settings.registry, cache_dir=cache,
    )  # fmt: skip
    record_evaluation(ws, res_a, actor="lea")
    top = Counter(subject.values()).most_common(1)[0][0]
    (board,) = leaderboard(ws, "mcq-debian", slice=f"subject={top}")
    assert board.slice == f"subject={top}"
    got = {e.model: e.value for e in board.entries}
    hits_a = [gold[i][0] == "A" for i in ids if subject[i] == top]
    assert got == {
        "letters": pytest.approx(sum(by_subject[top]) / len(by_subject[top])),
        "always-a": pytest.approx(sum(hits_a) / len(hits_a)),
    }
    assert [e.n for e in board.entries] == [len(hits_a)] * 2
    assert leaderboard(ws, "mcq-debian", slice="subject=no-such-family") == []
    env = {
        "BENCHSMITH_HOME": str(ws.settings.home),
        "BENCHSMITH_REGISTRY": ws.settings.registry,
        "BENCHSMITH_CACHE": str(cache),
    }
    r = cli("leaderboard", "mcq-debian", "--slice", f"subject={top}", env=env)
    assert r.exit_code == 0, r.output
    assert f"ranked by accuracy on slice subject={top}" in r.stdout
    r = cli(
        "eval", "mcq-debian@latest", "--predictions", tmp_path / "texts.jsonl",
        "--model", "texts", "--bootstrap", "50", "--no-store", env=env,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "  by subject:" in r.stdout and f"  accuracy     {expected:.3f}" in r.stdout


def test_prediction_forms() -> None:
    choices = ["devel", "libs", "B", "games"]
    assert to_letter("b", choices) == "B"
    assert to_letter(" C ", choices) == "C"
    assert to_letter(3, choices) == "D"
    assert to_letter("games", choices) == "D"
    assert to_letter("E", choices) is None  # no fifth choice
    assert to_letter(4, choices) is None
    assert to_letter(True, choices) is None
    assert to_letter("kernel", choices) is None


def test_position_bias_against_hand_counts() -> None:
    gold = ["A", "B", "C", "D", "A", "B"]
    pred = ["A", "A", "A", None, "B", "B"]
    bias = position_bias(gold, pred)
    assert bias["A"] == {"predicted": 3 / 5, "gold": 2 / 6, "difference": 3 / 5 - 2 / 6}
    assert bias["D"] == {"predicted": 0.0, "gold": 1 / 6, "difference": -1 / 6}


BAD_CHOICES = [
    pytest.param(
        "devel, libs",
        "field 'choices' must be a list of 2–10 choice texts, got str; write the choices as a "
        "JSON list",
        id="not-a-list",
    ),
    pytest.param(
        ["devel"],
        "field 'choices' has 1 choice(s); a multiple-choice item needs at least 2",
        id="one",
    ),
    pytest.param(
        [f"c{i}" for i in range(11)],
        "field 'choices' has 11 choices; at most 10 (A–J) are allowed, drop some",
        id="eleven",
    ),
    pytest.param(
        ["devel", "  ", "libs"],
        "field 'choices': choice B is empty or not text ('  '); give every choice a text",
        id="empty",
    ),
    pytest.param(
        ["devel", "libs", "devel "],
        "field 'choices': choice C repeats choice A ('devel'); make the choices distinct",
        id="duplicate",
    ),
]


@pytest.mark.parametrize(("choices", "message"), BAD_CHOICES)
def test_ingest_refuses_bad_choice_lists(
    mcq_ws: Workspace, tmp_path: Path, choices: Any, message: str
) -> None:
    rows = mcq_rows(3)
    rows[1] = {**rows[1], "choices": choices}
    path = write_rows(tmp_path, rows, "bad.jsonl")
    with pytest.raises(IngestError) as err:
        ingest_files(mcq_ws, [path])
    assert str(err.value) == (
        f"{path}: line 2: {message}. Nothing from this file was ingested; fix the row or "
        "rerun with --skip-invalid to set invalid rows aside"
    )


def test_spec_rules(tmp_path: Path) -> None:
    spec, _ = load_spec(mcq_spec(tmp_path))
    assert spec.task.type is TaskType.multiple_choice
    assert spec.task.labels == list(LETTERS)
    assert spec.evaluation.slices == ["subject"]
    with pytest.raises(SpecError, match=r"evaluation.slices \['priority'\] must be among"):
        load_spec(mcq_spec(tmp_path, evaluation={"slices": ["priority"]}))
    with pytest.raises(SpecError, match="task.choices_field 'options' must be one of"):
        load_spec(mcq_spec(tmp_path, task={"choices_field": "options"}))
    with pytest.raises(SpecError, match="task.choices_field is required"):
        load_spec(mcq_spec(tmp_path, task={"choices_field": None}))


def test_demo_spec_inits_and_ingests(cli: Cli, cli_env: dict[str, str]) -> None:
    r = cli("init", "--spec", MCQ_SPEC, env=cli_env)
    assert r.exit_code == 0, r.output
    assert "benchmark 'mcq-debian' created" in r.output
    r = cli("ingest", MCQ_DATA, "--json", env=cli_env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ingested"] == 5052


def _rows(answers: dict[int, list[Any]]) -> list[AnswerRow]:
    return [
        AnswerRow(item, f"u{n}", a, False, None, None, ItemStatus.in_review)
        for item, given in answers.items()
        for n, a in enumerate(given)
    ]


def test_agreement_multiple_choice_is_nominal_alpha() -> None:
    task = TaskSpec(type=TaskType.multiple_choice, input_fields=["q", "c"], choices_field="c")
    answers = {1: ["A", "A"], 2: ["B", "C"], 3: ["D", "D", "D"], 4: ["A", "B"]}
    report = agreement_from(task, _rows(answers))
    matrix = [[answers[i][n] if n < len(answers[i]) else None for i in answers] for n in range(3)]
    assert report.alpha_nominal == pytest.approx(krippendorff_alpha(matrix, "nominal"))
    # Observed agreement, by hand: agreeing pairs / all pairs = (1 + 0 + 3 + 0) / (1 + 1 + 3 + 1).
    assert report.percent == pytest.approx((1 + 0 + 3 + 0) / (1 + 1 + 3 + 1))
    assert "nominal" in report.note and report.token_f1 is None


def test_agreement_reference_answers_token_f1() -> None:
    # "the cat sat" vs "cat sat down": articles dropped, 2 shared tokens, P = 2/3, R = 1.
    units = {1: ["The cat sat", "cat sat down"], 2: ["yes", "no", "yes"]}
    assert mean_pairwise_token_f1(units) == pytest.approx((0.8 + 0 + 1 + 0) / 4)
    assert math.isnan(mean_pairwise_token_f1({1: ["only one"]}))
    task = TaskSpec(type=TaskType.reference_answer, input_fields=["q"])
    report = agreement_from(task, _rows(units))
    assert report.token_f1 == pytest.approx(0.45)


def test_annotation_import_takes_choice_letters(mcq_ws: Workspace, tmp_path: Path) -> None:
    rows = mcq_rows(4)
    make_items(mcq_ws, rows, 4, tmp=tmp_path)
    lines = [
        {"source_id": r["id"], "annotator": who, "label": r["true_answer"]}
        for r in rows
        for who in ("ext-1", "ext-2")
    ]
    src = write_rows(tmp_path, lines, "answers.jsonl")
    report = import_annotations(mcq_ws, src)
    assert report.imported == 8
    with mcq_ws.db.session() as s:
        stored = sorted(a.answer for a in s.exec(select(Annotation)).all())
    assert stored == sorted(r["true_answer"] for r in rows for _ in range(2))
    assert set(_statuses(mcq_ws).values()) == {ItemStatus.approved}
    bad = write_rows(
        tmp_path, [{"source_id": rows[0]["id"], "annotator": "x", "label": "K"}], "bad.jsonl"
    )
    with pytest.raises(
        ReviewError, match=r"line 1: label 'K' is not one of the benchmark's labels \(A, B, C"
    ):
        import_annotations(mcq_ws, bad)
