"""Ingest with the reading side in a child process (a large file) decides exactly as inline
(a small one): the same records, counts, rejects and errors for every kind of bad input in
every format; progress with records written; a failure late in a file larger than the
hand-over queue leaves nothing and no process or thread behind; a reader that dies is a
clear error; a caller's script without a main guard is not run again. On SQLite and a real
PostgreSQL server where the store matters."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlmodel import select

import builder.ingest_rows as ingest_rows
from builder.errors import IngestError
from builder.ingest import ingest_files
from builder.readers import ReadProgress
from builder.status import benchmark_status
from builder.store.models import Record
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.support.common import SAMPLE_SPEC
from tests.test_ingest import BAD_ROWS, FORMATS, _small_limit, rows, where, write

ROOT = Path(__file__).resolve().parent.parent

READINGS = ["inline", "process"]


@pytest.fixture(params=READINGS)
def reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Read every file inline or every file in a child process."""
    monkeypatch.setattr(
        ingest_rows, "PROCESS_MIN_BYTES", 0 if request.param == "process" else 1 << 62
    )
    return str(request.param)


def _readers_left() -> list[str]:
    """Reading processes and frame threads still alive after an ingest."""
    procs = [
        " ".join(p.cmdline())
        for p in psutil.Process().children(recursive=True)
        if "builder.ingest_rows" in " ".join(p.cmdline())
    ]
    threads = [t.name for t in threading.enumerate() if t.name == "ingest-frames"]
    return procs + threads


def _write_n(path: Path, n: int, *, bad_at: int | None = None) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            row = {"package": f"p{i:06d}", "description": f"package number {i} does things"}
            if i == bad_at:
                row["description"] = "   "
            f.write(json.dumps(row) + "\n")
    return path


def test_progress_reports_records_written(
    workspace: Workspace, tmp_path: Path, reading: str
) -> None:
    chunk = ingest_rows.CHUNK_ROWS
    n = 2 * chunk + 123
    path = _write_n(tmp_path / "pool.jsonl", n)
    seen: list[tuple[str, ReadProgress]] = []
    report = ingest_files(workspace, [path], progress=lambda name, p: seen.append((name, p)))
    assert report.files[0].ingested == n
    assert {name for name, _ in seen} == {str(path)}
    assert [p.rows for _, p in seen] == [chunk, 2 * chunk, n]
    done = [p.done for _, p in seen]
    assert done == sorted(done) and all(0 < p.done <= p.total for _, p in seen)
    assert seen[-1][1].done == seen[-1][1].total == path.stat().st_size
    assert not _readers_left()


def test_a_bad_row_late_in_a_large_file_leaves_nothing(
    workspace: Workspace, tmp_path: Path, reading: str
) -> None:
    # More chunks than the queue holds, so the reader is ahead of the writer at the time.
    n = (ingest_rows.QUEUE_CHUNKS + 3) * ingest_rows.CHUNK_ROWS
    bad = n - 10
    path = _write_n(tmp_path / "pool.jsonl", n, bad_at=bad)
    with pytest.raises(IngestError) as err:
        ingest_files(workspace, [path])
    assert str(err.value) == (
        f"{path}: line {bad + 1}: text field 'description' is empty or whitespace; give the "
        "text. Nothing from this file was ingested; fix the row or rerun with --skip-invalid "
        "to set invalid rows aside"
    )
    assert benchmark_status(workspace)["pool"] == 0
    assert not _readers_left()
    # The same file with the row set aside: every other row, once.
    report = ingest_files(workspace, [path], skip_invalid=True).files[0]
    assert (report.ingested, report.rejected, report.duplicates) == (n - 1, 1, 0)
    again = ingest_files(workspace, [path], skip_invalid=True).files[0]
    assert (again.ingested, again.rejected, again.duplicates) == (0, 1, n - 1)
    assert not _readers_left()


def test_a_writer_failure_stops_the_reading_process(
    sqlite_workspace: Workspace, tmp_path: Path, reading: str
) -> None:
    path = _write_n(tmp_path / "pool.jsonl", 6 * ingest_rows.CHUNK_ROWS)

    def fail(name: str, p: ReadProgress) -> None:
        raise RuntimeError("the writer's side failed")

    with pytest.raises(RuntimeError, match="the writer's side failed"):
        ingest_files(sqlite_workspace, [path], progress=fail)
    assert benchmark_status(sqlite_workspace)["pool"] == 0
    assert not _readers_left()


def test_a_reading_process_that_dies_is_a_clear_error(
    sqlite_workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_rows, "PROCESS_MIN_BYTES", 0)
    path = _write_n(tmp_path / "pool.jsonl", 8 * ingest_rows.CHUNK_ROWS)

    def kill_reader(name: str, p: ReadProgress) -> None:
        for child in psutil.Process().children(recursive=True):
            if "builder.ingest_rows" in " ".join(child.cmdline()):
                child.kill()  # not waited for here: ingest's own wait gives the exit code

    with pytest.raises(IngestError) as err:
        ingest_files(sqlite_workspace, [path], progress=kill_reader)
    assert str(err.value) == (
        f"{path}: the process reading the file stopped (exit code -9) before the end of the "
        "file; nothing from it was ingested. Its error is printed above; fix it (or free "
        "memory) and rerun"
    )
    assert benchmark_status(sqlite_workspace)["pool"] == 0
    assert not _readers_left()


# ------------------------------------------------------- the same decisions either way


def _gz(path: Path) -> Path:
    out = path.with_name(path.name + ".gz")
    out.write_bytes(gzip.compress(path.read_bytes()))
    return out


def _bad_rows_file(tmp: Path, fmt: str) -> Path:
    data = rows(12)
    for i, (_, change, _) in enumerate(BAD_ROWS):
        data[2 * i + 1].update(change)
    data.append(dict(data[0]))  # a duplicate id, after the others
    data.append({**rows(1, start=4)[0], "description": "a changed copy of pkg4"})
    return write(tmp / "bad", fmt, data)


def _text(name: str, content: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(content)
        return path

    return make


def _parquet_wrong_type(tmp: Path) -> Path:
    path = tmp / "t.parquet"
    pq.write_table(pa.table({"package": ["a", "b"], "description": [1, 2]}), path)
    return path


def _non_utf8(fmt: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = write(tmp / "enc", fmt, rows(3))
        path.write_bytes(path.read_bytes().replace(b"Tool number 1", b"Tool n\xe9mber 1"))
        return path

    return make


ONE_ROW = json.dumps(rows(1)[0]).encode()
CASES: dict[str, Callable[[Path], Path]] = {
    **{f"bad rows ({fmt})": (lambda tmp, fmt=fmt: _bad_rows_file(tmp, fmt)) for fmt in FORMATS},
    **{f"empty ({fmt})": _text(f"empty.{fmt}", b"") for fmt in FORMATS},
    "header only (csv)": _text("h.csv", b"package,description\n"),
    "malformed JSON": _text("m.jsonl", ONE_ROW + b'\n{"package": "x", "description": "oops"\n'),
    "not an object": _text("arr.jsonl", b'["a", "b"]\n'),
    "blank lines and a BOM": _text("bom.jsonl", b"\xef\xbb\xbf" + ONE_ROW + b"\n\n  \n"),
    "non-UTF-8 (jsonl)": _non_utf8("jsonl"),
    "non-UTF-8 (csv)": _non_utf8("csv"),
    "CSV quoting": _text("q.csv", b'package,description\npkg0,"fine"\npkg1,"broken" quote\n'),
    "CSV field count": _text("n.csv", b"package,description\npkg0,a,extra\npkg1,b\n"),
    "CSV missing column": _text("c.csv", b"package,summary\npkg0,a\n"),
    "CSV duplicate columns": _text("d.csv", b"package,description,package\npkg0,a,b\n"),
    "Parquet column type": _parquet_wrong_type,
    "gzip": lambda tmp: _gz(write(tmp / "z", "jsonl", rows(4))),
    "UTF-16": _text("u.jsonl", "\ufeff".encode("utf-16-le") + ONE_ROW.decode().encode("utf-16-le")),
}


def _workspace(home: Path) -> Iterator[Workspace]:
    from builder.config import Settings

    settings = Settings.from_env({}, home=home)
    init_workspace(settings, SAMPLE_SPEC)
    ws = _small_limit(open_workspace(settings))
    try:
        yield ws
    finally:
        ws.db.dispose()


def _outcome(home: Path, path: Path, skip_invalid: bool) -> tuple[Any, ...]:
    for ws in _workspace(home):
        try:
            f = ingest_files(ws, [path], skip_invalid=skip_invalid).files[0]
        except Exception as e:
            return ("refused", type(e).__name__, str(e))
        with ws.db.session() as s:
            pool = sorted(
                (r.source_id, r.content_hash, r.text, r.data) for r in s.exec(select(Record))
            )
        rejects = Path(f.rejects_file).read_text() if f.rejects_file else None
        counts = (f.ingested, f.duplicates, f.conflicts, f.rejected, f.conflict_ids)
        return ("ingested", counts, rejects, pool)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("skip_invalid", [False, True], ids=["all or nothing", "skip invalid"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_child_process_decides_as_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, skip_invalid: bool
) -> None:
    path = CASES[case](tmp_path)
    outcomes = {}
    for reading in READINGS:
        monkeypatch.setattr(
            ingest_rows, "PROCESS_MIN_BYTES", 0 if reading == "process" else 1 << 62
        )
        outcomes[reading] = _outcome(tmp_path / reading, path, skip_invalid)
    assert outcomes["process"] == outcomes["inline"]
    assert not _readers_left()
    if case.startswith("bad rows"):
        if skip_invalid:
            _, counts, rejects, _ = outcomes["inline"]
            assert counts[:4] == (7, 0, 0, 7)  # the changed pkg4 is a duplicate id too
            fields = [json.loads(r)["field"] for r in rejects.splitlines()]
            assert fields == ["package", *["description"] * 4, "package", "package"]
        else:
            assert outcomes["inline"][:2] == ("refused", "IngestError")
            fmt = case.removeprefix("bad rows (").rstrip(")")
            assert f": {where(fmt, 2)}: field 'package' is " in outcomes["inline"][2]


def test_a_script_without_a_main_guard_ingests_once(tmp_path: Path) -> None:
    """The child is not started by multiprocessing's spawn, which would run the caller's
    script again in the child (and so ingest twice, or recurse)."""
    path = _write_n(tmp_path / "pool.jsonl", 3000)
    home = tmp_path / "ws"
    script = tmp_path / "load.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import builder.ingest_rows as r\n"
        "from builder.config import Settings\n"
        "from builder.ingest import ingest_files\n"
        "from builder.workspace import init_workspace, open_workspace\n"
        "r.PROCESS_MIN_BYTES = 0\n"
        f"settings = Settings.from_env({{}}, home={str(home)!r})\n"
        f"init_workspace(settings, {str(SAMPLE_SPEC)!r})\n"
        f"report = ingest_files(open_workspace(settings), [{str(path)!r}])\n"
        "print('ingested', report.files[0].ingested)\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.splitlines() == ["ingested 3000"]
