"""Scoring metrics: classification, multilabel and reference answers, with bootstrap CIs.

Pure numpy, no IO. The numbers match scikit-learn (``accuracy_score``, ``f1_score``,
``precision_recall_fscore_support`` and ``confusion_matrix`` with ``zero_division=0``),
including its ``sample_weight`` semantics; the tests hold them to that.

Conventions, defined once here:

* A prediction of ``None`` is a missing prediction and always counts as wrong: for a
  single label it is a false negative of the gold label (it is never a label of its
  own, so it does not enter the macro average); for a label set it predicts no label
  and never matches exactly; for a reference answer it scores 0. Filling in missing
  predictions is the caller's concern.
* Labels outside ``labels`` that appear in gold or predictions are kept: they are
  appended after ``labels`` in sorted order, so no item is silently dropped.
* Macro F1 averages over the labels present in gold ∪ predictions (scikit-learn's
  default label set); a label with no gold and no prediction is listed in
  ``per_label`` but left out of the average.
* ``weights`` are per-item weights (for the pool-weighted estimate: how many pool
  records each item stands for). Every count becomes a weighted sum, as with
  scikit-learn's ``sample_weight``; the set of labels present is still decided by
  which labels occur, whatever their weight.
* Bootstrap CIs resample items uniformly (items, not pool records, are the sampled
  units) and recompute the statistic, weighted where weights are given, on each
  resample; the interval is the percentile interval.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "MISSING_SLICE",
    "TASK_TYPES",
    "bootstrap_ci",
    "bootstrap_mean_ci",
    "classification_metrics",
    "exact_match",
    "multilabel_metrics",
    "normalize_answer",
    "reference_metrics",
    "score",
    "token_f1",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

TASK_TYPES: tuple[str, ...] = ("classification", "multilabel", "reference_answer")
MISSING_SLICE = "(missing)"
"""Slice value under which items whose slice value is ``None`` are reported."""

# Elements one block of resamples may materialise: keeps a block near 16 MB of float64.
_BLOCK_CELLS = 2_000_000


# ---------------------------------------------------------------- validation helpers


def _check_pair(gold: Sequence[Any], pred: Sequence[Any]) -> int:
    if len(gold) != len(pred):
        raise ValueError(
            f"gold has {len(gold)} items but pred has {len(pred)}; "
            "give one prediction per gold item (None for a missing one)"
        )
    if len(gold) == 0:
        raise ValueError("gold and pred are empty; there is nothing to score")
    return len(gold)


def _weights(weights: Sequence[float] | npt.ArrayLike | None, n: int) -> FloatArray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights has shape {w.shape} for {n} items; give one weight per item")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0; fix the negative or NaN weights")
    if w.sum() <= 0:
        raise ValueError("weights sum to 0; at least one item needs a positive weight")
    return w


def _universe(labels: Iterable[Hashable], seen: Iterable[Hashable]) -> list[Hashable]:
    known = list(dict.fromkeys(labels))
    extra = set(seen) - set(known) - {None}
    return known + sorted(extra, key=str)


def _div(num: FloatArray, den: FloatArray) -> FloatArray:
    """num / den, and 0 where den is 0 (scikit-learn's ``zero_division=0``)."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    """num / den, and NaN where den is 0 (a resample whose items all weigh 0)."""
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)


def _number(x: float, weighted: bool) -> float | int:
    return float(x) if weighted else round(float(x))


def _per_label(
    universe: list[Hashable], scores: dict[str, FloatArray], weighted: bool
) -> dict[Hashable, dict[str, float | int]]:
    return {
        label: {
            "precision": float(scores["precision"][0, i]),
            "recall": float(scores["recall"][0, i]),
            "f1": float(scores["f1"][0, i]),
            "support": _number(scores["support"][0, i], weighted),
        }
        for i, label in enumerate(universe)
    }


# ------------------------------------------------------------------------ the tasks


class _Task(Protocol):
    names: tuple[str, ...]
    n: int
    cells: int  # elements one resample materialises, to size resample blocks

    def stats(self, idx: IntArray, w: FloatArray | None) -> FloatArray:
        """Headline metrics, shape (B, len(names)), for each row of item indices."""
        ...

    def take(self, rows: IntArray) -> _Task:
        """The task restricted to the given items."""
        ...

    def details(self, w: FloatArray | None) -> dict[str, Any]:
        """Headline metrics plus per-label detail on all items."""
        ...


class _Classification:
    names: tuple[str, ...] = ("accuracy", "macro_f1")

    def __init__(self, universe: list[Hashable], g: IntArray, p: IntArray) -> None:
        self.universe, self.g, self.p, self.n = universe, g, p, len(g)
        k = len(universe)
        self.codes = g * (k + 1) + p  # column k is the missing prediction
        self.cells = max(self.n, k * (k + 1)) * 2

    @classmethod
    def encode(
        cls, gold: Sequence[Hashable], pred: Sequence[Hashable | None], labels: Iterable[Hashable]
    ) -> _Classification:
        _check_pair(gold, pred)
        if any(x is None for x in gold):
            raise ValueError("gold contains None; every gold item needs a label")
        universe = _universe(labels, [*gold, *pred])
        index = {label: i for i, label in enumerate(universe)}
        g = np.fromiter((index[x] for x in gold), dtype=np.intp, count=len(gold))
        k = len(universe)
        p = np.fromiter((k if x is None else index[x] for x in pred), np.intp, count=len(pred))
        return cls(universe, g, p)

    def take(self, rows: IntArray) -> _Classification:
        return _Classification(self.universe, self.g[rows], self.p[rows])

    def _confusion(self, idx: IntArray, w: FloatArray | None) -> tuple[FloatArray, FloatArray]:
        """Weighted confusion (B, k, k+1) and the unweighted one that decides presence."""
        b, k = idx.shape[0], len(self.universe)
        size = k * (k + 1)
        codes = (self.codes[idx] + (np.arange(b) * size)[:, None]).ravel()
        counts = np.bincount(codes, minlength=b * size).astype(np.float64).reshape(b, k, k + 1)
        if w is None:
            return counts, counts
        weighted = np.bincount(codes, weights=w[idx].ravel(), minlength=b * size)
        return weighted.astype(np.float64, copy=False).reshape(b, k, k + 1), counts

    @staticmethod
    def _prf(conf: FloatArray, counts: FloatArray) -> dict[str, FloatArray]:
        k = conf.shape[1]
        tp = np.diagonal(conf, axis1=1, axis2=2)
        support, predicted = conf.sum(axis=2), conf[:, :, :k].sum(axis=1)
        present = (counts.sum(axis=2) > 0) | (counts[:, :, :k].sum(axis=1) > 0)
        f1 = _div(2 * tp, support + predicted)
        return {
            "precision": _div(tp, predicted),
            "recall": _div(tp, support),
            "f1": f1,
            "support": support,
            "accuracy": _ratio(tp.sum(axis=1), support.sum(axis=1)),
            "macro_f1": _div((f1 * present).sum(axis=1), present.sum(axis=1).astype(np.float64)),
        }

    def stats(self, idx: IntArray, w: FloatArray | None) -> FloatArray:
        prf = self._prf(*self._confusion(idx, w))
        return np.stack([prf[name] for name in self.names], axis=1)

    def details(self, w: FloatArray | None) -> dict[str, Any]:
        conf, counts = self._confusion(np.arange(self.n)[None, :], w)
        prf = self._prf(conf, counts)
        weighted = w is not None
        k = len(self.universe)
        return {
            "n": self.n,
            "accuracy": float(prf["accuracy"][0]),
            "macro_f1": float(prf["macro_f1"][0]),
            "per_label": _per_label(self.universe, prf, weighted),
            "confusion": {
                "labels": list(self.universe),
                "matrix": [[_number(x, weighted) for x in row[:k]] for row in conf[0]],
            },
            "missing": int(np.count_nonzero(self.p == k)),
        }


class _Multilabel:
    names: tuple[str, ...] = ("micro_f1", "macro_f1", "exact_match")

    def __init__(
        self,
        universe: list[Hashable],
        gold: npt.NDArray[np.bool_],
        pred: npt.NDArray[np.bool_],
        missing: npt.NDArray[np.bool_],
    ) -> None:
        self.universe, self.gold, self.pred, self.missing = universe, gold, pred, missing
        self.n = len(gold)
        exact = (gold == pred).all(axis=1) & ~missing
        # Per-item tp | fp | fn per label, then exact: a resample's totals are one matmul.
        self.features = np.hstack([gold & pred, ~gold & pred, gold & ~pred, exact[:, None]]).astype(
            np.float64
        )
        self.occurs = (gold | pred).astype(np.float64)
        self.cells = self.n * 2

    @classmethod
    def encode(
        cls,
        gold: Sequence[Collection[Hashable]],
        pred: Sequence[Collection[Hashable] | None],
        labels: Iterable[Hashable],
    ) -> _Multilabel:
        n = _check_pair(gold, pred)
        for name, column in (("gold", gold), ("pred", pred)):
            for i, x in enumerate(column):
                if isinstance(x, str) or (x is None and name == "gold"):
                    raise ValueError(
                        f"{name}[{i}] is {x!r}; give each item a collection of labels "
                        "(a list or set, [] for none)"
                    )
        universe = _universe(labels, (x for item in [*gold, *pred] if item for x in item))
        index = {label: i for i, label in enumerate(universe)}
        g = np.zeros((n, len(universe)), dtype=bool)
        p = np.zeros_like(g)
        for i, (gs, ps) in enumerate(zip(gold, pred, strict=True)):
            g[i, [index[x] for x in gs]] = True
            p[i, [index[x] for x in ps or ()]] = True
        missing = np.fromiter((x is None for x in pred), dtype=bool, count=n)
        return cls(universe, g, p, missing)

    def take(self, rows: IntArray) -> _Multilabel:
        return _Multilabel(self.universe, self.gold[rows], self.pred[rows], self.missing[rows])

    def _scores(self, idx: IntArray, w: FloatArray | None) -> dict[str, FloatArray]:
        b, n, k = idx.shape[0], self.n, len(self.universe)
        flat = (idx + (np.arange(b) * n)[:, None]).ravel()
        mult = np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
        mult_w = mult if w is None else mult * w
        sums = mult_w @ self.features
        tp, fp, fn = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k : 3 * k]
        present = (mult @ self.occurs) > 0
        f1 = _div(2 * tp, 2 * tp + fp + fn)
        tp_all = tp.sum(axis=1)
        return {
            "precision": _div(tp, tp + fp),
            "recall": _div(tp, tp + fn),
            "f1": f1,
            "support": tp + fn,
            "micro_f1": _div(2 * tp_all, 2 * tp_all + fp.sum(axis=1) + fn.sum(axis=1)),
            "macro_f1": _div((f1 * present).sum(axis=1), present.sum(axis=1).astype(np.float64)),
            "exact_match": _ratio(sums[:, 3 * k], mult_w.sum(axis=1)),
        }

    def stats(self, idx: IntArray, w: FloatArray | None) -> FloatArray:
        scores = self._scores(idx, w)
        return np.stack([scores[name] for name in self.names], axis=1)

    def details(self, w: FloatArray | None) -> dict[str, Any]:
        s = self._scores(np.arange(self.n)[None, :], w)
        return {
            "n": self.n,
            **{name: float(s[name][0]) for name in self.names},
            "per_label": _per_label(self.universe, s, w is not None),
            "missing": int(self.missing.sum()),
        }


def _mean_stats(values: FloatArray, idx: IntArray, w: FloatArray | None) -> FloatArray:
    """Means of the columns of ``values`` (n, m) over each row of ``idx``: (B, m)."""
    picked = values[idx]
    if w is None:
        return picked.mean(axis=1)
    ww = w[idx][:, :, None]
    return _ratio((picked * ww).sum(axis=1), ww.sum(axis=1))


class _Reference:
    names: tuple[str, ...] = ("exact_match", "token_f1")

    def __init__(self, values: FloatArray, missing: npt.NDArray[np.bool_]) -> None:
        self.values, self.missing, self.n = values, missing, len(values)
        self.cells = self.n * 4

    @classmethod
    def encode(cls, gold: Sequence[str | Sequence[str]], pred: Sequence[str | None]) -> _Reference:
        _check_pair(gold, pred)
        values = np.array(
            [[exact_match(g, p), token_f1(g, p)] for g, p in zip(gold, pred, strict=True)]
        )
        missing = np.fromiter((p is None for p in pred), dtype=bool, count=len(pred))
        return cls(values.reshape(-1, 2), missing)

    def take(self, rows: IntArray) -> _Reference:
        return _Reference(self.values[rows], self.missing[rows])

    def stats(self, idx: IntArray, w: FloatArray | None) -> FloatArray:
        return _mean_stats(self.values, idx, w)

    def details(self, w: FloatArray | None) -> dict[str, Any]:
        point = _mean_stats(self.values, np.arange(self.n)[None, :], w)[0]
        return {
            "n": self.n,
            **dict(zip(self.names, map(float, point), strict=True)),
            "missing": int(self.missing.sum()),
        }


# ------------------------------------------------------------------ public metrics


def classification_metrics(
    gold: Sequence[str],
    pred: Sequence[str | None],
    labels: Sequence[str],
    weights: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Single-label metrics: ``accuracy``, ``macro_f1``, ``per_label``, ``confusion``.

    ``per_label`` maps each label to precision, recall, f1 and support (a weighted sum
    when ``weights`` are given); ``confusion`` is ``{"labels", "matrix"}`` with gold in
    rows and predictions in columns, in ``labels`` order (missing predictions appear in
    no column; ``missing`` counts them).
    """
    task = _Classification.encode(gold, pred, labels)
    return task.details(_weights(weights, task.n))


def multilabel_metrics(
    gold: Sequence[Collection[str]],
    pred: Sequence[Collection[str] | None],
    labels: Sequence[str],
    weights: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Label-set metrics: ``micro_f1``, ``macro_f1``, ``exact_match`` (subset accuracy),
    ``per_label``. Each item's gold and prediction are collections of labels."""
    task = _Multilabel.encode(gold, pred, labels)
    return task.details(_weights(weights, task.n))


_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and articles, squeeze whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _answers(gold: str | Sequence[str]) -> list[str]:
    answers = [gold] if isinstance(gold, str) else list(gold)
    if not answers:
        raise ValueError("a gold item has no acceptable answer; give at least one string")
    return answers


def exact_match(gold: str | Sequence[str], pred: str | None) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer, else 0.0.

    ``gold`` is one answer or a list of acceptable ones (the best match counts).
    """
    if pred is None:
        return 0.0
    guess = normalize_answer(pred)
    return float(any(normalize_answer(g) == guess for g in _answers(gold)))


def _token_f1(gold: str, pred: str) -> float:
    gold_tokens, pred_tokens = normalize_answer(gold).split(), normalize_answer(pred).split()
    if not gold_tokens or not pred_tokens:
        # SQuAD v2: an empty answer scores 1 only against an empty answer.
        return float(gold_tokens == pred_tokens)
    same = sum((Counter(gold_tokens) & Counter(pred_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(gold: str | Sequence[str], pred: str | None) -> float:
    """SQuAD token-overlap F1 between the prediction and the best-matching gold answer."""
    if pred is None:
        return 0.0
    return max(_token_f1(g, pred) for g in _answers(gold))


def reference_metrics(
    gold: Sequence[str | Sequence[str]],
    pred: Sequence[str | None],
    weights: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Mean ``exact_match`` and ``token_f1`` (weighted means when ``weights`` are given)."""
    task = _Reference.encode(gold, pred)
    return task.details(_weights(weights, task.n))


# ------------------------------------------------------------------------ bootstrap


def _check_bootstrap(n: int, n_resamples: int, alpha: float) -> None:
    if n < 1:
        raise ValueError(f"n is {n}; a bootstrap needs at least one item")
    if n_resamples < 1:
        raise ValueError(f"n_resamples is {n_resamples}; use at least 1 (1000 is usual)")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha is {alpha}; use a value between 0 and 1, e.g. 0.05")


def _resample_blocks(n: int, n_resamples: int, seed: int, cells: int) -> Iterator[IntArray]:
    """Blocks of resampled index rows, (B, n) each.

    Each row is its own draw, so the stream of resamples for a seed does not depend on
    how rows are grouped into blocks: every bootstrap in this module sees the same ones.
    """
    rng = np.random.default_rng(seed)
    per_block = max(1, _BLOCK_CELLS // max(cells, 1))
    for start in range(0, n_resamples, per_block):
        rows = min(per_block, n_resamples - start)
        yield np.stack([rng.integers(0, n, size=n) for _ in range(rows)])


def _bootstrap(
    stats: Callable[[IntArray], FloatArray],
    n: int,
    *,
    n_resamples: int,
    seed: int,
    alpha: float,
    cells: int,
) -> FloatArray:
    """Percentile intervals, shape (m, 2), of the m statistics ``stats`` returns per row."""
    _check_bootstrap(n, n_resamples, alpha)
    draws = np.vstack([stats(idx) for idx in _resample_blocks(n, n_resamples, seed, cells)])
    out = np.full((draws.shape[1], 2), np.nan)
    for j, column in enumerate(draws.T):
        kept = column[~np.isnan(column)]  # NaN: a resample whose items all weigh 0
        if kept.size:
            out[j] = np.quantile(kept, [alpha / 2, 1 - alpha / 2])
    return out


def bootstrap_ci(
    metric_fn: Callable[..., float],
    n: int,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    weights: Sequence[float] | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric_fn`` over ``n`` items.

    Each resample draws ``n`` item indices uniformly with replacement and calls
    ``metric_fn(idx)``; with ``weights`` it calls ``metric_fn(idx, weights[idx])`` so
    the statistic can weight the resampled items (the design-based bootstrap of a
    weighted estimate). The same ``seed`` gives the same interval.
    """
    w = _weights(weights, n) if n >= 1 else None

    def stats(block: IntArray) -> FloatArray:
        if w is None:
            return np.array([[metric_fn(idx)] for idx in block], dtype=np.float64)
        return np.array([[metric_fn(idx, w[idx])] for idx in block], dtype=np.float64)

    lo, hi = _bootstrap(stats, n, n_resamples=n_resamples, seed=seed, alpha=alpha, cells=n)[0]
    return float(lo), float(hi)


def bootstrap_mean_ci(
    values: Sequence[float] | npt.ArrayLike,
    weights: Sequence[float] | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Vectorised percentile bootstrap of a (weighted) mean of per-item values.

    The fast path for accuracy-like metrics (pass per-item correctness); resamples are
    the same as :func:`bootstrap_ci` draws for the same ``seed``.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    w = _weights(weights, len(v)) if len(v) else None
    lo, hi = _bootstrap(
        lambda idx: _mean_stats(v, idx, w),
        len(v),
        n_resamples=n_resamples,
        seed=seed,
        alpha=alpha,
        cells=len(v) * 2,
    )[0]
    return float(lo), float(hi)


# ---------------------------------------------------------------------------- score


def _encode(task_type: str, gold: Sequence[Any], pred: Sequence[Any], labels: Any) -> _Task:
    if task_type == "classification":
        return _Classification.encode(gold, pred, () if labels is None else labels)
    if task_type == "multilabel":
        return _Multilabel.encode(gold, pred, () if labels is None else labels)
    if task_type == "reference_answer":
        return _Reference.encode(gold, pred)
    raise ValueError(f"unknown task type {task_type!r}; use one of {', '.join(TASK_TYPES)}")


def _report(
    task: _Task, w: FloatArray | None, *, n_resamples: int, seed: int, alpha: float, full: bool
) -> dict[str, Any]:
    out = task.details(None)
    if not full:
        out = {key: out[key] for key in ("n", *task.names)}

    def intervals(weights: FloatArray | None) -> dict[str, list[float] | None]:
        if n_resamples == 0:
            return dict.fromkeys(task.names)
        ci = _bootstrap(
            lambda idx: task.stats(idx, weights),
            task.n,
            n_resamples=n_resamples,
            seed=seed,
            alpha=alpha,
            cells=task.cells,
        )
        return {name: [float(lo), float(hi)] for name, (lo, hi) in zip(task.names, ci, strict=True)}

    out["ci"] = intervals(None)
    out["pool_weighted"] = out["pool_weighted_ci"] = None
    if w is not None:
        point = task.stats(np.arange(task.n)[None, :], w)[0]
        out["pool_weighted"] = {name: float(x) for name, x in zip(task.names, point, strict=True)}
        out["pool_weighted_ci"] = intervals(w)
    return out


def score(
    task_type: str,
    gold: Sequence[Any],
    pred: Sequence[Any],
    labels: Sequence[str] | None = None,
    *,
    slices: Mapping[str, Sequence[str | None]] | None = None,
    weights: Sequence[float] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score predictions for one task type, overall and per slice, with bootstrap CIs.

    Returns the headline metrics under plain names (classification: ``accuracy``,
    ``macro_f1``; multilabel: ``micro_f1``, ``macro_f1``, ``exact_match``;
    reference_answer: ``exact_match``, ``token_f1``) with the task's detail
    (``per_label``, ``confusion``, ``missing``), ``ci`` {metric: [lo, hi]},
    ``pool_weighted`` and ``pool_weighted_ci`` (``None`` without ``weights``: the
    inclusion-weighted, Horvitz–Thompson style estimate for the whole pool), and
    ``slices`` {slice name: {slice value: {n, metrics, ci, pool_weighted, …}}}, where
    ``slices`` maps a slice name to one value per item (``None`` is reported as
    :data:`MISSING_SLICE`). ``n_resamples=0`` skips the bootstrap (every CI is ``None``).
    Predictions of ``None`` count as wrong.
    """
    if n_resamples < 0:
        raise ValueError(f"n_resamples is {n_resamples}; use 0 (no CIs) or more, e.g. 1000")
    task = _encode(task_type, gold, pred, labels)
    w = _weights(weights, task.n)
    options: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed, "alpha": 0.05}
    result: dict[str, Any] = {"task_type": task_type}
    result.update(_report(task, w, full=True, **options))
    result["bootstrap"] = {"n_resamples": n_resamples, "seed": seed, "level": 0.95}
    result["slices"] = {}
    for name, values in sorted((slices or {}).items()):
        if len(values) != task.n:
            raise ValueError(
                f"slice {name!r} has {len(values)} values for {task.n} items; "
                "give one slice value per item"
            )
        keys = np.array([MISSING_SLICE if v is None else str(v) for v in values], dtype=object)
        result["slices"][name] = {
            key: _report(
                task.take(rows := np.flatnonzero(keys == key)),
                None if w is None else w[rows],
                full=False,
                **options,
            )
            for key in sorted(set(keys))
        }
    return result
