"""Score a model's predictions on a verified release, store the result, rank models.

Predictions are JSONL, one ``{"id", "prediction"}`` per line (``schemas/predictions.schema.json``).
Every gold item is scored: an item without a prediction is *missing* and counts as wrong;
a prediction whose id is not in the split is *unknown* and is reported, not scored.
Metrics come from :func:`builder.evaluate.scoring.score`: the task's headline metrics under
their plain names, per label, per slice (label, cluster, stratum) with seeded bootstrap
95% intervals, and the pool-weighted estimate from the items' inclusion weights.

The leaderboard ranks models per version on the task's headline metric (accuracy,
micro-F1 or token-F1) and flags **saturation** when the best model reaches the release's
human ceiling (one annotator scored against another; see ``builder.release.summary``).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from builder.errors import ReleaseError
from builder.evaluate.scoring import score
from builder.evaluate.slicing import choice_letters, metadata_slices, parse_slice, slice_metric
from builder.formats import PredictionLine
from builder.release.manifest import EXTRACTIVE_ANSWERS, Manifest
from builder.release.pull import pull_release, read_table
from builder.release.registry import Registry
from builder.release.summary import CEILING_METRIC
from builder.store.evaluations import add_evaluation, evaluations
from builder.textio import BOM_UTF8, check_unicode_start
from builder.workspace import Workspace

__all__ = [
    "Board",
    "BoardEntry",
    "EvalResult",
    "evaluate_release",
    "leaderboard",
    "read_predictions",
    "record_evaluation",
    "score_rows",
]

_LIST_CAP = 1000
"""Ids listed for missing / unknown predictions (the counts are always complete)."""


@dataclass
class EvalResult:
    """A scored run: the metrics plus what was not scored and why."""

    benchmark: str
    version: str
    split: str
    model: str
    task_type: str
    primary_metric: str
    metrics: dict[str, Any]
    """:func:`builder.evaluate.scoring.score` output."""
    missing_ids: list[str]
    unknown_ids: list[str]
    unknown_labels: dict[str, int]
    human_ceiling: float | None
    predictions_sha256: str
    content_hash: str
    yanked: str | None = None
    evaluation_id: int | None = None

    @property
    def primary(self) -> float:
        """The headline metric's value."""
        return float(self.metrics[self.primary_metric])

    def to_dict(self) -> dict[str, Any]:
        """Metrics under their plain names plus the run's identity (``eval --json``)."""
        return {
            **self.metrics,
            "benchmark": self.benchmark,
            "version": self.version,
            "split": self.split,
            "model": self.model,
            "primary_metric": self.primary_metric,
            "missing": len(self.missing_ids),
            "missing_ids": self.missing_ids[:_LIST_CAP],
            "unknown": len(self.unknown_ids),
            "unknown_ids": self.unknown_ids[:_LIST_CAP],
            "unknown_labels": self.unknown_labels,
            "human_ceiling": self.human_ceiling,
            "saturated": self.human_ceiling is not None and self.primary >= self.human_ceiling,
            "predictions_sha256": self.predictions_sha256,
            "content_hash": self.content_hash,
            "yanked": self.yanked,
            "evaluation_id": self.evaluation_id,
        }


def predictions_file_bytes(path: str | Path) -> bytes:
    """The bytes of a predictions file (any kind); ReleaseError when it does not exist."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise ReleaseError(
            f"predictions file {str(p)!r} does not exist; pass --predictions FILE"
        ) from None


def read_predictions(path: str | Path, task_type: str) -> tuple[dict[str, Any], str]:
    """id → prediction from a JSONL file, and the file's sha256; errors name the line."""
    p = Path(path)
    data = predictions_file_bytes(p)
    check_unicode_start(data[:8], str(p), ReleaseError)
    out: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for n, raw in enumerate(data.splitlines(), start=1):
        if raw[:3] == BOM_UTF8:  # Windows tools start the file with one; `cat` moves it
            raw = raw[3:]
        if not raw.strip():
            continue
        where = f"{p}: line {n}"
        try:
            line = PredictionLine.model_validate_json(raw)
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(x) for x in first["loc"]) or "line"
            raise ReleaseError(
                f'{where}: {loc}: {first["msg"]}; each line must be {{"id": "...", "prediction": ...}} '
                "(see schemas/predictions.schema.json)"
            ) from None
        pred = line.prediction
        if pred is not None:
            if task_type == "multilabel" and not isinstance(pred, list):
                raise ReleaseError(
                    f"{where}: a multilabel prediction is a list of labels, got {pred!r}"
                )
            if task_type == "multiple_choice":
                if isinstance(pred, bool) or not isinstance(pred, str | int):
                    raise ReleaseError(
                        f'{where}: a multiple_choice prediction is a letter ("B"), a 0-based '
                        f"choice index (1) or the exact choice text, got {pred!r}"
                    )
            elif task_type != "multilabel" and not isinstance(pred, str):
                raise ReleaseError(f"{where}: a {task_type} prediction is a string, got {pred!r}")
        if line.id in lines:
            raise ReleaseError(
                f"{where}: id {line.id!r} was already predicted on line {lines[line.id]}; give one prediction per id"
            )
        lines[line.id] = n
        out[line.id] = pred
    if not out:
        raise ReleaseError(f"predictions file {p} has no predictions; write one JSON line per item")
    return out, hashlib.sha256(data).hexdigest()


def score_rows(
    manifest: Manifest,
    rows: list[dict[str, Any]],
    predictions: dict[str, Any],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, Any], list[str], list[str], dict[str, int]]:
    """Score ``predictions`` against release ``rows``: (metrics, missing, unknown, unknown labels)."""
    if not rows:
        raise ReleaseError(
            f"{manifest.name}@{manifest.version}: the split is empty; nothing to score"
        )
    kind: str = manifest.task_type
    answer = manifest.answer_field
    if answer == EXTRACTIVE_ANSWERS:
        kind = "extractive"  # SQuAD v2 exact / F1 with no-answer handling
    ids = [str(r["id"]) for r in rows]
    known = set(ids)
    gold = [r[answer] for r in rows]
    pred = [predictions.get(i) for i in ids]
    missing = sorted(i for i in ids if predictions.get(i) is None)
    unknown = sorted(set(predictions) - known)
    labels = set(manifest.labels)
    odd: Counter[str] = Counter()
    if kind == "multiple_choice":
        pred, odd = choice_letters(manifest, rows, pred)
    elif kind != "reference_answer":
        for p in pred:
            for lab in p if isinstance(p, list) else [p] if p is not None else []:
                if lab not in labels:
                    odd[lab] += 1
    slices: dict[str, list[str | None]] = {
        "cluster": [None if r.get("cluster") is None else str(r["cluster"]) for r in rows],
        "stratum": [r.get("stratum") for r in rows],
    }
    if kind in ("classification", "multiple_choice"):
        slices["label"] = list(gold)
    slices.update(metadata_slices(manifest, rows))
    weights = [float(r.get("weight") or 0.0) for r in rows]
    metrics = score(
        kind,
        gold,
        pred,
        manifest.labels or None,
        slices=slices,
        weights=weights if sum(weights) > 0 else None,
        n_resamples=n_resamples,
        seed=seed,
    )
    return metrics, missing, unknown, dict(sorted(odd.items()))


def evaluate_release(
    name: str,
    version: str,
    predictions: str | Path,
    *,
    model: str | None = None,
    split: str = "test",
    registry: str | Registry | None = None,
    cache_dir: str | Path | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    workspace: Workspace | None = None,
) -> EvalResult:
    """Pull and verify ``name@version``, then score ``predictions`` on ``split``.

    ``workspace``: the publishing workspace when open (its own key verifies its releases;
    see :func:`~builder.release.pull.pull_release`).

    ``predictions``: benchsmith's JSONL, an Inspect AI log or an lm-eval samples file
    (:mod:`builder.evaluate.harness_logs`); ``model`` defaults to the log's model. Raises
    ReleaseError when no model name is known or a log's release content hash differs.
    """
    from builder.evaluate.harness_logs import read_any

    if model is not None and not model.strip():
        raise ReleaseError("give the model a name with --model NAME; the leaderboard ranks by it")
    pulled = pull_release(
        name,
        version,
        registry=registry,
        cache_dir=cache_dir,
        warn_yanked=False,
        workspace=workspace,
    )
    m = pulled.manifest
    rows = read_table(pulled.path, m, split).to_pylist()
    read = read_any(predictions, m.task_type, list(m.labels))
    if read.content_hash is not None and read.content_hash != m.content_hash:
        raise ReleaseError(
            f"{predictions}: this {read.source} log ran on a release with content hash "
            f"{read.content_hash}, but {m.name}@{m.version} has {m.content_hash}; score it "
            "against the release it was exported from"
        )
    model = model or read.model
    if not model or not model.strip():
        raise ReleaseError("give the model a name with --model NAME; the leaderboard ranks by it")
    preds, digest = read.predictions, read.sha256
    metrics, missing, unknown, odd = score_rows(m, rows, preds, n_resamples=n_resamples, seed=seed)
    return EvalResult(
        benchmark=m.name,
        version=m.version,
        split=split,
        model=model.strip(),
        task_type=m.task_type,
        primary_metric=CEILING_METRIC[
            "extractive" if m.answer_field == EXTRACTIVE_ANSWERS else m.task_type
        ],
        metrics=metrics,
        missing_ids=missing,
        unknown_ids=unknown,
        unknown_labels=odd,
        human_ceiling=m.agreement.human_ceiling,
        predictions_sha256=digest,
        content_hash=m.content_hash,
        yanked=None if pulled.yanked is None else pulled.yanked.reason,
    )


def record_evaluation(ws: Workspace, result: EvalResult, *, actor: str) -> int:
    """Store ``result``; sets and returns its evaluation id."""
    stored = {k: v for k, v in result.to_dict().items() if k != "evaluation_id"}
    with ws.db.session() as s:
        eid = add_evaluation(
            s,
            benchmark=result.benchmark,
            version=result.version,
            split=result.split,
            model=result.model,
            created_by=actor,
            predictions_sha256=result.predictions_sha256,
            metrics=json.loads(json.dumps(stored, default=str)),
        )
    result.evaluation_id = eid
    return eid


@dataclass
class BoardEntry:
    """One model's standing on one version."""

    rank: int
    model: str
    value: float
    ci: list[float] | None
    pool_weighted: float | None
    n: int
    missing: int
    unknown: int
    created_at: str
    created_by: str
    evaluation_id: int


@dataclass
class Board:
    """The ranking of one version and whether it is saturated."""

    benchmark: str
    version: str
    split: str
    metric: str
    human_ceiling: float | None
    saturated: bool
    """The best model reaches the human ceiling: the benchmark no longer separates models from people."""
    entries: list[BoardEntry] = field(default_factory=list)
    slice: str | None = None
    """``FIELD=VALUE`` when ranked on one slice (each run's value, CI and n on that slice)."""
    small: bool = False
    """Ranked on a slice with too few items for a useful interval (see ``SMALL_SLICE``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.__dict__, "entries": [e.__dict__ for e in self.entries]}


def leaderboard(
    ws: Workspace,
    name: str,
    *,
    version: str | None = None,
    split: str = "test",
    slice: str | None = None,
) -> list[Board]:
    """Models ranked per version (newest version first); each model's latest run counts.

    ``slice`` (``"FIELD=VALUE"``, e.g. ``"subject=devel"``) ranks by the headline metric on
    that slice (a cluster, stratum, label or ``evaluation.slices`` value); a run without
    that slice is left out. Raises ReleaseError for a ``slice`` that is not FIELD=VALUE.
    """
    from builder.release.manifest import version_key

    wanted = parse_slice(slice) if slice is not None else None

    with ws.db.session() as s:
        rows = evaluations(s, name, version=version, split=split)
    latest: dict[tuple[str, str], Any] = {}
    for row in rows:  # oldest first, so a re-run replaces the earlier one
        latest[(row.version, row.model)] = row
    boards: dict[str, Board] = {}
    for (ver, _model), row in sorted(latest.items()):
        m = row.metrics
        metric = m.get("primary_metric") or CEILING_METRIC.get(m.get("task_type", ""), "accuracy")
        board = boards.setdefault(
            ver,
            Board(
                benchmark=name,
                version=ver,
                split=split,
                metric=metric,
                human_ceiling=m.get("human_ceiling"),
                saturated=False,
            ),
        )
        pw = m.get("pool_weighted") or {}
        value, ci, n = (
            float(m.get(metric, 0.0)),
            (m.get("ci") or {}).get(metric),
            int(m.get("n", 0)),
        )
        if wanted is not None:
            part = slice_metric(m, wanted[0], wanted[1], metric)
            if part is None:
                continue
            value, ci, n, pw = part["value"], part["ci"], part["n"], {}
            board.slice, board.small = slice, board.small or part["small"]
        board.entries.append(
            BoardEntry(
                rank=0,
                model=row.model,
                value=value,
                ci=ci,
                pool_weighted=pw.get(metric),
                n=n,
                missing=int(m.get("missing", 0)),
                unknown=int(m.get("unknown", 0)),
                created_at=row.created_at.isoformat(),
                created_by=row.created_by,
                evaluation_id=int(row.id or 0),
            )
        )
    for board in boards.values():
        board.entries.sort(key=lambda e: (-e.value, e.evaluation_id))
        for i, e in enumerate(board.entries, start=1):
            # Competition ranking: equal scores share a rank (1, 1, 3).
            prev = board.entries[i - 2] if i > 1 else None
            e.rank = prev.rank if prev is not None and prev.value == e.value else i
        best = board.entries[0].value if board.entries else None
        board.saturated = (
            board.human_ceiling is not None and best is not None and best >= board.human_ceiling
        )
    return [boards[v] for v in sorted(boards, key=version_key, reverse=True) if boards[v].entries]
