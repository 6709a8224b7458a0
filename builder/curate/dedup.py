"""Exact duplicates, and the small vector helpers sampling shares with duplicate detection.

Exact duplicates share the same :func:`~builder.curate.text.normalize_text` form (case,
Unicode form, punctuation and spacing ignored); :class:`ExactDeduper` finds them in one
streaming pass, keeping the first record of each group. :func:`kmeans_centroids`,
:func:`nearest_centroids` and :func:`close_pairs` serve the sampler
(:mod:`builder.curate.sample`).

Near duplicates live elsewhere: the keep rule in :mod:`builder.curate.keep_rule`, the blocked
pair search and :func:`~builder.curate.pair_search.near_duplicates` in
:mod:`builder.curate.pair_search`.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from builder.curate.result_cache import ResultCache, digest
from builder.curate.text import normalize_text

__all__ = [
    "ExactDeduper",
    "centroid_cache",
    "close_pairs",
    "exact_key",
    "kmeans_centroids",
    "nearest_centroids",
]


_ASCII_PUNCT = bytes(c for c in range(128) if unicodedata.category(chr(c))[0] == "P")
# Lower-case, and the four ASCII separators str.split() takes for whitespace (U+001C–U+001F)
# to a space, since bytes.split() does not take them.
_ASCII_FOLD = bytes.maketrans(
    bytes(range(ord("A"), ord("Z") + 1)) + b"\x1c\x1d\x1e\x1f",
    bytes(range(ord("a"), ord("z") + 1)) + b"    ",
)


def _normalized(text: str) -> bytes:
    """UTF-8 bytes of :func:`~builder.curate.text.normalize_text` of ``text``."""
    # For ASCII text, NFKC changes nothing and casefold is lower(): one bytes translate does
    # it at a small part of the cost (a property test pins the equality).
    if text.isascii():
        return b" ".join(text.encode("ascii").translate(_ASCII_FOLD, _ASCII_PUNCT).split())
    return normalize_text(text).encode("utf-8", "surrogatepass")


def exact_key(text: str) -> bytes:
    """16-byte digest of the normalised text: equal for texts that are exact duplicates."""
    return hashlib.blake2b(_normalized(text), digest_size=16).digest()


class ExactDeduper:
    """Streaming exact de-duplication: the first text seen with a normalised form wins."""

    def __init__(self) -> None:
        self._first: dict[bytes, int] = {}

    def add(self, index: int, text: str) -> int | None:
        """Register ``text`` as record ``index``; the index of an earlier equal text, or None."""
        return self.add_key(index, exact_key(text))

    def add_key(self, index: int, key: bytes) -> int | None:
        """:meth:`add` for a text whose :func:`exact_key` is already known (cached scans)."""
        earlier = self._first.get(key)
        if earlier is None:
            self._first[key] = index
        return earlier

    def __len__(self) -> int:
        """Number of distinct normalised texts seen."""
        return len(self._first)


_CENTROIDS: ContextVar[ResultCache | None] = ContextVar("benchsmith_centroids", default=None)


@contextmanager
def centroid_cache(cache: ResultCache | None) -> Iterator[None]:
    """Inside the block, :func:`kmeans_centroids` reads and stores its results in ``cache``
    (the sampler calls it deep down; a rerun over the same pool then skips the fit)."""
    token = _CENTROIDS.set(cache)
    try:
        yield
    finally:
        _CENTROIDS.reset(token)


def kmeans_centroids(
    x: np.ndarray,
    k: int,
    *,
    seed: int,
    max_fit: int = 20_000,
    max_iter: int = 100,
    init: str = "k-means++",
) -> np.ndarray:
    """``k`` k-means centroids of ``x``, fitted on at most ``max_fit`` seeded-sampled points.

    Plain Lloyd iterations on a subsample: on 2 cores it is several times faster than
    mini-batch k-means at these sizes, and assigning the whole pool afterwards is one
    matrix product (:func:`nearest_centroids`). Inside :func:`centroid_cache` the result is
    read from (or stored in) that cache, keyed by every input.
    """
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    fit = x if n <= max_fit else x[np.sort(rng.choice(n, max_fit, replace=False))]
    if k == 1:
        return np.asarray(fit.mean(axis=0, keepdims=True), dtype=np.float32)
    cache = _CENTROIDS.get()
    key = ""
    if cache is not None:
        from importlib.metadata import version  # not `import sklearn`: a hit skips that second

        key = digest("kmeans-v2", version("scikit-learn"), fit, k, seed, max_iter, init)
    if cache is not None and (hit := cache.get("kmeans", key)) is not None:
        return hit["centroids"]
    from sklearn.cluster import KMeans, kmeans_plusplus

    start: str | np.ndarray = init
    if init == "k-means++" and fit.dtype != np.float64:
        # Seed on a float64 copy: on float32 points scikit-learn computes each of the k steps'
        # distances chunk by chunk in float64, converting and re-norming every point each
        # time (100 seeds on 20,000 points: 0.74 s of k-means' 1.1 s; 0.3 s this way). The
        # seeds are points, so they convert back exactly; Lloyd then runs on the float32 points.
        seeds, _ = kmeans_plusplus(fit.astype(np.float64), k, random_state=seed)
        start = seeds.astype(fit.dtype)
    km = KMeans(n_clusters=k, n_init=1, max_iter=max_iter, init=start, random_state=seed)
    km.fit(fit)
    centroids = np.asarray(km.cluster_centers_, dtype=np.float32)
    if cache is not None:
        cache.put("kmeans", key, {"centroids": centroids})
    return centroids


def nearest_centroids(
    x: np.ndarray, centroids: np.ndarray, probes: int = 1, block: int = 8192
) -> np.ndarray:
    """(n, probes) indices of the nearest centroids of each row, nearest first."""
    return _nearest(x, centroids, probes, block)[0]


def _nearest(
    x: np.ndarray, centroids: np.ndarray, probes: int, block: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``probes`` nearest centroids per row and their ‖x−c‖² − ‖x‖²."""
    probes = min(probes, len(centroids))
    c_sq = (centroids.astype(np.float32) ** 2).sum(axis=1)
    idx = np.empty((len(x), probes), dtype=np.int64)
    dist = np.empty((len(x), probes), dtype=np.float32)
    for start in range(0, len(x), block):
        # ‖x−c‖² = ‖x‖² − 2x·c + ‖c‖²; ‖x‖² is the same for every centroid of a row.
        # In place: the block's distances are as large as the product itself.
        d = x[start : start + block] @ centroids.T
        d *= -2.0
        d += c_sq
        if probes == 1:
            best = d.argmin(axis=1)[:, None]
        else:
            part = np.argpartition(d, probes - 1, axis=1)[:, :probes]
            order = np.take_along_axis(d, part, axis=1).argsort(axis=1, kind="stable")
            best = np.take_along_axis(part, order, axis=1)
        idx[start : start + block] = best
        dist[start : start + block] = np.take_along_axis(d, best, axis=1)
    return idx, dist


def close_pairs(x: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Every pair (i < j) of a *small* set of unit vectors with cosine ≥ ``threshold``.

    Brute force, for checking a sample (hundreds to a few thousand points).
    """
    x = np.asarray(x, dtype=np.float32)
    out: list[tuple[int, int]] = []
    step = 2048
    for start in range(0, len(x), step):
        sims = x[start : start + step] @ x.T
        a, b = np.nonzero(sims >= threshold - 1e-6)
        a = a + start
        out.extend((int(i), int(j)) for i, j in zip(a, b, strict=True) if i < j)
    return sorted(out)
