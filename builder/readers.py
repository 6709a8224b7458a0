"""Streaming readers for csv / jsonl / parquet (optionally gzip-compressed), and for the
exports of other labeling tools (``label-studio`` JSON, an ``argilla`` datasets folder; see
``builder.migrate``).

Each reader yields :class:`RawRow` one at a time (constant memory): the row's place in the
file, its fields, or the reason it could not be read. File-level problems (an empty file,
a missing column, a Parquet column of the wrong type) raise :class:`IngestError` at once.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from builder.conversation import is_arrow_type
from builder.errors import IngestError
from builder.textio import BOM_UTF8, check_unicode_start

__all__ = ["FORMATS", "MIGRATION_FORMATS", "RawRow", "detect_format", "read_rows"]

FORMATS = ("csv", "jsonl", "parquet", "label-studio", "argilla")
MIGRATION_FORMATS = ("label-studio", "argilla")
"""Other labeling tools' exports: read only when named with ``--format``."""


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3× (per row)
class RawRow:
    """One row as read: ``fields`` when it parsed, else ``error`` (and ``raw`` text)."""

    where: str
    """'line N' (jsonl, csv) or 'row N' (parquet)."""
    fields: dict[str, Any] | None
    error: str | None = None
    raw: str | None = None
    field: str | None = None
    """Field at fault, when known."""
    source_id: str | None = None
    """The row's id in the tool it was exported from (a Label Studio task id, an Argilla
    record id): the record's source id when the spec names no id field."""


@dataclass(frozen=True, slots=True)
class ReadProgress:
    """Bytes (or rows for parquet) read so far and the total; for progress bars."""

    done: int
    total: int
    rows: int = 0
    """Records written so far, when the caller counts them (ingest does; a progress bar
    shows them with their rate)."""


def detect_format(path: Path, fmt: str | None) -> str:
    """The format to read ``path`` with: ``fmt`` if given, else from the suffix."""
    if fmt:
        if fmt not in FORMATS:
            raise IngestError(f"--format {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
        return fmt
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    ext = suffixes[-1].lstrip(".") if suffixes else ""
    ext = {"ndjson": "jsonl", "json": "jsonl", "pq": "parquet", "tsv": "csv"}.get(ext, ext)
    if ext not in FORMATS or ext in MIGRATION_FORMATS:
        raise IngestError(
            f"{path}: cannot tell the format from the name; pass --format {'|'.join(FORMATS)}"
        )
    return ext


class _Counting(io.RawIOBase):
    """Counts bytes read through it so a progress bar can follow any reader."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n


def _open_binary(path: Path) -> tuple[IO[bytes], _Counting, int]:
    size = path.stat().st_size
    raw = path.open("rb")
    counter = _Counting(raw)
    stream: IO[bytes] = io.BufferedReader(counter, buffer_size=1 << 20)
    if path.suffix.lower() == ".gz":
        stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
    return stream, counter, size


def _decode(line: bytes) -> tuple[str | None, str | None]:
    try:
        return line.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return None, (
            f"bytes {line[e.start : e.start + 4]!r} at column {e.start + 1} are not UTF-8; "
            "re-save the file as UTF-8"
        )


def _read_jsonl(path: Path, progress: Callable[[ReadProgress], None] | None) -> Iterator[RawRow]:
    stream, counter, size = _open_binary(path)
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    with stream:
        for n, line in enumerate(stream, start=1):
            if progress and (n & 4095) == 0:
                progress(ReadProgress(counter.count, size))
            # The common line is one object and parses as it is (JSON allows the line
            # break around it); every other line takes the checks below.
            try:
                obj = loads(line)
            except decode_error:
                pass
            else:
                if obj.__class__ is dict:
                    yield RawRow(f"line {n}", obj)
                    continue
            row = _jsonl_line(n, line)
            if row is not None:
                yield row
        if progress:
            progress(ReadProgress(size, size))


def _jsonl_line(n: int, line: bytes) -> RawRow | None:
    """Line ``n`` that did not parse as one JSON object as it is: the row (or the reason it
    was refused), or None for a blank line."""
    # A byte-order mark starts the file (Windows tools), or a line of files joined with
    # `cat`; either way it is not part of the JSON.
    if line[:3] == BOM_UTF8:
        line = line[3:]
    if not line.strip():
        return None
    line = line.rstrip(b"\r\n")
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        text, err = _decode(line)
        if err or text is None:
            return RawRow(f"line {n}", None, err, line.decode("utf-8", "replace"))
        return RawRow(
            f"line {n}",
            None,
            f"malformed JSON ({e.msg} at column {e.colno}); fix the line so it holds "
            "one JSON object",
            text,
        )
    if not isinstance(obj, dict):
        return RawRow(
            f"line {n}",
            None,
            f"expected a JSON object, got {type(obj).__name__}; write one object per line",
            line.decode("utf-8", "replace"),
        )
    return RawRow(f"line {n}", obj)


def _read_csv(
    path: Path, progress: Callable[[ReadProgress], None] | None, max_field_bytes: int
) -> Iterator[RawRow]:
    stream, counter, size = _open_binary(path)
    delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    # surrogateescape keeps undecodable bytes visible (as lone surrogates) so one bad row
    # can be rejected without giving up on the whole file.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    # The csv module counts characters, we count UTF-8 bytes (up to 4 per character): its
    # limit is only a backstop against an unclosed quote swallowing the rest of the file;
    # the per-field byte check in ingest names the oversize field.
    csv.field_size_limit(max_field_bytes * 4 + 1024)
    with text:
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise IngestError(f"{path}: line 1: cannot read the CSV header ({e})") from None
        header = [h.strip() for h in header]
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise IngestError(f"{path}: line 1: duplicate column names {dupes}; rename them")
        yield RawRow("header", {"__header__": header})
        n = 1
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                msg = str(e)
                if "field larger than field limit" in msg:
                    yield RawRow(
                        f"line {start}",
                        None,
                        "a field runs far past the size limit; look for an unclosed quote "
                        "(or raise BENCHSMITH_MAX_FIELD_BYTES if the field really is that long)",
                    )
                else:
                    yield RawRow(
                        f"line {start}",
                        None,
                        f"CSV quoting error ({msg}); quote fields that contain commas, quotes or "
                        'newlines and double any quote inside a field ("")',
                    )
                continue
            n += 1
            if progress and n % 4096 == 0:
                progress(ReadProgress(counter.count, size))
            if not row or row == [""]:
                continue
            if len(row) != len(header):
                yield RawRow(
                    f"line {start}",
                    None,
                    f"has {len(row)} fields but the header has {len(header)}; check delimiters "
                    "and quoting",
                    delimiter.join(row),
                )
                continue
            bad = next((i for i, v in enumerate(row) if _has_surrogate(v)), None)
            if bad is not None:
                yield RawRow(
                    f"line {start}",
                    None,
                    "contains bytes that are not UTF-8; re-save the file as UTF-8",
                    None,
                    header[bad],
                )
                continue
            yield RawRow(f"line {start}", dict(zip(header, row, strict=True)))
        if progress:
            progress(ReadProgress(size, size))


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _read_parquet(
    path: Path,
    progress: Callable[[ReadProgress], None] | None,
    expected_types: dict[str, tuple[str, ...]],
) -> Iterator[RawRow]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise IngestError(f"{path}: not a readable Parquet file ({e})") from None
    schema = pf.schema_arrow
    for name, kinds in expected_types.items():
        if name not in schema.names:
            continue
        t = schema.field(name).type
        # A pandas ``category`` column is dictionary-encoded: its values are what counts
        # (``to_pylist`` below yields them as plain str / int).
        values = t.value_type if pa.types.is_dictionary(t) else t
        ok = (
            ("string" in kinds and _is_text(values))
            or ("integer" in kinds and pa.types.is_integer(values))
            or ("conversation" in kinds and is_arrow_type(values))
        )
        if not ok and "conversation" in kinds:
            raise IngestError(
                f"{path}: column {name!r} has Parquet type {t}; a conversation column must be "
                "list<struct<role: string, content: string>>. Write each value as a list of "
                '{"role": ..., "content": ...} dicts and rewrite the file'
            )
        if not ok:
            raise IngestError(
                f"{path}: column {name!r} has Parquet type {t}; expected "
                f"{' or '.join(kinds)}. Cast it (e.g. df[{name!r}].astype(str)) and rewrite the file"
            )
    yield RawRow("header", {"__header__": list(schema.names)})
    total = pf.metadata.num_rows
    n = 0
    for batch in pf.iter_batches(batch_size=8192):
        for row in batch.to_pylist():
            n += 1
            yield RawRow(f"row {n}", row)
        if progress:
            progress(ReadProgress(n, total))


def _is_text(t: Any) -> bool:
    import pyarrow as pa

    is_view = getattr(pa.types, "is_string_view", None)  # pyarrow >= 16
    return bool(
        pa.types.is_string(t) or pa.types.is_large_string(t) or (is_view is not None and is_view(t))
    )


def _check_text_encoding(path: Path) -> None:
    """Refuse a UTF-16/32 text file by name (the readers decode UTF-8, BOM or not)."""
    try:
        with gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb") as f:
            head = f.read(8)
    except (OSError, EOFError) as e:
        raise IngestError(
            f"{path}: cannot be read as gzip ({e}); drop the .gz suffix if the file is not "
            "compressed, or re-compress it"
        ) from None
    check_unicode_start(head, str(path), IngestError)


def read_rows(
    path: Path,
    fmt: str,
    *,
    max_field_bytes: int,
    expected_types: dict[str, tuple[str, ...]] | None = None,
    progress: Callable[[ReadProgress], None] | None = None,
    id_field: str | None = None,
) -> Iterator[RawRow]:
    """Yield the rows of ``path``; csv/parquet first yield a ``header`` pseudo-row.

    ``id_field`` (the spec's ``source.id_field``) is for the migration formats: a task whose
    data lacks it gets its tool's id there.
    """
    if fmt == "label-studio":
        from builder.migrate.label_studio import read_tasks

        return read_tasks(path, id_field)
    if fmt == "argilla":
        from builder.migrate.argilla import read_records

        return read_records(path, id_field)
    if not path.is_file():
        raise IngestError(f"{path}: no such file; check the path")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: the file is empty; nothing to ingest")
    if fmt != "parquet":
        _check_text_encoding(path)
    if fmt == "jsonl":
        return _read_jsonl(path, progress)
    if fmt == "csv":
        return _read_csv(path, progress, max_field_bytes)
    return _read_parquet(path, progress, expected_types or {})
