"""A reference baseline: a TF-IDF + linear SVM classifier trained outside the benchmark.

It trains on pool records that are *not* items of the benchmark (so it never sees a
benchmark item, public or held out), with labels read from a file keyed by the source
id — for the bundled sample, the corpus' own ``section`` field — and writes predictions
for a release split in the ``benchsmith eval`` format. Classification tasks only.

From the command line (after a release exists)::

    python -m builder.evaluate.baseline debian-sections@1.0.0 \\
        --labels data/debian_packages.jsonl.gz --label-field section --out preds.jsonl
    benchsmith eval debian-sections@1.0.0 --predictions preds.jsonl --model tfidf-linear-svm
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.errors import BenchsmithError, ReleaseError
from builder.fsutil import write_bytes_atomic
from builder.readers import detect_format, read_rows
from builder.release.pull import pull_release, read_table
from builder.release.refs import parse_release_ref
from builder.store.pool import records_outside_items
from builder.textio import jsonl_line
from builder.workspace import Workspace

__all__ = [
    "MODEL_NAME",
    "BaselineReport",
    "baseline_predictions",
    "read_labels",
    "train_classifier",
]

MODEL_NAME = "tfidf-linear-svm"
"""The name the demo and the docs give this baseline on the leaderboard."""


@dataclass(frozen=True)
class BaselineReport:
    """What :func:`baseline_predictions` did."""

    release: str
    split: str
    trained_on: int
    """Pool records outside the benchmark that had a label."""
    labels: int
    """Distinct labels seen in training."""
    predicted: int
    out: Path
    seconds: float


def _text(row: Mapping[str, Any], fields: Sequence[str]) -> str:
    return "\n".join("" if row.get(f) is None else str(row.get(f)) for f in fields)


def train_classifier(texts: Sequence[str], labels: Sequence[str], *, seed: int = 13) -> Any:
    """Fit TF-IDF (word 1–2-grams, sublinear tf) + ``LinearSVC``; returns the pipeline."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    if len(set(labels)) < 2:
        raise ReleaseError(
            f"the baseline needs at least two labels in its training data, got {sorted(set(labels))}"
        )
    model = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
        LinearSVC(C=0.5, random_state=seed),
    )
    return model.fit(list(texts), list(labels))


def read_labels(path: str | Path, *, id_field: str, label_field: str) -> dict[str, str]:
    """source id → label from a csv / jsonl / parquet file (gzip ok)."""
    p = Path(path)
    out: dict[str, str] = {}
    for row in read_rows(p, detect_format(p, None), max_field_bytes=10_000_000):
        if row.fields is None or row.where == "header":
            continue
        sid, label = row.fields.get(id_field), row.fields.get(label_field)
        if sid is not None and label not in (None, ""):
            out[str(sid)] = str(label)
    if not out:
        raise ReleaseError(
            f"{p}: no rows with both {id_field!r} and {label_field!r}; check --label-field"
        )
    return out


def baseline_predictions(
    ws: Workspace,
    release: str,
    *,
    labels_file: str | Path,
    label_field: str,
    out: str | Path,
    split: str = "test",
    registry: str | None = None,
    seed: int = 13,
) -> BaselineReport:
    """Train on labelled pool records outside the benchmark; predict ``release``'s ``split``."""
    started = time.perf_counter()
    name, version = parse_release_ref(release)
    bench, spec = ws.benchmark(name)
    assert bench.id is not None
    if spec.task.type.value != "classification":
        raise ReleaseError(
            f"the baseline handles classification tasks; {name} is {spec.task.type.value}"
        )
    id_field = spec.source.id_field
    if id_field is None:
        raise ReleaseError(
            f"{name} has no source.id_field, so labels cannot be joined to records by id"
        )
    pulled = pull_release(
        name,
        version,
        registry=registry or ws.settings.registry,
        cache_dir=ws.settings.cache_dir,
        warn_yanked=False,
        workspace=ws,
    )
    rows = read_table(pulled.path, pulled.manifest, split).to_pylist()
    fields = pulled.manifest.input_fields
    labels = read_labels(labels_file, id_field=id_field, label_field=label_field)
    with ws.db.session() as s:
        pool = records_outside_items(s, bench.id, text_field=spec.source.text_field)
    released = {str(r["id"]) for r in rows}
    train = [
        (_text(data, fields), labels[sid])
        for sid, data in pool
        if sid in labels and sid not in released
    ]
    model = train_classifier([t for t, _ in train], [y for _, y in train], seed=seed)
    predicted = model.predict([_text(r, fields) for r in rows]) if rows else []
    _write(out, ((str(r["id"]), str(p)) for r, p in zip(rows, predicted, strict=True)))
    return BaselineReport(
        release=f"{name}@{pulled.version}",
        split=split,
        trained_on=len(train),
        labels=len({y for _, y in train}),
        predicted=len(rows),
        out=Path(out),
        seconds=time.perf_counter() - started,
    )


def _write(path: str | Path, predictions: Iterable[tuple[str, str]]) -> None:
    data = b"".join(jsonl_line({"id": i, "prediction": p}) for i, p in predictions)
    write_bytes_atomic(path, data)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m builder.evaluate.baseline NAME@VERSION --labels FILE --label-field F --out FILE``."""
    from builder.config import Settings
    from builder.workspace import open_workspace

    ap = argparse.ArgumentParser(
        prog="python -m builder.evaluate.baseline", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("release", help="NAME@VERSION or NAME@latest")
    ap.add_argument("--labels", required=True, help="file with the id field and the label field")
    ap.add_argument("--label-field", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--workspace", "-w", default=None)
    ap.add_argument("--registry", default=None)
    args = ap.parse_args(argv)
    try:
        ws = open_workspace(Settings.from_env(home=args.workspace, registry=args.registry))
        r = baseline_predictions(
            ws,
            args.release,
            labels_file=args.labels,
            label_field=args.label_field,
            out=args.out,
            split=args.split,
        )
    except BenchsmithError as e:
        sys.stderr.write(f"Error: {e}\n")
        return 1
    sys.stdout.write(
        f"{MODEL_NAME}: trained on {r.trained_on} pool records outside the benchmark ({r.labels} labels); "
        f"wrote {r.predicted} predictions for {r.release} {r.split} to {r.out} in {r.seconds:.1f} s\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
