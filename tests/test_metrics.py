"""builder.evaluate's metrics against scikit-learn, SQuAD's definitions and hand computations."""

from __future__ import annotations

import re
import string
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.preprocessing import MultiLabelBinarizer

from builder.answers import normalize_reference_answer
from builder.evaluate.bootstrap import bootstrap_ci, bootstrap_mean_ci
from builder.evaluate.classification import classification_metrics
from builder.evaluate.multilabel import multilabel_metrics
from builder.evaluate.reference import exact_match, reference_metrics, token_f1
from builder.evaluate.scoring import MISSING_SLICE, score

LABELS = ["a", "b", "c", "d"]
approx = pytest.approx


def close(x: float) -> object:
    return pytest.approx(x, rel=1e-9, abs=1e-12)


@st.composite
def labelled(draw: st.DrawFn, *, weighted: bool) -> tuple[list[str], list[str], list[float] | None]:
    n = draw(st.integers(1, 40))
    # "z" is outside LABELS: a model may answer with a label the benchmark does not have.
    gold = draw(st.lists(st.sampled_from(LABELS), min_size=n, max_size=n))
    pred = draw(st.lists(st.sampled_from([*LABELS, "z"]), min_size=n, max_size=n))
    if not weighted:
        return gold, pred, None
    weights = draw(st.lists(st.floats(0, 10), min_size=n, max_size=n))
    weights[draw(st.integers(0, n - 1))] += 1  # a positive total, zeros allowed elsewhere
    return gold, pred, weights


# ------------------------------------------------------------------ classification


@settings(max_examples=150, deadline=None)
@given(data=st.one_of(labelled(weighted=False), labelled(weighted=True)))
def test_classification_matches_sklearn(
    data: tuple[list[str], list[str], list[float] | None],
) -> None:
    gold, pred, weights = data
    got = classification_metrics(gold, pred, LABELS, weights=weights)

    assert got["accuracy"] == close(accuracy_score(gold, pred, sample_weight=weights))
    assert got["macro_f1"] == close(
        f1_score(gold, pred, average="macro", sample_weight=weights, zero_division=0)
    )
    universe = got["confusion"]["labels"]
    assert universe == LABELS + (["z"] if "z" in pred else [])
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, pred, labels=universe, sample_weight=weights, zero_division=0
    )
    for i, label in enumerate(universe):
        row = got["per_label"][label]
        assert row["precision"] == close(precision[i])
        assert row["recall"] == close(recall[i])
        assert row["f1"] == close(f1[i])
        assert row["support"] == close(support[i])
    expected = confusion_matrix(gold, pred, labels=universe, sample_weight=weights)
    np.testing.assert_allclose(np.array(got["confusion"]["matrix"]), expected, rtol=1e-12)


def test_classification_unweighted_counts_are_ints() -> None:
    got = classification_metrics(["a", "b"], ["a", "a"], ["a", "b"])
    assert got["confusion"]["matrix"] == [[1, 0], [1, 0]]
    assert all(isinstance(row["support"], int) for row in got["per_label"].values())


def test_missing_prediction_is_wrong_and_not_a_label() -> None:
    gold = ["a", "b", "a", "c", "c"]
    pred = ["a", None, "b", "c", None]
    got = classification_metrics(gold, pred, ["a", "b", "c"])
    assert got["accuracy"] == close(2 / 5)
    assert got["missing"] == 2
    # A None prediction is a false negative of its gold label and no label of its own:
    # the same as scikit-learn with a sentinel left out of the averaged labels.
    filled = ["<none>" if p is None else p for p in pred]
    assert got["macro_f1"] == close(
        f1_score(gold, filled, labels=["a", "b", "c"], average="macro", zero_division=0)
    )
    assert got["confusion"]["matrix"] == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]


def test_labels_absent_from_data_are_listed_but_not_averaged() -> None:
    got = classification_metrics(["a", "a"], ["a", "b"], ["a", "b", "c"])
    assert got["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert got["macro_f1"] == close(f1_score(["a", "a"], ["a", "b"], average="macro"))


@pytest.mark.parametrize(
    ("gold", "pred", "weights", "message"),
    [
        (["a"], ["a", "b"], None, "gold has 1 items but pred has 2"),
        ([], [], None, "nothing to score"),
        (["a", None], ["a", "a"], None, "gold contains None"),
        (["a"], ["a"], [1.0, 2.0], "one weight per item"),
        (["a"], ["a"], [-1.0], "finite and >= 0"),
        (["a"], ["a"], [0.0], "weights sum to 0"),
    ],
)
def test_classification_rejects_bad_input(
    gold: list[str], pred: list[str], weights: list[float] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        classification_metrics(gold, pred, ["a", "b"], weights=weights)


# ---------------------------------------------------------------------- multilabel


@st.composite
def label_sets(draw: st.DrawFn) -> tuple[list[set[str]], list[set[str]], list[float] | None]:
    n = draw(st.integers(1, 30))
    sets = st.sets(st.sampled_from([*LABELS, "z"]), max_size=4)
    gold = draw(st.lists(sets, min_size=n, max_size=n))
    pred = draw(st.lists(sets, min_size=n, max_size=n))
    weights = draw(st.none() | st.lists(st.floats(0.1, 10), min_size=n, max_size=n))
    return gold, pred, weights


@settings(max_examples=200, deadline=None)
@given(data=label_sets())
def test_multilabel_matches_sklearn(
    data: tuple[list[set[str]], list[set[str]], list[float] | None],
) -> None:
    gold, pred, weights = data
    got = multilabel_metrics(gold, pred, LABELS, weights=weights)

    # Fitting the binarizer on the data gives scikit-learn the labels present in gold ∪ pred.
    binarizer = MultiLabelBinarizer().fit([*gold, *pred])
    if len(binarizer.classes_) == 0:
        assert got["micro_f1"] == 0.0
        assert got["macro_f1"] == 0.0
        assert got["exact_match"] == 1.0
        return
    y_true, y_pred = binarizer.transform(gold), binarizer.transform(pred)
    kw = {"sample_weight": weights, "zero_division": 0}
    if len(binarizer.classes_) == 1:
        # scikit-learn reads a one-column indicator as binary 0/1 targets, not multilabel.
        y_true, y_pred = y_true[:, 0], y_pred[:, 0]
        kw["labels"] = [1]
    assert got["micro_f1"] == close(f1_score(y_true, y_pred, average="micro", **kw))
    assert got["macro_f1"] == close(f1_score(y_true, y_pred, average="macro", **kw))
    assert got["exact_match"] == close(accuracy_score(y_true, y_pred, sample_weight=weights))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, **kw)
    for i, label in enumerate(binarizer.classes_):
        row = got["per_label"][label]
        assert row["precision"] == close(precision[i])
        assert row["recall"] == close(recall[i])
        assert row["f1"] == close(f1[i])
        assert row["support"] == close(support[i])
    assert list(got["per_label"])[: len(LABELS)] == LABELS


def test_multilabel_missing_prediction_never_matches() -> None:
    got = multilabel_metrics([[], ["a"]], [None, ["a"]], ["a", "b"])
    assert got["exact_match"] == 0.5  # [] vs None is still wrong
    assert got["missing"] == 1
    assert got["micro_f1"] == 1.0


def test_multilabel_rejects_a_bare_string() -> None:
    with pytest.raises(ValueError, match=r"gold\[0\] is 'ab'; give each item a collection"):
        multilabel_metrics(["ab"], [["a"]], ["a", "b"])


# ------------------------------------------------------------- reference answers


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("The Cat!", "cat"),
        ("  An   apple, a DAY.  ", "apple day"),
        ("theatre then", "theatre then"),  # articles only as whole words
        ("Rock 'n' roll", "rock n roll"),
        ("", ""),
    ],
)
def test_normalize_answer_is_squad(text: str, normal: str) -> None:
    assert normalize_reference_answer(text) == normal


def _squad_normalize(s: str) -> str:
    """SQuAD v1.1's official ``normalize_answer`` (evaluate-v1.1.py), verbatim: the oracle."""

    def remove_articles(text: str) -> str:
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_text_normalises_exactly_as_squad(text: str) -> None:
    assert normalize_reference_answer(text) == _squad_normalize(text)


@given(st.text())
def test_normalisation_is_idempotent(text: str) -> None:
    once = normalize_reference_answer(text)
    assert normalize_reference_answer(once) == once


# The same answer typed differently: annotators agree on these (tests/test_consensus.py)
# and a model scores 1.0 on them. SQuAD's ASCII-only rule scored the first six 0.
TYPOGRAPHY = [
    ("1914–1918", "1914-1918", "19141918"),  # en dash vs hyphen-minus
    ("1914—1918", "1914‐1918", "19141918"),  # em dash vs Unicode hyphen
    ("“Paris”", '"Paris"', "paris"),  # curly vs straight quotes
    ("don’t panic", "don't panic", "dont panic"),  # right single quote vs apostrophe
    ("New\u00a0York", "New York", "new york"),  # no-break space
    ("１９１４", "1914", "1914"),  # full-width digits (NFKC)
    ("−5 °C", "-5 °C", "5 °c"),  # minus sign vs hyphen-minus
    ("café", "cafe\u0301", "café"),  # NFC vs NFD
    ("Straße", "STRASSE", "strasse"),  # case (casefold)
    ("The Eiffel Tower", "eiffel tower", "eiffel tower"),  # case and articles, as SQuAD
]


@pytest.mark.parametrize(("gold", "pred", "normal"), TYPOGRAPHY)
def test_typographic_variants_score_as_the_same_answer(gold: str, pred: str, normal: str) -> None:
    assert normalize_reference_answer(gold) == normalize_reference_answer(pred) == normal
    assert exact_match(gold, pred) == 1.0 and token_f1(gold, pred) == 1.0
    assert reference_metrics([gold], [pred])["exact_match"] == 1.0


def test_typography_does_not_merge_different_answers() -> None:
    assert exact_match("1914–1918", "1915-1918") == 0.0
    assert exact_match("1914–1918", "1914 1918") == 0.0  # a dash is deleted, not a space
    assert token_f1("the 1914–1918 war", "1914-1918 conflict") == close(0.5)


def test_exact_match() -> None:
    assert exact_match("The Cat!", "cat") == 1.0
    assert exact_match("cat", "cats") == 0.0
    assert exact_match(["dog", "the cat"], "Cat.") == 1.0
    assert exact_match("cat", None) == 0.0
    with pytest.raises(ValueError, match="no acceptable answer"):
        exact_match([], "cat")


@pytest.mark.parametrize(
    ("gold", "pred", "f1"),
    [
        ("the quick brown fox", "quick fox jumps", 2 / 3),  # 2 common, P = R = 2/3
        ("Barack Obama", "obama", 2 / 3),  # P = 1, R = 1/2
        ("a b c d", "a b c d", 1.0),  # "a" is an article: b c d vs b c d
        ("red red blue", "red blue blue", 2 / 3),  # counts clip: 2 common of 3
        ("cat", "dog", 0.0),
        (["dog", "black cat"], "the cat", 2 / 3),  # best gold answer counts
        ("the", "", 1.0),  # both empty after normalisation (SQuAD v2)
        ("cat", "", 0.0),
        ("cat", None, 0.0),
    ],
)
def test_token_f1_known_values(gold: str | list[str], pred: str | None, f1: float) -> None:
    assert token_f1(gold, pred) == close(f1)


def test_reference_metrics_weighted_by_hand() -> None:
    gold: list[str | list[str]] = ["Paris", ["NYC", "New York City"], "blue whale"]
    pred = ["paris.", "new york", None]
    # per item: EM 1, 0, 0; F1 1, max(0, 2*(1*2/3)/(1+2/3)) = 0.8, 0
    got = reference_metrics(gold, pred)
    assert got["exact_match"] == close(1 / 3)
    assert got["token_f1"] == close(1.8 / 3)
    weighted = reference_metrics(gold, pred, weights=[1.0, 3.0, 6.0])
    assert weighted["exact_match"] == close(1 / 10)
    assert weighted["token_f1"] == close((1 + 3 * 0.8) / 10)
    assert weighted["missing"] == 1


# ------------------------------------------------------------------------ bootstrap


def test_bootstrap_is_deterministic_and_seeded() -> None:
    values = np.random.default_rng(1).random(300)

    def mean(idx: np.ndarray) -> float:
        return float(values[idx].mean())

    first = bootstrap_ci(mean, len(values), n_resamples=200, seed=7)
    assert bootstrap_ci(mean, len(values), n_resamples=200, seed=7) == first
    assert bootstrap_ci(mean, len(values), n_resamples=200, seed=8) != first
    assert first[0] < values.mean() < first[1]
    # The vectorised path sees the same resamples as the generic one.
    assert bootstrap_mean_ci(values, n_resamples=200, seed=7) == approx(first, rel=1e-12)


def test_weighted_bootstrap_resamples_items_and_weights_the_statistic() -> None:
    rng = np.random.default_rng(2)
    values, weights = rng.integers(0, 2, 200).astype(float), rng.uniform(1, 20, 200)

    def weighted_mean(idx: np.ndarray, w: np.ndarray) -> float:
        return float(np.average(values[idx], weights=w))

    generic = bootstrap_ci(weighted_mean, 200, n_resamples=300, seed=3, weights=weights)
    fast = bootstrap_mean_ci(values, weights, n_resamples=300, seed=3)
    assert fast == approx(generic, rel=1e-12)
    assert generic[0] < np.average(values, weights=weights) < generic[1]


def test_bootstrap_narrows_as_n_grows() -> None:
    rng = np.random.default_rng(4)
    widths = []
    for n in (50, 500, 5000):
        lo, hi = bootstrap_mean_ci(rng.random(n) < 0.7, n_resamples=500, seed=0)
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2] > 0
    assert widths[0] / widths[2] == approx(10, rel=0.3)  # width ~ 1 / sqrt(n)


def test_bootstrap_level_follows_alpha() -> None:
    values = np.random.default_rng(5).random(400)
    lo90, hi90 = bootstrap_mean_ci(values, alpha=0.10)
    lo99, hi99 = bootstrap_mean_ci(values, alpha=0.01)
    assert lo99 < lo90 < hi90 < hi99


@pytest.mark.parametrize(
    ("n", "kwargs", "message"),
    [
        (0, {}, "at least one item"),
        (5, {"n_resamples": 0}, "n_resamples is 0"),
        (5, {"alpha": 1.5}, "alpha is 1.5"),
    ],
)
def test_bootstrap_rejects_bad_arguments(n: int, kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(lambda idx: 0.0, n, **kwargs)  # type: ignore[arg-type]


def test_bootstrap_10k_items_1000_resamples_is_fast() -> None:
    rng = np.random.default_rng(6)
    gold = rng.choice(LABELS, 10_000).tolist()
    pred = [g if keep else "a" for g, keep in zip(gold, rng.random(10_000) < 0.8, strict=True)]
    start = time.perf_counter()
    bootstrap_mean_ci(np.equal(gold, pred), n_resamples=1000)
    result = score("classification", gold, pred, LABELS, n_resamples=1000)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"took {elapsed:.1f}s"  # about 1 s here; generous for slow CI
    assert result["ci"]["accuracy"][0] < result["accuracy"] < result["ci"]["accuracy"][1]


# ---------------------------------------------------------------------------- score


def test_score_classification_point_ci_pool_weighted_and_slices() -> None:
    gold = ["a", "b", "a", "b", "a", "b"] * 20
    pred = ["a", "b", "b", "b", "a", "a"] * 20
    weights = [1.0, 1.0, 1.0, 5.0, 5.0, 5.0] * 20
    region = ["north", "north", "north", "south", "south", None] * 20
    kwargs = {"slices": {"region": region}, "weights": weights, "n_resamples": 300, "seed": 1}
    got = score("classification", gold, pred, ["a", "b"], **kwargs)

    assert got["accuracy"] == close(4 / 6)
    assert got["macro_f1"] == close(f1_score(gold, pred, average="macro"))
    for name in ("accuracy", "macro_f1"):
        lo, hi = got["ci"][name]
        assert lo < got[name] < hi
    # Horvitz–Thompson style: each item counts for the pool records it stands for.
    # Correct items weigh 1 + 1 + 5 + 5 = 12 of 18.
    assert got["pool_weighted"]["accuracy"] == close(12 / 18)
    assert got["pool_weighted"]["macro_f1"] == close(
        f1_score(gold, pred, average="macro", sample_weight=weights)
    )
    lo, hi = got["pool_weighted_ci"]["accuracy"]
    assert lo < 12 / 18 < hi

    slices = got["slices"]["region"]
    assert list(slices) == [MISSING_SLICE, "north", "south"]
    assert slices["north"]["n"] == 60
    assert slices["north"]["accuracy"] == close(2 / 3)
    assert slices["south"]["accuracy"] == 1.0
    assert slices[MISSING_SLICE]["accuracy"] == 0.0
    assert slices["north"]["pool_weighted"]["accuracy"] == close(2 / 3)
    assert set(slices["north"]["ci"]) == {"accuracy", "macro_f1"}

    assert score("classification", gold, pred, ["a", "b"], **kwargs) == got  # same seed


def test_score_ci_matches_the_generic_bootstrap() -> None:
    rng = np.random.default_rng(9)
    gold = rng.choice(LABELS, 150).tolist()
    pred = rng.choice(LABELS, 150).tolist()
    got = score("classification", gold, pred, LABELS, n_resamples=200, seed=4)
    g, p = np.array(gold), np.array(pred)
    generic = bootstrap_ci(
        lambda idx: classification_metrics(g[idx].tolist(), p[idx].tolist(), LABELS)["macro_f1"],
        150,
        n_resamples=200,
        seed=4,
    )
    assert got["ci"]["macro_f1"] == approx(list(generic), rel=1e-9)


def test_score_multilabel_and_reference() -> None:
    ml = score(
        "multilabel", [["a"], ["a", "b"], []], [["a"], ["b"], []], ["a", "b"], n_resamples=50
    )
    assert ml["micro_f1"] == close(0.8)
    assert ml["exact_match"] == close(2 / 3)
    assert set(ml["ci"]) == {"micro_f1", "macro_f1", "exact_match"}
    assert ml["pool_weighted"] is None

    ref = score(
        "reference_answer",
        ["The Cat!", "dog"],
        ["cat", "a cat"],
        None,
        slices={"kind": ["x", "y"]},
        weights=[3.0, 1.0],
        n_resamples=50,
    )
    assert ref["exact_match"] == 0.5
    assert ref["pool_weighted"] == {"exact_match": 0.75, "token_f1": 0.75}
    assert ref["slices"]["kind"]["x"]["exact_match"] == 1.0


def test_score_without_bootstrap() -> None:
    got = score("classification", ["a", "b"], ["a", "a"], ["a", "b"], n_resamples=0)
    assert got["ci"] == {"accuracy": None, "macro_f1": None}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task_type": "ranking"}, "unknown task type 'ranking'; use one of classification"),
        ({"slices": {"lang": ["en"]}}, "slice 'lang' has 1 values for 2 items"),
        ({"n_resamples": -1}, "n_resamples is -1"),
    ],
)
def test_score_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"task_type": "classification", "n_resamples": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        score(gold=["a", "b"], pred=["a", "b"], labels=["a", "b"], **args)  # type: ignore[arg-type]
