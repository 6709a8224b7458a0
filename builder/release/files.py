"""Release data files: one Parquet and one JSONL file per split, one row per item.

Columns, in order: ``id`` (the record's source id, what predictions refer to), the
task's input fields, the gold answer (``label`` string, ``labels`` list of strings, or
``answer`` string), ``cluster`` (int, nullable), ``stratum`` (string, nullable) and
``weight`` (float: the item's inclusion weight). Rows are sorted by ``id``. The Arrow
schema is inferred once over every split, so all splits share it; an input field whose
values have no common Arrow type is stored as canonical JSON text (the field is then
marked ``{"encoding": "json"}`` in the Parquet schema).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from builder.release.manifest import ANSWER_FIELDS, FileEntry, canonical_json
from builder.release.registry import hash_stream
from builder.spec import BenchmarkSpec

__all__ = ["ReleaseSchema", "arrow_schema", "write_split"]

_ANSWER_TYPES: dict[str, pa.DataType] = {
    "label": pa.string(),
    "labels": pa.list_(pa.string()),
    "answer": pa.string(),
}


@dataclass(frozen=True)
class ReleaseSchema:
    """The Arrow schema of every split, and which input fields are JSON-encoded."""

    schema: pa.Schema
    json_fields: frozenset[str]


def _infer(values: Sequence[Any]) -> pa.DataType | None:
    """Arrow type of ``values``; None when they have no common type."""
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError, ValueError):
        return None
    return pa.string() if pa.types.is_null(arr.type) else arr.type


def arrow_schema(spec: BenchmarkSpec, rows: Sequence[dict[str, Any]]) -> ReleaseSchema:
    """The schema for ``rows`` (all splits together)."""
    answer = ANSWER_FIELDS[spec.task.type.value]
    fields = [pa.field("id", pa.string(), nullable=False)]
    json_fields = set()
    for name in spec.task.input_fields:
        t = _infer([r.get(name) for r in rows])
        if t is None:
            json_fields.add(name)
            fields.append(pa.field(name, pa.string(), metadata={"encoding": "json"}))
        else:
            fields.append(pa.field(name, t))
    fields += [
        pa.field(answer, _ANSWER_TYPES[answer]),
        pa.field("cluster", pa.int64()),
        pa.field("stratum", pa.string()),
        pa.field("weight", pa.float64()),
    ]
    return ReleaseSchema(pa.schema(fields), frozenset(json_fields))


def _entry(path: Path, rel: str, split: str, fmt: str, rows: int) -> FileEntry:
    with open(path, "rb") as f:
        digest, size = hash_stream(f)
    return FileEntry(path=rel, sha256=digest, size=size, split=split, format=fmt, rows=rows)  # type: ignore[arg-type]


def write_split(
    stage: Path, split: str, rows: Sequence[dict[str, Any]], schema: ReleaseSchema
) -> list[FileEntry]:
    """Write ``data/<split>.parquet`` and ``data/<split>.jsonl`` under ``stage``."""
    rows = sorted(rows, key=lambda r: r["id"])
    data_dir = stage / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    columns = {}
    for f in schema.schema:
        values = [r.get(f.name) for r in rows]
        if f.name in schema.json_fields:
            values = [None if v is None else canonical_json(v) for v in values]
        columns[f.name] = pa.array(values, type=f.type)
    table = pa.Table.from_pydict(columns, schema=schema.schema)
    parquet = data_dir / f"{split}.parquet"
    pq.write_table(table, parquet)
    names = schema.schema.names
    jsonl = data_dir / f"{split}.jsonl"
    with open(jsonl, "wb") as out:
        # orjson: compact UTF-8, keys in column order, several times faster than json.dumps.
        out.write(b"".join(orjson.dumps({k: r.get(k) for k in names}) + b"\n" for r in rows))
    return [
        _entry(parquet, f"data/{split}.parquet", split, "parquet", len(rows)),
        _entry(jsonl, f"data/{split}.jsonl", split, "jsonl", len(rows)),
    ]


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
