"""Progress lines (count, records/s, ETA) and ``curate`` showing them for every long stage."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

from builder.progress import ProgressLines, eta, terminal_progress
from builder.readers import ReadProgress
from tests.support.common import SAMPLE_DATA, SAMPLE_SPEC, Cli

LINE = re.compile(
    r"^\[progress\] (?P<stage>[a-z ]+): (?P<done>[\d,]+)/(?P<total>[\d,]+) records"
    r"( \(\d+%\))?, (?:[\d,]+|\?) records/s, (?:ETA|done in) (?:\d+:\d\d:\d\d|\?)$"
)


def test_rate_and_eta() -> None:
    assert eta(0, 100, 5.0) == (None, None)
    assert eta(25, 100, 5.0) == (5.0, 15.0)
    assert eta(100, 100, 4.0) == (25.0, 0.0)


def test_lines_are_throttled_per_stage_but_first_and_last_always_print() -> None:
    now = [0.0]
    out = io.StringIO()
    lines = ProgressLines(out, every=5.0, clock=lambda: now[0])
    for t, done in [(0.0, 0), (1.0, 100), (2.0, 200), (6.0, 600), (7.0, 700), (9.0, 1000)]:
        now[0] = t
        lines("embed", ReadProgress(done, 1000))
    lines("embed", ReadProgress(1000, 1000))  # a repeated end is not printed twice
    printed = out.getvalue().splitlines()
    assert printed == [
        "[progress] embed: 0/1,000 records (0%), ? records/s, ETA ?",
        "[progress] embed: 600/1,000 records (60%), 100 records/s, ETA 0:00:04",
        "[progress] embed: 1,000/1,000 records (100%), 111 records/s, done in 0:00:09",
    ]


def test_no_callback_when_piped_unless_plain() -> None:
    assert terminal_progress(stream=io.StringIO())[0] is None
    show, stop = terminal_progress(stream=io.StringIO(), plain=True)
    assert isinstance(show, ProgressLines)
    stop()


def test_curate_prints_progress_of_every_long_stage(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    assert cli("init", "--spec", SAMPLE_SPEC, env=cli_env).exit_code == 0
    with gzip.open(SAMPLE_DATA, "rt", encoding="utf-8") as f:
        lines = [line for i, line in enumerate(f) if i % 25 == 0][:200]
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(lines), encoding="utf-8")
    assert cli("ingest", pool, env=cli_env).exit_code == 0
    r = cli("curate", "--embedder", "static", "--size", "10", env=cli_env)
    assert r.exit_code == 0, r.stderr
    progress = [m for m in map(LINE.match, r.stderr.splitlines()) if m]
    assert progress, r.stderr
    stages = {m["stage"] for m in progress}
    assert {"scan pool", "embed", "near duplicates", "sample", "write"} <= stages
    last = {m["stage"]: m for m in progress}
    assert last["scan pool"]["done"] == last["scan pool"]["total"] == "200"
    assert last["write"]["done"] == "10"
    assert "[progress]" not in r.stdout  # the summary stays clean for scripts
