"""The on-disk embedding cache: vectors of one model keyed by the hash of the embedded text.

:class:`EmbeddingCache` stores vectors under ``<embedding_cache>/<model slug>/`` keyed by
:func:`text_key`: shards of ``.npy`` files written atomically (vectors first, then the keys
file, which is the commit point), so a crash leaves at worst an unreferenced vector file
and a rerun embeds only texts it has not seen (``builder.curate.embed.embed_texts``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from builder.fsutil import write_bytes_atomic, write_text_atomic

__all__ = ["EmbeddingCache", "KeyIndex", "ShardedKeys", "keys_array", "text_key"]


def text_key(text: str) -> bytes:
    """16-byte BLAKE2b digest of a text: the cache key (with the model id)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def keys_array(keys: Sequence[bytes] | np.ndarray) -> np.ndarray:
    """(n, 16) uint8 view of n 16-byte keys (a list of bytes or such an array already)."""
    if isinstance(keys, np.ndarray):
        return np.ascontiguousarray(keys, dtype=np.uint8).reshape(-1, 16)
    return np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, 16)


class KeyIndex:
    """Sorted 16-byte keys → (shard, row), as two numpy arrays instead of a dict.

    A dict of a million ``bytes`` keys costs about 200 MB and a Python loop per lookup;
    here a key is two uint64 words, the index is sorted once, and a lookup is one
    vectorised ``searchsorted``. Equal keys: the first given wins (as ``dict.setdefault``).
    """

    def __init__(self, keys: np.ndarray, shard: np.ndarray, row: np.ndarray) -> None:
        words = keys_array(keys).view("<u8").reshape(-1, 2)
        order = np.lexsort((np.arange(len(words)), words[:, 1], words[:, 0]))
        self._hi = np.ascontiguousarray(words[order, 0])
        self._lo = np.ascontiguousarray(words[order, 1])
        self._shard = np.asarray(shard, dtype=np.int32)[order]
        self._row = np.asarray(row, dtype=np.int64)[order]

    def __len__(self) -> int:
        return len(self._hi)

    def distinct(self) -> int:
        """Number of distinct keys."""
        if len(self._hi) == 0:
            return 0
        new = (np.diff(self._hi) != 0) | (np.diff(self._lo) != 0)
        return int(new.sum()) + 1

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard, row) per key of the (m, 16) uint8 ``keys``; shard −1 where absent."""
        words = keys_array(keys).view("<u8").reshape(-1, 2)
        shard = np.full(len(words), -1, dtype=np.int32)
        row = np.zeros(len(words), dtype=np.int64)
        if len(self._hi) == 0 or len(words) == 0:
            return shard, row
        # First the high word, then the low word inside the run of equal high words.
        lo_at = np.searchsorted(self._hi, words[:, 0], side="left")
        hi_at = np.searchsorted(self._hi, words[:, 0], side="right")
        single = (hi_at - lo_at) == 1
        at = np.minimum(lo_at, len(self._hi) - 1)
        ok = single & (self._lo[at] == words[:, 1])
        shard[ok], row[ok] = self._shard[at[ok]], self._row[at[ok]]
        for q in np.flatnonzero(hi_at - lo_at > 1):  # a shared high word: vanishingly rare
            span = np.arange(lo_at[q], hi_at[q])
            match = span[self._lo[span] == words[q, 1]]
            if len(match):
                shard[q], row[q] = self._shard[match[0]], self._row[match[0]]
        return shard, row


class ShardedKeys:
    r"""The keys of a sharded on-disk store: key → (shard number, row in the shard).

    Shards are :meth:`stage`\ d in order (shard numbers count from 0) and indexed on
    :meth:`commit` as a few :class:`KeyIndex` levels; levels merge once there are more than
    ``max_levels``, so a run of adds re-sorts each key a few times, not once per add.
    The first shard holding a key wins.
    """

    def __init__(self, max_levels: int = 6) -> None:
        self.max_levels = max_levels
        self.shards = 0
        self._staged: list[np.ndarray] = []
        self._levels: list[tuple[KeyIndex, np.ndarray, np.ndarray, np.ndarray]] = []

    def stage(self, keys: np.ndarray) -> int:
        """Queue one shard's (m, 16) uint8 keys; returns its shard number."""
        self._staged.append(keys_array(keys))
        self.shards += 1
        return self.shards - 1

    def commit(self) -> None:
        """Index the staged shards."""
        if not self._staged:
            return
        first = self.shards - len(self._staged)
        keys = np.concatenate(self._staged)
        shard = np.concatenate(
            [np.full(len(k), first + i, np.int32) for i, k in enumerate(self._staged)]
        )
        row = np.concatenate([np.arange(len(k), dtype=np.int64) for k in self._staged])
        self._staged = []
        self._levels.append((KeyIndex(keys, shard, row), keys, shard, row))
        if len(self._levels) > self.max_levels:
            parts = self._levels
            keys, shard, row = (np.concatenate([p[i] for p in parts]) for i in (1, 2, 3))
            self._levels = [(KeyIndex(keys, shard, row), keys, shard, row)]

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard, row) per key of the (m, 16) uint8 ``keys``; shard −1 where absent."""
        keys = keys_array(keys)
        shard = np.full(len(keys), -1, dtype=np.int32)
        row = np.zeros(len(keys), dtype=np.int64)
        for index, *_ in self._levels:
            todo = np.flatnonzero(shard < 0)
            if len(todo) == 0:
                break
            shard[todo], row[todo] = index.find(keys[todo])
        return shard, row

    def distinct(self) -> int:
        """Number of distinct keys indexed."""
        if not self._levels:
            return 0
        keys = np.concatenate([p[1] for p in self._levels])
        return KeyIndex(keys, np.zeros(len(keys), np.int32), np.zeros(len(keys))).distinct()


def _slug(model_id: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-.")[:60]
    return f"{readable}-{hashlib.sha256(model_id.encode()).hexdigest()[:10]}"


class EmbeddingCache:
    """Vectors of one model on disk, keyed by :func:`text_key`; safe against crashes.

    Each :meth:`add` writes one shard: ``<id>.vecs.npy`` then ``<id>.keys.npy``; a shard
    counts only once its keys file exists, and both are written atomically, so readers
    never see half a shard. Concurrent writers use distinct shard names. The index is a few
    :class:`KeyIndex` levels (no per-vector Python object), merged as shards are added.
    """

    def __init__(self, root: Path, model_id: str, dim: int) -> None:
        self.dir = Path(root) / _slug(model_id)
        self.model_id, self.dim = model_id, dim
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        if not meta.is_file():
            write_text_atomic(meta, json.dumps({"model_id": model_id, "dim": dim}) + "\n")
        self._shards: list[Path] = []
        self._maps: dict[int, np.ndarray] = {}
        self._index = ShardedKeys()
        for keys_file in sorted(self.dir.glob("*.keys.npy")):
            vecs_file = keys_file.with_name(keys_file.name.replace(".keys.npy", ".vecs.npy"))
            try:
                keys = np.load(keys_file)
                shape = np.load(vecs_file, mmap_mode="r").shape
            except (OSError, ValueError):
                continue  # unreadable shard: its texts are simply embedded again
            if keys.ndim != 2 or keys.shape[1] != 16 or shape != (len(keys), dim):
                continue
            self._shards.append(vecs_file)
            self._index.stage(np.asarray(keys, dtype=np.uint8))
        self._index.commit()

    def __len__(self) -> int:
        """Number of cached vectors (distinct keys)."""
        return self._index.distinct()

    def _vectors(self, shard: int) -> np.ndarray:
        vecs = self._maps.get(shard)
        if vecs is None:
            vecs = self._maps[shard] = np.load(self._shards[shard], mmap_mode="r")
        return vecs

    def lookup(self, keys: Sequence[bytes] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, found): rows for cached keys; zeros where ``found`` is False.

        ``keys``: 16-byte keys, as bytes or an (n, 16) uint8 array.
        """
        arr = keys_array(keys) if len(keys) else np.zeros((0, 16), np.uint8)
        out = np.zeros((len(arr), self.dim), dtype=np.float32)
        shard, row = self._index.find(arr)
        found = shard >= 0
        for s in np.unique(shard[found]).tolist():
            where = np.flatnonzero(shard == s)
            out[where] = self._vectors(s)[row[where]]
        return out, found

    def add(self, keys: Sequence[bytes] | np.ndarray, vectors: np.ndarray) -> None:
        """Store new vectors as one shard (keys already cached are skipped)."""
        arr = keys_array(keys) if len(keys) else np.zeros((0, 16), np.uint8)
        fresh = np.flatnonzero(self._index.find(arr)[0] < 0)
        if len(fresh):
            # Within one add, a key given twice is stored once.
            _, first = np.unique(arr[fresh].view("V16").ravel(), return_index=True)
            fresh = fresh[np.sort(first)]
        if not len(fresh):
            return
        key_arr = np.ascontiguousarray(arr[fresh])
        vecs = np.ascontiguousarray(vectors[fresh], dtype=np.float32)
        stem = f"{time.time_ns():x}-{os.getpid()}-{secrets.token_hex(4)}"
        vecs_file = self.dir / f"{stem}.vecs.npy"
        write_bytes_atomic(vecs_file, _npy_bytes(vecs))
        write_bytes_atomic(self.dir / f"{stem}.keys.npy", _npy_bytes(key_arr))
        self._shards.append(vecs_file)
        self._index.stage(key_arr)
        self._index.commit()


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()
