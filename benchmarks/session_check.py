"""Logins that last: what checking the server-side session adds to every page run.

Every run of the review app checks the login again. Before sessions lasted, that was
:func:`builder.review.auth.authorize` on the actor the tab kept (one transaction, one read of
the user: the ratio's baseline). Now it is :func:`builder.review.sessions.check_session` on
the cookie's token: the session row and its user in one query, then the same ``authorize``,
and a ``last_seen_at`` write at most once a minute. Measured on a SQLite workspace whose
session table holds SESSIONS rows (default 20,000, over 50 users, so the token lookup goes
through the index), per call, mean over CALLS calls, median of REPEATS (default 7), the
variants interleaved so load changes hit all alike:

  - ``authorize (baseline)``: the old per-run check;
  - ``check_session``: the new one, as the app runs it (no write: seen within the minute);
  - ``check_session, touch every call``: the clock moved a minute per call, so every call
    writes ``last_seen_at`` — what a write per rerun would cost.

    .venv/bin/python benchmarks/session_check.py [--sessions 20000] [--calls 300] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.config import Settings  # noqa: E402
from builder.domain import Role  # noqa: E402
from builder.review import auth  # noqa: E402
from builder.review.auth import authorize, login  # noqa: E402
from builder.review.sessions import check_session  # noqa: E402
from builder.review.users import add_user  # noqa: E402
from builder.store.models import utcnow  # noqa: E402
from builder.store.sessions import add_login_session  # noqa: E402
from builder.workspace import Workspace, init_workspace, open_workspace  # noqa: E402
from tests.support.common import SAMPLE_SPEC  # noqa: E402


def build(tmp: Path, sessions: int) -> Workspace:
    """A workspace with 50 users and ``sessions`` session rows among them."""
    settings = Settings.from_env({}, home=tmp / "ws")
    init_workspace(settings, SAMPLE_SPEC)
    ws = open_workspace(settings)
    from argon2 import PasswordHasher

    auth._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    for i in range(50):
        add_user(ws, f"user{i}", Role.annotator, "a-long-password")
    at = utcnow()
    with ws.db.session() as s:
        for n in range(sessions):
            add_login_session(
                s, token=f"filler-{n}", user_id=1 + n % 50, method="password", stamp="x",
                address="10.0.0.1", user_agent="bench", at=at, expires_at=at + timedelta(hours=12),
            )  # fmt: skip
    return ws


def per_call(fn: Callable[[int], object], calls: int) -> float:
    started = time.perf_counter()
    for i in range(calls):
        fn(i)
    return (time.perf_counter() - started) / calls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20_000)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        built = build(Path(tmp), args.sessions)
        # Long enough a session for the touching variant's clock, a minute per call.
        ws = replace(built, settings=replace(built.settings, session_max=timedelta(days=30)))
        session = login(ws, "user7", "a-long-password")
        actor = session.actor
        start = utcnow()
        moved = [0]

        def baseline(_: int) -> object:
            with ws.db.session() as s:
                return authorize(s, actor, Role.annotator, "using the review app")

        def checked(_: int) -> object:
            return check_session(ws, session, now=start)

        def touched(_: int) -> object:
            moved[0] += 1
            return check_session(ws, session, now=start + timedelta(minutes=moved[0]))

        variants: dict[str, Callable[[int], object]] = {
            "authorize (baseline)": baseline,
            "check_session": checked,
            "check_session, touch every call": touched,
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.repeats):
            for name, fn in variants.items():
                times[name].append(per_call(fn, args.calls))
        ws.db.dispose()
    base = statistics.median(times["authorize (baseline)"])
    load = os.getloadavg()[0]
    print(
        f"session check per page run, SQLite, {args.sessions:,} sessions, {args.calls} calls, "
        f"median of {args.repeats} (load average {load:.2f})"
    )
    for name, values in times.items():
        med = statistics.median(values)
        print(f"  {name:<34} {med * 1e3:7.3f} ms  ×{med / base:.2f}")


if __name__ == "__main__":
    main()
