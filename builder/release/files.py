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

import pyarrow as pa
import pyarrow.parquet as pq

from builder.conversation import arrow_type, conversation_fields
from builder.hashing import canonical_json
from builder.media import image_fields
from builder.release.columns import ANSWER_INDEX, slice_columns
from builder.release.images import IMAGE_STRUCT, hf_metadata, parquet_values
from builder.release.manifest import FileEntry, answer_field_for
from builder.release.verify import hash_stream
from builder.spec import BenchmarkSpec
from builder.textio import jsonl_line

__all__ = ["ReleaseSchema", "arrow_schema", "write_split"]

_ANSWER_TYPES: dict[str, pa.DataType] = {
    "label": pa.string(),
    "labels": pa.list_(pa.string()),
    "answer": pa.string(),
    # SQuAD v2 / Hugging Face ``datasets``: answers {text: [string], answer_start: [int32]}
    "answers": pa.struct([("text", pa.list_(pa.string())), ("answer_start", pa.list_(pa.int32()))]),
}


@dataclass(frozen=True)
class ReleaseSchema:
    """The Arrow schema of every split, and which input fields are JSON-encoded."""

    schema: pa.Schema
    json_fields: frozenset[str]
    image_fields: frozenset[str] = frozenset()
    """Image columns (:mod:`builder.release.images`), read from ``media`` when written."""
    media: Path | None = None


def _infer(values: Sequence[Any]) -> pa.DataType | None:
    """Arrow type of ``values``; None when they have no common type."""
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError, ValueError):
        return None
    return pa.string() if pa.types.is_null(arr.type) else arr.type


def arrow_schema(
    spec: BenchmarkSpec, rows: Sequence[dict[str, Any]], *, media: Path | None = None
) -> ReleaseSchema:
    """The schema for ``rows`` (all splits together); ``media``: the workspace's image store."""
    answer = answer_field_for(spec.task)
    fields = [pa.field("id", pa.string(), nullable=False)]
    json_fields = set()
    conversations = conversation_fields(spec)
    images = image_fields(spec) & set(spec.task.input_fields)
    for name in [*spec.task.input_fields, *slice_columns(spec)]:
        # A conversation is always list<struct<role, content>>, whatever the rows hold.
        t = arrow_type() if name in conversations else _infer([r.get(name) for r in rows])
        if name in images:
            t = IMAGE_STRUCT
        if t is None:
            json_fields.add(name)
            fields.append(pa.field(name, pa.string(), metadata={"encoding": "json"}))
        else:
            fields.append(pa.field(name, t))
    fields += [
        pa.field(answer, _ANSWER_TYPES[answer]),
        *([pa.field(ANSWER_INDEX, pa.int64())] if spec.task.choices_field else []),
        pa.field("cluster", pa.int64()),
        pa.field("stratum", pa.string()),
        pa.field("weight", pa.float64()),
    ]
    meta = hf_metadata(sorted(images)) if images else None
    return ReleaseSchema(pa.schema(fields, metadata=meta), frozenset(json_fields), images, media)


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
            values = [None if v is None else canonical_json(v).decode("utf-8") for v in values]
        if f.name in schema.image_fields:
            values = parquet_values(schema.media, values)
        columns[f.name] = pa.array(values, type=f.type)
    table = pa.Table.from_pydict(columns, schema=schema.schema)
    parquet = data_dir / f"{split}.parquet"
    pq.write_table(table, parquet)
    names = schema.schema.names
    jsonl = data_dir / f"{split}.jsonl"
    with open(jsonl, "wb") as out:
        # orjson: compact UTF-8, keys in column order, several times faster than json.dumps;
        # U+2028 / U+2029 escaped so that line-based readers see one row a line.
        out.write(b"".join(jsonl_line({k: r.get(k) for k in names}) for r in rows))
    return [
        _entry(parquet, f"data/{split}.parquet", split, "parquet", len(rows)),
        _entry(jsonl, f"data/{split}.jsonl", split, "jsonl", len(rows)),
    ]


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
