"""Suggestions from the bundled baseline, trained on labelled pool records outside the benchmark.

The baseline is :mod:`builder.evaluate.baseline`'s TF-IDF (word 1–2-grams, sublinear tf)
+ linear SVM, here wrapped in scikit-learn's ``CalibratedClassifierCV`` (Platt's sigmoid,
3-fold; Platt 1999, "Probabilistic outputs for support vector machines") so that each
suggestion's ``score`` is a predicted probability: the calibrated probability of the
suggested label.

Where labels come from: the pool stores, per record, the spec's input, text and metadata
fields; a record outside the benchmark has a label only when one of those fields carries
it (``--label-field`` names it, e.g. ``topic`` in the conversations sample), or when a file
keyed by source id gives it (``--labels FILE --label-field F``, e.g. the Debian sample's
own ``section`` field, which the spec does not keep). Benchmark items are never trained on,
whatever the file says. Classification tasks only.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from builder.domain import Role, TaskType
from builder.errors import ReviewError
from builder.evaluate.baseline import MODEL_NAME, read_labels
from builder.review.auth import Actor, authorize, operator
from builder.review.suggestions import ImportReport, store_suggestions
from builder.store.pool import records_outside_items
from builder.store.suggestions import item_inputs
from builder.workspace import Workspace

__all__ = ["CV_FOLDS", "BaselineSuggestions", "baseline_suggestions"]

CV_FOLDS = 3
"""Calibration folds; a label needs at least this many training records to be learnt."""


@dataclass(frozen=True)
class BaselineSuggestions:
    """What :func:`baseline_suggestions` did."""

    model: str
    trained_on: int
    """Labelled pool records outside the benchmark the model was fit on."""
    labels: list[str]
    """Labels it learnt (those with at least :data:`CV_FOLDS` training records)."""
    dropped_labels: dict[str, int]
    """Labels seen with too few training records to calibrate → their count."""
    stored: ImportReport
    seconds: float


def _text(data: Mapping[str, Any], fields: Sequence[str]) -> str:
    return "\n".join("" if data.get(f) is None else str(data.get(f)) for f in fields)


def _fit(texts: list[str], labels: list[str], seed: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    model = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
        CalibratedClassifierCV(LinearSVC(C=0.5, random_state=seed), method="sigmoid", cv=CV_FOLDS),
    )
    return model.fit(texts, labels)


def _no_labels(
    name: str, label_field: str | None, labels_file: Path | None, spec_fields: list[str]
) -> ReviewError:
    if labels_file is not None:
        why = f"no source id in {labels_file} with a {label_field!r} belongs to a pool record outside the benchmark"
    elif label_field is None:
        why = "no label source was given"
    else:
        why = (
            f"no pool record outside the benchmark has a {label_field!r} field with one of the "
            f"benchmark's labels (records keep the spec's fields {spec_fields})"
        )
    return ReviewError(
        f"cannot train the baseline for {name!r}: {why}; the pool has no labels outside the "
        "benchmark. Fix: give --labels FILE --label-field FIELD (a csv/jsonl/parquet file with "
        "the source id field and a label per record), or add the label field to "
        "source.metadata_fields and ingest again, then --label-field FIELD"
    )


def baseline_suggestions(
    ws: Workspace,
    *,
    label_field: str | None,
    labels_file: str | Path | None = None,
    benchmark: str | None = None,
    model_name: str = MODEL_NAME,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> BaselineSuggestions:
    """Fit the baseline on labelled pool records outside the benchmark and store its
    suggestion (label, calibrated probability) for every item, replacing the model's earlier
    ones. Raises :class:`ReviewError` for a non-classification task or when too few labelled
    records lie outside the benchmark, or too little text in them to fit (the message says
    how to give labels)."""
    started = time.perf_counter()
    with ws.db.session() as s:
        # Refused before any training: only a lead stores suggestions.
        authorize(s, actor or operator(), Role.lead, "running the suggestion baseline")
    bench, spec = ws.benchmark(benchmark)
    assert bench.id is not None
    task = spec.task
    if task.type is not TaskType.classification:
        raise ReviewError(
            f"the baseline suggests labels for classification tasks; {bench.name!r} is "
            f"{task.type.value}: import suggestions from your own model with "
            "`benchsmith suggestions import FILE`"
        )
    if label_field is None:
        raise _no_labels(bench.name, None, None, spec.fields)
    path = Path(labels_file) if labels_file is not None else None
    if path is not None:
        if spec.source.id_field is None:
            raise ReviewError(
                f"{bench.name!r} has no source.id_field, so a labels file cannot be joined to "
                "records by id; use --label-field with a field the records keep"
            )
        from_file = read_labels(path, id_field=spec.source.id_field, label_field=label_field)
    with ws.db.session() as s:
        outside = records_outside_items(s, bench.id, text_field=spec.source.text_field)
        items = item_inputs(s, bench.id, text_field=spec.source.text_field)
    if not items:
        raise ReviewError(
            f"{bench.name!r} has no items to suggest for yet; run `benchsmith curate` first"
        )
    train: list[tuple[str, str]] = []
    for sid, data in outside:
        label = from_file.get(sid) if path is not None else data.get(label_field)
        if isinstance(label, str) and label in task.labels:
            train.append((_text(data, task.input_fields), label))
    counts = Counter(y for _, y in train)
    dropped = {y: n for y, n in sorted(counts.items()) if n < CV_FOLDS}
    train = [(t, y) for t, y in train if y not in dropped]
    learnt = sorted({y for _, y in train})
    if len(learnt) < 2:
        if not counts:
            raise _no_labels(bench.name, label_field, path, spec.fields)
        raise ReviewError(
            f"the baseline needs at least two labels with {CV_FOLDS} or more labelled pool "
            f"records outside the benchmark each; found {dict(sorted(counts.items()))}. "
            "Fix: ingest more labelled records, or give a fuller --labels file"
        )
    try:
        model = _fit([t for t, _ in train], [y for _, y in train], seed=spec.curation.seed)
    except ValueError as e:  # e.g. no word in two training texts (TF-IDF's min_df=2)
        raise ReviewError(
            f"cannot train the baseline for {bench.name!r} on {len(train)} labelled pool "
            f"records outside the benchmark: {e} Fix: ingest more labelled records, or give "
            "a fuller --labels file"
        ) from None
    rows: list[tuple[str, Any, float | None]] = []
    probs = model.predict_proba([_text(d, task.input_fields) for _, d in items])
    classes = [str(c) for c in model.classes_]
    for (sid, _), p in zip(items, probs, strict=True):
        best = int(p.argmax())
        rows.append((sid, classes[best], round(float(p[best]), 6)))
    stored = store_suggestions(
        ws,
        {model_name: rows},
        source="baseline",
        benchmark=bench.name,
        actor=actor,
        now=now,
        origin=str(path) if path is not None else f"pool field {label_field}",
    )
    return BaselineSuggestions(
        model=model_name,
        trained_on=len(train),
        labels=learnt,
        dropped_labels=dropped,
        stored=stored,
        seconds=time.perf_counter() - started,
    )
