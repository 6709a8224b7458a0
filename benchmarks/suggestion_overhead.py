"""Suggestions: what asking "may this person see a suggestion?" adds to each Annotate item.

The Annotate fragment asks the library once per item shown
(:func:`builder.review.suggestions.suggestions_for`). Measured on a SQLite workspace with
ITEMS items from the sample corpus (default 2,000), each with a stored suggestion, and an
annotator who has answered ANSWERED of them (default 200); per call, mean over those items,
median of REPEATS (default 5), runs interleaved so load changes hit all alike:

  - ``progress (baseline)``: :func:`builder.review.queue.progress`, which the fragment
    already asks once per item (the ratio's baseline);
  - ``suggestions_for, reviewers``: the default spec: annotators label blind, the call
    returns nothing;
  - ``suggestions_for, annotators``: suggestions shown to annotators: the call checks the
    item was handed to them and reads the suggestion.

Also the dashboard's anchoring section, :func:`builder.review.anchoring.anchoring`, against
:func:`builder.review.dashboard.build_dashboard` on the same workspace.

    .venv/bin/python benchmarks/suggestion_overhead.py [--items 2000] [--answered 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import select  # noqa: E402

from builder.config import Settings  # noqa: E402
from builder.domain import Role  # noqa: E402
from builder.ingest import ingest_files  # noqa: E402
from builder.review.anchoring import anchoring  # noqa: E402
from builder.review.auth import Actor  # noqa: E402
from builder.review.dashboard import build_dashboard  # noqa: E402
from builder.review.queue import next_item, progress, submit  # noqa: E402
from builder.review.suggestions import import_suggestions, suggestions_for  # noqa: E402
from builder.review.users import add_user  # noqa: E402
from builder.store.models import Item, Record  # noqa: E402
from builder.store.users import get_user  # noqa: E402
from builder.workspace import Workspace, init_workspace, open_workspace  # noqa: E402
from tests.support.common import SAMPLE_DATA, spec_variant  # noqa: E402


def _actor(ws: Workspace, name: str) -> Actor:
    with ws.db.session() as s:
        u = get_user(s, name)
        assert u is not None and u.id is not None
        return Actor(u.name, Role(u.role), u.id)


def build(
    tmp: Path, mode: str, rows: list[dict[str, Any]], answered: int
) -> tuple[Workspace, list[int]]:
    """A workspace with ``rows`` as items, a suggestion each, ``answered`` answers by ana."""
    home = tmp / mode
    home.mkdir()
    settings = Settings.from_env({}, home=home / "ws")
    init_workspace(
        settings, spec_variant(home, review={"suggestions": mode, "suggestion_control": 0.05})
    )
    ws = open_workspace(settings)
    src = home / "pool.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest_files(ws, [src])
    bench, _ = ws.benchmark()
    with ws.db.session() as s:
        recs = s.exec(select(Record).order_by(Record.id)).all()  # type: ignore[arg-type]
        s.add_all(Item(benchmark_id=bench.id, record_id=r.id, reason="bench") for r in recs)  # type: ignore[arg-type,misc]
    sugg = home / "s.jsonl"
    sugg.write_text(
        "".join(
            json.dumps({"source_id": r["package"], "model": "m", "label": "devel", "score": 0.7})
            + "\n"
            for r in rows
        )
    )
    import_suggestions(ws, sugg)
    add_user(ws, "ana", Role.annotator, None)
    add_user(ws, "rita", Role.reviewer, None)
    ana = _actor(ws, "ana")
    done = []
    for _ in range(answered):
        task = next_item(ws, ana)
        assert task is not None
        submit(ws, ana, task.item_id, "devel" if len(done) % 3 else "libs")
        done.append(task.item_id)
    return ws, done


def per_call(fn: Callable[[int], Any], ids: list[int]) -> float:
    started = time.perf_counter()
    for i in ids:
        fn(i)
    return (time.perf_counter() - started) / len(ids)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--answered", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with gzip.open(SAMPLE_DATA, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f][: args.items]
    with tempfile.TemporaryDirectory() as tmp:
        blind, ids = build(Path(tmp), "reviewers", rows, args.answered)
        shown, ids2 = build(Path(tmp), "annotators", rows, args.answered)
        assert ids == ids2
        ana_b, ana_s = _actor(blind, "ana"), _actor(shown, "ana")
        rita = _actor(shown, "rita")
        runs: dict[str, Callable[[], float]] = {
            "progress (baseline)": lambda: per_call(lambda _i: progress(shown, ana_s), ids),
            "suggestions_for, reviewers": lambda: per_call(
                lambda i: suggestions_for(blind, ana_b, i, page="annotate"), ids
            ),
            "suggestions_for, annotators": lambda: per_call(
                lambda i: suggestions_for(shown, ana_s, i, page="annotate"), ids
            ),
        }
        dash: dict[str, Callable[[], float]] = {
            "build_dashboard (baseline)": lambda: per_call(
                lambda _i: build_dashboard(shown, rita), [0]
            ),
            "anchoring": lambda: per_call(lambda _i: anchoring(shown, rita), [0]),
        }
        times: dict[str, list[float]] = {k: [] for k in [*runs, *dash]}
        for _ in range(args.repeats):
            for name, run in [*runs.items(), *dash.items()]:
                times[name].append(run())
        shown_n = sum(bool(suggestions_for(shown, ana_s, i, page="annotate")) for i in ids)
        blind.db.dispose()
        shown.db.dispose()
    print(
        f"{args.items} items with a suggestion each; {args.answered} answered by one annotator "
        f"({shown_n} shown with their suggestion, {args.answered - shown_n} control); "
        f"median of {args.repeats}; load average {os.getloadavg()[0]:.2f}"
    )
    base = statistics.median(times["progress (baseline)"])
    for name in runs:
        t = statistics.median(times[name])
        print(f"  {name:<30} {t * 1000:8.2f} ms / item   ratio {t / base:5.2f}")
    base = statistics.median(times["build_dashboard (baseline)"])
    for name in dash:
        t = statistics.median(times[name])
        print(f"  {name:<30} {t * 1000:8.1f} ms / page   ratio {t / base:5.2f}")


if __name__ == "__main__":
    main()
