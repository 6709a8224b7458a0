"""Ingest: raw files → validated, content-hashed records in the pool.

All-or-nothing per file by default: the first invalid row aborts the file's transaction and
the pool is unchanged. With ``skip_invalid`` the valid rows land and each rejected row is
written (atomically) to a rejects file with its reason. Re-ingesting the same rows adds
nothing; a changed row under an existing id is a conflict and is never overwritten.

Reading, validating and hashing are the reading side's (``builder.ingest_rows``: in a
child process beside the writer for a large file); this module is the writer's: it checks
each chunk's ids against the pool and bulk-inserts, one transaction per file.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builder import ingest_rows
from builder import media as media_mod
from builder.errors import IngestError
from builder.fsutil import write_text_atomic
from builder.hashing import canonical_json, content_hash
from builder.ingest_rows import MappedChunk, ReadJob, mapped_rows, short_raw
from builder.readers import ReadProgress, detect_format
from builder.record_mapping import RowInvalid
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
    "FileReport",
    "IngestReport",
    "content_hash",
    "ingest_files",
]


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


def _ingest_file(
    ws: Workspace,
    benchmark_id: int,
    spec: BenchmarkSpec,
    path: Path,
    fmt: str | None,
    skip_invalid: bool,
    progress: Callable[[str, ReadProgress], None] | None,
) -> FileReport:
    job = ReadJob(
        path=path,
        fmt=detect_format(path, fmt),
        spec=spec,
        max_field_bytes=ws.settings.max_field_bytes,
        media=media_mod.media_root(ws.settings.home),
        chunk_rows=ingest_rows.CHUNK_ROWS,
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

    chunks = mapped_rows(job)
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
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # stops the reading process when the writer gave up early
    return report


def _write(
    s: Session,
    benchmark_id: int,
    spec: BenchmarkSpec,
    path: Path,
    chunks: Iterator[MappedChunk],
    report: FileReport,
    reject: Callable[[RowInvalid], None],
    progress: Callable[[str, ReadProgress], None] | None,
) -> tuple[int, bool]:
    """The writer's side: each chunk's ids checked against the pool, new rows bulk-inserted,
    duplicates and conflicts counted. Returns the batch id and whether the file had any
    data row."""
    seen_any = False
    text_field = spec.source.text_field
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
                raw = short_raw(with_text(json.loads(data), text, text_field))
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
    # Rows pass through in chunks that live a moment, yet long enough to reach the oldest
    # generation: each full collection then re-scanned everything imported (SQLAlchemy,
    # pydantic), a third of SQLite ingest's time. Frozen objects are left out of the scans.
    gc.freeze()
    try:
        for p in paths:
            report.files.append(
                _ingest_file(ws, bench.id, spec, Path(p), fmt, skip_invalid, progress)
            )
    finally:
        gc.unfreeze()
        report.seconds = time.perf_counter() - started
    return report
