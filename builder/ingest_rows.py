"""The reading side of ingest: a file's rows read, validated and hashed, in chunks, in order.

:func:`mapped_rows` yields :class:`MappedChunk` s for the writer (``builder.ingest``). A file
of at least :data:`PROCESS_MIN_BYTES` is read in a child process beside the writer, handing
chunks over a pipe and a queue of at most :data:`QUEUE_CHUNKS`: memory stays constant
whatever the file size, and parsing, validating and hashing (two thirds of ingest's CPU)
run on a second core while the writer inserts. A
smaller file is read inline: starting the process (about 0.4 s of imports) would cost more
than it saves. Both ways give the same chunks, so every count and every error is what a
single pass gives.
"""

from __future__ import annotations

import gc
import json
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from builder import media as media_mod
from builder.conversation import conversation_fields
from builder.errors import IngestError
from builder.readers import ReadProgress, read_rows
from builder.record_mapping import MappedRecord, RecordMapper, RowInvalid
from builder.spec import BenchmarkSpec

__all__ = [
    "CHUNK_ROWS",
    "PROCESS_MIN_BYTES",
    "QUEUE_CHUNKS",
    "Entry",
    "MappedChunk",
    "ReadJob",
    "mapped_rows",
    "short_raw",
]

CHUNK_ROWS = 5000
"""Rows per chunk handed from the reading side to the writer (and per bulk insert)."""
PROCESS_MIN_BYTES = 8 << 20
"""Files this large or larger are read in a child process (about 20,000 rows of 400 bytes,
0.6 s of reading and validating on one core); smaller ones inline."""
QUEUE_CHUNKS = 4
"""Most chunks the reading process may be ahead of the writer: memory stays a few chunks."""

Entry = tuple[str, MappedRecord | None, RowInvalid | None]
"""One data row as handed over: where it was, and its record or the reason it was refused."""


@dataclass(frozen=True)
class MappedChunk:
    """Up to :data:`CHUNK_ROWS` data rows, in file order (a header is checked, not handed on)."""

    entries: list[Entry]
    read: ReadProgress | None
    """How far the reader was when the chunk was complete (for the progress bar)."""


@dataclass(frozen=True)
class ReadJob:
    """What the reading side needs (picklable: it is sent to the child process as is)."""

    path: Path
    fmt: str
    spec: BenchmarkSpec
    max_field_bytes: int
    media: Path
    chunk_rows: int = CHUNK_ROWS


def _expected_parquet_types(spec: BenchmarkSpec) -> dict[str, tuple[str, ...]]:
    types: dict[str, tuple[str, ...]] = {spec.source.text_field: ("string",)}
    if spec.source.id_field:
        types[spec.source.id_field] = ("string", "integer")
    types.update(dict.fromkeys(conversation_fields(spec), ("conversation",)))
    for name in media_mod.image_fields(spec):
        types.pop(name, None)  # a path string or a {bytes, path} struct; checked per row
    return types


def short_raw(fields: dict[str, Any] | None, limit: int = 2000) -> str | None:
    """A row's fields as JSON for the rejects file, cut to ``limit`` characters."""
    if fields is None:
        return None
    text = json.dumps(fields, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def _chunks(job: ReadJob) -> Iterator[MappedChunk]:
    """Read and map ``job``'s file in this process; raises what the reader raises."""
    spec = job.spec
    mapper = RecordMapper(
        spec,
        job.max_field_bytes,
        cells_are_text=job.fmt == "csv",
        image_dir=job.path.resolve().parent,
        media=job.media,
    )
    latest: list[ReadProgress | None] = [None]

    def progress(p: ReadProgress) -> None:
        latest[0] = p

    rows = read_rows(
        job.path,
        job.fmt,
        max_field_bytes=job.max_field_bytes,
        expected_types=_expected_parquet_types(spec),
        progress=progress,
        id_field=spec.source.id_field,
    )
    entries: list[Entry] = []
    try:
        for row in rows:
            if row.where == "header":
                assert row.fields is not None
                spec.check_source_fields(row.fields["__header__"], where=str(job.path))
                continue
            if row.fields is None:
                err = RowInvalid(row.where, row.field, row.error or "unreadable", row.raw)
                entries.append((row.where, None, err))
            else:
                try:
                    entries.append((row.where, mapper.map(row), None))
                except RowInvalid as e:
                    e.raw = e.raw or short_raw(row.fields)
                    entries.append((row.where, None, e))
            if len(entries) >= job.chunk_rows:
                yield MappedChunk(entries, latest[0])
                entries = []
        if entries:
            yield MappedChunk(entries, latest[0])
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def _portable(error: BaseException, path: Path) -> BaseException:
    """``error`` if it survives a pickle round trip, else an IngestError with its message."""
    try:
        pickle.loads(pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        return IngestError(f"{path}: {error}")
    return error


def _child_main() -> None:
    """The reading process: a pickled :class:`ReadJob` on stdin; on stdout, frames (8-byte
    little-endian length, then a pickle) of ``("chunk", MappedChunk)``, then ``("end",
    None)`` or ``("error", exception)``."""
    # Nothing here outlives a chunk and the few cycles (a refused row's traceback) are
    # small: leaving the imported modules out of every full collection saves ~10%.
    gc.freeze()
    job: ReadJob = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer

    def send(message: tuple[str, object]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(8, "little"))
        out.write(data)
        out.flush()

    try:
        try:
            for chunk in _chunks(job):
                send(("chunk", chunk))
            send(("end", None))
        except BrokenPipeError:
            raise  # the writer gave up and closed its end: nobody to tell
        except BaseException as e:  # handed to the writer, which raises it
            send(("error", _portable(e, job.path)))
    except BrokenPipeError:
        pass


# Runs the child with the parent's interpreter and this package's location, without
# re-running the caller's main script (multiprocessing's spawn does that, and a script
# without an ``if __name__ == "__main__"`` guard would ingest again inside the child).
_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); from builder.ingest_rows import "
    "_child_main; _child_main()"
)


class _Frames:
    """Receives the child's frames on a thread into a queue of at most QUEUE_CHUNKS.

    The thread only moves bytes (a pipe read releases the GIL); unpickling stays with the
    writer. The queue lets the child run ahead of a writer that stalls for a moment (a
    commit, a slow disk) instead of stalling with it.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUE_CHUNKS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="ingest-frames", daemon=True)
        self._thread.start()

    def _put(self, frame: bytes | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue

    def _pump(self) -> None:
        try:
            while not self._stop.is_set():
                head = self._stream.read(8)
                if len(head) < 8:
                    break
                frame = self._stream.read(int.from_bytes(head, "little"))
                self._put(frame)
        finally:
            self._put(None)  # end of stream (the child ended or was stopped)

    def get(self) -> bytes | None:
        """The next frame; None when the stream ended."""
        return self._queue.get()

    def stop(self) -> None:
        """Stop the thread (call after the child has ended: its read then sees the end)."""
        self._stop.set()
        self._thread.join()


def _in_child(job: ReadJob) -> Iterator[MappedChunk]:
    root = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, root], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    pickle.dump(job, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
    proc.stdin.close()
    frames = _Frames(proc.stdout)
    try:
        while True:
            frame = frames.get()
            if frame is None:
                raise IngestError(
                    f"{job.path}: the process reading the file stopped (exit code "
                    f"{proc.wait()}) before the end of the file; nothing from it was "
                    "ingested. Its error is printed above; fix it (or free memory) and rerun"
                )
            kind, value = pickle.loads(frame)
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        if proc.poll() is None:
            proc.kill()  # the writer gave up early: nothing the child does is wanted
        proc.wait()
        frames.stop()
        proc.stdout.close()


def mapped_rows(job: ReadJob) -> Iterator[MappedChunk]:
    """The chunks of ``job``'s file, in order; raises :class:`IngestError` for a file that
    cannot be read (and whatever else the reader raised). Close the iterator (or let it
    finish) to stop the reading process."""
    big = job.path.is_file() and job.path.stat().st_size >= PROCESS_MIN_BYTES
    if big and job.fmt in ("jsonl", "csv", "parquet"):
        return _in_child(job)
    return _chunks(job)
