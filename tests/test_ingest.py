"""Ingest: every bad input refused with its exact message, nothing half-loaded, idempotent.

Store-touching tests run on SQLite and on a real PostgreSQL server (the `workspace` fixture).
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

import builder.ingest as ingest_mod
from builder.errors import IngestError, SpecError
from builder.ingest import content_hash, ingest_files
from builder.store.models import Record
from builder.store.pool import records_outside_items, with_text
from builder.workspace import Workspace
from tests.support.common import SAMPLE_DATA, SAMPLE_SPEC, write_jsonl

FORMATS = ["jsonl", "csv", "parquet"]
COLUMNS = ["package", "description", "section", "priority"]


def rows(n: int = 5, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "package": f"pkg{i}",
            "description": f"Tool number {i}: does thing {i} well.",
            "section": "utils",
            "priority": "optional",
        }
        for i in range(start, start + n)
    ]


def write(path: Path, fmt: str, data: list[dict[str, Any]]) -> Path:
    """Write ``data`` in ``fmt``; the same logical rows in every format."""
    path = path.with_suffix("." + fmt)
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    elif fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(data)
    else:
        cols = {c: [r.get(c) for r in data] for c in COLUMNS}
        pq.write_table(pa.table(cols), path)
    return path


def pool(ws: Workspace) -> dict[str, str]:
    with ws.db.session() as s:
        return {r.source_id: r.text for r in s.exec(select(Record))}


def where(fmt: str, n: int) -> str:
    """Location of data row n (1-based) in each format: jsonl line, csv line (after header), parquet row."""
    return {"jsonl": f"line {n}", "csv": f"line {n + 1}", "parquet": f"row {n}"}[fmt]


@pytest.mark.parametrize("fmt", FORMATS)
def test_ingest_then_reingest_is_idempotent(workspace: Workspace, tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path / "a", fmt, rows(7))
    first = ingest_files(workspace, [path]).summary()
    assert (first["ingested"], first["duplicates"], first["conflicts"], first["rejected"]) == (
        7,
        0,
        0,
        0,
    )
    again = ingest_files(workspace, [path]).summary()
    assert (again["ingested"], again["duplicates"]) == (0, 7)
    assert len(pool(workspace)) == 7
    with workspace.db.session() as s:
        rec = s.exec(select(Record).where(Record.source_id == "pkg3")).one()
    assert rec.text == "Tool number 3: does thing 3 well."
    assert rec.data["package"] == "pkg3" and rec.data["priority"] == "optional"
    # The text is stored once (in Record.text); the hash still covers the whole row.
    assert "description" not in rec.data
    row = with_text(dict(rec.data), rec.text, "description")
    assert row["description"] == "Tool number 3: does thing 3 well."
    assert rec.content_hash == content_hash(row)


def test_records_stored_with_the_text_in_data_read_back_alike(workspace: Workspace) -> None:
    """Pools ingested before the text was stored once carry it in ``data`` too: readers
    return such a record exactly as a new one, and re-ingesting its row is a duplicate."""
    rows = [{"package": "old", "description": "An old tool, stored twice.", "priority": "extra"}]
    path = write_jsonl(workspace.settings.home / "old.jsonl", rows)
    ingest_files(workspace, [path])
    bench, _ = workspace.benchmark()
    with workspace.db.session() as s:
        rec = s.exec(select(Record)).one()
        new_style = dict(rec.data)
        rec.data = {**rec.data, "description": rec.text}  # as an older version stored it
        s.add(rec)
        s.commit()
        assert records_outside_items(s, bench.id, text_field="description") == [
            ("old", {**new_style, "description": "An old tool, stored twice."})
        ]
    again = ingest_files(workspace, [path]).summary()
    assert (again["ingested"], again["duplicates"], again["conflicts"]) == (0, 1, 0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_changed_row_is_a_conflict_not_an_overwrite(
    workspace: Workspace, tmp_path: Path, fmt: str
) -> None:
    ingest_files(workspace, [write(tmp_path / "a", fmt, rows(3))])
    changed = rows(3)
    changed[1]["description"] = "Rewritten text"
    report = ingest_files(workspace, [write(tmp_path / "b", fmt, changed + rows(1, start=3))])
    f = report.files[0]
    assert (f.ingested, f.duplicates, f.conflicts, f.conflict_ids) == (1, 2, 1, ["pkg1"])
    assert pool(workspace)["pkg1"] == "Tool number 1: does thing 1 well."


BAD_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("missing id", {"package": None}, "field 'package' is missing; give a value"),
    ("empty text", {"description": ""}, "field 'description' is empty; give a value"),
    (
        "blank text",
        {"description": "   \n "},
        "text field 'description' is empty or whitespace; give the text",
    ),
    (
        "NUL byte",
        {"description": "a\x00b"},
        "field 'description' contains a NUL byte (\\x00); remove it",
    ),
    (
        "oversize field",
        {"description": "x" * 2_000},
        "field 'description' is 2,000 bytes, over the limit of 1,000; shorten it or raise "
        "BENCHSMITH_MAX_FIELD_BYTES",
    ),
]


def _small_limit(ws: Workspace) -> Workspace:
    from dataclasses import replace

    return Workspace(settings=replace(ws.settings, max_field_bytes=1_000), db=ws.db)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("case", "change", "message"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_bad_row_aborts_file_and_pool_is_unchanged(
    workspace: Workspace, tmp_path: Path, fmt: str, case: str, change: dict[str, Any], message: str
) -> None:
    ws = _small_limit(workspace)
    ingest_files(ws, [write(tmp_path / "seed", fmt, rows(2, start=100))])
    before = pool(ws)
    data = rows(5)
    data[3].update(change)
    if fmt == "csv" and change.get("package", "") is None:
        data[3]["package"] = ""  # CSV has no null: an empty cell is the missing value
    path = write(tmp_path / "bad", fmt, data)
    with pytest.raises(IngestError) as e:
        ingest_files(ws, [path])
    expected_msg = message
    if fmt == "csv" and case == "missing id":
        expected_msg = "field 'package' is empty; give a value"
    assert str(e.value) == (
        f"{path}: {where(fmt, 4)}: {expected_msg}. Nothing from this file was ingested; "
        "fix the row or rerun with --skip-invalid to set invalid rows aside"
    )
    assert pool(ws) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_skip_invalid_lands_valid_rows_and_writes_rejects(
    workspace: Workspace, tmp_path: Path, fmt: str
) -> None:
    ws = _small_limit(workspace)
    data = rows(6)
    data[1]["description"] = ""
    data[4]["description"] = "y" * 5000
    data.append(dict(data[0]))  # duplicate id inside one file
    path = write(tmp_path / "mixed", fmt, data)
    report = ingest_files(ws, [path], skip_invalid=True)
    f = report.files[0]
    assert (f.ingested, f.rejected) == (4, 3)
    assert sorted(pool(ws)) == ["pkg0", "pkg2", "pkg3", "pkg5"]
    assert f.rejects_file is not None
    rejects = [json.loads(line) for line in Path(f.rejects_file).read_text().splitlines()]
    assert [r["where"] for r in rejects] == [where(fmt, 2), where(fmt, 5), where(fmt, 7)]
    assert rejects[0]["error"] == "field 'description' is empty; give a value"
    assert rejects[1]["error"].startswith("field 'description' is 5,000 bytes, over the limit")
    assert (
        rejects[2]["error"]
        == "duplicate id 'pkg0' appears earlier in this file; ids must be unique"
    )
    assert all(r["file"] == str(path) for r in rejects)


@pytest.mark.parametrize("fmt", FORMATS)
def test_duplicate_id_across_chunks(
    workspace: Workspace, tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_mod, "CHUNK_ROWS", 3)
    data = rows(8)
    data[7]["package"] = "pkg1"
    with pytest.raises(IngestError, match=f"{where(fmt, 8)}: duplicate id 'pkg1' appears earlier"):
        ingest_files(workspace, [write(tmp_path / "d", fmt, data)])
    assert pool(workspace) == {}


def test_empty_file(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    for fmt in FORMATS:
        path = tmp_path / f"empty.{fmt}"
        path.write_bytes(b"")
        with pytest.raises(IngestError) as e:
            ingest_files(sqlite_workspace, [path])
        assert str(e.value) == f"{path}: the file is empty; nothing to ingest"


def test_header_only_csv(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("package,description\n")
    with pytest.raises(IngestError, match="the file has a header but no rows; nothing to ingest"):
        ingest_files(sqlite_workspace, [path])


def test_malformed_json_line(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(rows(1)[0]) + "\n" + '{"package": "x", "description": "oops"\n')
    with pytest.raises(IngestError) as e:
        ingest_files(sqlite_workspace, [path])
    assert str(e.value).startswith(
        f"{path}: line 2: malformed JSON (unexpected end of data at column 39); fix the line so "
        "it holds one JSON object. Nothing from this file was ingested"
    )
    assert pool(sqlite_workspace) == {}


def test_json_line_that_is_not_an_object(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "arr.jsonl"
    path.write_text('["a", "b"]\n')
    with pytest.raises(IngestError, match="line 1: expected a JSON object, got list"):
        ingest_files(sqlite_workspace, [path])


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_non_utf8_bytes(sqlite_workspace: Workspace, tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path / "enc", fmt, rows(3))
    raw = path.read_bytes().replace(b"Tool number 1", b"Tool n\xe9mber 1")  # latin-1 é
    path.write_bytes(raw)
    with pytest.raises(IngestError) as e:
        ingest_files(sqlite_workspace, [path])
    msg = str(e.value)
    assert f"{path}: {where(fmt, 2)}: " in msg and "not UTF-8; re-save the file as UTF-8" in msg
    report = ingest_files(sqlite_workspace, [path], skip_invalid=True)
    assert (report.files[0].ingested, report.files[0].rejected) == (2, 1)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_utf8_bom_is_accepted(sqlite_workspace: Workspace, tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path / "bom", fmt, rows(2))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert ingest_files(sqlite_workspace, [path]).files[0].ingested == 2
    assert "pkg0" in pool(sqlite_workspace)


def test_csv_quoting_error(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('package,description\npkg0,"fine"\npkg1,"broken" quote\npkg2,ok\n')
    with pytest.raises(IngestError) as e:
        ingest_files(sqlite_workspace, [path])
    assert str(e.value).startswith(
        f"{path}: line 3: CSV quoting error (',' expected after '\"'); quote fields that contain "
        'commas, quotes or newlines and double any quote inside a field ("")'
    )
    report = ingest_files(sqlite_workspace, [path], skip_invalid=True)
    assert (report.files[0].ingested, report.files[0].rejected) == (2, 1)


def test_csv_multiline_fields_report_physical_lines(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "ml.csv"
    path.write_text('package,description\npkg0,"two\nlines"\npkg1,""\n')
    with pytest.raises(IngestError, match="ml.csv: line 4: field 'description' is empty"):
        ingest_files(sqlite_workspace, [path])


def test_csv_wrong_field_count(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("package,description\npkg0,a,extra\n")
    with pytest.raises(IngestError, match="line 2: has 3 fields but the header has 2"):
        ingest_files(sqlite_workspace, [path])


def test_csv_missing_input_column(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("package,summary\npkg0,a\n")
    with pytest.raises(
        SpecError, match=r"input field\(s\) \['description'\] named by the spec are missing"
    ):
        ingest_files(sqlite_workspace, [path])


def test_parquet_column_of_wrong_type(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"package": ["a", "b"], "description": [1, 2]}), path)
    with pytest.raises(IngestError) as e:
        ingest_files(sqlite_workspace, [path])
    assert str(e.value) == (
        f"{path}: column 'description' has Parquet type int64; expected string. Cast it "
        "(e.g. df['description'].astype(str)) and rewrite the file"
    )


def test_parquet_integer_ids_become_strings(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "i.parquet"
    pq.write_table(pa.table({"package": [1, 2], "description": ["one", "two"]}), path)
    ingest_files(sqlite_workspace, [path])
    assert sorted(pool(sqlite_workspace)) == ["1", "2"]


def test_ten_megabyte_field_is_refused_with_default_limit(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "big.jsonl"
    big = {"package": "huge", "description": "z" * 10_000_000}
    path.write_text(json.dumps(rows(1)[0]) + "\n" + json.dumps(big) + "\n")
    with pytest.raises(IngestError) as e:
        ingest_files(sqlite_workspace, [path])
    assert "line 2: field 'description' is 10,000,000 bytes, over the limit of 1,000,000" in str(
        e.value
    )


def test_gzip_and_sample_corpus(
    sqlite_workspace: Workspace, sample_rows: list[dict[str, Any]]
) -> None:
    report = ingest_files(sqlite_workspace, [SAMPLE_DATA])
    assert report.files[0].ingested == len(sample_rows)
    assert len(pool(sqlite_workspace)) == len(sample_rows)


def test_gz_jsonl_with_explicit_format(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "data.txt.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(rows(1)[0]) + "\n")
    with pytest.raises(IngestError, match="cannot tell the format from the name; pass --format"):
        ingest_files(sqlite_workspace, [path])
    assert ingest_files(sqlite_workspace, [path], fmt="jsonl").files[0].ingested == 1


def test_second_file_refused_first_kept(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    good = write(tmp_path / "good", "jsonl", rows(2))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n")
    with pytest.raises(IngestError, match="bad.jsonl: line 1: malformed JSON"):
        ingest_files(sqlite_workspace, [good, bad])
    assert sorted(pool(sqlite_workspace)) == ["pkg0", "pkg1"]


def test_records_without_id_field_use_content_hash(tmp_path: Path) -> None:
    import yaml

    from builder.config import Settings
    from builder.workspace import init_workspace, open_workspace

    spec = yaml.safe_load(SAMPLE_SPEC.read_text())
    spec["source"].pop("id_field")
    spec.pop("guidelines")
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    settings = Settings.from_env({}, home=tmp_path / "ws")
    init_workspace(settings, spec_path)
    ws = open_workspace(settings)
    path = write(tmp_path / "a", "jsonl", rows(2) + [rows(1)[0]])
    report = ingest_files(ws, [path], skip_invalid=True)
    assert report.files[0].ingested == 2 and report.files[0].rejected == 1
    ids = sorted(pool(ws))
    assert all(len(i) == 64 for i in ids)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.text(), json_values, max_size=8))
def test_content_hash_ignores_key_order(data: dict[str, Any]) -> None:
    reordered = dict(reversed(list(data.items())))
    assert content_hash(data) == content_hash(reordered)
    assert content_hash(data) == content_hash(json.loads(json.dumps(data)))


def test_content_hash_is_stable_across_versions() -> None:
    # Pinned to the canonical form (sorted keys, no spaces, UTF-8 kept): changing it would
    # silently re-identify every hash-keyed record in existing workspaces.
    import hashlib

    expected = hashlib.sha256('{"a":"é","b":1}'.encode()).hexdigest()
    assert content_hash({"b": 1, "a": "é"}) == expected
    assert expected == "aa58fba8483623bed37c1b02edfccbdd9a53123837c20bfa4cb4049993a2872e"


def test_record_hashes_are_unchanged_by_the_shared_encoder(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    """builder.hashing.canonical_json refuses NaN/inf; ingest stores them as null, exactly
    the bytes (and so the content hash) that orjson wrote before the shared encoder."""
    import hashlib

    import orjson

    nan, inf = float("nan"), float("inf")
    path = tmp_path / "f.parquet"
    table = {
        "package": ["a", "b"],
        "description": ["Ünïcode “text” 1914–1918", "plain"],
        "installed_size": [inf, 1e-7],
        "homepage": [[1.5, nan, -inf], None],
    }
    pq.write_table(pa.table(table), path)
    ingest_files(sqlite_workspace, [path])
    with sqlite_workspace.db.session() as s:
        recs = {r.source_id: r for r in s.exec(select(Record))}
    for i, sid in enumerate(["a", "b"]):
        old = {k: v[i] for k, v in table.items()} | {"priority": None, "version": None}
        before = orjson.dumps(old, option=orjson.OPT_SORT_KEYS)  # the pre-hashing.py encoding
        assert recs[sid].content_hash == hashlib.sha256(before).hexdigest()
        assert recs[sid].content_hash == content_hash(
            with_text(recs[sid].data, recs[sid].text, "description")
        )
    assert recs["a"].data["installed_size"] is None
    assert recs["a"].data["homepage"] == [1.5, None, None]
    assert recs["b"].data["installed_size"] == 1e-7
