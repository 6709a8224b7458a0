"""Ingest: raw files → validated, content-hashed records in the pool.

All-or-nothing per file by default: the first invalid row aborts the file's transaction and
the pool is unchanged. With ``skip_invalid`` the valid rows land and each rejected row is
written (atomically) to a rejects file with its reason. Re-ingesting the same rows adds
nothing; a changed row under an existing id is a conflict and is never overwritten.

Rows are read, validated and hashed in chunks of CHUNK_ROWS (memory stays constant
whatever the file size); each chunk's ids are checked against the pool and its new rows
bulk-inserted, in file order, so every count and every error is the first row's.

Measured on 300,000 rows (``benchmarks/ingest.py``) this runs in one thread: reading on a
worker thread was slower (the two contend for the GIL), and reading in a child process
gained 5% on SQLite, as pickling the rows across costs about what the second core saves.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builder import media as media_mod
from builder.conversation import conversation_fields
from builder.errors import IngestError
from builder.fsutil import write_text_atomic
from builder.hashing import canonical_json, content_hash
from builder.readers import RawRow, ReadProgress, detect_format, read_rows
from builder.record_mapping import MappedRecord, RecordMapper, RowInvalid
from builder.spec import BenchmarkSpec
from builder.store.audit import log_event
from builder.store.pool import (
    existing_records,
    finish_batch,
    insert_records,
    start_batch,
    with_text,
)
from builder.textio import escape_line_breaks
from builder.workspace import Workspace, current_actor

if TYPE_CHECKING:
    from sqlmodel import Session

__all__ = [
    "CHUNK_ROWS",
    "FileReport",
    "IngestReport",
    "content_hash",
    "ingest_files",
]

CHUNK_ROWS = 5000
"""Rows read and validated per step (and per bulk insert)."""


@dataclass
class FileReport:
    """Counts for one file."""

    path: str
    ingested: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    conflict_ids: list[str] = field(default_factory=list)
    rejects_file: str | None = None


@dataclass
class IngestReport:
    """Counts for a whole ``ingest`` call (``--json`` prints :meth:`summary`)."""

    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The machine-readable summary."""
        total = {
            k: sum(getattr(f, k) for f in self.files)
            for k in ("ingested", "duplicates", "conflicts", "rejected")
        }
        return {
            **total,
            "seconds": round(self.seconds, 3),
            "files": [f.__dict__ for f in self.files],
        }


_Entry = tuple[str, MappedRecord | None, RowInvalid | None]
"""One data row: where it was, and its record or the reason it was refused. (The row's
fields are not kept: holding a chunk of them until it is written made ingest a third
slower, all of it in garbage collection.)"""


@dataclass(frozen=True)
class _Chunk:
    entries: list[_Entry]
    read: ReadProgress | None
    """How far the reader was when the chunk was complete (for the progress bar)."""


def _expected_parquet_types(spec: BenchmarkSpec) -> dict[str, tuple[str, ...]]:
    types: dict[str, tuple[str, ...]] = {spec.source.text_field: ("string",)}
    if spec.source.id_field:
        types[spec.source.id_field] = ("string", "integer")
    types.update(dict.fromkeys(conversation_fields(spec), ("conversation",)))
    for name in media_mod.image_fields(spec):
        types.pop(name, None)  # a path string or a {bytes, path} struct; checked per row
    return types


def _mapped_chunks(
    rows: Iterator[RawRow],
    mapper: RecordMapper,
    spec: BenchmarkSpec,
    path: Path,
    latest: list[ReadProgress | None],
) -> Iterator[_Chunk]:
    """The data rows of ``rows`` mapped, CHUNK_ROWS at a time; a header is checked against
    the spec (raises SpecError) and not handed on."""
    entries: list[_Entry] = []
    for row in rows:
        if row.where == "header":
            assert row.fields is not None
            spec.check_source_fields(row.fields["__header__"], where=str(path))
            continue
        if row.fields is None:
            err = RowInvalid(row.where, row.field, row.error or "unreadable", row.raw)
            entries.append((row.where, None, err))
        else:
            try:
                entries.append((row.where, mapper.map(row), None))
            except RowInvalid as e:
                e.raw = e.raw or _short(row.fields)
                entries.append((row.where, None, e))
        if len(entries) >= CHUNK_ROWS:
            yield _Chunk(entries, latest[0])
            entries = []
    if entries:
        yield _Chunk(entries, latest[0])


def _ingest_file(
    ws: Workspace,
    benchmark_id: int,
    spec: BenchmarkSpec,
    path: Path,
    fmt: str | None,
    skip_invalid: bool,
    progress: Callable[[str, ReadProgress], None] | None,
) -> FileReport:
    fmt = detect_format(path, fmt)
    mapper = RecordMapper(
        spec,
        ws.settings.max_field_bytes,
        cells_are_text=fmt == "csv",
        image_dir=path.resolve().parent,
        media=media_mod.media_root(ws.settings.home),
    )
    report = FileReport(path=str(path))
    rejects: list[str] = []

    def reject(err: RowInvalid) -> None:
        if not skip_invalid:
            raise IngestError(
                f"{path}: {err.where}: {err.message}. Nothing from this file was ingested; "
                "fix the row or rerun with --skip-invalid to set invalid rows aside"
            )
        report.rejected += 1
        rejects.append(
            escape_line_breaks(
                canonical_json(
                    {
                        "file": str(path),
                        "where": err.where,
                        "field": err.field,
                        "error": err.message,
                        "raw": err.raw,
                    }
                ).decode("utf-8")
            )
        )

    latest: list[ReadProgress | None] = [None]

    def read_progress(p: ReadProgress) -> None:
        latest[0] = p  # the writer reports it with the rows written, after each chunk

    rows = read_rows(
        path,
        fmt,
        max_field_bytes=ws.settings.max_field_bytes,
        expected_types=_expected_parquet_types(spec),
        progress=read_progress if progress else None,
        id_field=spec.source.id_field,
    )
    chunks = _mapped_chunks(iter(rows), mapper, spec, path, latest)
    try:
        with ws.db.session() as s:
            batch_id, seen_any = _write(
                s, benchmark_id, spec, path, chunks, report, reject, progress
            )
            if not seen_any:
                raise IngestError(f"{path}: the file has a header but no rows; nothing to ingest")
            if rejects:
                out = ws.settings.rejects_dir / f"{path.name}.{batch_id}.rejects.jsonl"
                write_text_atomic(out, "\n".join(rejects) + "\n")
                report.rejects_file = str(out)
            finish_batch(
                s,
                batch_id,
                ingested=report.ingested,
                duplicates=report.duplicates,
                conflicts=report.conflicts,
                rejected=report.rejected,
            )
            log_event(
                s,
                actor=current_actor(),
                action="pool.ingest",
                entity="ingest_batch",
                entity_id=batch_id,
                benchmark_id=benchmark_id,
                after={k: v for k, v in report.__dict__.items() if k != "conflict_ids"},
            )
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()  # the file, when the writer stopped early
    return report


def _write(
    s: Session,
    benchmark_id: int,
    spec: BenchmarkSpec,
    path: Path,
    chunks: Iterator[_Chunk],
    report: FileReport,
    reject: Callable[[RowInvalid], None],
    progress: Callable[[str, ReadProgress], None] | None,
) -> tuple[int, bool]:
    """The writer's side: each chunk's ids checked against the pool, new rows bulk-inserted,
    duplicates and conflicts counted. Returns the batch id and whether the file had any
    data row."""
    seen_any = False
    batch_id = start_batch(s, benchmark_id=benchmark_id, source=str(path))
    for chunk in chunks:
        entries = chunk.entries
        seen_any = seen_any or bool(entries)
        known = existing_records(s, benchmark_id, [r[0] for _, r, _ in entries if r is not None])
        fresh: dict[str, tuple[Any, ...]] = {}
        for where, record, err in entries:  # in file order: the first problem is the first row's
            if record is None:
                assert err is not None
                reject(err)
                continue
            sid, digest, text, data = record
            prior = known.get(sid)
            if sid in fresh or (prior is not None and prior[1] == batch_id):
                # The row as validated (its spec fields), as the file's row is not kept.
                raw = _short(with_text(json.loads(data), text, spec.source.text_field))
                reject(
                    RowInvalid(
                        where,
                        spec.source.id_field,
                        f"duplicate id {sid!r} appears earlier in this file; ids must be unique",
                        raw,
                    )
                )
            elif prior is None:
                fresh[sid] = (benchmark_id, sid, digest, text, data, batch_id)
            elif prior[0] == digest:
                report.duplicates += 1
            else:
                report.conflicts += 1
                if len(report.conflict_ids) < 1000:
                    report.conflict_ids.append(sid)
        insert_records(s, list(fresh.values()))
        report.ingested += len(fresh)
        if progress and chunk.read is not None:
            read = chunk.read
            progress(str(path), ReadProgress(read.done, read.total, rows=report.ingested))
    return batch_id, seen_any


def _short(fields: dict[str, Any] | None, limit: int = 2000) -> str | None:
    if fields is None:
        return None
    text = json.dumps(fields, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


@contextmanager
def _heap_left_out_of_collections() -> Iterator[None]:
    """Freeze what is alive now (``gc.freeze``) while rows stream through, then thaw it.

    Each chunk's rows live long enough to reach the oldest generation, so full collections
    run every few chunks, and each re-scanned everything imported (SQLAlchemy, pydantic):
    a third of SQLite ingest's time. Frozen objects are left out of the scans; new garbage
    is still collected. A caller that froze its own heap keeps it frozen, untouched.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def ingest_files(
    ws: Workspace,
    paths: Iterable[str | Path],
    *,
    benchmark: str | None = None,
    fmt: str | None = None,
    skip_invalid: bool = False,
    progress: Callable[[str, ReadProgress], None] | None = None,
) -> IngestReport:
    """Ingest each file in its own transaction; stop at the first refused file."""
    bench, spec = ws.benchmark(benchmark)
    assert bench.id is not None
    report = IngestReport()
    started = time.perf_counter()
    with _heap_left_out_of_collections():
        try:
            for p in paths:
                report.files.append(
                    _ingest_file(ws, bench.id, spec, Path(p), fmt, skip_invalid, progress)
                )
        finally:
            report.seconds = time.perf_counter() - started
    return report
