"""Inter-annotator agreement: Krippendorff's alpha, Fleiss' and Cohen's kappa.

Pure numpy. Every coefficient returns a plain ``float``; the degenerate cases
are defined once, here, and the dashboard relies on them:

* nothing to compare (fewer than two annotators, no unit or item with two
  labels, empty input) gives ``nan``;
* no variation at all (every comparable label is the same category) gives
  ``1.0``. Krippendorff and Cohen leave the coefficient undefined there
  (0/0: no disagreement observed, none expected). We report the agreement
  that *was* observed, so a batch where everyone picked the same label reads
  as "agree" rather than as a blank, and so alpha, Fleiss' kappa and Cohen's
  kappa answer alike. Callers that need the strict reading can check whether
  more than one category was used.

Missing labels are ``None`` or a float NaN.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from builder.answers import token_f1

__all__ = [
    "Level",
    "PairwiseKappa",
    "Weights",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "mean_pairwise_token_f1",
    "pairwise_cohen",
    "per_label_agreement",
    "percent_agreement",
]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
_LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")

Weights = Literal["linear", "quadratic"] | None
FloatArray = npt.NDArray[np.float64]
L = TypeVar("L", bound=Hashable)


class PairwiseKappa(NamedTuple):
    """Cohen's kappa between every pair of annotators."""

    annotators: list[str]
    """Annotator names, sorted; the order of the matrix rows and columns."""
    kappa: FloatArray
    """Symmetric matrix; ``nan`` where two annotators share fewer than two items."""


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _is_number(value: object) -> bool:
    # bool is an int subclass, but True/False as an interval scale is almost always a mistake.
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _ordered(values: Iterable[L]) -> list[L]:
    """Distinct values, sorted when they can be, else in first-seen order."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct)  # type: ignore[type-var]
    except TypeError:
        return distinct


def krippendorff_alpha(data: Iterable[Iterable[Any]], level: Level = "nominal") -> float:
    """Krippendorff's alpha by the coincidence-matrix method (Krippendorff 2011).

    ``data`` has one row per annotator (coder) and one column per unit (item);
    a cell is any hashable label, or ``None`` / NaN when that annotator left
    the unit unlabelled. Units with fewer than two labels are not pairable and
    are dropped. ``level`` picks the difference function: ``"nominal"``
    (labels differ or not), ``"ordinal"`` (rank distance weighted by how often
    the values in between occur), ``"interval"`` (squared difference) or
    ``"ratio"`` (``((c - k) / (c + k)) ** 2``); all but nominal need numbers.

    Returns ``nan`` with fewer than two annotators or no pairable unit, and
    ``1.0`` when every pairable label is the same value (see the module notes).
    Raises ``ValueError`` for an unknown level, ragged rows, or a non-numeric
    (or, for ratio, negative) label at a non-nominal level.
    """
    if level not in _LEVELS:
        raise ValueError(f"unknown level {level!r}; use one of {', '.join(_LEVELS)}")
    rows = [list(row) for row in data]
    if len(rows) < 2:
        return float("nan")
    width = len(rows[0])
    for r, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(
                f"annotator row {r} has {len(row)} units but row 0 has {width}; "
                "pad unlabelled units with None"
            )

    units: list[list[Hashable]] = []
    for u in range(width):
        labels = [row[u] for row in rows if not _is_missing(row[u])]
        if len(labels) >= 2:
            units.append(labels)
    if not units:
        return float("nan")

    if level == "nominal":
        values: list[Hashable] = list(dict.fromkeys(v for unit in units for v in unit))
    else:
        for unit in units:
            for v in unit:
                if not _is_number(v):
                    raise ValueError(
                        f"level={level!r} needs numeric labels, got {v!r}; "
                        "map the labels to numbers or use level='nominal'"
                    )
                if level == "ratio" and v < 0:  # type: ignore[operator]
                    raise ValueError(
                        f"level='ratio' needs non-negative labels, got {v!r}; "
                        "use level='interval' for values that can be negative"
                    )
        values = sorted(set(v for unit in units for v in unit))  # type: ignore[type-var]

    index = {v: i for i, v in enumerate(values)}
    counts = np.zeros((len(units), len(values)))
    for u, unit in enumerate(units):
        for v in unit:
            counts[u, index[v]] += 1
    pairable = counts.sum(axis=1)
    weighted = counts / (pairable - 1)[:, None]
    # Coincidences: sum over units of (n_u n_u^T - diag(n_u)) / (m_u - 1).
    coincidence = counts.T @ weighted - np.diag(weighted.sum(axis=0))
    marginals = coincidence.sum(axis=1)
    total = float(marginals.sum())

    numeric = None if level == "nominal" else np.asarray(values, dtype=float)
    delta = _difference(level, numeric, marginals)
    observed = float((coincidence * delta).sum())
    expected = float((np.outer(marginals, marginals) * delta).sum())
    if expected == 0.0:
        return 1.0
    return 1.0 - (total - 1.0) * observed / expected


def _difference(level: str, numeric: FloatArray | None, marginals: FloatArray) -> FloatArray:
    """Squared difference function delta^2 between every pair of values."""
    size = len(marginals)
    if level == "nominal" or numeric is None:
        return 1.0 - np.eye(size)
    c = numeric[:, None]
    k = numeric[None, :]
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        total = c + k
        ratio = np.divide(c - k, total, out=np.zeros((size, size)), where=total != 0)
        return ratio**2
    # Ordinal: (sum of n_g for g from c to k, minus half of n_c and n_k) squared.
    cumulative = np.concatenate(([0.0], np.cumsum(marginals)))
    lo = np.minimum.outer(np.arange(size), np.arange(size))
    hi = np.maximum.outer(np.arange(size), np.arange(size))
    between = cumulative[hi + 1] - cumulative[lo]
    return (between - (marginals[:, None] + marginals[None, :]) / 2.0) ** 2


def fleiss_kappa(counts: Sequence[Sequence[int]] | npt.ArrayLike) -> float:
    """Fleiss' kappa from an items x categories table of rating counts (Fleiss 1971).

    Cell ``[i, j]`` is how many raters put item ``i`` in category ``j``; every
    item must have the same number of raters. Returns ``nan`` for no items or
    fewer than two raters per item, and ``1.0`` when every rating falls in one
    category (chance agreement ``P_e == 1``, so kappa is 0/0; the observed
    agreement is perfect). Raises ``ValueError`` for negative or fractional
    counts or rows with differing rater totals.
    """
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2:
        raise ValueError(f"counts must be a 2-D items x categories table, got shape {table.shape}")
    if table.shape[0] == 0:
        return float("nan")
    if (table < 0).any() or (table != np.round(table)).any():
        raise ValueError("counts must be non-negative whole numbers of raters")
    raters = table.sum(axis=1)
    for i, n in enumerate(raters):
        if n != raters[0]:
            raise ValueError(
                f"row {i} has {int(n)} ratings but row 0 has {int(raters[0])}; "
                "Fleiss' kappa needs the same number of raters on every item"
            )
    n = float(raters[0])
    if n < 2:
        return float("nan")
    p_category = table.sum(axis=0) / table.sum()
    p_item = ((table * table).sum(axis=1) - n) / (n * (n - 1.0))
    p_bar = float(p_item.mean())
    p_e = float((p_category**2).sum())
    if math.isclose(p_e, 1.0):
        return 1.0
    return (p_bar - p_e) / (1.0 - p_e)


def cohen_kappa(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    weights: Weights = None,
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Cohen's kappa between two annotators' labels for the same items.

    ``weights`` is ``None`` (plain kappa), ``"linear"`` or ``"quadratic"``;
    weighted kappa measures distance by position in ``labels`` (default: the
    observed labels sorted). Returns ``nan`` for empty input and ``1.0`` when
    both annotators used one and the same label throughout (chance agreement
    is then total; see the module notes). Raises ``ValueError`` for unequal
    lengths, a missing label, an unknown ``weights`` or a label not in
    ``labels``.
    """
    if len(a) != len(b):
        raise ValueError(f"a has {len(a)} labels but b has {len(b)}; pass one label per item")
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"unknown weights {weights!r}; use None, 'linear' or 'quadratic'")
    for name, seq in (("a", a), ("b", b)):
        for i, v in enumerate(seq):
            if _is_missing(v):
                raise ValueError(
                    f"{name}[{i}] is missing ({v!r}); drop items either annotator left unlabelled"
                )
    if not a:
        return float("nan")
    if labels is None:
        order = list(dict.fromkeys([*a, *b]))
        try:
            order = sorted(order)  # type: ignore[type-var]
        except TypeError:
            if weights is not None:
                raise ValueError(
                    f"weighted kappa needs ordered labels but {order!r} cannot be sorted; "
                    "pass labels= in their order"
                ) from None
    else:
        order = list(labels)
        if len(set(order)) != len(order):
            raise ValueError(f"labels has duplicates: {order!r}")
    index = {v: i for i, v in enumerate(order)}
    size = len(order)
    confusion = np.zeros((size, size))
    for x, y in zip(a, b, strict=True):
        for v in (x, y):
            if v not in index:
                raise ValueError(f"label {v!r} is not in labels {order!r}; add it to labels")
        confusion[index[x], index[y]] += 1
    confusion /= confusion.sum()
    expected = np.outer(confusion.sum(axis=1), confusion.sum(axis=0))
    distance = np.abs(np.subtract.outer(np.arange(size), np.arange(size))).astype(float)
    if weights is None:
        cost = (distance > 0).astype(float)
    elif weights == "linear":
        cost = distance
    else:
        cost = distance**2
    chance = float((cost * expected).sum())
    if chance == 0.0:
        return 1.0
    return 1.0 - float((cost * confusion).sum()) / chance


def pairwise_cohen(
    labels_by_annotator: Mapping[str, Mapping[Any, Hashable]],
    weights: Weights = None,
    labels: Sequence[Hashable] | None = None,
) -> PairwiseKappa:
    """Cohen's kappa for every pair of annotators over the items both labelled.

    ``labels_by_annotator`` is ``{annotator: {item_id: label}}``; missing labels
    are skipped. The matrix is symmetric, its diagonal is 1.0 for an annotator
    with two or more labelled items, and a cell is ``nan`` where the pair shares
    fewer than two items.
    """
    names = sorted(labels_by_annotator)
    cleaned = {
        name: {item: v for item, v in labels_by_annotator[name].items() if not _is_missing(v)}
        for name in names
    }
    matrix = np.full((len(names), len(names)), np.nan)
    for i, first in enumerate(names):
        for j in range(i, len(names)):
            second = cleaned[names[j]]
            shared = [item for item in cleaned[first] if item in second]
            if len(shared) < 2:
                continue
            kappa = cohen_kappa(
                [cleaned[first][item] for item in shared],
                [second[item] for item in shared],
                weights=weights,
                labels=labels,
            )
            matrix[i, j] = matrix[j, i] = kappa
    return PairwiseKappa(annotators=names, kappa=matrix)


def _label_pairs(
    units: Mapping[Any, Sequence[L | None]],
) -> tuple[dict[L, float], dict[L, float]]:
    """Per label: ordered agreeing pairs, and ordered pairs involving the label."""
    agreeing: dict[L, float] = {}
    involving: dict[L, float] = {}
    for unit_labels in units.values():
        present = [v for v in unit_labels if v is not None and not _is_missing(v)]
        m = len(present)
        if m < 2:
            continue
        for label in dict.fromkeys(present):
            n = present.count(label)
            agreeing[label] = agreeing.get(label, 0.0) + n * (n - 1)
            involving[label] = involving.get(label, 0.0) + n * (m - 1)
    return agreeing, involving


def per_label_agreement(units: Mapping[Any, Sequence[L | None]]) -> dict[L, float]:
    """Specific agreement for each label, over any number of raters per item.

    ``units`` maps an item to the labels its raters gave (missing ones are
    skipped). For label ``c`` the result is ``sum_i n_ic (n_ic - 1) /
    sum_i n_ic (n_i - 1)``: of the rater pairs in which someone chose ``c``,
    the share where both did. With two raters and a binary label this is the
    positive specific agreement ``2a / (2a + b + c)``. Only items with two or
    more labels count; labels are returned sorted when sortable.
    """
    agreeing, involving = _label_pairs(units)
    return {label: agreeing[label] / involving[label] for label in _ordered(involving)}


def percent_agreement(units: Mapping[Any, Sequence[Hashable]]) -> float:
    """Share of agreeing rater pairs within items (observed agreement).

    ``units`` maps an item to its labels, as in ``per_label_agreement``. With
    two raters this is the fraction of items they labelled alike. Returns
    ``nan`` when no item has two or more labels.
    """
    agreeing, involving = _label_pairs(units)
    pairs = sum(involving.values())
    if pairs == 0:
        return float("nan")
    return sum(agreeing.values()) / pairs


def mean_pairwise_token_f1(units: Mapping[Any, Sequence[str | None]]) -> float:
    """Mean SQuAD token F1 (Rajpurkar et al. 2016: F1 = 2PR/(P+R) over the multiset of
    tokens two texts share, after :func:`builder.answers.normalize_reference_answer`)
    over every pair of answers to the same unit, pooled over units.

    ``units`` maps a unit to its annotators' answer texts (None / NaN are skipped); the
    measure is symmetric, in [0, 1]. ``nan`` when no unit has two answers.
    """
    total, pairs = 0.0, 0
    for answers in units.values():
        texts = [str(a) for a in answers if not _is_missing(a)]
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                total += token_f1(texts[i], texts[j])
                pairs += 1
    return total / pairs if pairs else math.nan
