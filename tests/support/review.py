"""Helpers for the review tests: items straight from the pool, users, spec variants.

Items normally come from curation; these tests insert them directly (status candidate)
from ingested sample records, as the curation pipeline would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from builder.config import Settings
from builder.domain import Role
from builder.ingest import ingest_files
from builder.review import auth
from builder.review.auth import Actor, login
from builder.review.users import add_user, disable_user, set_password, set_role
from builder.store.models import Item, Record
from builder.store.users import get_user
from builder.workspace import Workspace
from review_ui.session import AUTH_KEY
from tests.support.common import ROOT, workspace_with, write_jsonl

PASSWORD = "correct-horse-battery"


@pytest.fixture
def fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id, with parameters cheap enough for tests that hash dozens of passwords."""
    monkeypatch.setattr(
        auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def make_items(
    ws: Workspace,
    rows: list[dict[str, Any]],
    n: int = 12,
    *,
    tmp: Path,
    benchmark: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[int]:
    """Ingest ``rows[:n]`` and make each record a candidate item; returns item ids in order."""
    src = write_jsonl(
        tmp / f"rows-{n}-{benchmark or 'default'}.jsonl",
        [{**row, **(extra or {})} for row in rows[:n]],
    )
    ingest_files(ws, [src], benchmark=benchmark)
    bench, _ = ws.benchmark(benchmark)
    with ws.db.session() as s:
        records = s.exec(
            select(Record).where(Record.benchmark_id == bench.id).order_by(Record.id)  # type: ignore[arg-type]
        ).all()
        items = [
            Item(benchmark_id=bench.id, record_id=r.id, cluster=i % 3, reason="test")  # type: ignore[arg-type]
            for i, r in enumerate(records)
        ]
        s.add_all(items)
        s.flush()
        return [it.id for it in items]  # type: ignore[misc]


def make_user(
    ws: Workspace, name: str, role: Role | str = Role.annotator, password: str | None = PASSWORD
) -> Actor:
    """Create a user and return them as a logged-in actor would be."""
    add_user(ws, name, role, password)
    return actor(ws, name)


def actor(ws: Workspace, name: str) -> Actor:
    """The actor for an existing user."""
    with ws.db.session() as s:
        user = get_user(s, name)
        assert user is not None and user.id is not None
        return Actor(name=user.name, role=Role(user.role), user_id=user.id)


APP = ROOT / "review_ui" / "app.py"
PAGES = APP.parent / "app_pages"
DEMO = {"ana": Role.annotator, "ben": Role.annotator, "rita": Role.reviewer, "lea": Role.lead}


# A user's session ends when a lead changes their account: (change, the reason shown).
ACCOUNT_CHANGES = [
    pytest.param(
        lambda ws: set_password(ws, "rita", "a-brand-new-password"),
        "the password of 'rita' was changed; log in again with the new one",
        id="password",
    ),
    pytest.param(
        lambda ws: disable_user(ws, "rita"),
        "user 'rita' is disabled or was removed; ask a lead to enable the account",
        id="disable",
    ),
    pytest.param(
        lambda ws: set_role(ws, "rita", "lead"),
        "the role of 'rita' was changed to lead; log in again",
        id="role",
    ),
]


def app_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    """Point the app under test (it reads ``BENCHSMITH_*``) at ``settings``; ``extra`` adds
    variables (``BENCHSMITH_CACHE=...``)."""
    for key in ("BENCHSMITH_DATABASE_URL", "BENCHSMITH_BENCHMARK"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("BENCHSMITH_HOME", str(settings.home))
    monkeypatch.setenv("BENCHSMITH_REGISTRY", settings.registry)
    monkeypatch.setenv("BENCHSMITH_PRIVATE_REGISTRY", settings.private_registry)
    for key, value in extra.items():
        monkeypatch.setenv(key, value)


def app_workspace(
    settings: Settings,
    rows: list[dict[str, Any]],
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    n: int = 6,
    **changes: Any,
) -> Workspace:
    """A workspace with ``n`` items and the demo roles, which the app under test will open."""
    app_env(settings, monkeypatch)
    ws = workspace_with(settings, tmp, **changes)
    make_items(ws, rows, n, tmp=tmp)
    for name, role in DEMO.items():
        make_user(ws, name, role)
    return ws


@pytest.fixture
def app_ws_with(
    sqlite_settings: Settings,
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_argon2: None,
) -> Iterator[Callable[..., Workspace]]:
    """Makes the ``app_ws`` workspace with other rows, item count or spec changes:
    ``app_ws_with(rows=None, n=6, **changes)`` (rows default to the sample rows)."""
    made: list[Workspace] = []

    def make(rows: list[dict[str, Any]] | None = None, n: int = 6, **changes: Any) -> Workspace:
        rows = sample_rows if rows is None else rows
        made.append(app_workspace(sqlite_settings, rows, tmp_path, monkeypatch, n, **changes))
        return made[-1]

    yield make
    for ws in made:
        ws.db.dispose()


@pytest.fixture
def app_ws(app_ws_with: Callable[..., Workspace]) -> Workspace:
    """A SQLite workspace with 6 sample items and the demo users, for AppTest."""
    return app_ws_with()


def app_test(ws: Workspace, user: str | None = None, page: str | None = None) -> AppTest:
    """Run the app (or one page file directly) logged in as ``user``."""
    at = AppTest.from_file(str(PAGES / page if page else APP), default_timeout=30)
    if user is not None:
        at.session_state[AUTH_KEY] = login(ws, user, PASSWORD)
    return at.run()


def texts(at: AppTest) -> list[str]:
    """Every st.text value on the page."""
    return [t.value for t in at.text]
