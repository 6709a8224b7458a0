"""The pool's vectors during one curation run: a memory-mapped ``.npy`` file, not RAM.

A million records of a 384-d model are 1.5 GB of float32; :class:`VectorStore` writes them,
chunk by chunk as they are embedded, into a file under the workspace's ``curation/`` folder
opened with :func:`numpy.lib.format.open_memmap`, so the page cache (not the process's own
memory) holds them and the stages after scanning read them through the mapping. The file's
name is removed as soon as it is mapped (POSIX keeps the data until the last mapping goes),
so no run, even a killed one, leaves a file behind.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from types import TracebackType

import numpy as np

__all__ = ["VectorStore"]


class VectorStore:
    """Up to ``capacity`` rows of ``dim`` float32 values in a temporary memory-mapped file.

    Rows are written with :meth:`write` and read back with :meth:`view`. The file is
    unlinked at once unless ``keep_file`` (then :meth:`close`, or the context manager,
    deletes it). Raises OSError when the folder cannot be written.
    """

    def __init__(self, folder: Path, capacity: int, dim: int, *, keep_file: bool = False) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.path: Path | None = folder / f".vectors-{os.getpid()}-{secrets.token_hex(4)}.npy"
        # A zero-length file cannot be mapped: keep at least one row.
        self._data: np.ndarray | None = np.lib.format.open_memmap(
            self.path, mode="w+", dtype=np.float32, shape=(max(1, capacity), dim)
        )
        self.rows = 0
        if not keep_file:
            self.path.unlink()
            self.path = None

    @property
    def capacity(self) -> int:
        """Rows the file can hold."""
        return 0 if self._data is None else len(self._data)

    def write(self, start: int, vectors: np.ndarray) -> None:
        """Store the (m, dim) ``vectors`` as rows ``start`` … ``start + m − 1``."""
        if self._data is None:
            raise ValueError("the vector store is closed")
        end = start + len(vectors)
        if end > len(self._data):
            raise ValueError(f"rows {start}–{end} exceed the store's {len(self._data)} rows")
        self._data[start:end] = vectors
        self.rows = max(self.rows, end)

    def view(self, n: int | None = None) -> np.ndarray:
        """The first ``n`` rows (default: every row written), memory-mapped, read-only use."""
        if self._data is None:
            raise ValueError("the vector store is closed")
        return self._data[: self.rows if n is None else n]

    def close(self) -> None:
        """Drop the mapping and delete the file (views taken before must not be used after)."""
        self._data = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
