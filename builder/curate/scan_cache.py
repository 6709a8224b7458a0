"""The scan cache: what the per-record scan found, keyed by the record's content hash.

The per-record scan (quality bounds, the PII scan, the normalised-text hash of exact
de-duplication, the text's embedding-cache key) costs more than reading the record, so
:class:`ScanCache` keeps its *facts* (:data:`FACTS`) under ``<scan_cache>/<fingerprint>/``,
one row per record content hash, and a rerun with nothing new reads them back instead of the
texts. The spec's rules that only *read* the facts (``min_chars``, ``max_chars``, the PII
policy) are applied afresh on every run; what *makes* the facts is in the
:func:`fingerprint`: :data:`SCAN_RULES_VERSION`, the source of the PII detector and of the
text normalisation, and how the text is derived from a record (the spec's text field and its
kind). Any change there opens a new, empty folder, so stale facts are never read.

Shards are ``<id>.scan.npy`` (a structured array) and ``<id>.scan.sum`` (its BLAKE2b digest,
written last: the commit point). A shard whose digest does not match is reported with a
warning, deleted and never trusted; its records are scanned again and cached anew.
Contamination is not cached: it depends on every release and ``--against`` file, so with
anything to check against the texts are read and matched on every run.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import secrets
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from builder.curate import dedup, pii, text
from builder.curate.embed_cache import ShardedKeys, keys_array, text_key
from builder.curate.filters import FILTER_REASONS
from builder.curate.pii import PII_KINDS, count_by_kind
from builder.fsutil import write_bytes_atomic, write_text_atomic

if TYPE_CHECKING:
    from builder.spec import BenchmarkSpec

__all__ = [
    "FACTS",
    "SCAN_RULES_VERSION",
    "ScanCache",
    "content_key",
    "fingerprint",
    "quality_codes",
    "scan_facts",
]

SCAN_RULES_VERSION = 1
"""Bump when what a fact means changes in a way the hashed sources below do not show."""

FACTS = np.dtype(
    [
        ("key", np.uint8, (16,)),
        ("text_key", np.uint8, (16,)),
        ("exact_key", np.uint8, (16,)),
        ("length", np.int32),
        ("stripped", np.int32),
        ("pii", np.uint16, (len(PII_KINDS),)),
    ]
)
"""One record's facts: ``key`` (:func:`content_key`), ``text_key`` (its embedding-cache key,
:func:`~builder.curate.embed_cache.text_key`), ``exact_key``
(:func:`~builder.curate.dedup.exact_key`), ``length`` and ``stripped`` (characters of the
text and of the stripped text) and ``pii``: matches per kind, in :data:`PII_KINDS` order."""


def content_key(content_hash: str) -> bytes:
    """16-byte cache key of a record's hex sha256 content hash (its first 128 bits)."""
    return bytes.fromhex(content_hash[:32])


def fingerprint(text_field: str, kind: str) -> str:
    """Folder name for the facts of texts derived from ``text_field`` of kind ``kind``.

    Covers :data:`SCAN_RULES_VERSION`, the PII detector's and the normaliser's source, and
    the text derivation; anything else the scan does is applied to the facts on each run.
    """
    rules = [
        str(SCAN_RULES_VERSION),
        inspect.getsource(pii),
        inspect.getsource(text),
        inspect.getsource(dedup.exact_key),
        inspect.getsource(dedup._normalized),
        json.dumps({"text_field": text_field, "kind": kind}, sort_keys=True),
    ]
    digest = hashlib.blake2b("\0".join(rules).encode(), digest_size=10).hexdigest()
    return f"scan-v{SCAN_RULES_VERSION}-{digest}"


def scan_facts(keys: Sequence[bytes], texts: Sequence[str]) -> np.ndarray:
    """Facts (:data:`FACTS` rows) of ``texts``, whose records have content keys ``keys``."""
    out = np.zeros(len(texts), dtype=FACTS)
    if not len(texts):
        return out
    out["key"] = keys_array(list(keys))
    out["text_key"] = keys_array([text_key(t) for t in texts])
    out["exact_key"] = keys_array([dedup.exact_key(t) for t in texts])
    out["length"] = [len(t) for t in texts]
    out["stripped"] = [len(t.strip()) for t in texts]
    for i, t in enumerate(texts):
        matches = pii.scan(t)
        if matches:
            counts = count_by_kind(matches)
            out["pii"][i] = [counts.get(k, 0) for k in PII_KINDS]
    return out


def quality_codes(stripped: np.ndarray, *, min_chars: int, max_chars: int) -> np.ndarray:
    """:func:`~builder.curate.filters.quality_problem` over stripped lengths, as codes: 0 for
    none, else 1 + the reason's index in :data:`~builder.curate.filters.FILTER_REASONS`."""
    stripped = np.asarray(stripped)
    codes = np.zeros(len(stripped), dtype=np.int8)
    # Assigned in reverse precedence, so empty beats too short beats too long.
    codes[stripped > max_chars] = 1 + FILTER_REASONS.index("too_long")
    codes[stripped < min_chars] = 1 + FILTER_REASONS.index("too_short")
    codes[stripped == 0] = 1 + FILTER_REASONS.index("empty")
    return codes


class ScanCache:
    """Facts of scanned records on disk, one folder per :func:`fingerprint`.

    ``root`` is created if missing. Reading verifies every shard's digest: a shard that
    fails is deleted with a :class:`UserWarning` naming it (its records are scanned again).
    """

    def __init__(self, root: Path, fingerprint: str) -> None:
        self.dir = Path(root) / fingerprint
        self.dir.mkdir(parents=True, exist_ok=True)
        self._tables: list[np.ndarray] = []
        self._index = ShardedKeys()
        for sum_file in sorted(self.dir.glob("*.scan.sum")):
            table = self._read(sum_file)
            if table is not None:
                self._tables.append(table)
                self._index.stage(np.ascontiguousarray(table["key"]))
        self._index.commit()

    @classmethod
    def for_spec(cls, root: Path, spec: BenchmarkSpec) -> ScanCache:
        """The cache for the texts of ``spec``'s text field (see :func:`fingerprint`)."""
        field = spec.source.text_field
        kind = spec.source.kind(field)
        return cls(root, fingerprint(field, str(getattr(kind, "value", kind))))

    def _read(self, sum_file: Path) -> np.ndarray | None:
        data_file = sum_file.with_suffix(".npy")
        problem = None
        try:
            raw = data_file.read_bytes()
            want = sum_file.read_text(encoding="utf-8").strip()
            if hashlib.blake2b(raw, digest_size=16).hexdigest() != want:
                problem = "its checksum does not match"
            else:
                import io

                table = np.load(io.BytesIO(raw), allow_pickle=False)
                if table.dtype != FACTS or table.ndim != 1:
                    problem = f"it holds {table.dtype} rows, not the scan facts"
                else:
                    return table
        except (OSError, ValueError) as e:
            problem = f"it cannot be read ({e})"
        warnings.warn(
            f"scan cache shard {data_file} is corrupt ({problem}); it was deleted and its "
            "records will be scanned again",
            UserWarning,
            stacklevel=3,
        )
        for f in (sum_file, data_file):
            f.unlink(missing_ok=True)
        return None

    def __len__(self) -> int:
        """Number of records whose facts are cached."""
        return self._index.distinct()

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(facts, found) for the (m, 16) uint8 content ``keys``; zero rows where not found."""
        shard, row = self._index.find(keys)
        out = np.zeros(len(shard), dtype=FACTS)
        found = shard >= 0
        for s in np.unique(shard[found]).tolist():
            where = np.flatnonzero(shard == s)
            out[where] = self._tables[s][row[where]]
        return out, found

    def add(self, facts: np.ndarray) -> None:
        """Store ``facts`` (:data:`FACTS` rows) as one shard; cached keys are skipped."""
        if not len(facts):
            return
        fresh = facts[self._index.find(np.ascontiguousarray(facts["key"]))[0] < 0]
        if not len(fresh):
            return
        import io

        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(fresh), allow_pickle=False)
        raw = buf.getvalue()
        stem = f"{time.time_ns():x}-{os.getpid()}-{secrets.token_hex(4)}"
        write_bytes_atomic(self.dir / f"{stem}.scan.npy", raw)
        write_text_atomic(
            self.dir / f"{stem}.scan.sum", hashlib.blake2b(raw, digest_size=16).hexdigest()
        )
        self._tables.append(fresh)
        self._index.stage(np.ascontiguousarray(fresh["key"]))
        self._index.commit()
