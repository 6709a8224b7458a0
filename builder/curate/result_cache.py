"""Results computed from the pool's vectors, kept on disk for a rerun over the same pool.

The near-duplicate outcome, the sample (and its k-means centroids) and the pool map are pure
functions of their inputs (vectors, threshold, seed, protected or held records …), and they
cost more than reading the pool back. :class:`ResultCache` stores such arrays under
``<workspace>/curation/cache/`` keyed by :func:`digest` of *every* input and of the code that
computes them (:func:`code_version`), so a rerun over an unchanged pool reads them back and
any changed input (one new record, another seed, a top-up's held items) computes afresh.
Each entry is an ``.npz`` file plus its BLAKE2b digest (``.sum``, written last: the commit
point); an entry whose digest does not match is deleted with a warning and computed again,
never trusted. Only the newest :attr:`ResultCache.keep` entries per kind are kept.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from builder.fsutil import write_bytes_atomic, write_text_atomic

if TYPE_CHECKING:
    from builder.curate.sample import SampleResult

__all__ = ["ResultCache", "code_version", "digest", "from_json_array", "json_array"]


@functools.cache
def code_version(*modules: str) -> str:
    """Digest of the source of the named modules: part of a key, so that a result computed
    by other code (an edited sampler, say) is never read back as if it were this code's."""
    import importlib
    import inspect

    return digest(*(inspect.getsource(importlib.import_module(m)) for m in modules))


def json_array(value: Any) -> np.ndarray:
    """``value`` as JSON text in a uint8 array (for storing beside other arrays)."""
    return np.frombuffer(json.dumps(value, sort_keys=True).encode("utf-8"), dtype=np.uint8)


def from_json_array(arr: np.ndarray) -> Any:
    """The value :func:`json_array` stored."""
    return json.loads(arr.tobytes().decode("utf-8"))


def digest(*parts: Any) -> str:
    """Hex BLAKE2b digest of ``parts``: arrays by dtype, shape and bytes; None, numbers and
    strings by their JSON. Equal inputs give equal digests."""
    h = hashlib.blake2b(digest_size=20)
    for part in parts:
        if isinstance(part, np.ndarray):
            arr = np.ascontiguousarray(part)
            h.update(f"array:{arr.dtype.str}:{arr.shape}".encode())
            # Large matrices in slices: no second in-memory copy of a memory-mapped array.
            flat = arr.reshape(-1)
            step = max(1, (1 << 24) // max(1, arr.itemsize))
            for start in range(0, len(flat), step):
                h.update(flat[start : start + step].tobytes())
        else:
            h.update(("json:" + json.dumps(part, sort_keys=True)).encode())
        h.update(b"\0")
    return h.hexdigest()


class ResultCache:
    """Named arrays on disk under ``root``, one ``<kind>-<key>.npz`` per result."""

    keep = 8
    """Entries kept per kind (the oldest are deleted when a new one is stored)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def get(self, kind: str, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored for (``kind``, ``key``), or None (also for a corrupt entry)."""
        data_file = self.root / f"{kind}-{key}.npz"
        sum_file = data_file.with_suffix(".sum")
        if not sum_file.is_file():
            return None
        try:
            raw = data_file.read_bytes()
            if hashlib.blake2b(raw, digest_size=16).hexdigest() != sum_file.read_text().strip():
                raise ValueError("its checksum does not match")
            with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
                return {name: npz[name] for name in npz.files}
        except (OSError, ValueError) as e:
            warnings.warn(
                f"curation cache entry {data_file} is corrupt ({e}); it was deleted and the "
                "result is computed again",
                UserWarning,
                stacklevel=2,
            )
            sum_file.unlink(missing_ok=True)
            data_file.unlink(missing_ok=True)
            return None

    def put(self, kind: str, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store ``arrays`` for (``kind``, ``key``) atomically; prune old entries of ``kind``."""
        self.root.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=False, **arrays)
        raw = buf.getvalue()
        data_file = self.root / f"{kind}-{key}.npz"
        write_bytes_atomic(data_file, raw)
        write_text_atomic(
            data_file.with_suffix(".sum"), hashlib.blake2b(raw, digest_size=16).hexdigest()
        )
        entries = sorted(
            self.root.glob(f"{kind}-*.sum"), key=lambda p: p.stat().st_mtime_ns, reverse=True
        )
        for old in entries[self.keep :]:
            old.unlink(missing_ok=True)
            old.with_suffix(".npz").unlink(missing_ok=True)


def cached_sample(
    cache: ResultCache | None,
    x: np.ndarray,
    size: int,
    *,
    threshold: float,
    seed: int,
    held: np.ndarray,
    pickable: np.ndarray,
    strata: list[str] | None,
    min_per_stratum: int,
    k: int | None,
    mass: np.ndarray,
) -> tuple[SampleResult, int]:
    """:func:`~builder.curate.sample.sample_without_close_pairs`, read from ``cache`` when it
    holds the result for exactly these inputs (and this sampler's code), else computed (its
    k-means centroids cached too) and stored. A top-up (other ``held``) computes afresh."""
    from builder.curate.dedup import centroid_cache
    from builder.curate.sample import SampleResult, sample_without_close_pairs

    def run() -> tuple[SampleResult, int]:
        with centroid_cache(cache):
            return sample_without_close_pairs(
                x,
                size,
                threshold=threshold,
                seed=seed,
                held=held,
                pickable=pickable,
                strata=strata,
                min_per_stratum=min_per_stratum,
                k=k,
                mass=mass,
            )

    if cache is None:
        return run()
    key = digest(
        "sample-v1",
        code_version("builder.curate.sample", "builder.curate.dedup"),
        x,
        size,
        threshold,
        seed,
        np.asarray(held, dtype=bool),
        np.asarray(pickable, dtype=bool),
        strata,
        min_per_stratum,
        k,
        np.asarray(mass, dtype=np.float64),
    )
    hit = cache.get("sample", key)
    if hit is not None:
        meta = from_json_array(hit["meta"])
        result = SampleResult(
            picks=hit["picks"],
            cluster=hit["cluster"],
            weight=hit["weight"],
            reason={int(i): r for i, r in meta["reason"].items()},
            k=meta["k"],
            clusters=meta["clusters"],
            strata=meta["strata"],
        )
        return result, int(meta["dropped"])
    result, dropped = run()
    meta = {
        "reason": {str(i): r for i, r in result.reason.items()},
        "k": int(result.k),
        "clusters": result.clusters,
        "strata": result.strata,
        "dropped": int(dropped),
    }
    cache.put(
        "sample",
        key,
        {
            "picks": result.picks,
            "cluster": result.cluster,
            "weight": result.weight,
            "meta": json_array(meta),
        },
    )
    return result, dropped


def cached_pool_map(
    cache: ResultCache | None,
    x: np.ndarray,
    *,
    cluster: np.ndarray,
    selected: np.ndarray,
    held: np.ndarray,
    source_ids: list[str],
    seed: int,
) -> dict[str, list[Any]]:
    """:func:`~builder.curate.report.pool_map`, read from ``cache`` for identical inputs."""
    from builder.curate.report import pool_map

    def run() -> dict[str, list[Any]]:
        return pool_map(
            x, cluster=cluster, selected=selected, held=held, source_ids=source_ids, seed=seed
        )

    if cache is None:
        return run()
    key = digest(
        "map-v1",
        code_version("builder.curate.report"),
        x,
        np.asarray(cluster),
        np.asarray(selected, dtype=bool),
        np.asarray(held, dtype=bool),
        source_ids,
        seed,
    )
    hit = cache.get("map", key)
    if hit is not None:
        value: dict[str, list[Any]] = from_json_array(hit["map"])
        return value
    value = run()
    cache.put("map", key, {"map": json_array(value)})
    return value
