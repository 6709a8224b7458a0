"""Export a release as an lm-evaluation-harness task folder: YAML + one JSONL per split.

``lm_eval --model hf --model_args pretrained=… --include_path DIR --tasks <task>`` loads it
(``dataset_path: json`` with ``data_files``; the YAML names the data by absolute path, so
export again after moving the folder). The benchmark's splits are the task's splits:
``test`` is ``test_split``, ``dev``/``validation`` the ``validation_split``, ``train`` the
``training_split`` (few-shot examples).

Output type by task type:

* classification → ``multiple_choice`` over the label set (``doc_to_choice`` = the labels,
  ``acc``): the model's log-likelihood picks the label, so no free-text answer has to be
  parsed and base models work as well as chat models; the price is one request per label.
* multiple choice → ``multiple_choice`` over the letters A… with the options listed in the
  prompt (MMLU's layout).
* multilabel and reference answers → ``generate_until`` (first newline) with an
  ``exact_match`` from ``utils.process_results``: the label set must equal the gold set;
  a reference answer must equal one gold answer after benchsmith's normalisation
  (``_benchsmith_normalize.py``, a copy of :mod:`builder.answers`).

Every doc carries ``metadata.release`` and ``metadata.content_hash`` (so ``--log_samples``
output traces back), and so does the YAML's ``metadata``. Images are not exported here
(lm-eval's text tasks take no images); conversations become ``role: content`` lines.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from builder.choices import LETTERS
from builder.export._common import ExportResult, Release, to_samples
from builder.export.inspect import task_name

__all__ = ["MC_TYPES", "write_lm_eval"]

MC_TYPES = frozenset({"classification", "multiple_choice"})
"""Task types exported with ``output_type: multiple_choice``."""

_SPLIT_KEYS = {
    "test": "test_split",
    "dev": "validation_split",
    "validation": "validation_split",
    "train": "training_split",
}

_UTILS = '''"""lm-eval helpers for benchsmith release {ref}: scores generated answers."""

import importlib.util
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASK_TYPE = {task_type!r}
LABELS = json.loads({labels!r})
_spec = importlib.util.spec_from_file_location("_benchsmith_normalize", HERE / "_benchsmith_normalize.py")
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
normalize_reference_answer = _module.normalize_reference_answer


def _key(text):
    return " ".join(text.strip().strip("\\"'`*.").casefold().split())


_BY_KEY = {{_key(label): label for label in LABELS}}


def label_set(completion):
    parts = [p for p in re.split(r"[,;\\n]", completion) if p.strip()]
    return sorted({{_BY_KEY.get(_key(p), p.strip()) for p in parts}})


def process_results(doc, results):
    completion = results[0]
    if TASK_TYPE == "multilabel":
        ok = label_set(completion) == sorted(doc["answers"])
    else:
        norm = normalize_reference_answer(completion)
        ok = any(norm == normalize_reference_answer(a) for a in doc["answers"])
    return {{"exact_match": float(ok)}}
'''


def _flatten(inp: str | list[dict[str, str]]) -> str:
    if isinstance(inp, str):
        return inp
    return "\n".join(f"{m['role']}: {m['content']}" for m in inp)


def _doc(release: Release, sample: dict[str, Any]) -> dict[str, Any]:
    kind = release.manifest.task_type
    prompt = _flatten(sample["input"])
    doc: dict[str, Any] = {"id": sample["id"], "metadata": sample["metadata"]}
    target = sample["target"]
    if kind == "classification":
        doc |= {"prompt": prompt + "\nLabel:", "choices": list(release.manifest.labels)}
        doc["gold"] = doc["choices"].index(target)
        doc["target"] = target
    elif kind == "multiple_choice":
        options = sample["choices"] or []
        listed = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(options))
        doc |= {"prompt": f"{prompt}\n{listed}\nAnswer:", "choices": list(LETTERS[: len(options)])}
        doc["gold"] = LETTERS.index(target)
        doc["target"] = target
    else:
        answers = target if isinstance(target, list) else [target]
        doc |= {"prompt": prompt + "\nAnswer:", "answers": answers}
        doc["target"] = ", ".join(answers) if kind == "multilabel" else (answers[:1] or [""])[0]
    return doc


def write_lm_eval(
    release: Release, split: str, tmp: Path, final: Path, result: ExportResult
) -> None:
    """Write ``<task>.yaml``, ``data/<split>.jsonl`` per split and the scorer into ``tmp``;
    the YAML names the data under ``final`` (where ``tmp`` will be moved).

    ``split`` is the test split. Raises ``ReleaseError`` when the release lacks it.
    """
    m = release.manifest
    name = task_name(release)
    to_samples(release, split)  # the test split must exist (raises naming it)
    (tmp / "data").mkdir()
    files: dict[str, str] = {}
    for s in release.rows:
        docs = [_doc(release, x) for x in to_samples(release, s)]
        rel = f"data/{s}.jsonl"
        with (tmp / rel).open("w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
        files[s] = str(final / rel)
        result.items[s] = len(docs)
        result.files.append(rel)
    config: dict[str, Any] = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": files},
        "test_split": split,
        "doc_to_text": "{{prompt}}",
    }
    for s in release.rows:
        key = _SPLIT_KEYS.get(s)
        if key and key != "test_split" and s != split:
            config.setdefault(key, s)
    if m.task_type in MC_TYPES:
        config |= {
            "output_type": "multiple_choice",
            "doc_to_choice": "choices",
            "doc_to_target": "gold",
            "target_delimiter": " ",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        }
    else:
        config |= {
            "output_type": "generate_until",
            "doc_to_target": "target",
            "generation_kwargs": {"until": ["\n"], "do_sample": False},
            "process_results": "__PROCESS_RESULTS__",
            "metric_list": [
                {"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}
            ],
        }
    config["metadata"] = {"version": 1.0, **release.trace, "split": split}
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    # safe_dump cannot write the ``!function`` tag lm-eval resolves to utils.py beside the YAML.
    text = text.replace("'__PROCESS_RESULTS__'", "__PROCESS_RESULTS__").replace(
        "__PROCESS_RESULTS__", "!function utils.process_results"
    )
    (tmp / f"{name}.yaml").write_text(
        f"# lm-evaluation-harness task for benchsmith release {release.ref}\n"
        f"# content hash {m.content_hash}\n{text}",
        encoding="utf-8",
    )
    utils = _UTILS.format(ref=release.ref, task_type=m.task_type, labels=json.dumps(list(m.labels)))
    (tmp / "utils.py").write_text(utils, encoding="utf-8")
    normalizer = resources.files("builder").joinpath("answers.py").read_text(encoding="utf-8")
    (tmp / "_benchsmith_normalize.py").write_text(normalizer, encoding="utf-8")
    result.files += [f"{name}.yaml", "utils.py", "_benchsmith_normalize.py"]
    result.run_hint = (
        f"lm_eval --model hf --model_args pretrained=MODEL --include_path {final} "
        f"--tasks {name} --log_samples --output_path results/"
    )
