"""Labeling pace in Chromium: Enter -> next item ready, and the first labeling screen after
login, for the Annotate page as it is and as it was at the last commit (the baseline).

Setup: a SQLite workspace of the sample spec (58 labels, guidelines) with a queue of Q items
(default 5,000) from the bundled corpus, one annotator per variant, each on its own copy of
the workspace. The baseline is ``git show BASELINE:review_ui/app_pages/annotate.py`` (BASELINE:
the commit before this work, or ``$BENCHSMITH_PACE_BASELINE``) placed in a
copy of today's ``review_ui`` (so only the page differs), served the same way.

Measured, the variants interleaved in blocks so that load drifts hit both alike:

- **Enter -> next item ready** over N items per variant (default 100): the label's digit is
  typed and drawn first; the clock runs from Enter until the next item's source id is on
  screen (not stale) and its form's Submit button is enabled;
- **first labeling screen after login**: from clicking "Log in" until the first item is
  ready, R fresh browser contexts per variant (includes the argon2 password check);
- **queries per submit** (library, SQLAlchemy ``before_cursor_execute`` counter): a first
  answer and an item's completing answer, for today's ``builder`` and BASELINE's (extracted with
  ``git archive``), each in a subprocess.

Printed: median and p95 of each, the ratio today / baseline, and the load average. Targets
(issue 12): Enter -> next item median <= 250 ms, p95 <= 400 ms.

    .venv/bin/python benchmarks/review_pace.py [ITEMS] [QUEUE] [LOGINS]
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The commit before issue 12 changed the Annotate page and the submit path.
BASELINE = os.environ.get("BENCHSMITH_PACE_BASELINE", "72da72e")
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
PASSWORD = "pace-timer-password"
BLOCK = 25  # items per variant before switching

# The next item is ready: its source id is a live heading and its Submit is enabled.
_READY = """(sid) => {
  const live = (sel) => Array.from(document.querySelectorAll(sel))
    .filter((e) => !e.closest('[data-stale="true"]'));
  const shown = live('h3').some((h) => h.innerText.trim() === sid);
  const submit = live('[class*="st-key-submit_"] button');
  return shown && submit.length === 1 && !submit[0].disabled;
}"""
_PICKED = """() => document.querySelectorAll(
  '[class*="st-key-answer_pick_"] button[aria-checked="true"]').length === 1"""


def pct(xs: list[float], q: float) -> float:
    """The q-quantile (0..1) of seconds, in milliseconds."""
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q * 100) - 1] * 1000


def build(home: Path, queue: int) -> list[str]:
    """The sample benchmark with ``queue`` candidate items and the annotator ``timer``;
    returns the items' source ids in queue order."""
    from sqlalchemy import insert, literal, select

    from builder.config import Settings
    from builder.ingest import ingest_files
    from builder.review.users import add_user
    from builder.store.models import Item, Record, utcnow
    from builder.workspace import init_workspace, open_workspace

    settings = Settings.from_env({}, home=home)
    init_workspace(settings, ROOT / "data" / "debian-sections.yaml")
    ws = open_workspace(settings)
    rows = home.parent / "pace-rows.jsonl"
    with gzip.open(ROOT / "data" / "debian_packages.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = [line for _, line in zip(range(queue), f, strict=False)]
    rows.write_text("".join(lines), encoding="utf-8")
    ingest_files(ws, [rows])
    bench, _ = ws.benchmark()
    now, cols = utcnow(), Item.__table__.c  # type: ignore[attr-defined]
    with ws.db.session() as s:
        picked = select(
            Record.benchmark_id, Record.id, literal("candidate"), literal(1), literal("pace"),
            literal(1.0), literal({}, cols.flags.type), literal(False),
            literal(now, cols.created_at.type), literal(now, cols.updated_at.type),
        ).where(Record.benchmark_id == bench.id).order_by(Record.id)  # fmt: skip
        s.execute(insert(Item).from_select(
            ["benchmark_id", "record_id", "status", "revision", "reason", "weight", "flags",
             "is_gold", "created_at", "updated_at"], picked,
        ))  # fmt: skip
        sids = select(Record.source_id).join(Item, Item.record_id == Record.id)  # type: ignore[arg-type]
        order = list(s.execute(sids.order_by(Item.id)).scalars())  # type: ignore[arg-type]
    add_user(ws, "timer", "annotator", PASSWORD)
    ws.db.dispose()
    return order


def baseline_ui(tmp: Path) -> Path:
    """A copy of today's review_ui with BASELINE's Annotate page; the folder to put on PYTHONPATH."""
    dest = tmp / "baseline-ui"
    shutil.copytree(ROOT / "review_ui", dest / "review_ui",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    page = subprocess.run(["git", "show", f"{BASELINE}:review_ui/app_pages/annotate.py"], cwd=ROOT,
                          check=True, capture_output=True, text=True).stdout  # fmt: skip
    (dest / "review_ui" / "app_pages" / "annotate.py").write_text(page, encoding="utf-8")
    return dest


def serve(home: Path, ui: Path | None, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the app on ``home``; ``ui``: a folder whose review_ui replaces today's."""
    from builder.config import Settings
    from builder.review.server import _healthy, app_command, app_env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = app_env(Settings.from_env({}, home=home))
    cmd = app_command("127.0.0.1", port)
    if ui is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(ui), str(ROOT)])
        script = Path(cmd[4])
        cmd[4] = str(ui / "review_ui" / script.name)
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the app did not start; see {log}")
        time.sleep(0.2)
    return proc, url


def log_in(browser: Any, url: str, first: str) -> tuple[Any, float]:
    """A fresh context logged in as ``timer``; its page and the seconds from clicking
    "Log in" to the first item ready."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url)
    page.get_by_label("User name").fill("timer")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Log in").click()
    page.wait_for_function(_READY, arg=first, polling="raf", timeout=60_000)
    return page, time.perf_counter() - t0


def label(page: Any, current: str, following: str) -> float:
    """Pick label 7 on ``current``, then time Enter until ``following`` is ready."""
    page.wait_for_function(_READY, arg=current, polling="raf")
    page.wait_for_function("window.__benchsmithKeys === true")
    page.keyboard.type("7")
    page.wait_for_function(_PICKED, polling="raf")
    t0 = time.perf_counter()
    page.keyboard.press("Enter")
    page.wait_for_function(_READY, arg=following, polling="raf", timeout=60_000)
    return time.perf_counter() - t0


# Run with the builder under test on PYTHONPATH: builds its own 20-item workspace (a spec
# stored by one builder need not parse in another), then counts statements per submit.
_COUNT = """
import json, sys
from pathlib import Path
from sqlalchemy import event
from sqlmodel import select
from builder.config import Settings
from builder.domain import Role
from builder.ingest import ingest_files
from builder.review.auth import Actor
from builder.review.queue import next_item, submit
from builder.store.models import Item, Record
from builder.store.users import add_user
from builder.workspace import init_workspace, open_workspace
home, spec, rows = (Path(a) for a in sys.argv[1:4])
settings = Settings.from_env({}, home=home)
init_workspace(settings, spec)
ws = open_workspace(settings)
ingest_files(ws, [rows])
with ws.db.session() as s:
    for r in s.exec(select(Record).order_by(Record.id)).all():
        s.add(Item(benchmark_id=r.benchmark_id, record_id=r.id, reason="count"))
    users = [add_user(s, name=n, role=Role.annotator, password_hash=None) for n in "ab"]
    people = [Actor(name=u.name, role=Role.annotator, user_id=u.id) for u in users]
seen = []
event.listen(ws.db.engine, "before_cursor_execute", lambda *a: seen.append(1))
counts = {"first answer": [], "completing answer": []}
for _ in range(5):
    for who, kind in zip(people, counts):
        task = next_item(ws, who)
        seen.clear()
        submit(ws, who, task.item_id, "devel")
        counts[kind].append(len(seen))
print(json.dumps({k: v[-1] for k, v in counts.items()}))  # steady state
"""


def queries_per_submit(tmp: Path) -> dict[str, dict[str, int]]:
    """Statements per submit on SQLite (BEGIN included) for today's builder and BASELINE's, each
    on a fresh 20-item workspace: a first answer (a fresh item), then the second annotator's
    answer that completes it (and auto-approves it: they agree)."""
    head = tmp / "head"
    head.mkdir()
    archive = subprocess.run(["git", "archive", BASELINE, "builder"], cwd=ROOT, check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(head)], input=archive, check=True)
    rows = tmp / "count-rows.jsonl"
    with gzip.open(ROOT / "data" / "debian_packages.jsonl.gz", "rt", encoding="utf-8") as f:
        rows.write_text("".join(line for _, line in zip(range(20), f, strict=False)))
    spec = tmp / "count-spec.yaml"  # the sample spec without its guidelines file
    text = (ROOT / "data" / "debian-sections.yaml").read_text(encoding="utf-8")
    spec.write_text("\n".join(x for x in text.splitlines() if not x.startswith("guidelines:")))
    out = {}
    for name, path in (("baseline", head), ("today", ROOT)):
        env = {**os.environ, "PYTHONPATH": str(path)}
        args = [str(tmp / f"count-{name}"), str(spec), str(rows)]
        run = subprocess.run([sys.executable, "-c", _COUNT, *args], env=env, cwd=tmp,
                             capture_output=True, text=True)  # fmt: skip
        if run.returncode:
            raise RuntimeError(f"counting with builder at {name} failed:\n{run.stderr[-2000:]}")
        out[name] = json.loads(run.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    queue = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    logins = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench-pace-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        t0 = time.perf_counter()
        order = build(tmp / "today", queue)
        shutil.copytree(tmp / "today", tmp / "baseline")
        print(f"== Annotate pace: {queue:,}-item queue, {items} items per variant, "
              f"setup {time.perf_counter() - t0:.0f} s")  # fmt: skip
        urls = {}
        for name, ui in (("baseline", baseline_ui(tmp)), ("today", None)):
            proc, urls[name] = serve(tmp / name, ui, tmp / f"{name}.log")
            procs.append(proc)
        enter: dict[str, list[float]] = {"baseline": [], "today": []}
        first: dict[str, list[float]] = {"baseline": [], "today": []}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            for url in urls.values():  # warm each server's imports; not counted
                log_in(browser, url, order[0])[0].context.close()
            for _ in range(logins):
                for name, url in urls.items():
                    page, dt = log_in(browser, url, order[0])
                    first[name].append(dt)
                    page.context.close()
            pages = {name: log_in(browser, url, order[0])[0] for name, url in urls.items()}
            done = 0
            while done < items:
                n = min(BLOCK, items - done)
                for name, page in pages.items():
                    for i in range(done, done + n):
                        enter[name].append(label(page, order[i], order[i + 1]))
                done += n
            browser.close()
        load = os.getloadavg()
        print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 CPU cores)")
        for title, xs in (("Enter -> next item ready", enter), ("first screen after login", first)):
            for name in ("baseline", "today"):
                p95 = f"p95 {pct(xs[name], 0.95):5.0f} ms" if len(xs[name]) >= 2 else ""
                print(f"  {title:<26} {name:<8} median {statistics.median(xs[name]) * 1000:5.0f} ms"
                      f"  {p95}  (n={len(xs[name])})")  # fmt: skip
            ratio = statistics.median(xs["today"]) / statistics.median(xs["baseline"])
            print(f"  {title:<26} today / baseline (medians): {ratio:.2f}")
        print("  (targets: Enter -> next item median <= 250 ms, p95 <= 400 ms; issue 12's prior "
              "figures 375 / 579 ms)")  # fmt: skip
        counts = queries_per_submit(tmp)
        for name, c in counts.items():
            print(f"  statements per submit, builder at {name:<5}: "
                  + ", ".join(f"{k} {v}" for k, v in c.items()))  # fmt: skip
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
