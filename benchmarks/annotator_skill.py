"""Annotator skill: how long the Dawid–Skene fit takes on a dashboard-sized crowd.

A seeded simulated crowd (4 labels; annotators right with chance 0.9, 0.8 and 0.6, else a
uniformly drawn wrong label) answers every item: ITEMS items (default 20,000) × 3 annotators,
then LARGE items (default 33,334, i.e. ~100k answers). Timed on the same answers, repeats
interleaved so load changes hit all alike, medians of REPEATS (default 3):

  - ``majority vote``: crowd-kit ``MajorityVote().fit`` alone (the ratio's baseline);
  - ``Dawid–Skene (crowd-kit)``: ``DawidSkene(n_iter=100, tol=1e-5).fit`` alone;
  - ``skill_from``: :func:`builder.review.skill.skill_from`, the whole report (Dawid–Skene,
    majority vote, leave-one-out agreement, gold accuracy, per-item posteriors);
  - ``cached (rerun)``: what a dashboard rerun pays once the fit is cached: the digest of the
    answers that keys the cache, and the lookup.

It also prints the estimated skills against the simulated ones. Reading the answers from the
database is not timed here: the dashboard reads the same rows for its agreement figures.

    .venv/bin/python benchmarks/annotator_skill.py [--items 20000] [--large 33334] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crowdkit.aggregation import DawidSkene, MajorityVote  # noqa: E402

from builder.domain import ItemStatus, TaskType  # noqa: E402
from builder.review import skill  # noqa: E402
from builder.spec import BenchmarkSpec, TaskSpec  # noqa: E402
from builder.store.annotations import AnswerRow  # noqa: E402

LABELS = ["billing", "bug", "feature", "question"]
SKILLS = {"ann": 0.9, "bea": 0.8, "cid": 0.6}


def crowd(n_items: int, seed: int = 7) -> list[AnswerRow]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(len(LABELS), size=n_items)
    rows = []
    for name, p in SKILLS.items():
        right = rng.random(n_items) < p
        said = np.where(right, truth, (truth + rng.integers(1, len(LABELS), n_items)) % len(LABELS))
        rows += [
            AnswerRow(i + 1, name, LABELS[s], False, None, None, ItemStatus.conflict)
            for i, s in enumerate(said)
        ]
    return sorted(rows, key=lambda r: (r.item_id, r.annotator))


def run(n_items: int, repeats: int) -> None:
    task = TaskSpec(type=TaskType.classification, input_fields=["text"], labels=LABELS)
    spec = BenchmarkSpec(name="bench", task=task, source={"text_field": "text"})  # type: ignore[arg-type]
    rows = crowd(n_items)
    frame = pd.DataFrame(
        [(r.item_id, r.annotator, r.answer) for r in rows], columns=["task", "worker", "label"]
    )
    skill._report(spec, rows)  # warm the cache for the "cached" timing
    methods: dict[str, Callable[[], Any]] = {
        "majority vote": lambda: MajorityVote().fit(frame),
        "Dawid–Skene (crowd-kit)": lambda: DawidSkene(n_iter=skill.N_ITER, tol=skill.TOL).fit(
            frame
        ),
        "skill_from": lambda: skill.skill_from(task, rows, threshold=0.7),
        "cached (rerun)": lambda: skill._report(spec, rows),
    }
    times: dict[str, list[float]] = {m: [] for m in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["majority vote"])
    print(f"\n== {n_items:,} items x {len(SKILLS)} annotators = {len(rows):,} answers, "
          f"medians of {repeats} (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")  # fmt: skip
    for name, xs in times.items():
        med = statistics.median(xs)
        print(f"  {name:<26} {med * 1000:8.1f} ms   {med / base:6.2f}x majority vote")
    report = skill.skill_from(task, rows, threshold=0.7)
    est = ", ".join(f"{a.annotator} {a.skill:.3f} (true {SKILLS[a.annotator]})"
                    for a in report.annotators)  # fmt: skip
    print(f"  skill: {est}; {report.iterations} EM iterations; "
          f"MV and DS differ on {report.disagreements:,} items")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=33_334)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    # crowd-kit 1.4 uses pandas keywords that pandas 3 deprecates; the numbers are unaffected.
    warnings.simplefilter("ignore", category=FutureWarning)
    warnings.simplefilter("ignore", category=DeprecationWarning)
    for n in (args.items, args.large):
        run(n, args.repeats)


if __name__ == "__main__":
    main()
