"""Ingest in chunks: progress with records written, a failure late in a file of many chunks
(atomic), a duplicate id in a later chunk, and the collector's heap frozen only while rows
stream through, on SQLite and a real PostgreSQL server."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from builder.errors import IngestError
from builder.ingest import CHUNK_ROWS, ingest_files
from builder.readers import ReadProgress
from builder.status import benchmark_status
from builder.workspace import Workspace


def _write(path: Path, n: int, *, bad_at: int | None = None) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            row = {"package": f"p{i:06d}", "description": f"package number {i} does things"}
            if i == bad_at:
                row["description"] = "   "
            f.write(json.dumps(row) + "\n")
    return path


def test_progress_reports_records_written(workspace: Workspace, tmp_path: Path) -> None:
    n = 2 * CHUNK_ROWS + 123
    path = _write(tmp_path / "pool.jsonl", n)
    seen: list[tuple[str, ReadProgress]] = []
    report = ingest_files(workspace, [path], progress=lambda name, p: seen.append((name, p)))
    assert report.files[0].ingested == n
    assert {name for name, _ in seen} == {str(path)}
    rows = [p.rows for _, p in seen]
    assert rows == [CHUNK_ROWS, 2 * CHUNK_ROWS, n]
    done = [p.done for _, p in seen]
    assert done == sorted(done) and all(0 < p.done <= p.total for _, p in seen)
    assert seen[-1][1].done == seen[-1][1].total == path.stat().st_size


def test_a_bad_row_late_in_a_large_file_leaves_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    n = 7 * CHUNK_ROWS
    bad = n - 10
    path = _write(tmp_path / "pool.jsonl", n, bad_at=bad)
    with pytest.raises(IngestError) as err:
        ingest_files(workspace, [path])
    assert str(err.value) == (
        f"{path}: line {bad + 1}: text field 'description' is empty or whitespace; give the "
        "text. Nothing from this file was ingested; fix the row or rerun with --skip-invalid "
        "to set invalid rows aside"
    )
    assert benchmark_status(workspace)["pool"] == 0
    assert gc.get_freeze_count() == 0
    # The same file with the row set aside: every other row, once.
    report = ingest_files(workspace, [path], skip_invalid=True).files[0]
    assert (report.ingested, report.rejected, report.duplicates) == (n - 1, 1, 0)
    again = ingest_files(workspace, [path], skip_invalid=True).files[0]
    assert (again.ingested, again.rejected, again.duplicates) == (0, 1, n - 1)


def test_the_progress_bar_shows_records_and_their_rate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys
    import time

    from builder.cli._common import progress_bar

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    update, stop = progress_bar()
    assert update is not None
    update("/data/[bold]pool.jsonl", ReadProgress(10, 30, rows=5000))
    time.sleep(0.2)
    update("/data/[bold]pool.jsonl", ReadProgress(30, 30, rows=15000))
    stop()
    err = capsys.readouterr().err
    assert "[bold]pool.jsonl" in err  # a file name is shown as is, not as markup
    assert "15,000 records, " in err and "/s" in err


def test_the_first_problem_reported_is_the_first_rows(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    # A duplicate id (line 3) before an empty text (line 5), in one chunk.
    rows = [{"package": f"p{i}", "description": f"package {i}"} for i in range(6)]
    rows[2]["package"] = "p0"
    rows[4]["description"] = ""
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(IngestError, match=r"pool.jsonl: line 3: duplicate id 'p0' appears earlier"):
        ingest_files(sqlite_workspace, [path])
    report = ingest_files(sqlite_workspace, [path], skip_invalid=True).files[0]
    assert report.rejects_file is not None
    rejects = [json.loads(x) for x in Path(report.rejects_file).read_text().splitlines()]
    assert [r["where"] for r in rejects] == ["line 3", "line 5"]
    # The duplicate as validated: the spec's fields, those missing from the file as null.
    raw = json.loads(rejects[0]["raw"])
    assert {k: v for k, v in raw.items() if v is not None} == rows[2]
    assert set(raw) == {
        "package",
        "description",
        "priority",
        "version",
        "installed_size",
        "homepage",
    }
    assert json.loads(rejects[1]["raw"]) == rows[4]  # a row refused as read: as in the file


def test_the_heap_is_frozen_only_while_rows_stream(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    path = _write(tmp_path / "pool.jsonl", CHUNK_ROWS + 1)
    during: list[int] = []
    ingest_files(sqlite_workspace, [path], progress=lambda *_: during.append(gc.get_freeze_count()))
    assert during and all(n > 0 for n in during)
    assert gc.get_freeze_count() == 0
    # A caller that froze its own heap keeps it frozen, whatever ingest does.
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        more = _write(tmp_path / "more.jsonl", 10)
        ingest_files(sqlite_workspace, [more])
        # Neither thawed (0) nor grown by ingest's own objects. Frozen objects can still be
        # freed by reference counting meanwhile (a finished thread's), so it may fall a little.
        assert 0.99 * frozen <= gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()
