"""Progress of long stages in the terminal: count, rate (per second) and time left.

Long stages (ingesting a file, scanning and embedding a pool, near-duplicate search,
sampling, writing items) call ``progress(stage, ReadProgress(done, total))``.
:func:`terminal_progress` turns those calls into a live bar when stderr is a terminal, or,
when asked for (``plain=True``), into plain lines (for logs, pipes, CI and the CLI test
runner), throttled to one per :data:`EVERY` seconds per stage plus its first and last::

    [progress] embed: 40,960/117,000 records (35%), 9,870 records/s, ETA 0:00:08

The rate is measured from the stage's first call; the ETA is what is left at that rate.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

__all__ = ["EVERY", "ProgressLines", "eta", "terminal_progress"]

EVERY = 5.0
"""Seconds between two plain progress lines of the same stage."""

ProgressFn = Callable[[str, Any], None]


def eta(done: int, total: int, seconds: float) -> tuple[float | None, float | None]:
    """(rate per second, seconds left) after ``done`` of ``total`` in ``seconds``; None when
    not yet measurable (nothing done, or no time elapsed)."""
    if done <= 0 or seconds <= 0:
        return None, None
    rate = done / seconds
    return rate, max(0.0, (total - done) / rate)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class _Stage:
    started: float
    first_done: int
    last_line: float = field(default=-1.0)
    finished: bool = False


class ProgressLines:
    """A progress callback that writes plain lines to ``stream`` (see the module doc).

    ``unit`` names what is counted (``records``; empty for bytes or anything else).
    ``every``: seconds between two lines of one stage (its first and last always print).
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        unit: str = "records",
        every: float = EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.unit, self.every, self.clock = unit, every, clock
        self._stages: dict[str, _Stage] = {}

    def __call__(self, stage: str, p: Any) -> None:
        """Record that ``stage`` has done ``p.done`` of ``p.total``; maybe print a line."""
        now = self.clock()
        st = self._stages.get(stage)
        if st is None:
            st = self._stages[stage] = _Stage(started=now, first_done=0)
        if st.finished and p.done >= p.total:
            return
        last = p.done >= p.total
        if not last and st.last_line >= 0 and now - st.last_line < self.every:
            return
        st.last_line = now
        st.finished = last
        self.stream.write(self.line(stage, p.done, p.total, now - st.started) + "\n")
        self.stream.flush()

    def line(self, stage: str, done: int, total: int, seconds: float) -> str:
        """One progress line (public for tests and other front ends)."""
        unit = f" {self.unit}" if self.unit else ""
        share = f" ({100 * done / total:.0f}%)" if total else ""
        rate, left = eta(done, total, seconds)
        speed = f"{rate:,.0f}{unit}/s" if rate is not None else f"?{unit}/s"
        tail = f"done in {_clock(seconds)}" if done >= total else f"ETA {_clock(left)}"
        return f"[progress] {stage}: {done:,}/{total:,}{unit}{share}, {speed}, {tail}"


def terminal_progress(
    *, unit: str = "records", plain: bool = False, stream: IO[str] | None = None
) -> tuple[ProgressFn | None, Callable[[], None]]:
    """A progress callback and its stop function.

    A live bar (count, rate, time left) when ``stream`` (default stderr) is a terminal;
    else :class:`ProgressLines` when ``plain`` is True, or no callback at all.
    """
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        if plain:
            return ProgressLines(out, unit=unit), lambda: None
        return None, lambda: None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=Console(file=out),
        transient=True,
    )
    tasks: dict[str, Any] = {}
    started: dict[str, float] = {}
    bar.start()

    def update(name: str, p: Any) -> None:
        if name not in tasks:
            label = name.rsplit("/", 1)[-1]
            tasks[name] = bar.add_task(label, total=p.total, rate="")
            started[name] = time.monotonic()
        rate, _ = eta(p.done, p.total, time.monotonic() - started[name])
        speed = f"{rate:,.0f} {unit}/s".replace(" /s", "/s") if rate is not None else ""
        bar.update(tasks[name], completed=p.done, total=p.total, rate=speed)

    return update, bar.stop
