"""Review queue under load, on SQLite and PostgreSQL, plus the Annotate page in a browser.

Setup per backend: a workspace with N candidate items (default 100,000), two answers asked
per item, and A annotators (default 20). Then, REPEATS times (medians quoted):

- baseline: one annotator alone does C next-item + submit cycles (the ratio's reference);
- paced: the A annotators at once, each reading an item for 0.2-1.0 s before submitting
  (several times faster than people label, so a heavier load than a real team of A);
- saturating: the A annotators at once with no pause at all (a stress test: latency is then
  mostly waiting in line behind the others).

All threads share one engine, as sessions of the app's server do. Printed: p50 / p95 of
``next_item`` and ``submit`` (target p95 <= 50 ms), answers/s, and a check that no item got
more answers than asked for, from distinct annotators, and that every submitted answer —
and nothing else — is stored. Peak RSS of the process.

Browser: the app serves the SQLite workspace; Debian's Chromium times the login page, the
Annotate page's first render after logging in, Annotate reached from the menu, and the next
item after Enter (target: Annotate <= 1.5 s).

    .venv/bin/python benchmarks/review_load.py [N] [ANNOTATORS] [CYCLES] [REPEATS]
"""

from __future__ import annotations

import glob
import json
import random
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, literal, select  # noqa: E402
from sqlmodel import col  # noqa: E402

from builder.config import Settings  # noqa: E402
from builder.domain import Role  # noqa: E402
from builder.ingest import ingest_files  # noqa: E402
from builder.review.auth import Actor  # noqa: E402
from builder.review.queue import next_item, submit  # noqa: E402
from builder.store.models import Annotation, Item, Record, User, utcnow  # noqa: E402
from builder.store.users import add_user  # noqa: E402
from builder.workspace import Workspace, init_workspace, open_workspace  # noqa: E402

SPEC = """
name: bench-review
task: {type: classification, input_fields: [package, description], labels: [a, b, c, d]}
source: {id_field: package, text_field: description}
review: {annotators_per_item: 2, auto_approve_unanimous: true}
"""
THINK = (0.2, 1.0)
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


def rss_mb() -> float:
    """Peak resident memory of this process, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(xs: list[float], q: float) -> float:
    """The q-quantile (0..1) in milliseconds."""
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q * 100) - 1] * 1000


def build(home: Path, url: str | None, n: int, annotators: int) -> tuple[Workspace, list[Actor]]:
    """A workspace with n candidate items and the annotators (no passwords: no argon2 here)."""
    spec = home.parent / f"{home.name}-spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    settings = Settings.from_env({}, home=home, database_url=url)
    init_workspace(settings, spec)
    ws = open_workspace(settings)
    rows = home.parent / f"{home.name}-rows.jsonl"
    with rows.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"package": f"pkg-{i:07d}",
                                "description": f"package number {i} does thing {i % 97}"}) + "\n")  # fmt: skip
    ingest_files(ws, [rows])
    bench, _ = ws.benchmark()
    now = utcnow()
    with ws.db.session() as s:
        picked = select(
            Record.benchmark_id, Record.id, literal("candidate"), literal(1), literal("bench"),
            literal(1.0), literal({}, Item.__table__.c.flags.type), literal(False),
            literal(now, Item.__table__.c.created_at.type),
            literal(now, Item.__table__.c.updated_at.type),
        ).where(Record.benchmark_id == bench.id)  # fmt: skip
        s.execute(insert(Item).from_select(
            ["benchmark_id", "record_id", "status", "revision", "reason", "weight", "flags",
             "is_gold", "created_at", "updated_at"], picked,
        ))  # fmt: skip
        people = []
        for i in range(annotators):
            u = add_user(s, name=f"annotator-{i:02d}", role=Role.annotator,
                         password_hash=None)  # fmt: skip
            assert u.id is not None
            people.append(Actor(name=u.name, role=Role.annotator, user_id=u.id))
    return ws, people


def work(ws: Workspace, who: Actor, cycles: int, think: tuple[float, float],
         out: dict[str, list[float]], done: list[int], errors: list[str]) -> None:  # fmt: skip
    """next_item, think, submit, ``cycles`` times; answers differ by annotator so some items
    conflict. ``think`` is the (min, max) seconds spent reading an item."""
    rng = random.Random(who.user_id)
    label = "abcd"[(who.user_id or 0) % 4]
    for _ in range(cycles):
        t0 = time.perf_counter()
        task = next_item(ws, who)
        out["next"].append(time.perf_counter() - t0)
        if task is None:
            return
        if think[1]:
            time.sleep(rng.uniform(*think))
        t1 = time.perf_counter()
        try:
            submit(ws, who, task.item_id, label)
        except Exception as e:  # a refusal would be a lost answer: count it
            errors.append(f"{who.name}: {e}")
            continue
        out["submit"].append(time.perf_counter() - t1)
        done.append(task.item_id)


def phase(ws: Workspace, people: list[Actor], cycles: int,
          think: tuple[float, float] = (0.0, 0.0)) -> dict[str, Any]:  # fmt: skip
    """All ``people`` at once; returns latencies and the item ids answered."""
    out: dict[str, list[float]] = {"next": [], "submit": []}
    done: list[int] = []
    errors: list[str] = []
    threads = [threading.Thread(target=work, args=(ws, p, cycles, think, out, done, errors))
               for p in people]  # fmt: skip
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {**out, "done": done, "errors": errors, "seconds": time.perf_counter() - t0}


def check(ws: Workspace, submitted: int) -> str:
    """Answers per item never above 2, from distinct people; stored == submitted."""
    with ws.db.session() as s:
        item, who = col(Annotation.item_id), col(Annotation.annotator_id)
        per_item = s.execute(
            select(item, func.count(), func.count(func.distinct(who)))
            .where(col(Annotation.is_current).is_(True))
            .group_by(item)
        ).all()
        users = s.execute(select(func.count()).select_from(User)).scalar_one()
    stored = sum(n for _, n, _ in per_item)
    over = sum(1 for _, n, _ in per_item if n > 2)
    dup = sum(1 for _, n, d in per_item if d != n)
    ok = over == 0 and dup == 0 and stored == submitted
    return (f"{'OK' if ok else 'FAILED'}: {stored} answers stored for {submitted} submitted, "
            f"{over} items over 2 answers, {dup} with a repeated annotator ({users} users)")  # fmt: skip


def _summary(label: str, base: list[dict[str, Any]], load: list[dict[str, Any]]) -> None:
    def med(runs: list[dict[str, Any]], key: str, q: float) -> float:
        return statistics.median(pct(r[key], q) for r in runs)

    rate = statistics.median(len(r["done"]) / r["seconds"] for r in load)
    refused = sum(len(r["errors"]) for r in load)
    for key, name in (("next", "next item"), ("submit", "submit")):
        p50, p95, lone = med(load, key, 0.50), med(load, key, 0.95), med(base, key, 0.95)
        print(f"  {label:<26} {name:<9} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
              f"(target 50 ms; {p95 / lone:4.1f}x the lone annotator's p95 {lone:.1f} ms)")  # fmt: skip
    print(f"  {label:<26} {rate:.0f} answers/s, {refused} refused")


def run_backend(name: str, home: Path, url: str | None, n: int, annotators: int,
                cycles: int, repeats: int) -> None:  # fmt: skip
    t0 = time.perf_counter()
    ws, people = build(home, url, n, annotators + 1)
    print(f"\n== {name}: {n:,} items, {annotators} annotators, {cycles} cycles each, "
          f"medians of {repeats} repeats (setup {time.perf_counter() - t0:.0f} s)")  # fmt: skip
    lone, crowd = people[-1], people[:-1]
    phase(ws, [lone], 20)  # warm up engine, caches, statement compilation
    submitted = 20
    base, paced, flat = [], [], []
    for _ in range(repeats):
        base.append(phase(ws, [lone], cycles))
        # Annotators who read each item for 0.2-1.0 s: faster than any person, so this is a
        # heavier load than a real team of this size produces.
        paced.append(phase(ws, crowd, cycles, think=THINK))
        # No reading time at all: every annotator fires the next request at once.
        flat.append(phase(ws, crowd, cycles))
        submitted += sum(len(r["done"]) for r in (base[-1], paced[-1], flat[-1]))
    _summary(f"{annotators} annotators, 0.2-1 s", base, paced)
    _summary(f"{annotators} saturating, no pause", base, flat)
    print(f"  {check(ws, submitted)}")
    print(f"  peak RSS {rss_mb():.0f} MiB")
    ws.db.dispose()


def browser(home: Path, repeats: int) -> None:
    """Annotate page renders in Chromium, against the login page's own render."""
    if not Path(CHROMIUM).exists():
        print("\n== browser: skipped, /usr/bin/chromium is not installed")
        return
    from playwright.sync_api import sync_playwright

    from builder.review.server import start_app
    from builder.review.users import add_user as add_login

    settings = Settings.from_env({}, home=home)
    ws = open_workspace(settings)
    add_login(ws, "timer", "annotator", "timer-password")
    ws.db.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_app(settings, port=port, log=home / "app.log")
    times: dict[str, list[float]] = {"login page": [], "log in -> Annotate": [],
                                     "menu -> My answers": [], "menu -> Annotate": [],
                                     "Enter -> next item": []}  # fmt: skip
    pills = '[class*="st-key-answer_pick_"] button'
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            for i in range(repeats + 1):  # the first round warms the server's imports
                page = b.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                t0 = time.perf_counter()
                page.goto(server.url)
                page.get_by_role("button", name="Log in").wait_for()
                t1 = time.perf_counter()
                page.get_by_label("User name").fill("timer")
                page.get_by_label("Password", exact=True).fill("timer-password")
                t2 = time.perf_counter()
                page.get_by_role("button", name="Log in").click()
                page.locator(pills).first.wait_for()
                page.get_by_role("button", name="Submit").wait_for()
                t3 = time.perf_counter()
                page.get_by_role("link", name="My answers").click()
                page.get_by_role("heading", name="My answers").wait_for()
                t4 = time.perf_counter()
                page.get_by_role("link", name="Annotate").click()
                page.locator(pills).first.wait_for()
                page.get_by_role("button", name="Submit").wait_for()
                t5 = time.perf_counter()
                heading = page.locator("h3").first.inner_text()
                page.wait_for_function("window.__benchsmithKeys === true")
                page.keyboard.type("1")
                page.locator(f"{pills}[aria-checked='true']").wait_for()
                t6 = time.perf_counter()
                page.keyboard.press("Enter")
                page.get_by_text(f"Saved {heading}").wait_for()
                page.locator(pills).first.wait_for()
                t7 = time.perf_counter()
                if i:
                    spans = (t1 - t0, t3 - t2, t4 - t3, t5 - t4, t7 - t6)
                    for key, dt in zip(times, spans, strict=True):
                        times[key].append(dt)
                page.context.close()
            b.close()
    finally:
        server.stop()
    base = statistics.median(times["login page"])
    print(f"\n== browser: Chromium, {repeats} fresh sessions on the {home.name} workspace above")
    for key, xs in times.items():
        print(f"  {key:<20} median {statistics.median(xs):5.2f} s, max {max(xs):5.2f} s"
              f"  ({statistics.median(xs) / base:.1f}x the login page)")  # fmt: skip
    print(
        "  (target: Annotate's first render <= 1.5 s; 'log in -> Annotate' includes the "
        "argon2 password check and the login rerun)"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    annotators = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    cycles = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    tmp = Path(tempfile.mkdtemp(prefix="bench-review-"))
    try:
        run_backend("SQLite", tmp / "sqlite", None, n, annotators, cycles, repeats)
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if bins:
            from tests.support.pgserver import PostgresServer

            pg = PostgresServer(Path(bins[-1]).parent, Path(tempfile.mkdtemp(prefix="bench-pg-")))
            pg.start()
            try:
                run_backend("PostgreSQL", tmp / "pg", pg.create_database(), n, annotators,
                            cycles, repeats)  # fmt: skip
            finally:
                pg.stop()
                shutil.rmtree(pg.root, ignore_errors=True)
        else:
            print("\n== PostgreSQL: skipped, no server binaries under /usr/lib/postgresql")
        browser(tmp / "sqlite", repeats=5)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
