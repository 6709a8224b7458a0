"""The stages that exclude or mark records: quality bounds, the PII policy, contamination.

- :func:`quality_problem`: empty / too short / too long text (bounds from the spec).
- :func:`pii_flags` and :func:`apply_pii_policy`: what the ``flag | redact | drop`` policy does
  with the personal data :func:`builder.curate.pii.scan` finds.
- :func:`contamination_index`: word n-grams of everything the pool must not overlap: every
  release in the workspace's registries (``<registry>/<name>/<version>/data/*.jsonl`` or
  ``.parquet``), the texts of released items in the database, and ``--against`` files
  (jsonl, csv, parquet or txt, optionally gzip-compressed).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal

from builder.conversation import to_text
from builder.curate.contamination import NgramIndex
from builder.curate.pii import PiiMatch, count_by_kind, redact, scan
from builder.errors import ConfigError, ReleaseError
from builder.textio import check_unicode_start

__all__ = [
    "AGAINST_FORMATS",
    "FILTER_REASONS",
    "PiiOutcome",
    "apply_pii_policy",
    "contamination_index",
    "pii_flags",
    "quality_problem",
    "read_against_file",
    "registry_texts",
]

FILTER_REASONS = ("empty", "too_short", "too_long")
"""Why a record fails the quality filters, in report order."""

AGAINST_FORMATS = ("jsonl", "csv", "parquet", "txt")
"""File formats ``--against`` reads."""

PiiPolicy = Literal["flag", "redact", "drop"]


def quality_problem(text: str, *, min_chars: int, max_chars: int) -> str | None:
    """``"empty"``, ``"too_short"`` or ``"too_long"`` (characters of the stripped text), or None."""
    n = len(text.strip())
    if n == 0:
        return "empty"
    if n < min_chars:
        return "too_short"
    if n > max_chars:
        return "too_long"
    return None


def pii_flags(matches: Sequence[PiiMatch]) -> dict[str, Any]:
    """The ``pii`` entry of an item's flags: counts per kind and the spans, for reviewers."""
    return {
        "kinds": count_by_kind(matches),
        "spans": [{"kind": m.kind, "start": m.start, "end": m.end} for m in matches],
    }


class PiiOutcome:
    """What the policy made of one text: keep it (maybe redacted), and the flags to store."""

    __slots__ = ("flags", "keep", "text")

    def __init__(self, keep: bool, text: str | None, flags: dict[str, Any] | None) -> None:
        self.keep = keep
        self.text = text
        """Redacted text to store on the item; None to use the record's own text."""
        self.flags = flags
        """The ``pii`` flags entry (None when the text holds no PII)."""


def apply_pii_policy(text: str, policy: PiiPolicy) -> PiiOutcome:
    """Scan ``text`` and apply ``policy``: flag → keep and flag; redact → placeholders; drop."""
    matches = scan(text)
    if not matches:
        return PiiOutcome(True, None, None)
    flags = {**pii_flags(matches), "policy": policy}
    if policy == "drop":
        return PiiOutcome(False, None, flags)
    if policy == "redact":
        flags["redacted"] = True
        return PiiOutcome(True, redact(text, matches), flags)
    return PiiOutcome(True, None, flags)


# --- contamination sources -------------------------------------------------------------


def _string_values(row: Any) -> Iterator[str]:
    if isinstance(row, str):
        yield row
    elif isinstance(row, dict):
        for value in row.values():
            yield from _string_values(value)
    elif isinstance(row, list):
        if row and all(isinstance(t, dict) and set(t) == {"role", "content"} for t in row):
            # A conversation: its role-tagged text, as the pool's records are scanned.
            yield to_text(row)
            return
        for value in row:
            yield from _string_values(value)


def _jsonl_texts(f: IO[bytes], where: str) -> Iterator[str]:
    # utf-8-sig: a byte-order mark (Windows tools) is dropped.
    for n, line in enumerate(io.TextIOWrapper(f, encoding="utf-8-sig"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(
                f"{where}: line {n} is not valid JSON ({e.msg}); fix the file"
            ) from None
        yield from _string_values(row)


def _parquet_texts(f: IO[bytes]) -> Iterator[str]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(f).iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            yield from _string_values(row)


def _format_of(name: str) -> str | None:
    parts = [s.lower() for s in Path(name).suffixes if s.lower() != ".gz"]
    ext = parts[-1].lstrip(".") if parts else ""
    return {"ndjson": "jsonl", "json": "jsonl", "pq": "parquet", "tsv": "csv", "md": "txt"}.get(
        ext, ext
    )


def read_against_file(path: str | Path) -> Iterator[str]:
    """The texts of one ``--against`` file: every string field of jsonl/csv/parquet rows, or
    each blank-line-separated paragraph of a txt file."""
    p = Path(path)
    fmt = _format_of(p.name)
    if fmt not in AGAINST_FORMATS:
        raise ConfigError(
            f"--against {p}: cannot tell the format from the name; use a "
            f"{' / '.join(AGAINST_FORMATS)} file (optionally .gz)"
        )
    if not p.is_file():
        raise ConfigError(f"--against {p}: no such file; check the path (relative to {Path.cwd()})")
    opener: Any = gzip.open if p.suffix.lower() == ".gz" else open
    with opener(p, "rb") as f:
        if fmt != "parquet":
            check_unicode_start(f.peek(8)[:8], f"--against {p}", ConfigError)
        if fmt == "jsonl":
            yield from _jsonl_texts(f, str(p))
        elif fmt == "parquet":
            yield from _parquet_texts(f)
        elif fmt == "csv":
            text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
            dialect = "excel-tab" if ".tsv" in p.name.lower() else "excel"
            for row in csv.reader(text, dialect=dialect):
                yield from (v for v in row if v.strip())
        else:
            para: list[str] = []
            for line in io.TextIOWrapper(f, encoding="utf-8-sig"):
                if line.strip():
                    para.append(line)
                elif para:
                    yield "".join(para)
                    para = []
            if para:
                yield "".join(para)


def registry_texts(registry: str) -> Iterator[tuple[str, str]]:
    """(source name, text) for every release data file under a registry folder or fsspec URL.

    A split stored as both jsonl and parquet is read once (the jsonl).
    """
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(registry)
        files = sorted(fs.glob(f"{root.rstrip('/')}/*/*/data/*"))
    except (OSError, ValueError) as e:
        raise ReleaseError(f"cannot list the registry {registry!r}: {e}") from None
    chosen: dict[str, tuple[str, str]] = {}
    for f in files:
        fmt = _format_of(f)
        if fmt not in ("jsonl", "parquet"):
            continue
        stem = f.split("/")[-1].split(".")[0]
        key = f.rsplit("/", 1)[0] + "/" + stem
        if key not in chosen or fmt == "jsonl":
            chosen[key] = (f, fmt)
    for _key, (f, fmt) in sorted(chosen.items()):
        rel = f[len(root.rstrip("/")) + 1 :] if f.startswith(root.rstrip("/")) else f
        name = f"release {rel}"
        with fs.open(f, "rb", compression="infer") as fh:
            texts = _jsonl_texts(fh, f) if fmt == "jsonl" else _parquet_texts(fh)
            for text in texts:
                yield name, text


def contamination_index(
    *,
    registries: Iterable[str],
    released: Iterable[tuple[str, str]],
    against: Sequence[str | Path],
    n: int,
) -> tuple[NgramIndex | None, int]:
    """An n-gram index of all contamination sources, and the number of texts indexed.

    Returns ``(None, 0)`` when there is nothing to check against (the common first run), so
    the pool is not even tokenised then.
    """
    index = NgramIndex(n=n)
    count = 0
    for path in against:
        name = f"--against {Path(path).name}"
        for text in read_against_file(path):
            index.add(name, text)
            count += 1
    for reg in registries:
        for name, text in registry_texts(reg):
            index.add(name, text)
            count += 1
    for name, text in released:
        index.add(name, text)
        count += 1
    return (index if len(index) else None), count
