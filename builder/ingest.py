"""Ingest: raw files → validated, content-hashed records in the pool.

All-or-nothing per file by default: the first invalid row aborts the file's transaction and
the pool is unchanged. With ``skip_invalid`` the valid rows land and each rejected row is
written (atomically) to a rejects file with its reason. Re-ingesting the same rows adds
nothing; a changed row under an existing id is a conflict and is never overwritten.

Reading, validating and hashing run on a worker thread beside the writer: it hands over
chunks of CHUNK_ROWS mapped rows through a queue of at most QUEUE_CHUNKS chunks (memory
stays constant whatever the file size), while the caller's thread checks ids against the
pool and bulk-inserts. The database driver releases the GIL while it writes, so the two
overlap. Chunks are taken in file order, so every count and every error is what a single
pass would give.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builder import media as media_mod
from builder.conversation import conversation_fields
from builder.errors import IngestError
from builder.fsutil import write_text_atomic
from builder.hashing import canonical_json, content_hash
from builder.readers import RawRow, ReadProgress, detect_format, read_rows
from builder.record_mapping import RecordMapper, RowInvalid
from builder.spec import BenchmarkSpec
from builder.store.audit import log_event
from builder.store.pool import existing_records, finish_batch, insert_records, start_batch
from builder.textio import escape_line_breaks
from builder.workspace import Workspace, current_actor

if TYPE_CHECKING:
    from sqlmodel import Session

__all__ = [
    "CHUNK_ROWS",
    "QUEUE_CHUNKS",
    "FileReport",
    "IngestReport",
    "content_hash",
    "ingest_files",
]

CHUNK_ROWS = 5000
"""Rows per chunk handed from the reading thread to the writer (and per bulk insert)."""
QUEUE_CHUNKS = 4
"""Most mapped chunks waiting for the writer: bounds memory to a few chunks of rows."""


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


def _chunks(rows: Iterable[RawRow], n: int) -> Iterator[list[RawRow]]:
    chunk: list[RawRow] = []
    for r in rows:
        chunk.append(r)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# One row as the reading thread hands it over: mapped, refused (with its reason), or the
# header (already checked against the spec).
_Entry = tuple[RawRow, dict[str, Any] | RowInvalid | None]


@dataclass
class _Chunk:
    entries: list[_Entry]
    read: ReadProgress | None
    """How far the reader was when the chunk was complete (for the progress bar)."""


class _MappedRows:
    """Reads and maps a file's rows on a worker thread; iterate for :class:`_Chunk` s in order.

    An exception on the worker (a spec check of the header, an unreadable file) is raised
    again by the iterator. :meth:`close` stops the worker early (the writer failed).
    """

    def __init__(
        self,
        rows: Iterator[RawRow],
        mapper: RecordMapper,
        spec: BenchmarkSpec,
        path: Path,
        latest: list[ReadProgress | None],
    ) -> None:
        self._rows, self._mapper, self._spec, self._path = rows, mapper, spec, path
        self._latest = latest
        self._queue: queue.Queue[_Chunk | BaseException | None] = queue.Queue(QUEUE_CHUNKS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-reader", daemon=True)
        self._thread.start()

    def _put(self, item: _Chunk | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for chunk in _chunks(self._rows, CHUNK_ROWS):
                entries: list[_Entry] = []
                for row in chunk:
                    if row.where == "header":
                        assert row.fields is not None
                        self._spec.check_source_fields(
                            row.fields["__header__"], where=str(self._path)
                        )
                        entries.append((row, None))
                    elif row.fields is None:
                        err = RowInvalid(row.where, row.field, row.error or "unreadable", row.raw)
                        entries.append((row, err))
                    else:
                        try:
                            entries.append((row, self._mapper.map(row)))
                        except RowInvalid as e:
                            e.raw = e.raw or _short(row.fields)
                            entries.append((row, e))
                if not self._put(_Chunk(entries, self._latest[0])):
                    return
            self._put(None)
        except BaseException as e:  # handed to the writer, which raises it
            self._put(e)
        finally:
            close = getattr(self._rows, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[_Chunk]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the worker and wait for it (it closes the file)."""
        self._stop.set()
        self._thread.join()


def _expected_parquet_types(spec: BenchmarkSpec) -> dict[str, tuple[str, ...]]:
    types: dict[str, tuple[str, ...]] = {spec.source.text_field: ("string",)}
    if spec.source.id_field:
        types[spec.source.id_field] = ("string", "integer")
    types.update(dict.fromkeys(conversation_fields(spec), ("conversation",)))
    for name in media_mod.image_fields(spec):
        types.pop(name, None)  # a path string or a {bytes, path} struct; checked per row
    return types


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
    reader = _MappedRows(iter(rows), mapper, spec, path, latest)
    try:
        with ws.db.session() as s:
            batch_id, seen_any = _write(
                s, benchmark_id, spec, path, reader, report, reject, progress
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
        reader.close()
    return report


def _write(
    s: Session,
    benchmark_id: int,
    spec: BenchmarkSpec,
    path: Path,
    reader: _MappedRows,
    report: FileReport,
    reject: Callable[[RowInvalid], None],
    progress: Callable[[str, ReadProgress], None] | None,
) -> tuple[int, bool]:
    """The writer's side: each chunk's ids checked against the pool, new rows bulk-inserted,
    duplicates and conflicts counted. Returns the batch id and whether the file had any
    data row."""
    seen_any = False
    batch_id = start_batch(s, benchmark_id=benchmark_id, source=str(path))
    for chunk in reader:
        mapped: list[tuple[RawRow, dict[str, Any]]] = []
        for row, out in chunk.entries:
            if row.where == "header":
                continue
            seen_any = True
            if isinstance(out, RowInvalid):
                reject(out)
            elif out is not None:
                mapped.append((row, out))
        known = existing_records(s, benchmark_id, [m["source_id"] for _, m in mapped])
        fresh: dict[str, tuple[Any, ...]] = {}
        for row, m in mapped:
            sid = m["source_id"]
            prior = known.get(sid)
            if sid in fresh or (prior is not None and prior[1] == batch_id):
                reject(
                    RowInvalid(
                        row.where,
                        spec.source.id_field,
                        f"duplicate id {sid!r} appears earlier in this file; ids must be unique",
                        _short(row.fields),
                    )
                )
            elif prior is None:
                fresh[sid] = (
                    benchmark_id,
                    sid,
                    m["content_hash"],
                    m["text"],
                    m["data"],
                    batch_id,
                )
            elif prior[0] == m["content_hash"]:
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
    try:
        for p in paths:
            report.files.append(
                _ingest_file(ws, bench.id, spec, Path(p), fmt, skip_invalid, progress)
            )
    finally:
        report.seconds = time.perf_counter() - started
    return report
