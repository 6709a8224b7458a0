"""`make demo` end to end (without the server): every stage lands and a rerun changes nothing."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from builder.config import Settings
from builder.demo import run_demo
from builder.release.pull import load_release
from builder.status import benchmark_status
from builder.store.models import Evaluation


def test_demo_runs_twice_and_is_idempotent(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.from_env(
        {"BENCHSMITH_CACHE": str(tmp_path / "cache")}, home=tmp_path / "ws"
    )
    ws = run_demo(settings, embedder="tfidf")
    first = benchmark_status(ws)
    out = capsys.readouterr().out
    assert first["pool"] > 5000
    assert [r["version"] for r in first["releases"]] == ["1.0.0"]
    items = first["items"]
    assert items["candidate"] == 100  # the third of the sample left for the person trying it
    assert items["conflict"] > 0  # pilot disagreements wait for the reviewer
    assert items["released"] + items["conflict"] == 200
    assert "baseline tfidf-linear-svm on debian-sections@1.0.0 test: accuracy 0." in out
    assert "lea   lead       password: lea-demo-pass" in out
    with ws.db.session() as s:
        assert len(s.exec(select(Evaluation)).all()) == 1
    test = load_release(
        "debian-sections",
        "1.0.0",
        split="test",
        registry=settings.registry,
        cache_dir=settings.cache_dir,
    )
    assert len(test) > 50 and test["id"].is_unique and test["label"].notna().all()
    assert (
        "pilot round"
        in (Path(settings.registry) / "debian-sections/1.0.0/README.md").read_text().lower()
    )
    ws.db.dispose()

    ws = run_demo(settings, embedder="tfidf")
    assert benchmark_status(ws) == first
    with ws.db.session() as s:
        assert len(s.exec(select(Evaluation)).all()) == 1
    ws.db.dispose()
