"""Agreement coefficients against published worked examples, sklearn, and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from builder.review.agreement import (
    Level,
    PairwiseKappa,
    Weights,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen,
    per_label_agreement,
    percent_agreement,
)

N = None

# Krippendorff, K. (2011). "Computing Krippendorff's Alpha-Reliability", Annenberg School
# for Communication, University of Pennsylvania, section E: four observers, twelve units,
# values 1-5, missing data. Published: nominal .743, ordinal .815, interval .849, ratio .797.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]

# Same source, section A: binary data, two observers, no missing data. Published alpha = .095.
KRIPPENDORFF_2011_BINARY = [
    [0, 1, 0, 0, 0, 0, 0, 0, 1, 0],
    [1, 1, 1, 0, 0, 1, 0, 0, 0, 0],
]

# Fleiss, J. L. (1971). "Measuring nominal scale agreement among many raters",
# Psychological Bulletin 76(5), 378-382, Table 1: 30 patients, 6 psychiatrists each,
# categories depression, personality disorder, schizophrenia, neurosis, other.
# Published: p_j = .144 .144 .167 .306 .239, P-bar = .556, P-bar_e = .220, kappa = .430.
# (Counts as in R irr's `diagnoses` data set, kappam.fleiss = 0.4302445.)
FLEISS_1971 = [
    [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
    [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0], [0, 2, 0, 4, 0], [1, 0, 2, 0, 3],
    [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0], [1, 0, 0, 4, 1],
    [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
]  # fmt: skip

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories.
# Published: P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Wikipedia, "Cohen's kappa", first worked example: 50 grant proposals; both readers say
# yes 20, A yes / B no 5, A no / B yes 10, both no 15. Published p_o = 0.7, p_e = 0.5,
# kappa = 0.4.
GRANT_A = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
GRANT_B = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15

# R package irr (Gamer et al.), data set `anxiety` (20 subjects, raters 2 and 3; the
# rating 5 never occurs). kappa2() gives unweighted -0.006289308, "equal" (linear)
# 0.1459075, "squared" (quadratic) 0.2520325, as recorded in statsmodels' test suite.
ANXIETY_RATER2 = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
ANXIETY_RATER3 = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]

nan = float("nan")


# --- Krippendorff's alpha -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_alpha_reproduces_krippendorff_2011(level: Level, published: float) -> None:
    assert krippendorff_alpha(KRIPPENDORFF_2011, level) == pytest.approx(published, abs=5e-4)


def test_alpha_reproduces_krippendorff_2011_binary() -> None:
    # 1 - (n - 1) o_01 / (n_0 n_1) = 1 - 19 * 4 / (14 * 6)
    assert krippendorff_alpha(KRIPPENDORFF_2011_BINARY) == pytest.approx(1 - 76 / 84)
    assert round(krippendorff_alpha(KRIPPENDORFF_2011_BINARY), 3) == 0.095


def test_alpha_accepts_nan_and_numpy_arrays_for_missing() -> None:
    as_array = np.array(KRIPPENDORFF_2011, dtype=float)  # None becomes NaN
    assert np.isnan(as_array).sum() == 7
    assert krippendorff_alpha(as_array, "interval") == pytest.approx(0.849, abs=5e-4)
    with_nan = [[nan if v is None else v for v in row] for row in KRIPPENDORFF_2011]
    assert krippendorff_alpha(with_nan) == pytest.approx(0.743, abs=5e-4)


def test_alpha_nominal_ignores_what_the_labels_are() -> None:
    names = {1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}
    relabelled = [[None if v is None else names[v] for v in row] for row in KRIPPENDORFF_2011]
    assert krippendorff_alpha(relabelled) == pytest.approx(0.743, abs=5e-4)


def test_alpha_drops_units_with_a_single_label() -> None:
    # Unit 12 has one label; adding more such units changes nothing.
    wider = [[*row, v] for row, v in zip(KRIPPENDORFF_2011, [9, N, N, N], strict=True)]
    assert krippendorff_alpha(wider) == krippendorff_alpha(KRIPPENDORFF_2011)


@pytest.mark.parametrize(
    "data",
    [
        [],
        [[1, 2, 3]],  # one annotator
        [[1, None, 3], [None, 2, None]],  # no unit labelled twice
        [[], []],  # no units
    ],
)
def test_alpha_is_nan_when_nothing_can_be_compared(data: list[list[object]]) -> None:
    assert math.isnan(krippendorff_alpha(data))


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_is_one_when_a_single_value_is_used_throughout(level: Level) -> None:
    # Krippendorff leaves alpha undefined (Do = De = 0); we define it as 1.0.
    # The lone 7 is in a unit nobody else labelled, so it is not pairable.
    data = [[3, 3, None, 3, None], [3, 3, 3, None, None], [None, 3, 3, None, 7]]
    assert krippendorff_alpha(data, level) == 1.0


def test_alpha_rejects_non_numeric_labels_at_numeric_levels() -> None:
    with pytest.raises(ValueError, match=r"'high'.*level='nominal'"):
        krippendorff_alpha([[1, "high"], [1, 2]], "interval")
    with pytest.raises(ValueError, match="True"):
        krippendorff_alpha([[True, False], [True, True]], "ordinal")
    with pytest.raises(ValueError, match="-1"):
        krippendorff_alpha([[-1, 2], [1, 2]], "ratio")


def test_alpha_rejects_bad_shapes_and_levels() -> None:
    with pytest.raises(ValueError, match="row 1 has 2 units"):
        krippendorff_alpha([[1, 2, 3], [1, 2]])
    with pytest.raises(ValueError, match="'cardinal'"):
        krippendorff_alpha(KRIPPENDORFF_2011, "cardinal")  # type: ignore[arg-type]


def test_alpha_perfect_disagreement_is_below_zero() -> None:
    assert krippendorff_alpha([[0, 1, 0, 1], [1, 0, 1, 0]]) < 0


labels = st.integers(min_value=0, max_value=5)


@given(
    values=st.lists(labels, min_size=2, max_size=12),
    annotators=st.integers(min_value=2, max_value=5),
    level=st.sampled_from(["nominal", "ordinal", "interval", "ratio"]),
)
def test_alpha_is_one_when_everyone_agrees(
    values: list[int], annotators: int, level: Level
) -> None:
    assume(len(set(values)) >= 2)
    data = [list(values) for _ in range(annotators)]
    assert krippendorff_alpha(data, level) == pytest.approx(1.0)


@given(
    data=st.integers(min_value=2, max_value=4).flatmap(
        lambda a: st.lists(
            st.lists(st.one_of(st.none(), labels), min_size=a, max_size=a),
            min_size=1,
            max_size=10,
        )
    ),
    shift=st.integers(min_value=1, max_value=4),
)
def test_alpha_nominal_invariant_to_relabelling_and_unit_order(
    data: list[list[int | None]], shift: int
) -> None:
    by_annotator = [list(row) for row in zip(*data, strict=True)]
    relabelled = [
        [None if v is None else f"L{(v + shift) % 6}" for v in row] for row in by_annotator
    ]
    reversed_units = [row[::-1] for row in by_annotator]
    expected = krippendorff_alpha(by_annotator)
    for other in (relabelled, reversed_units):
        got = krippendorff_alpha(other)
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


# --- Fleiss' kappa ------------------------------------------------------------------------


def test_fleiss_reproduces_fleiss_1971() -> None:
    assert np.array(FLEISS_1971).sum(axis=0).tolist() == [26, 26, 30, 55, 43]
    assert fleiss_kappa(FLEISS_1971) == pytest.approx(0.430, abs=5e-4)
    assert fleiss_kappa(FLEISS_1971) == pytest.approx(0.4302445, abs=1e-7)  # R irr


def test_fleiss_reproduces_wikipedia_example() -> None:
    assert fleiss_kappa(FLEISS_WIKIPEDIA) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_names_the_row_with_a_different_number_of_raters() -> None:
    with pytest.raises(ValueError, match="row 2 has 5 ratings but row 0 has 6"):
        fleiss_kappa([[6, 0], [3, 3], [4, 1]])


def test_fleiss_rejects_bad_tables() -> None:
    with pytest.raises(ValueError, match="2-D"):
        fleiss_kappa([1, 2, 3])
    with pytest.raises(ValueError, match="whole numbers"):
        fleiss_kappa([[1.5, 0.5]])
    with pytest.raises(ValueError, match="whole numbers"):
        fleiss_kappa([[3, -1]])


def test_fleiss_degenerate_cases() -> None:
    assert math.isnan(fleiss_kappa(np.zeros((0, 3))))  # no items
    assert math.isnan(fleiss_kappa([[1, 0], [0, 1]]))  # one rater per item
    assert fleiss_kappa([[4, 0, 0], [4, 0, 0]]) == 1.0  # one category used: P_e == 1
    assert fleiss_kappa([[4, 0], [0, 4]]) == 1.0  # perfect agreement, two categories


def test_fleiss_matches_alpha_on_complete_data() -> None:
    # With no missing data, alpha = kappa + (1 - kappa) / (N n) (Krippendorff's small-sample
    # correction of the same coincidences); a cross-check of both implementations.
    table = np.array(FLEISS_WIKIPEDIA)
    raters = table[0].sum()
    units = [[c for c, k in enumerate(row) for _ in range(k)] for row in table]
    alpha = krippendorff_alpha(list(zip(*units, strict=True)))
    kappa = fleiss_kappa(table)
    assert alpha == pytest.approx(kappa + (1 - kappa) / (len(table) * raters))


# --- Cohen's kappa ------------------------------------------------------------------------


def test_cohen_reproduces_wikipedia_grant_example() -> None:
    assert cohen_kappa(GRANT_A, GRANT_B) == pytest.approx(0.4)
    assert percent_agreement(
        {i: [a, b] for i, (a, b) in enumerate(zip(GRANT_A, GRANT_B, strict=True))}
    ) == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("weights", "published"),
    [(None, -0.006289308), ("linear", 0.1459075), ("quadratic", 0.2520325)],
)
def test_cohen_reproduces_r_irr_anxiety(weights: Weights, published: float) -> None:
    got = cohen_kappa(ANXIETY_RATER2, ANXIETY_RATER3, weights=weights)
    assert got == pytest.approx(published, abs=1e-7)


SKLEARN_CASES = [
    (GRANT_A, GRANT_B),
    (ANXIETY_RATER2, ANXIETY_RATER3),
    ([0, 1, 2, 3, 4, 4, 3, 2], [0, 2, 2, 3, 3, 4, 1, 2]),
    (["a", "b", "c", "a", "b"], ["a", "c", "c", "b", "b"]),
    ([1, 1, 2, 2], [2, 2, 1, 1]),
]


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize(("a", "b"), SKLEARN_CASES)
def test_cohen_matches_sklearn(a: list[object], b: list[object], weights: Weights) -> None:
    expected = cohen_kappa_score(a, b, weights=weights)
    assert cohen_kappa(a, b, weights=weights) == pytest.approx(expected)


def test_cohen_weighted_follows_the_given_label_order() -> None:
    a = ["low", "mid", "high", "high", "mid", "low"]
    b = ["low", "high", "high", "mid", "mid", "mid"]
    order = ["low", "mid", "high"]
    modes: tuple[Weights, ...] = ("linear", "quadratic")
    for weights in modes:
        expected = cohen_kappa_score(a, b, labels=order, weights=weights)
        assert cohen_kappa(a, b, weights=weights, labels=order) == pytest.approx(expected)
    # Alphabetical order (high < low < mid) is a different scale, so a different answer.
    assert cohen_kappa(a, b, weights="linear") != pytest.approx(
        cohen_kappa(a, b, weights="linear", labels=order)
    )


def test_cohen_degenerate_cases() -> None:
    assert cohen_kappa(["x"] * 5, ["x"] * 5) == 1.0  # identical constant vectors
    assert cohen_kappa([2] * 3, [2] * 3, weights="quadratic") == 1.0
    assert math.isnan(cohen_kappa([], []))
    assert cohen_kappa(["x"] * 4, ["y"] * 4) == pytest.approx(0.0)


def test_cohen_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="a has 3 labels but b has 2"):
        cohen_kappa([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r"b\[1\] is missing"):
        cohen_kappa([1, 2], [1, None])
    with pytest.raises(ValueError, match="'z' is not in labels"):
        cohen_kappa(["x", "z"], ["x", "y"], labels=["x", "y"])
    with pytest.raises(ValueError, match="'cubic'"):
        cohen_kappa([1, 2], [1, 2], weights="cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pass labels="):
        cohen_kappa([1, "a"], ["a", 1], weights="linear")
    assert cohen_kappa([1, "a"], [1, "a"]) == 1.0  # unweighted needs no order


pairs = st.integers(min_value=1, max_value=30).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
    )
)


@given(pair=pairs, weights=st.sampled_from([None, "linear", "quadratic"]))
def test_cohen_is_symmetric(pair: tuple[list[int], list[int]], weights: Weights) -> None:
    a, b = pair
    assert cohen_kappa(a, b, weights) == pytest.approx(cohen_kappa(b, a, weights))


@given(pair=pairs, weights=st.sampled_from([None, "linear", "quadratic"]))
def test_cohen_matches_sklearn_property(
    pair: tuple[list[int], list[int]], weights: Weights
) -> None:
    a, b = pair
    assume(len(set(a) | set(b)) >= 2)  # sklearn answers nan (0/0) otherwise
    expected = cohen_kappa_score(a, b, labels=list(range(5)), weights=weights)
    got = cohen_kappa(a, b, weights, labels=range(5))
    assert got == pytest.approx(expected)


# --- dashboard helpers --------------------------------------------------------------------


def test_pairwise_cohen_over_shared_items() -> None:
    result = pairwise_cohen(
        {
            "bo": {"q1": "yes", "q2": "no", "q3": "yes", "q4": None},
            "al": {"q1": "yes", "q2": "yes", "q3": "yes", "q4": "no"},
            "cy": {"q4": "no", "q9": "yes"},
        }
    )
    assert isinstance(result, PairwiseKappa)
    names, matrix = result
    assert names == ["al", "bo", "cy"]
    assert np.array_equal(matrix, matrix.T, equal_nan=True)
    assert matrix[0, 1] == pytest.approx(cohen_kappa(["yes", "yes", "yes"], ["yes", "no", "yes"]))
    assert math.isnan(matrix[0, 2])  # al and cy share only q4
    assert math.isnan(matrix[1, 2])  # bo and cy share nothing labelled
    assert matrix[0, 0] == matrix[1, 1] == matrix[2, 2] == 1.0


def test_pairwise_cohen_empty() -> None:
    names, matrix = pairwise_cohen({})
    assert names == []
    assert matrix.shape == (0, 0)


def test_per_label_agreement_two_raters_is_specific_agreement() -> None:
    units = {i: [a, b] for i, (a, b) in enumerate(zip(GRANT_A, GRANT_B, strict=True))}
    # Positive agreement 2a / (2a + b + c) = 40 / 55; negative 2d / (2d + b + c) = 30 / 45.
    assert per_label_agreement(units) == pytest.approx({"no": 30 / 45, "yes": 40 / 55})
    assert list(per_label_agreement(units)) == ["no", "yes"]


def test_per_label_agreement_many_raters_and_missing() -> None:
    units: dict[str, list[str | None]] = {
        "u1": ["a", "a", "b"],  # a: 2*1 agreeing of 2*2 involving; b: 0 of 1*2
        "u2": ["a", "a", "a", None],  # a: 3*2 of 3*2
        "u3": ["b", None],  # one label: no pairs
        "u4": ["c", "c"],  # c: 2 of 2
    }
    assert per_label_agreement(units) == pytest.approx({"a": 8 / 10, "b": 0.0, "c": 1.0})
    assert percent_agreement(units) == pytest.approx((2 + 6 + 2) / (6 + 6 + 2))


def test_percent_agreement_nan_without_pairs() -> None:
    assert math.isnan(percent_agreement({}))
    assert math.isnan(percent_agreement({"u": ["a", None]}))
    assert per_label_agreement({"u": ["a"]}) == {}
