"""Helpers for the review tests: items straight from the pool, users, spec variants.

Items normally come from curation; these tests insert them directly (status candidate)
from ingested sample records, as the curation pipeline would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from argon2 import PasswordHasher
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from builder.config import Settings
from builder.ingest import ingest_files
from builder.review import auth
from builder.review.auth import Actor, login
from builder.review.users import add_user
from builder.store.models import Item, Record, Role
from builder.store.review import get_user
from builder.workspace import Workspace, init_workspace, open_workspace
from review_ui.session import AUTH_KEY
from tests.conftest import SAMPLE_SPEC

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
    src = tmp / f"rows-{n}-{benchmark or 'default'}.jsonl"
    with src.open("w", encoding="utf-8") as f:
        for row in rows[:n]:
            f.write(json.dumps({**row, **(extra or {})}) + "\n")
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


def spec_variant(tmp: Path, **changes: Any) -> Path:
    """A copy of the sample spec with ``task`` / ``review`` fields replaced."""
    spec = yaml.safe_load(SAMPLE_SPEC.read_text(encoding="utf-8"))
    for section, values in changes.items():
        spec[section] = {**spec.get(section, {}), **values}
    spec["guidelines"] = str(SAMPLE_SPEC.parent / "guidelines.md")
    path = tmp / f"spec-{abs(hash(json.dumps(changes, sort_keys=True)))}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def workspace_with(settings: Settings, tmp: Path, **changes: Any) -> Workspace:
    """A workspace whose benchmark uses a spec variant (see :func:`spec_variant`)."""
    init_workspace(settings, spec_variant(tmp, **changes) if changes else SAMPLE_SPEC)
    return open_workspace(settings)


APP = Path(__file__).resolve().parent.parent / "review_ui" / "app.py"
PAGES = APP.parent / "pages"
DEMO = {"ana": Role.annotator, "ben": Role.annotator, "rita": Role.reviewer, "lea": Role.lead}


def app_workspace(
    settings: Settings,
    rows: list[dict[str, Any]],
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    n: int = 6,
    **changes: Any,
) -> Workspace:
    """A workspace with ``n`` items and the demo roles, which the app under test will open."""
    for key in ("BENCHSMITH_DATABASE_URL", "BENCHSMITH_BENCHMARK"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("BENCHSMITH_HOME", str(settings.home))
    monkeypatch.setenv("BENCHSMITH_REGISTRY", settings.registry)
    monkeypatch.setenv("BENCHSMITH_PRIVATE_REGISTRY", settings.private_registry)
    ws = workspace_with(settings, tmp, **changes)
    make_items(ws, rows, n, tmp=tmp)
    for name, role in DEMO.items():
        make_user(ws, name, role)
    return ws


@pytest.fixture
def app_ws(
    sqlite_settings: Settings,
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_argon2: None,
) -> Iterator[Workspace]:
    """A SQLite workspace with 6 sample items and the demo users, for AppTest."""
    ws = app_workspace(sqlite_settings, sample_rows, tmp_path, monkeypatch)
    yield ws
    ws.db.dispose()


def app_test(ws: Workspace, user: str | None = None, page: str | None = None) -> AppTest:
    """Run the app (or one page file directly) logged in as ``user``."""
    at = AppTest.from_file(str(PAGES / page if page else APP), default_timeout=30)
    if user is not None:
        at.session_state[AUTH_KEY] = login(ws, user, PASSWORD)
    return at.run()


def texts(at: AppTest) -> list[str]:
    """Every st.text value on the page."""
    return [t.value for t in at.text]
