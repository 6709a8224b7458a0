"""Ingest: raw files → validated, content-hashed records in the pool.

All-or-nothing per file by default: the first invalid row aborts the file's transaction and
the pool is unchanged. With ``skip_invalid`` the valid rows land and each rejected row is
written (atomically) to a rejects file with its reason. Re-ingesting the same rows adds
nothing; a changed row under an existing id is a conflict and is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from builder.errors import IngestError
from builder.fsutil import write_text_atomic
from builder.readers import RawRow, ReadProgress, detect_format, read_rows
from builder.spec import BenchmarkSpec
from builder.store.audit import log_event
from builder.store.pool import existing_records, finish_batch, insert_records, start_batch
from builder.workspace import Workspace, current_actor

__all__ = ["CHUNK_ROWS", "FileReport", "IngestReport", "content_hash", "ingest_files"]

CHUNK_ROWS = 5000


def canonical_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 kept (orjson's encoding).

    This exact text is what content hashes are computed over; never change it lightly.
    """
    try:
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except TypeError as e:
        raise ValueError(str(e)) from None


def content_hash(data: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a record's mapped fields (key order never matters)."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


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


class _RowInvalid(Exception):
    def __init__(self, where: str, field: str | None, message: str, raw: str | None = None):
        super().__init__(message)
        self.where, self.field, self.message, self.raw = where, field, message, raw


_SCALARS = (str, int, float, bool)


class _Mapper:
    """Validates one raw row against the spec and builds a record row."""

    def __init__(self, spec: BenchmarkSpec, max_bytes: int) -> None:
        self.spec = spec
        self.max_bytes = max_bytes
        self.id_field = spec.source.id_field
        self.text_field = spec.source.text_field
        self.required = spec.required_fields
        self.fields = spec.fields

    def _value(self, where: str, name: str, value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            value = None
        if value is None or value == "":
            if name in self.required:
                what = "empty" if value == "" else "missing"
                raise _RowInvalid(where, name, f"field {name!r} is {what}; give a value")
            return None
        if isinstance(value, str):
            if "\x00" in value:
                raise _RowInvalid(
                    where, name, f"field {name!r} contains a NUL byte (\\x00); remove it"
                )
            # Encoding is only needed near the limit: a str of n chars has at most 4n bytes.
            size = len(value)
            if size * 4 > self.max_bytes:
                size = len(value.encode("utf-8", "surrogatepass"))
            if size > self.max_bytes:
                raise _RowInvalid(
                    where,
                    name,
                    f"field {name!r} is {size:,} bytes, over the limit of {self.max_bytes:,}; "
                    "shorten it or raise BENCHSMITH_MAX_FIELD_BYTES",
                )
        elif name in (self.id_field, self.text_field) and not (
            name == self.id_field and isinstance(value, int) and not isinstance(value, bool)
        ):
            kind = "a string or an integer" if name == self.id_field else "a string"
            raise _RowInvalid(
                where, name, f"field {name!r} must be {kind}, got {type(value).__name__} {value!r}"
            )
        elif not isinstance(value, _SCALARS) and name in self.spec.task.input_fields:
            try:
                canonical_json(value)
            except (TypeError, ValueError):
                raise _RowInvalid(where, name, f"field {name!r} is not JSON-serialisable") from None
        return value

    def map(self, row: RawRow) -> dict[str, Any]:
        assert row.fields is not None
        raw = row.fields
        data: dict[str, Any] = {}
        quarter = self.max_bytes // 4
        for name in self.fields:
            value = raw.get(name)
            # Fast path for the common case (a short, clean string); everything else,
            # including every error, goes through the full check in _value.
            if value.__class__ is str and value and len(value) <= quarter and "\x00" not in value:
                data[name] = value
                continue
            if name not in raw and name in self.required:
                raise _RowInvalid(
                    row.where,
                    name,
                    f"field {name!r} is missing; every row needs the spec's id, text and input fields",
                )
            data[name] = self._value(row.where, name, value)
        if self.id_field:
            sid = (
                data[self.id_field]
                if self.id_field in data
                else self._value(row.where, self.id_field, raw.get(self.id_field))
            )
            if sid is None or (isinstance(sid, str) and not sid.strip()):
                raise _RowInvalid(row.where, self.id_field, f"id field {self.id_field!r} is empty")
            source_id = str(sid)
        else:
            source_id = ""
        text = data[self.text_field]
        if not isinstance(text, str) or not text.strip():
            raise _RowInvalid(
                row.where,
                self.text_field,
                f"text field {self.text_field!r} is empty or whitespace; give the text",
            )
        try:
            payload = canonical_json(data)
        except ValueError as e:
            raise _RowInvalid(row.where, None, f"row is not valid JSON data ({e})") from None
        digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
        # ``data`` goes to the store as the exact canonical text that was hashed.
        return {
            "source_id": source_id or digest,
            "content_hash": digest,
            "text": text,
            "data": payload,
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


def _expected_parquet_types(spec: BenchmarkSpec) -> dict[str, tuple[str, ...]]:
    types: dict[str, tuple[str, ...]] = {spec.source.text_field: ("string",)}
    if spec.source.id_field:
        types[spec.source.id_field] = ("string", "integer")
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
    mapper = _Mapper(spec, ws.settings.max_field_bytes)
    report = FileReport(path=str(path))
    rejects: list[str] = []

    def reject(err: _RowInvalid) -> None:
        if not skip_invalid:
            raise IngestError(
                f"{path}: {err.where}: {err.message}. Nothing from this file was ingested; "
                "fix the row or rerun with --skip-invalid to set invalid rows aside"
            )
        report.rejected += 1
        rejects.append(
            canonical_json(
                {
                    "file": str(path),
                    "where": err.where,
                    "field": err.field,
                    "error": err.message,
                    "raw": err.raw,
                }
            )
        )

    rows = read_rows(
        path,
        fmt,
        max_field_bytes=ws.settings.max_field_bytes,
        expected_types=_expected_parquet_types(spec),
        progress=(lambda p: progress(str(path), p)) if progress else None,
    )
    seen_any = False
    with ws.db.session() as s:
        batch_id = start_batch(s, benchmark_id=benchmark_id, source=str(path))
        for chunk in _chunks(rows, CHUNK_ROWS):
            mapped: list[tuple[RawRow, dict[str, Any]]] = []
            for row in chunk:
                if row.where == "header":
                    assert row.fields is not None
                    spec.check_source_fields(row.fields["__header__"], where=str(path))
                    continue
                seen_any = True
                if row.fields is None:
                    reject(_RowInvalid(row.where, row.field, row.error or "unreadable", row.raw))
                    continue
                try:
                    mapped.append((row, mapper.map(row)))
                except _RowInvalid as e:
                    e.raw = e.raw or _short(row.fields)
                    reject(e)
            known = existing_records(s, benchmark_id, [m["source_id"] for _, m in mapped])
            fresh: dict[str, tuple[Any, ...]] = {}
            for row, m in mapped:
                sid = m["source_id"]
                prior = known.get(sid)
                if sid in fresh or (prior is not None and prior[1] == batch_id):
                    reject(
                        _RowInvalid(
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
    return report


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
