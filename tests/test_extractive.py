"""Extractive answers (SQuAD v2): scoring against the official algorithm, span location,
the spec key, answer checks, consensus by token overlap, agreement and import lines."""

from __future__ import annotations

import collections
import json
import re
import string
from pathlib import Path
from typing import Any

import pytest

from builder.errors import ReviewError, SpecError
from builder.evaluate.scoring import score
from builder.review import extractive
from builder.review.consensus import resolve, validate_answer
from builder.spans import SpanError, check_spans, locate, occurrences, span_f1, spans_agree
from builder.spec import ReviewSpec, TaskSpec, load_spec
from tests.support.common import ROOT

EDGE = ROOT / "tests" / "fixtures" / "squad_v2_edge_cases.json"


# --- The official evaluate-v2.0.py functions, as published (Rajpurkar et al. 2018) -------


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text: str) -> str:
        regex = re.compile(r"\b(a|an|the)\b", re.UNICODE)
        return re.sub(regex, " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text: str) -> str:
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def get_tokens(s: str) -> list[str]:
    if not s:
        return []
    return normalize_answer(s).split()


def compute_exact(a_gold: str, a_pred: str) -> int:
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold: str, a_pred: str) -> float:
    gold_toks = get_tokens(a_gold)
    pred_toks = get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        # If either is no-answer, then F1 is 1 if they agree, 0 otherwise
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def get_raw_scores(
    dataset: list[dict[str, Any]], preds: dict[str, str]
) -> tuple[dict[str, int], dict[str, float]]:
    exact_scores = {}
    f1_scores = {}
    for article in dataset:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                qid = qa["id"]
                gold_answers = [a["text"] for a in qa["answers"] if normalize_answer(a["text"])]
                if not gold_answers:
                    # For unanswerable questions, only correct answer is empty string
                    gold_answers = [""]
                if qid not in preds:
                    print(f"Missing prediction for {qid}")
                    continue
                a_pred = preds[qid]
                # Take max over all gold answers
                exact_scores[qid] = max(compute_exact(a, a_pred) for a in gold_answers)
                f1_scores[qid] = max(compute_f1(a, a_pred) for a in gold_answers)
    return exact_scores, f1_scores


def make_eval_dict(
    exact_scores: dict[str, int], f1_scores: dict[str, float], qid_list: list[str] | None = None
) -> dict[str, float]:
    if not qid_list:
        total = len(exact_scores)
        return collections.OrderedDict(
            [
                ("exact", 100.0 * sum(exact_scores.values()) / total),
                ("f1", 100.0 * sum(f1_scores.values()) / total),
                ("total", total),
            ]
        )
    total = len(qid_list)
    return collections.OrderedDict(
        [
            ("exact", 100.0 * sum(exact_scores[k] for k in qid_list) / total),
            ("f1", 100.0 * sum(f1_scores[k] for k in qid_list) / total),
            ("total", total),
        ]
    )


def official_eval(dataset: list[dict[str, Any]], preds: dict[str, str]) -> dict[str, float]:
    """main() of evaluate-v2.0.py without a no-answer probability file (threshold 1.0,
    every na_prob 0: the thresholding changes nothing)."""
    qid_to_has_ans = {
        qa["id"]: bool(qa["answers"]) for a in dataset for p in a["paragraphs"] for qa in p["qas"]
    }
    has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
    no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
    exact_raw, f1_raw = get_raw_scores(dataset, preds)
    out = make_eval_dict(exact_raw, f1_raw)
    for prefix, qids in (("HasAns", has_ans_qids), ("NoAns", no_ans_qids)):
        if qids:
            for k, v in make_eval_dict(exact_raw, f1_raw, qid_list=qids).items():
                out[f"{prefix}_{k}"] = v
    return out


# --- Scoring ------------------------------------------------------------------------------


def _edge_cases() -> tuple[list[dict[str, Any]], dict[str, str]]:
    data = json.loads(EDGE.read_text(encoding="utf-8"))
    return data["dataset"]["data"], data["predictions"]


def _as_release(dataset: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": qa["id"],
            "answers": {
                "text": [a["text"] for a in qa["answers"]],
                "answer_start": [a["answer_start"] for a in qa["answers"]],
            },
        }
        for article in dataset
        for p in article["paragraphs"]
        for qa in p["qas"]
    ]


def test_edge_case_file_covers_the_cases() -> None:
    dataset, preds = _edge_cases()
    rows = _as_release(dataset)
    assert len(rows) == len(preds) == 15
    assert sum(not r["answers"]["text"] for r in rows) == 3  # unanswerable gold
    assert any(len(r["answers"]["text"]) > 1 for r in rows)  # several gold answers
    assert {"", "1995", "the"} <= {preds[r["id"]] for r in rows if not r["answers"]["text"]}


def test_squad_v2_scores_equal_the_official_algorithm() -> None:
    dataset, preds = _edge_cases()
    official = official_eval(dataset, preds)
    rows = _as_release(dataset)
    ours = score(
        "extractive", [r["answers"] for r in rows], [preds[r["id"]] for r in rows], n_resamples=0
    )
    assert ours["n"] == official["total"] == 15
    assert ours["exact_match"] * 100 == pytest.approx(official["exact"], abs=1e-9)
    assert ours["f1"] * 100 == pytest.approx(official["f1"], abs=1e-9)
    for ours_key, theirs in (("has_ans", "HasAns"), ("no_ans", "NoAns")):
        assert ours[ours_key]["n"] == official[f"{theirs}_total"]
        assert ours[ours_key]["exact_match"] * 100 == pytest.approx(official[f"{theirs}_exact"])
        assert ours[ours_key]["f1"] * 100 == pytest.approx(official[f"{theirs}_f1"])
    # Not trivially equal: the file has both hits and misses in each group.
    assert 0 < official["HasAns_exact"] < 100 and 0 < official["NoAns_exact"] < 100
    assert official["f1"] != official["exact"]


def test_per_question_scores_equal_the_official_ones() -> None:
    from builder.evaluate.extractive import squad_v2_scores

    dataset, preds = _edge_cases()
    exact_raw, f1_raw = get_raw_scores(dataset, preds)
    for row in _as_release(dataset):
        exact, f1 = squad_v2_scores(row["answers"], preds[row["id"]])
        assert (exact, f1) == pytest.approx((exact_raw[row["id"]], f1_raw[row["id"]])), row["id"]


def test_missing_prediction_scores_zero_and_is_counted() -> None:
    gold = [{"text": [], "answer_start": []}, {"text": ["C"], "answer_start": [0]}]
    out = score("extractive", gold, [None, "C"], n_resamples=0)
    assert (out["exact_match"], out["missing"], out["no_ans"]["exact_match"]) == (0.5, 1, 0.0)


def test_a_prediction_that_is_not_text_is_refused() -> None:
    with pytest.raises(ValueError, match=r"extractive prediction \['C'\] is not text"):
        score("extractive", [{"text": ["C"], "answer_start": [0]}], [["C"]], n_resamples=0)


# --- Locating spans ------------------------------------------------------------------------

CONTEXT = "Vim is a text editor.\nvim  IS a TEXT editor, and the editor is small."


def test_exact_match_is_located_first() -> None:
    assert locate(CONTEXT, "is a text editor") == ("is a text editor", 4)
    assert occurrences(CONTEXT, "is a text editor") == ([4], True)


def test_case_and_space_insensitive_match_stores_the_context_characters() -> None:
    assert occurrences(CONTEXT, "Is a  text\neditor,") == ([27], False)
    assert locate(CONTEXT, "Is a  text\neditor,") == ("IS a TEXT editor,", 27)


def test_ambiguous_answer_is_refused_until_an_occurrence_is_picked() -> None:
    with pytest.raises(SpanError) as e:
        locate(CONTEXT, "editor")
    assert str(e.value) == (
        "answer 'editor' appears 3 times in the context (at characters 14, 37, 53); "
        "pick which occurrence is meant"
    )
    assert locate(CONTEXT, "editor", 53) == ("editor", 53)
    with pytest.raises(SpanError) as e:
        locate(CONTEXT, "editor", 5)
    assert str(e.value) == (
        "answer 'editor' does not occur at character 5 of the context (it occurs at "
        "14, 37, 53); pick one of those"
    )


def test_answer_not_in_context_is_refused() -> None:
    with pytest.raises(SpanError) as e:
        locate(CONTEXT, "emacs")
    assert str(e.value) == (
        "answer 'emacs' is not in the context (not even ignoring case and spacing); "
        "copy it from the context, or mark the item unanswerable"
    )


def test_check_spans_locates_checks_and_dedupes() -> None:
    got = check_spans(
        CONTEXT,
        {"text": ["small", "Vim", "small", "vim  IS"], "answer_start": [None, 0, 63, 22]},
    )
    assert got == {"text": ["small", "Vim", "vim  IS"], "answer_start": [63, 0, 22]}
    assert check_spans(CONTEXT, {"text": [], "answer_start": []}) == {
        "text": [],
        "answer_start": [],
    }
    with pytest.raises(ReviewError, match="same length"):
        check_spans(CONTEXT, {"text": ["Vim"], "answer_start": []})


# --- Spec, answers, consensus, agreement ---------------------------------------------------


def _task(**extra: Any) -> TaskSpec:
    return TaskSpec.model_validate(
        {"type": "reference_answer", "input_fields": ["question", "context"], **extra}
    )


def test_demo_spec_loads_with_its_context_field() -> None:
    spec, _ = load_spec(ROOT / "data" / "squad-debian.yaml")
    assert spec.task.context_field == "context"


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (
            {"type": "reference_answer", "input_fields": ["question"], "context_field": "ctx"},
            "task.context_field 'ctx' must be one of task.input_fields ['question']",
        ),
        (
            {"type": "classification", "input_fields": ["c"], "labels": ["a", "b"],
             "context_field": "c"},
            "task.context_field is for reference_answer tasks, not classification",
        ),
    ],
)  # fmt: skip
def test_context_field_is_checked(tmp_path: Path, task: dict[str, Any], message: str) -> None:
    spec = {"name": "x", "task": task, "source": {"text_field": task["input_fields"][0]}}
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(path)


def test_validate_answer_accepts_the_three_forms() -> None:
    task = _task(context_field="context")
    assert validate_answer(task, "Vim") == {"text": ["Vim"], "answer_start": [None]}
    assert validate_answer(task, ["Vim", " ", "editor"]) == {
        "text": ["Vim", "editor"],
        "answer_start": [None, None],
    }
    empty = {"text": [], "answer_start": []}
    assert validate_answer(task, empty) == empty
    with pytest.raises(ReviewError, match="mark the item unanswerable"):
        validate_answer(task, "  ")
    with pytest.raises(ReviewError, match="an extractive answer is"):
        validate_answer(task, {"text": "Vim"})


def test_span_f1_and_agreement_threshold() -> None:
    a = {"text": ["a text editor"], "answer_start": [7]}
    b = {"text": ["text editor, and"], "answer_start": [0]}
    none = {"text": [], "answer_start": []}
    assert span_f1(a, b) == pytest.approx(0.8)  # tokens: [text, editor] vs [text, editor, and]
    assert span_f1(none, none) == 1.0 and span_f1(a, none) == 0.0
    far = {"text": ["small"], "answer_start": [0]}
    assert spans_agree([a, b]) and not spans_agree([a, far]) and spans_agree([none, none])


def test_resolve_approves_overlapping_spans_and_merges_them() -> None:
    task, review = _task(context_field="context"), ReviewSpec()
    a = {"text": ["a text editor"], "answer_start": [7]}
    b = {"text": ["text editor"], "answer_start": [9]}
    out = resolve(task, review, [(a, []), (b, [])])
    assert out.status == "approved"
    assert out.answer == {"text": ["a text editor", "text editor"], "answer_start": [7, 9]}
    none = {"text": [], "answer_start": []}
    assert resolve(task, review, [(a, []), (none, [])]).status == "conflict"
    assert resolve(task, review, [(none, []), (none, [])]).answer == none


def test_span_agreement_mean_f1_and_alpha_on_unanswerable() -> None:
    none = {"text": [], "answer_start": []}
    a = {"text": ["a text editor"], "answer_start": [7]}
    b = {"text": ["text editor, and"], "answer_start": [0]}
    units = {1: [a, b], 2: [none, none], 3: [a, none], 4: [a]}
    got = extractive.span_agreement(units)
    assert got["pairs"] == 3
    assert got["mean_pairwise_f1"] == pytest.approx((0.8 + 1.0 + 0.0) / 3)
    assert got["agree_share"] == pytest.approx(2 / 3)
    from builder.review.agreement import krippendorff_alpha

    expected = krippendorff_alpha([[False, True, False], [False, True, True]])
    assert got["alpha_unanswerable"] == pytest.approx(expected)


def test_import_line_forms() -> None:
    from builder.review.annotations_io import AnnotationLine, _answer_of

    task = _task(context_field="context")

    def of(**line: Any) -> Any:
        return _answer_of(
            task, AnnotationLine.model_validate({"source_id": "s", "annotator": "a", **line})
        )

    assert of(answer="Vim") == "Vim"
    assert of(answer={"text": ["Vim"], "answer_start": [0]}) == {
        "text": ["Vim"],
        "answer_start": [0],
    }
    assert of(unanswerable=True) == {"text": [], "answer_start": []}
    with pytest.raises(ReviewError, match='both "answer" and "unanswerable"'):
        of(answer="Vim", unanswerable=True)
    with pytest.raises(ReviewError, match='"unanswerable": true; give one'):
        of()


def test_dashboard_agreement_for_spans() -> None:
    from builder.domain import ItemStatus
    from builder.review.agreement import krippendorff_alpha
    from builder.review.dashboard import agreement_from
    from builder.store.annotations import AnswerRow

    none = {"text": [], "answer_start": []}
    a = {"text": ["a text editor"], "answer_start": [7]}
    b = {"text": ["text editor, and"], "answer_start": [0]}
    answers = {1: (a, b), 2: (none, none), 3: (a, none)}
    rows = [
        AnswerRow(item, who, ans, False, None, None, ItemStatus.in_review)
        for item, pair in answers.items()
        for who, ans in zip(("ana", "ben"), pair, strict=True)
    ]
    report = agreement_from(_task(context_field="context"), rows)
    assert report.items == 3 and report.token_f1 == pytest.approx((0.8 + 1.0 + 0.0) / 3)
    expected = krippendorff_alpha([[False, True, False], [False, True, True]])
    assert report.alpha_nominal == pytest.approx(expected)
    assert "mean pairwise token F1 0.600 over 3 pair(s), 67% of pairs agree" in report.note
