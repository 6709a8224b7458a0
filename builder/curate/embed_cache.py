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

__all__ = ["EmbeddingCache", "text_key"]


def text_key(text: str) -> bytes:
    """16-byte BLAKE2b digest of a text: the cache key (with the model id)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _slug(model_id: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-.")[:60]
    return f"{readable}-{hashlib.sha256(model_id.encode()).hexdigest()[:10]}"


class EmbeddingCache:
    """Vectors of one model on disk, keyed by :func:`text_key`; safe against crashes.

    Each :meth:`add` writes one shard: ``<id>.vecs.npy`` then ``<id>.keys.npy``; a shard
    counts only once its keys file exists, and both are written atomically, so readers
    never see half a shard. Concurrent writers use distinct shard names.
    """

    def __init__(self, root: Path, model_id: str, dim: int) -> None:
        self.dir = Path(root) / _slug(model_id)
        self.model_id, self.dim = model_id, dim
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        if not meta.is_file():
            write_text_atomic(meta, json.dumps({"model_id": model_id, "dim": dim}) + "\n")
        self._shards: list[Path] = []
        self._index: dict[bytes, tuple[int, int]] = {}
        for keys_file in sorted(self.dir.glob("*.keys.npy")):
            vecs_file = keys_file.with_name(keys_file.name.replace(".keys.npy", ".vecs.npy"))
            try:
                keys = np.load(keys_file)
                shape = np.load(vecs_file, mmap_mode="r").shape
            except (OSError, ValueError):
                continue  # unreadable shard: its texts are simply embedded again
            if keys.ndim != 2 or keys.shape[1] != 16 or shape != (len(keys), dim):
                continue
            shard = len(self._shards)
            self._shards.append(vecs_file)
            raw = keys.tobytes()
            for row in range(len(keys)):
                self._index.setdefault(raw[row * 16 : row * 16 + 16], (shard, row))

    def __len__(self) -> int:
        """Number of cached vectors."""
        return len(self._index)

    def lookup(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, found): rows for cached keys; zeros where ``found`` is False."""
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        by_shard: dict[int, tuple[list[int], list[int]]] = {}
        for i, key in enumerate(keys):
            hit = self._index.get(key)
            if hit is not None:
                where, rows = by_shard.setdefault(hit[0], ([], []))
                where.append(i)
                rows.append(hit[1])
        for shard, (where, rows) in by_shard.items():
            vecs = np.load(self._shards[shard], mmap_mode="r")
            out[where] = vecs[rows]
            found[where] = True
        return out, found

    def add(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store new vectors as one shard (keys already cached are skipped)."""
        fresh = [i for i, k in enumerate(keys) if k not in self._index]
        if not fresh:
            return
        key_arr = np.frombuffer(b"".join(keys[i] for i in fresh), dtype=np.uint8).reshape(-1, 16)
        vecs = np.ascontiguousarray(vectors[fresh], dtype=np.float32)
        stem = f"{time.time_ns():x}-{os.getpid()}-{secrets.token_hex(4)}"
        vecs_file = self.dir / f"{stem}.vecs.npy"
        write_bytes_atomic(vecs_file, _npy_bytes(vecs))
        write_bytes_atomic(self.dir / f"{stem}.keys.npy", _npy_bytes(key_arr))
        shard = len(self._shards)
        self._shards.append(vecs_file)
        for row, i in enumerate(fresh):
            self._index.setdefault(keys[i], (shard, row))


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()
