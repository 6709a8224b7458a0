"""Inputs as other tools write them (``tests/fixtures/inputs/``, see its README).

Each is read with the right values, or refused with an error that names the place and
the fix, by every reader of its kind: ingest (jsonl / csv / parquet), annotations import,
predictions, the spec, contamination ``--against`` files and the baseline's labels file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from sqlmodel import select

from builder.curate.embed import TfidfEmbedder
from builder.curate.filters import read_against_file
from builder.curate.pipeline import curate
from builder.curate.text import normalize_text, words
from builder.errors import (
    BenchsmithError,
    ConfigError,
    IngestError,
    ReleaseError,
    ReviewError,
    SpecError,
)
from builder.evaluate import read_predictions
from builder.evaluate.baseline import read_labels
from builder.ingest import ingest_files
from builder.release.files import arrow_schema, write_split
from builder.review.annotations_io import export_lines, import_annotations
from builder.spec import load_spec
from builder.store.models import Annotation, Record
from builder.textio import jsonl_line
from builder.workspace import Workspace
from tests.support.common import SAMPLE_SPEC
from tests.support.review import make_items

FIX = Path(__file__).resolve().parent / "fixtures" / "inputs"


def _records(ws: Workspace) -> dict[str, Record]:
    with ws.db.session() as s:
        return {r.source_id: r for r in s.exec(select(Record)).all()}


def _data(record: Record) -> dict[str, Any]:
    data = record.data
    return dict(json.loads(data) if isinstance(data, str | bytes) else data)


def _jsonl_rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIX / name).read_text(encoding="utf-8").splitlines()]


# --- 1. a UTF-8 byte-order mark is dropped by every reader ---------------------------------


def test_ingest_jsonl_with_bom_and_crlf(sqlite_workspace: Workspace) -> None:
    report = ingest_files(sqlite_workspace, [FIX / "pool_bom.jsonl"])
    assert report.summary()["ingested"] == 3 and report.summary()["rejected"] == 0
    records = _records(sqlite_workspace)
    assert sorted(records) == ["bom-one", "bom-three", "bom-two"]
    assert records["bom-one"].text == "First package, saved by a Windows tool"
    assert records["bom-three"].text == "Third package: caf\u00e9 cr\u00e8me"


def test_ingest_csv_with_bom(sqlite_workspace: Workspace) -> None:
    """Excel's "CSV UTF-8": the BOM must not become part of the first column's name."""
    report = ingest_files(sqlite_workspace, [FIX / "pool_bom.csv"])
    assert report.summary()["ingested"] == 3
    records = _records(sqlite_workspace)
    assert sorted(records) == ["csv-bom-one", "csv-bom-three", "csv-bom-two"]
    assert records["csv-bom-two"].text == "Second package, with CRLF line ends"
    assert _data(records["csv-bom-two"])["priority"] == "optional"


def test_predictions_with_bom_crlf_and_int_ids() -> None:
    path = FIX / "predictions_bom.jsonl"
    preds, digest = read_predictions(path, "classification")
    assert preds == {"101": "devel", "102": "libs", "103": "net"}
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()  # the file as given


def test_spec_with_bom() -> None:
    spec, _ = load_spec(FIX / "spec_bom.yaml")
    assert spec.name == "windows-spec" and spec.task.labels == ["spam", "ham"]


def test_against_file_and_labels_file_with_bom() -> None:
    texts = list(read_against_file(FIX / "pool_bom.jsonl"))
    assert "First package, saved by a Windows tool" in texts and "bom-one" in texts
    labels = read_labels(FIX / "pool_bom.csv", id_field="package", label_field="priority")
    assert labels == {
        "csv-bom-one": "optional",
        "csv-bom-two": "optional",
        "csv-bom-three": "optional",
    }


def test_annotations_import_with_bom_and_int_source_ids(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    """Integer source ids are the ids ingest stored ("101"), as in predictions; the
    exported comment with a U+2028 inside stays on its line and round-trips."""
    ws = sqlite_workspace
    make_items(ws, _jsonl_rows("pool_int_ids.jsonl"), 3, tmp=tmp_path)
    assert sorted(_records(ws)) == ["101", "102", "103"]
    report = import_annotations(ws, FIX / "annotations_int_ids_bom.jsonl")
    assert (report.lines, report.imported) == (4, 4)
    with ws.db.session() as s:
        assert len(s.exec(select(Annotation)).all()) == 4
    lines = list(export_lines(ws))
    assert all("\u2028" not in line and len(line.splitlines()) == 1 for line in lines)
    answers = [json.loads(line) for line in lines if json.loads(line)["type"] == "annotation"]
    assert sorted(a["source_id"] for a in answers) == ["101", "101", "102", "103"]
    assert [a["comment"] for a in answers if a["source_id"] == "102"] == ["one\u2028two"]


# --- UTF-16 / UTF-32: refused by name, with the fix ------------------------------------------

_UTF16 = (
    "the file is UTF-16 (little-endian): it starts with the byte-order mark FF FE; benchsmith "
    "reads UTF-8 only. Re-save it as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8`, "
    "or pick UTF-8 in the editor's Save As dialog)"
)


def test_ingest_refuses_utf16_by_name(sqlite_workspace: Workspace) -> None:
    path = FIX / "pool_utf16.csv"
    with pytest.raises(IngestError) as e:
        ingest_files(sqlite_workspace, [path])
    assert str(e.value) == f"{path}: {_UTF16}"
    path = FIX / "pool_utf16_nobom.jsonl"
    with pytest.raises(IngestError) as e:
        ingest_files(sqlite_workspace, [path])
    assert str(e.value) == (
        f"{path}: the file is UTF-16 (little-endian, without a byte-order mark); benchsmith "
        "reads UTF-8 only. Re-save it as UTF-8 (e.g. `iconv -f UTF-16LE -t UTF-8 FILE > "
        "FILE.utf8`, or pick UTF-8 in the editor's Save As dialog)"
    )
    assert _records(sqlite_workspace) == {}


def test_predictions_spec_annotations_against_refuse_utf16(sqlite_workspace: Workspace) -> None:
    cases: list[tuple[type[BenchsmithError], str, Any]] = [
        (ReleaseError, "predictions_utf16.jsonl", lambda p: read_predictions(p, "classification")),
        (SpecError, "spec_utf16.yaml", load_spec),
        (ReviewError, "annotations_utf16.jsonl", lambda p: import_annotations(sqlite_workspace, p)),
        (ConfigError, "pool_utf16.csv", lambda p: list(read_against_file(p))),
        (IngestError, "pool_utf16.csv", lambda p: read_labels(p, id_field="a", label_field="b")),
    ]
    for error, name, read in cases:
        path = FIX / name
        with pytest.raises(error) as e:
            read(path)
        where = f"--against {path}" if error is ConfigError else str(path)
        assert str(e.value) == f"{where}: {_UTF16}", name


# --- 2. integer ids: one rule (ingest's) everywhere an id is read ----------------------------


def test_ingest_int_ids_are_stored_as_decimal_text(sqlite_workspace: Workspace) -> None:
    ingest_files(sqlite_workspace, [FIX / "pool_int_ids.jsonl"])
    records = _records(sqlite_workspace)
    assert sorted(records) == ["101", "102", "103"]
    assert records["102"].text == "Integer id two: another package description"
    assert _data(records["101"])["package"] == 101  # the field keeps its type


def test_float_or_bool_ids_are_refused_with_the_fix(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    preds = tmp_path / "preds.jsonl"
    preds.write_text('{"id": 101, "prediction": "devel"}\n{"id": 102.0, "prediction": "libs"}\n')
    with pytest.raises(ReleaseError) as e:
        read_predictions(preds, "classification")
    assert str(e.value).startswith(
        f"{preds}: line 2: id: Value error, an id is text or a whole number, got the number "
        '102.0; write 102 or "102"'
    )
    ws = sqlite_workspace
    make_items(ws, _jsonl_rows("pool_int_ids.jsonl"), 3, tmp=tmp_path)
    src = tmp_path / "a.jsonl"
    src.write_text('{"source_id": true, "annotator": "x", "label": "devel"}\n')
    with pytest.raises(ReviewError) as e:
        import_annotations(ws, src)
    assert (
        "line 1: source_id: Value error, an id is text or a whole number, got the boolean True"
        in str(e.value)
    )


# --- 3. Parquet text as dictionary / large_string / string_view ------------------------------


def test_parquet_category_columns_are_plain_text(sqlite_workspace: Workspace) -> None:
    path = FIX / "pool_category.parquet"
    assert str(pq.ParquetFile(path).schema_arrow.field("description").type).startswith(
        "dictionary<values=string"
    )
    report = ingest_files(sqlite_workspace, [path])
    assert report.summary()["ingested"] == 3
    records = _records(sqlite_workspace)
    assert records["201"].text == "Category text one for a package"
    assert records["202"].text == "Category text two"
    data = {sid: _data(r) for sid, r in records.items()}
    assert [data[s]["priority"] for s in ("201", "202", "203")] == ["optional", None, "required"]


def test_parquet_string_view_large_string_and_dictionary_id(sqlite_workspace: Workspace) -> None:
    path = FIX / "pool_string_view.parquet"
    schema = pq.ParquetFile(path).schema_arrow
    assert str(schema.field("description").type) == "string_view"
    assert str(schema.field("priority").type) == "large_string"
    ingest_files(sqlite_workspace, [path])
    records = _records(sqlite_workspace)
    assert sorted(records) == ["view-one", "view-two"]
    assert records["view-two"].text == "String view text two"
    assert _data(records["view-one"])["priority"] == "optional"


# --- 4. invisible format characters (Cf) do not hide an exact duplicate ---------------------


@pytest.mark.parametrize(
    "char", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\U000e0041"]
)
def test_normalize_text_drops_format_characters(char: str) -> None:
    plain = "The printer jams halfway through duplex pages"
    assert normalize_text(f"The printer jams half{char}way through duplex pages") == (
        normalize_text(plain)
    )
    assert normalize_text(f"The printer {char} jams") == "the printer jams"
    assert words(f"half{char}way") == ["halfway"]  # contamination shingles too


def test_curation_finds_format_character_duplicates(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    ingest_files(ws, [FIX / "pool_format_chars.jsonl"])
    report = curate(ws, embedder="tfidf", size=12)
    assert report.exact_duplicates == 6
    assert report.near_duplicates == 0
    assert len(report.selected) == 12
    # Normalisation only builds the comparison key: stored text keeps its characters.
    records = _records(ws)
    assert records["cf-00"].text == "Printer jams half\u200bway through duplex pages"
    assert records["cf-05"].text == "Invoice totals show incorrect taxa\u00adtion"


# --- 6. tfidf on a tiny pool: no SVD squeezing unrelated texts together -------------------


def test_tfidf_tiny_pool_keeps_unrelated_texts_apart() -> None:
    texts = [r["description"] for r in _jsonl_rows("pool_tiny_unrelated.jsonl")]
    e = TfidfEmbedder()
    e.fit(texts)
    assert "nosvd" in e.model_id and "too small" in e.note
    v = e.encode(texts)
    sims = v @ v.T
    np.fill_diagonal(sims, 0)
    assert sims.max() < 0.5  # no two share a content word: in fact 0
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # Three texts and a handful of words gave a 2-component SVD and cosine 1.0 before.
    few = ["refund", "invoice sync", "export to is"]
    e = TfidfEmbedder()
    e.fit(few)
    w = e.encode(few)
    assert float(w[0] @ w[1]) < 1e-6


def test_tfidf_large_pool_still_uses_svd(sample_rows: list[dict[str, object]]) -> None:
    e = TfidfEmbedder()
    e.fit([str(r["description"]) for r in sample_rows[:400]])
    assert e.dim == 128 and "nosvd" not in e.model_id and "SVD" in e.note


def test_curation_of_a_tiny_pool_drops_no_unrelated_record(sqlite_workspace: Workspace) -> None:
    ingest_files(sqlite_workspace, [FIX / "pool_tiny_unrelated.jsonl"])
    report = curate(sqlite_workspace, embedder="tfidf", size=12)
    assert report.near_duplicates == 0 and report.exact_duplicates == 0
    assert len(report.selected) == 12 and "nosvd" in report.embedder


# --- 5. spec values YAML reads as booleans / numbers -----------------------------------------


def test_spec_bare_yes_no_say_quote_it() -> None:
    path = FIX / "spec_bool_labels.yaml"
    with pytest.raises(SpecError) as e:
        load_spec(path)
    assert str(e.value) == (
        f"{path}: invalid benchmark spec:\n"
        '  - line 5: task.labels[0]: YAML read `yes` as the boolean True; quote it: "yes"\n'
        '  - line 5: task.labels[1]: YAML read `no` as the boolean False; quote it: "no"'
    )


def test_spec_on_off_true_and_numbers_in_every_string_field() -> None:
    path = FIX / "spec_on_off_true.yaml"
    with pytest.raises(SpecError) as e:
        load_spec(path)
    assert str(e.value) == (
        f"{path}: invalid benchmark spec:\n"
        '  - line 5: task.labels[0]: YAML read `on` as the boolean True; quote it: "on"\n'
        '  - line 5: task.labels[1]: YAML read `off` as the boolean False; quote it: "off"\n'
        '  - line 5: task.labels[2]: YAML read `true` as the boolean True; quote it: "true"\n'
        "  - line 9: source.metadata_fields[1]: YAML read `2024` as the number 2024; "
        'quote it: "2024"'
    )


def test_spec_other_typed_words(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "name: x\ntitle: 2024-01-01\ntask:\n  type: classification\n  input_fields: [Yes]\n"
        "  labels: [a, ~, 1.5]\nsource: {text_field: t}\ncuration: {pii: off}\n"
        "release: {splits: {yes: 1.0}}\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError) as e:
        load_spec(path)
    lines = str(e.value).splitlines()[1:]
    assert lines == [
        '  - line 2: title: YAML read `2024-01-01` as the date 2024-01-01; quote it: "2024-01-01"',
        '  - line 5: task.input_fields[0]: YAML read `Yes` as the boolean True; quote it: "Yes"',
        "  - line 6: task.labels[1]: YAML read `~` as null; write the text (in quotes if it is "
        '"null" or "~"), or remove the entry',
        '  - line 6: task.labels[2]: YAML read `1.5` as the number 1.5; quote it: "1.5"',
        "  - line 8: curation.pii: Input should be 'flag', 'redact' or 'drop'; YAML read `off` "
        "as the boolean False (got False)",
        '  - line 9: release.splits (a key): YAML read `yes` as the boolean True; quote it: "yes"',
    ]


# --- 7. JSONL writers escape U+2028 / U+2029 (and U+0085) -----------------------------------

_SEPARATED = ["a\u2028b", "c\u2029d", "e\x85f"]


def test_release_jsonl_keeps_one_row_a_line(tmp_path: Path) -> None:
    spec, _ = load_spec(SAMPLE_SPEC)
    rows = [
        {
            "id": f"r{i}",
            "package": f"pkg{i}",
            "description": text,
            "label": "devel",
            "cluster": 0,
            "stratum": None,
            "weight": 1.0,
        }
        for i, text in enumerate(_SEPARATED)
    ]
    write_split(tmp_path, "test", rows, arrow_schema(spec, rows))
    data = (tmp_path / "data" / "test.jsonl").read_bytes()
    text = data.decode("utf-8")
    assert data.count(b"\n") == 3 and len(text.splitlines()) == 3  # str.splitlines splits at U+2028
    assert "\u2028" not in text and "\\u2028" in text and "\\u2029" in text and "\\u0085" in text
    back = [json.loads(line) for line in text.splitlines()]
    assert [r["description"] for r in back] == _SEPARATED
    assert pq.read_table(tmp_path / "data" / "test.parquet").column("description").to_pylist() == (
        _SEPARATED
    )


def test_ingest_keeps_separators_in_text_and_rejects_file_one_row_a_line(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ingest_files(sqlite_workspace, [FIX / "pool_line_separators.jsonl"])
    records = _records(sqlite_workspace)
    assert records["sep-one"].text == "First line\u2028second line of one value"
    assert records["sep-three"].text == "A next-line \x85 control inside, one value"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        "".join(
            json.dumps({"package": f"b{i}", "description": "", "homepage": t}) + "\n"
            for i, t in enumerate(_SEPARATED)
        )
        + json.dumps({"package": "ok", "description": "a good row of text"})
        + "\n",
        encoding="utf-8",
    )
    report = ingest_files(sqlite_workspace, [bad], skip_invalid=True)
    assert report.summary()["rejected"] == 3
    rejects = Path(report.files[0].rejects_file or "").read_text(encoding="utf-8")
    assert len(rejects.splitlines()) == 3
    assert [json.loads(json.loads(line)["raw"])["homepage"] for line in rejects.splitlines()] == (
        _SEPARATED
    )


def test_jsonl_line_escapes_separators_and_round_trips() -> None:
    for value in [*_SEPARATED, "plain", "caf\u00e9 \u2603"]:
        line = jsonl_line({"id": "1", "prediction": value})
        assert line.endswith(b"\n") and len(line.decode("utf-8").splitlines()) == 1
        assert json.loads(line) == {"id": "1", "prediction": value}
