"""Verifying release files against their manifest: sha256 and size of every file.

Used in place on a registry (:meth:`~builder.release.registry.Registry.verify`), while
downloading into the pull cache, and on a cached copy before it is used again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from builder.errors import IntegrityError
from builder.release.manifest import Manifest

__all__ = ["CHUNK", "VerifyReport", "hash_stream", "verify_files"]

CHUNK = 1 << 20
"""Read size for hashing and copying (1 MiB: large enough to run at hashlib's speed)."""


@dataclass(frozen=True)
class VerifyReport:
    """What a verification read."""

    files: int
    bytes: int
    seconds: float


def hash_stream(f: IO[bytes], out: IO[bytes] | None = None) -> tuple[str, int]:
    """sha256 and size of a binary stream, copying it to ``out`` on the way."""
    h = hashlib.sha256()
    size = 0
    while chunk := f.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
        if out is not None:
            out.write(chunk)
    return h.hexdigest(), size


def verify_files(
    manifest: Manifest,
    opener: Callable[[str], IO[bytes]],
    *,
    where: str,
    copy_to: Path | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Check every file of ``manifest`` (sha256 and size), optionally copying it to ``copy_to``.

    Raises :class:`IntegrityError` naming the first missing or mismatching file. Files are
    hashed in parallel threads (hashlib releases the GIL on large buffers).
    """
    started = time.perf_counter()

    def one(entry: Any) -> int:
        try:
            src = opener(entry.path)
        except FileNotFoundError:
            raise IntegrityError(
                f"{where}: file {entry.path} is missing; the release is incomplete — "
                "do not use it (re-publish it or pull another version)"
            ) from None
        with contextlib.ExitStack() as stack:
            stack.enter_context(src)
            out = None
            if copy_to is not None:
                target = copy_to / entry.path
                target.parent.mkdir(parents=True, exist_ok=True)
                out = stack.enter_context(open(target, "wb"))
            digest, size = hash_stream(src, out)
        if size != entry.size or digest != entry.sha256:
            raise IntegrityError(
                f"{where}: file {entry.path} fails verification: sha256 {digest[:16]}… and "
                f"{size:,} bytes, but the manifest says {entry.sha256[:16]}… and "
                f"{entry.size:,} bytes; the file was modified or corrupted — do not use it"
            )
        return size

    n = workers or min(4, os.cpu_count() or 1, max(1, len(manifest.files)))
    with ThreadPoolExecutor(max_workers=n) as pool:
        sizes = list(pool.map(one, manifest.files))
    return VerifyReport(len(sizes), sum(sizes), time.perf_counter() - started)
