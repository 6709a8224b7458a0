"""Ingest with the reader beside the writer: progress with records written, and a failure
late in a file larger than the hand-over queue (atomic, the worker thread gone), on SQLite
and a real PostgreSQL server."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from builder.errors import IngestError
from builder.ingest import CHUNK_ROWS, QUEUE_CHUNKS, ingest_files
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


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ingest-reader"]


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
    assert not _reader_threads()


def test_a_bad_row_late_in_a_large_file_leaves_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    # More chunks than the queue holds, so the reader is blocked on the writer at the time.
    n = (QUEUE_CHUNKS + 3) * CHUNK_ROWS
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
    assert not _reader_threads()
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
