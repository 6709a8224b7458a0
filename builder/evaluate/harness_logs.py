"""Read a harness's log as predictions: Inspect AI logs and lm-evaluation-harness samples.

:func:`read_any` detects the kind from the content, not the name:

* an Inspect AI log — a ``.eval`` file (a zip) or a ``.json`` log (an object with
  ``eval`` and ``status``), read with ``inspect_ai.log.read_eval_log``. Each sample's
  prediction is its scorer's ``Score.metadata["prediction"]`` (the exported task's
  scorers set it), else the score's ``answer``, else the model's completion; a sample
  that errored or has no score is left out (so it counts as missing). The model is
  ``eval.model``; the release is the task's ``metadata.benchsmith.content_hash``.
* an lm-evaluation-harness samples file (``--log_samples`` output,
  ``samples_<task>_<date>.jsonl``: ``doc_id``, ``doc``, ``target``, ``arguments``,
  ``resps``, ``filtered_resps`` …). A ``multiple_choice`` line's prediction is the choice
  with the highest log-likelihood in ``filtered_resps``; a ``generate_until`` line's is the
  generated text (multilabel: the labels it lists). The model comes from a
  ``results_*.json`` beside it (``model_name``) when there is one.
* otherwise benchsmith's predictions JSONL (:func:`builder.evaluate.runner.read_predictions`).

Errors are :class:`ReleaseError` naming the file and line.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.errors import ModelMissingError, ReleaseError

__all__ = ["HarnessPredictions", "label_set", "read_any"]


@dataclass
class HarnessPredictions:
    """Predictions read from a file, and what the file says about its run."""

    predictions: dict[str, Any]
    sha256: str
    source: str
    """``predictions``, ``inspect`` or ``lm-eval``."""
    model: str | None = None
    content_hash: str | None = None
    """The release content hash the log records (None for a plain predictions file)."""


def _key(text: str) -> str:
    return " ".join(text.strip().strip("\"'`*.").casefold().split())


def label_set(completion: str, labels: list[str]) -> list[str]:
    """The labels a completion lists (comma, semicolon or newline separated), sorted;
    the same rule as the exported tasks' scorers."""
    by_key = {_key(label): label for label in labels}
    parts = [p for p in re.split(r"[,;\n]", completion) if p.strip()]
    return sorted({by_key.get(_key(p), p.strip()) for p in parts})


def _read_inspect(path: Path, digest: str) -> HarnessPredictions:
    try:
        from inspect_ai.log import read_eval_log
    except ModuleNotFoundError:
        raise ModelMissingError(
            f"{path} is an Inspect AI log; reading it needs inspect-ai: "
            "pip install 'benchsmith[eval]' (or pip install inspect-ai)"
        ) from None
    log = read_eval_log(str(path))
    meta = (log.eval.metadata or {}).get("benchsmith") or {}
    chash = meta.get("content_hash") if isinstance(meta, dict) else None
    preds: dict[str, Any] = {}
    for sample in log.samples or []:
        sid = str(sample.id)
        if chash is None and sample.metadata:
            chash = sample.metadata.get("content_hash")
        if sid in preds or sample.error is not None or not sample.scores:
            continue
        scores = list(sample.scores.values())
        chosen = next((s for s in scores if (s.metadata or {}).get("prediction") is not None), None)
        if chosen is not None:
            preds[sid] = (chosen.metadata or {})["prediction"]
        elif scores[0].answer is not None:
            preds[sid] = scores[0].answer
        elif sample.output is not None:
            preds[sid] = sample.output.completion
    if not preds:
        raise ReleaseError(
            f"Inspect log {path} has no scored samples (status {log.status}); run the task "
            "to completion, then pass its log"
        )
    return HarnessPredictions(preds, digest, "inspect", log.eval.model, chash)


def _loglik(x: Any) -> float:
    while isinstance(x, list | tuple):
        x = x[0]
    return float(x)


def _lm_eval_model(path: Path) -> str | None:
    for results in sorted(path.parent.glob("results_*.json"), reverse=True):
        try:
            data = json.loads(results.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        name = data.get("model_name") or (data.get("config") or {}).get("model_args")
        if isinstance(name, str) and name:
            return name
    return None


def _read_lm_eval(
    path: Path, lines: list[bytes], digest: str, labels: list[str], kind: str
) -> HarnessPredictions:
    preds: dict[str, Any] = {}
    chash: str | None = None
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{path}: line {n}"
        try:
            line = json.loads(raw)
            doc = line["doc"]
            sid = str(doc["id"])
            resps = line.get("filtered_resps") or line.get("resps")
        except (ValueError, KeyError, TypeError) as e:
            raise ReleaseError(
                f"{where}: not an lm-eval sample of a benchsmith export ({e}); pass the "
                "samples_<task>_<date>.jsonl that --log_samples wrote for the exported task"
            ) from None
        chash = chash or (doc.get("metadata") or {}).get("content_hash")
        if not resps:
            continue
        if isinstance(doc.get("choices"), list):
            scores = [_loglik(r) for r in resps]
            if len(scores) != len(doc["choices"]):
                raise ReleaseError(
                    f"{where}: {len(scores)} responses for {len(doc['choices'])} choices"
                )
            preds[sid] = doc["choices"][max(range(len(scores)), key=scores.__getitem__)]
        else:
            text = resps[0]
            while isinstance(text, list):
                text = text[0]
            preds[sid] = label_set(str(text), labels) if kind == "multilabel" else str(text).strip()
    if not preds:
        raise ReleaseError(f"lm-eval samples file {path} has no responses; nothing to score")
    return HarnessPredictions(preds, digest, "lm-eval", _lm_eval_model(path), chash)


def read_any(path: str | Path, task_type: str, labels: list[str]) -> HarnessPredictions:
    """Predictions from ``path``, whatever the kind (see the module doc).

    ``labels``: the release's label set (to read a multilabel answer out of generated text).
    Raises :class:`ReleaseError` for a missing or malformed file, ``ModelMissingError``
    for an Inspect log without inspect-ai installed.
    """
    from builder.evaluate.runner import predictions_file_bytes, read_predictions

    p = Path(path)
    data = predictions_file_bytes(p)
    digest = hashlib.sha256(data).hexdigest()
    if data[:4] == b"PK\x03\x04":
        return _read_inspect(p, digest)
    head = data.lstrip()[:1]
    if head == b"{":
        lines = data.splitlines()
        try:
            first = json.loads(lines[0]) if lines else None
        except ValueError:
            first = None
        if first is None:  # a pretty-printed object: an Inspect .json log?
            try:
                whole = json.loads(data)
            except ValueError:
                whole = None
            if isinstance(whole, dict) and "eval" in whole and "status" in whole:
                return _read_inspect(p, digest)
        elif isinstance(first, dict) and "doc" in first and "doc_id" in first:
            return _read_lm_eval(p, lines, digest, labels, task_type)
        elif isinstance(first, dict) and "eval" in first and "status" in first:
            return _read_inspect(p, digest)
    preds, digest = read_predictions(p, task_type)
    return HarnessPredictions(preds, digest, "predictions")
