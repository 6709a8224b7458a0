"""`make demo`: the whole journey on the bundled Debian sample, then the review app.

1. init the workspace and ingest ``data/debian_packages.jsonl.gz`` into the pool;
2. curate a 300-item sample with MiniLM (embeddings are cached, so a rerun is quick);
3. create demo logins (two annotators, a reviewer, a lead);
4. import a *pilot round* for two thirds of the sample: two simulated annotators whose
   answers are the corpus' own Debian section, except that the second one deliberately
   disagrees on every 12th item so the reviewer has real adjudication work;
5. publish release 1.0.0 of what the pilot approved, pull it back with verification and
   score a baseline classifier (TF-IDF + linear SVM trained on pool records outside the
   benchmark) on its test split;
6. start the review app with the rest of the sample in the queue.

Idempotent: a rerun reuses the workspace (nothing is ingested, curated or released twice).
``--no-serve`` stops before the app (the tests use it); ``--embedder`` overrides MiniLM.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

from builder.config import Settings
from builder.domain import ItemStatus
from builder.errors import BenchsmithError
from builder.fsutil import write_text_atomic
from builder.ingest import ingest_files
from builder.status import benchmark_status
from builder.workspace import Workspace, init_workspace, open_workspace

__all__ = ["main", "run_demo"]

DATA = Path(__file__).resolve().parent.parent / "data"
SPEC = DATA / "debian-sections.yaml"
CORPUS = DATA / "debian_packages.jsonl.gz"
LEAD = "lea"
PILOT_SHARE = 2 / 3
DISAGREE_EVERY = 12
BASELINE_MODEL = "tfidf-linear-svm"
PILOT_NOTES = (
    "Pilot round: the answers of the two pilot annotators were derived from the corpus' own "
    "Debian `section` field (simulated annotators, not independent human judgements); the "
    "second one was made to disagree on every 12th item, and those items were left for a "
    "reviewer to adjudicate."
)


def _say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def _sections() -> dict[str, str]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        return {row["package"]: row["section"] for row in map(json.loads, f)}


def _curate(ws: Workspace, embedder: str | None) -> None:
    from builder.curate.pipeline import curate

    if benchmark_status(ws)["items"]:
        _say("curation: items exist already, skipped (run `benchsmith curate` to top up)")
        return
    _say(
        "curating: embedding ~5,000 descriptions takes a few minutes on 2 cores the first "
        "time (vectors are cached for every later run)"
    )
    from builder.progress import terminal_progress

    progress, stop = terminal_progress(plain=True)
    try:
        report = curate(ws, embedder=embedder, progress=progress)
    finally:
        stop()
    _say(
        f"curated {len(report.selected)} items from a pool of {report.pool} with "
        f"{report.embedder} ({report.after_dedup} after dedup, {report.duplicate_groups} "
        f"duplicate groups, {report.k} clusters) in {report.seconds:.0f} s"
    )


def _pilot(ws: Workspace) -> None:
    from builder.review.annotations_io import import_annotations
    from builder.review.items import list_items

    status = benchmark_status(ws)
    if status["releases"] or set(status["items"]) - {ItemStatus.candidate}:
        _say("pilot round: already imported, skipped")
        return
    items = list_items(ws)
    truth = _sections()
    pilot = items[: round(len(items) * PILOT_SHARE)]
    lines: list[str] = []
    for n, item in enumerate(pilot):
        label = truth[item.source_id]
        other = label
        if n % DISAGREE_EVERY == 0:
            other = "misc" if label != "misc" else "utils"
        for annotator, answer in (("pilot-a", label), ("pilot-b", other)):
            lines.append(
                json.dumps({"source_id": item.source_id, "annotator": annotator, "label": answer})
            )
    path = ws.settings.home / "demo-pilot-annotations.jsonl"
    write_text_atomic(path, "\n".join(lines) + "\n")
    report = import_annotations(ws, path)
    _say(f"pilot round: {report.imported} answers for {len(pilot)} items imported from {path}")


def _release(ws: Workspace) -> None:
    from builder.evaluate import evaluate_release, record_evaluation
    from builder.evaluate.baseline import baseline_predictions
    from builder.release.pull import pull_release
    from builder.release.registry import Registry
    from builder.release.snapshot import publish_release

    name, settings = "debian-sections", ws.settings
    if Registry(settings.registry).exists(name, "1.0.0"):
        _say(f"release {name}@1.0.0 exists already (releases are immutable), skipped")
        return
    result = publish_release(ws, actor=LEAD, version="1.0.0", notes=PILOT_NOTES)
    _say(f"released {name}@1.0.0: {result.splits} items per split at {result.url}")
    pulled = pull_release(name, "1.0.0", workspace=ws)
    _say(
        f"pulled {name}@1.0.0 and verified every file's sha256 and the signature of key "
        f"{pulled.signature.fingerprint} ({pulled.path})"
    )
    preds = settings.home / "baseline-predictions.jsonl"
    baseline_predictions(ws, f"{name}@1.0.0", labels_file=CORPUS, label_field="section", out=preds)
    scored = evaluate_release(
        name,
        "1.0.0",
        preds,
        model=BASELINE_MODEL,
        registry=settings.registry,
        cache_dir=settings.cache_dir,
    )
    record_evaluation(ws, scored, actor=LEAD)
    m: dict[str, Any] = scored.to_dict()
    _say(
        f"baseline {BASELINE_MODEL} on {name}@1.0.0 test: accuracy {m['accuracy']:.3f}, "
        f"macro-F1 {m['macro_f1']:.3f}"
    )


def run_demo(settings: Settings, *, embedder: str | None = None) -> Workspace:
    """Every step up to (not including) the app; returns the opened workspace."""
    from builder.review.users import ensure_demo_users

    result = init_workspace(settings, SPEC)
    _say(f"workspace {result.workspace}: benchmark {result.benchmark!r} {result.action}")
    ws = open_workspace(settings)
    report = ingest_files(ws, [CORPUS])
    f = report.files[0]
    _say(
        f"pool loaded: {f.ingested} new records, {f.duplicates} already there "
        f"({report.seconds:.1f} s)"
    )
    _curate(ws, embedder)
    logins = ensure_demo_users(ws)
    _pilot(ws)
    _release(ws)
    st = benchmark_status(ws)
    _say(
        f"status: pool {st['pool']}, items {st['items']}, "
        f"releases {[r['version'] for r in st['releases']]}"
    )
    _say("demo logins:")
    for name, role, password in logins:
        _say(f"  {name:<5} {role:<10} password: {password or '(changed since the first demo run)'}")
    return ws


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m builder.demo``."""
    parser = argparse.ArgumentParser(description="benchsmith demo on the bundled sample")
    parser.add_argument("--no-serve", action="store_true", help="do not start the review app")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--embedder", default=None, help="override the spec's embedder (minilm)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    try:
        ws = run_demo(settings, embedder=args.embedder)
        ws.db.dispose()
        if args.no_serve:
            return 0
        from builder.review.server import serve

        return serve(settings, host="127.0.0.1", port=args.port)
    except BenchsmithError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
