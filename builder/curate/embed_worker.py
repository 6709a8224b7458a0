"""The embedding worker thread: a chunk is embedded while the caller scans the next.

The model's work (Rust tokenisation, torch, BLAS) runs without the GIL, so scanning in Python
overlaps with it. :class:`BackgroundEmbedder` embeds whole chunks through the cache
(:func:`~builder.curate.embed.embed_texts`) and keeps their vectors;
:class:`StoreEmbedder` is given each chunk's cached vectors already, encodes only the misses
and writes the chunk into a memory-mapped :class:`~builder.curate.vector_store.VectorStore`.
Both keep at most two chunks alive and report ``progress("embed", ReadProgress)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from builder.curate.embed import Embedder, embed_texts
from builder.curate.embed_cache import EmbeddingCache
from builder.curate.vector_store import VectorStore
from builder.readers import ReadProgress

__all__ = ["BackgroundEmbedder", "StoreEmbedder"]

Progress = Callable[[str, ReadProgress], None]


class BackgroundEmbedder:
    """Embeds one chunk on a worker thread while the caller scans the next.

    The model's work (Rust tokenisation, torch, BLAS) runs without the GIL, so scanning in
    Python overlaps with it; at most two chunks of text are alive at a time.
    """

    def __init__(self, model: Embedder, cache: EmbeddingCache, progress: Progress | None) -> None:
        self.model, self.cache, self.progress = model, cache, progress
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="benchsmith-embed")
        self._pending: Future[tuple[np.ndarray, int, float]] | None = None
        self.vectors: list[np.ndarray] = []
        self.encoded = 0
        self.submitted = 0
        self.seconds = 0.0

    def _run(self, texts: list[str], done_before: int) -> tuple[np.ndarray, int, float]:
        started = time.perf_counter()
        done = 0

        def on_batch(k: int) -> None:
            nonlocal done
            done += k
            if self.progress:
                total = done_before + len(texts)
                self.progress("embed", ReadProgress(done_before + done, total))

        vecs, n_new = embed_texts(self.model, texts, cache=self.cache, on_batch=on_batch)
        return vecs, n_new, time.perf_counter() - started

    def _collect(self) -> None:
        if self._pending is not None:
            vecs, n_new, seconds = self._pending.result()
            self.vectors.append(vecs)
            self.encoded += n_new
            self.seconds += seconds
            self._pending = None

    def submit(self, texts: list[str]) -> None:
        """Queue ``texts`` (after the previous chunk finished, to keep the order)."""
        self._collect()
        self._pending = self._pool.submit(self._run, texts, self.submitted)
        self.submitted += len(texts)

    def finish(self) -> None:
        """Wait for the last chunk and stop the worker."""
        try:
            self._collect()
        finally:
            self._pool.shutdown(wait=True)


class StoreEmbedder:
    """Encodes one chunk's cache misses on a worker thread while the caller scans the next,
    and writes the chunk's vectors into the :class:`VectorStore` (at most two chunks alive)."""

    def __init__(
        self, model: Embedder, cache: EmbeddingCache, store: VectorStore, progress: Progress | None
    ) -> None:
        self.model, self.cache, self.store, self.progress = model, cache, store, progress
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="benchsmith-embed")
        self._pending: Future[float] | None = None
        self.encoded = 0
        self.total = 0
        self.seconds = 0.0
        self.done = 0

    def _run(
        self, start: int, vecs: np.ndarray, todo: np.ndarray, texts: list[str], keys: np.ndarray
    ) -> float:
        started = time.perf_counter()
        self.done += len(vecs) - len(todo)
        if todo.size:
            # Shortest first, so a batch's texts tokenise to similar lengths.
            order = np.argsort([len(t) for t in texts], kind="stable")
            step = max(1, int(getattr(self.model, "batch_size", 256)))
            for b in range(0, len(order), step):
                idx = order[b : b + step]
                vecs[todo[idx]] = self.model.encode([texts[i] for i in idx])
                self.done += len(idx)
                if self.progress:
                    self.progress("embed", ReadProgress(self.done, self.total))
            self.cache.add(keys[todo], vecs[todo])
        elif self.progress:
            self.progress("embed", ReadProgress(self.done, self.total))
        self.store.write(start, vecs)
        return time.perf_counter() - started

    def _collect(self) -> None:
        if self._pending is not None:
            self.seconds += self._pending.result()
            self._pending = None

    def submit(
        self, start: int, vecs: np.ndarray, todo: np.ndarray, texts: list[str], keys: np.ndarray
    ) -> None:
        """Queue one chunk: rows ``todo`` of ``vecs`` (cache misses) get encoded from ``texts``."""
        self._collect()
        self.encoded += len(todo)
        self._pending = self._pool.submit(self._run, start, vecs, todo, texts, keys)

    def finish(self) -> None:
        """Wait for the last chunk and stop the worker."""
        try:
            self._collect()
        finally:
            self._pool.shutdown(wait=True)
