"""Percentile bootstrap confidence intervals over items (Efron & Tibshirani 1993, ch. 13).

Each resample draws ``n`` item indices uniformly with replacement from one seeded
``numpy.random.default_rng`` stream, row by row, so every bootstrap here sees the same
resamples for a seed however they are grouped into blocks; the interval is the
``alpha/2`` and ``1 - alpha/2`` quantiles of the resampled statistic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from builder.evaluate._common import FloatArray, IntArray, check_weights, mean_stats

__all__ = ["bootstrap_ci", "bootstrap_mean_ci", "percentile_intervals"]

# Elements one block of resamples may materialise: keeps a block near 16 MB of float64.
_BLOCK_CELLS = 2_000_000


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


def percentile_intervals(
    stats: Callable[[IntArray], FloatArray],
    n: int,
    *,
    n_resamples: int,
    seed: int,
    alpha: float,
    cells: int,
) -> FloatArray:
    """Percentile intervals, shape (m, 2), of the m statistics ``stats`` returns per row.

    ``stats`` maps a block of index rows (B, n) to statistics (B, m); ``cells`` is how many
    elements one resample materialises (sizes the blocks). A statistic that is NaN on
    every resample gets a NaN interval. Raises ValueError for n < 1, n_resamples < 1 or
    alpha outside (0, 1).
    """
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
    """Percentile bootstrap interval (lo, hi) of ``metric_fn`` over ``n`` items.

    Each resample draws ``n`` item indices uniformly with replacement and calls
    ``metric_fn(idx)``; with ``weights`` it calls ``metric_fn(idx, weights[idx])`` so
    the statistic can weight the resampled items (the design-based bootstrap of a
    weighted estimate). The same ``seed`` gives the same interval.
    """
    w = check_weights(weights, n) if n >= 1 else None

    def stats(block: IntArray) -> FloatArray:
        if w is None:
            return np.array([[metric_fn(idx)] for idx in block], dtype=np.float64)
        return np.array([[metric_fn(idx, w[idx])] for idx in block], dtype=np.float64)

    lo, hi = percentile_intervals(
        stats, n, n_resamples=n_resamples, seed=seed, alpha=alpha, cells=n
    )[0]
    return float(lo), float(hi)


def bootstrap_mean_ci(
    values: Sequence[float] | npt.ArrayLike,
    weights: Sequence[float] | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Vectorised percentile bootstrap (lo, hi) of a (weighted) mean of per-item values.

    The fast path for accuracy-like metrics (pass per-item correctness); resamples are
    the same as :func:`bootstrap_ci` draws for the same ``seed``.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    w = check_weights(weights, len(v)) if len(v) else None
    lo, hi = percentile_intervals(
        lambda idx: mean_stats(v, idx, w),
        len(v),
        n_resamples=n_resamples,
        seed=seed,
        alpha=alpha,
        cells=len(v) * 2,
    )[0]
    return float(lo), float(hi)
