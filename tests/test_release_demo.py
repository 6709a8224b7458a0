"""The demo's path: pilot annotations imported → release 1.0.0 → pull → baseline eval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlmodel import func, select

from builder.config import Settings
from builder.evaluate.baseline import MODEL_NAME, baseline_predictions
from builder.review.annotations_io import import_annotations
from builder.store.models import Item, Record
from tests.support.common import SAMPLE_DATA, Cli
from tests.support.releases import NAME, add_users, ingest, open_ws


def test_pilot_import_then_release_pull_and_eval(
    cli: Cli, sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = open_ws(sqlite_settings, tmp_path)
    rows = sample_rows[:150]
    ingest(ws, rows, tmp_path)
    with ws.db.session() as s:  # 60 candidate items, as curation would leave them
        records = s.exec(select(Record).order_by(Record.id).limit(60)).all()  # type: ignore[arg-type]
        s.add_all([Item(benchmark_id=r.benchmark_id, record_id=r.id, cluster=i % 5, weight=2.5)  # type: ignore[arg-type]
                   for i, r in enumerate(records)])  # fmt: skip
        pilot = [r.source_id for r in records[:40]]
    add_users(ws, lea="lead")
    section = {str(r["package"]): r["section"] for r in rows}
    lines = [
        {"source_id": sid, "annotator": who, "label": section[sid]}
        for sid in pilot
        for who in ("pilot-a", "pilot-b")
    ]
    (tmp_path / "pilot.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    report = import_annotations(ws, tmp_path / "pilot.jsonl")
    assert report.imported == 80

    env = {"BENCHSMITH_HOME": str(ws.settings.home), "BENCHSMITH_REGISTRY": ws.settings.registry,
           "BENCHSMITH_CACHE": str(ws.settings.cache_dir), "BENCHSMITH_USER": "lea"}  # fmt: skip
    notes = "Pilot labels derived from the corpus' own Debian section field."
    out = cli("release", "--version", "1.0.0", "--notes", notes, "--json", env=env)
    assert out.exit_code == 0, out.output
    published = json.loads(out.stdout)
    assert sum(published["splits"].values()) == 40
    with ws.db.session() as s:
        by_status = dict(s.exec(select(Item.status, func.count()).group_by(Item.status)).all())
    assert by_status["released"] == 40 and sum(by_status.values()) == 60  # the rest stays in review
    card = (Path(published["url"]) / "README.md").read_text()
    assert notes in card and "Annotators: 2" in card

    out = cli("pull", f"{NAME}@1.0.0", "--json", env=env)
    assert out.exit_code == 0 and json.loads(out.stdout)["files"] == 6

    base = baseline_predictions(ws, f"{NAME}@1.0.0", labels_file=SAMPLE_DATA, label_field="section",
                                out=tmp_path / "baseline.jsonl")  # fmt: skip
    assert base.trained_on == 150 - 60
    out = cli("eval", f"{NAME}@1.0.0", "--predictions", tmp_path / "baseline.jsonl", "--model", MODEL_NAME,
              "--json", "--bootstrap", "100", env=env)  # fmt: skip
    assert out.exit_code == 0, out.output
    scored = json.loads(out.stdout)
    assert (
        scored["n"] == published["splits"]["test"]
        and scored["missing"] == 0
        and scored["unknown"] == 0
    )
    assert 0.0 <= scored["accuracy"] <= 1.0 and scored["human_ceiling"] == 1.0
    ws.db.dispose()
