"""Exports run in the real harnesses: Inspect AI (mockllm, in-process) and lm-evaluation-harness.

Each task type is released, exported, run with Inspect's scripted ``mockllm/model`` and
scored back with ``benchsmith eval``: Inspect's own accuracy must equal benchsmith's
score of the same log. lm-eval exports are loaded with lm-eval's ``TaskManager`` and
a samples file in its ``--log_samples`` format is scored back. Offline, all under tmp.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import inspect_ai
import pytest

from builder.config import Settings
from builder.errors import ReleaseError
from builder.evaluate import evaluate_release, leaderboard, record_evaluation
from builder.export import export_release, open_release
from builder.export.inspect import task_name
from builder.release.snapshot import publish_release
from builder.workspace import Workspace
from tests.support.common import Cli
from tests.support.releases import (
    LEAD,
    NAME,
    add_users,
    approve,
    ingest,
    open_ws,
    pull_kw,
    source_ids,
)


@pytest.fixture(autouse=True)
def _tmp_homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep Inspect's logs and caches and the datasets cache inside tmp_path."""
    monkeypatch.setenv("INSPECT_LOG_DIR", str(tmp_path / "inspect-logs"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _release(
    settings: Settings, rows: list[dict[str, Any]], tmp: Path, answer: Any = None, **task: Any
) -> Workspace:
    ws = open_ws(settings, tmp, task=task) if task else open_ws(settings, tmp)
    ingest(ws, rows, tmp)
    add_users(ws, **{LEAD: "lead"})
    approve(ws, rows, source_ids(rows), answer=answer, disagree_every=0)
    publish_release(ws, actor=LEAD)
    return ws


def _mock(answer_for: Callable[[dict[str, Any]], str], samples: list[dict[str, Any]]) -> Any:
    """``mockllm/model`` answering each sample by its prompt (runs may go in any order)."""
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    by_text = {_text(s["input"]): answer_for(s) for s in samples}

    def respond(messages: list[Any], *_: Any) -> ModelOutput:
        key = "\n".join(m.text for m in messages)
        out = ModelOutput.from_content(model="mockllm/model", content=by_text[key])
        out.usage = ModelUsage(
            input_tokens=1, output_tokens=1, total_tokens=2
        )  # no tokenizer download
        return out

    return get_model("mockllm/model", custom_outputs=respond)


def _text(inp: str | list[dict[str, str]]) -> str:
    return inp if isinstance(inp, str) else "\n".join(m["content"] for m in inp)


def _samples(out: Path, ws: Workspace) -> list[dict[str, Any]]:
    rel = open_release(NAME, "1.0.0", **pull_kw(ws))
    data = out / f"{task_name(rel)}.jsonl"
    return [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]


def _run_inspect(ws: Workspace, tmp: Path, answer_for: Callable[[dict[str, Any]], str]) -> Any:
    out = tmp / "inspect"
    res = export_release(NAME, "1.0.0", "inspect", out, **pull_kw(ws))
    samples = _samples(out, ws)
    assert res.items == {"test": len(samples)} and res.content_hash
    log = inspect_ai.eval(
        f"{out / res.files[0]}@{task_name(open_release(NAME, '1.0.0', **pull_kw(ws)))}",
        model=_mock(answer_for, samples),
        display="none",
    )[0]
    assert log.status == "success", log.error
    assert str(tmp / "inspect-logs") in log.location
    return log, samples


def _inspect_accuracy(log: Any) -> float:
    return float(log.results.scores[0].metrics["accuracy"].value)


def _lm_eval_task(out: Path, name: str) -> Any:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(out)).load([name])["tasks"][name]


def _samples_file(path: Path, task: Any, resp: Callable[[dict[str, Any]], Any]) -> Path:
    """A samples file in lm-eval's ``--log_samples`` format (lm_eval/evaluator.py)."""
    lines = []
    for n, doc in enumerate(task.test_docs()):
        r = resp(doc)
        lines.append(
            {
                "doc_id": n,
                "doc": doc,
                "target": task.doc_to_target(doc),
                "arguments": [[task.doc_to_text(doc), " x"]],
                "resps": [[x] for x in r] if isinstance(r, list) else [[r]],
                "filtered_resps": r if isinstance(r, list) else [r],
                "filter": "none",
                "metrics": ["acc"],
                "doc_hash": "0" * 64,
                "prompt_hash": "0" * 64,
                "target_hash": "0" * 64,
            }
        )
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def test_classification_inspect_lm_eval_and_jsonl(
    rel_ws: Workspace, tmp_path: Path, cli: Cli, cli_env: dict[str, str]
) -> None:
    ws = rel_ws
    publish_release(ws, actor=LEAD)
    rel = open_release(NAME, "1.0.0", **pull_kw(ws))
    gold = {str(r["id"]): str(r["label"]) for r in rel.rows["test"]}

    def answer(s: dict[str, Any]) -> str:  # right, right in another case/quoted, or wrong
        n = sorted(gold).index(s["id"])
        lab = gold[s["id"]]
        return [lab, f'"{lab.upper()}"', "Label: " + lab, "zzz-not-a-label"][n % 4]

    log, samples = _run_inspect(ws, tmp_path, answer)
    assert {s["id"] for s in samples} == set(gold)
    assert all(s["metadata"]["content_hash"] == rel.manifest.content_hash for s in samples)
    assert "admin, cli-mono" in samples[0]["input"] and samples[0]["choices"] is None
    assert log.eval.metadata["benchsmith"]["content_hash"] == rel.manifest.content_hash
    ours = evaluate_release(NAME, "1.0.0", log.location, n_resamples=0, **pull_kw(ws))
    expected = sum(1 for i in gold if sorted(gold).index(i) % 4 != 3) / len(gold)
    assert _inspect_accuracy(log) == pytest.approx(ours.metrics["accuracy"])
    assert ours.metrics["accuracy"] == pytest.approx(expected)
    assert ours.model == "mockllm/model" and ours.missing_ids == []
    assert ours.unknown_labels == {
        "zzz-not-a-label": sum(1 for i in gold if sorted(gold).index(i) % 4 == 3)
    }

    # `benchsmith eval` of the Inspect log: the model name comes from the log.
    env = cli_env | {"BENCHSMITH_REGISTRY": str(ws.settings.registry), "BENCHSMITH_USER": LEAD}
    scored = cli(
        "eval", f"{NAME}@1.0.0", "--predictions", log.location, "--bootstrap", "0", env=env
    )
    assert scored.exit_code == 0, scored.output
    assert "model mockllm/model" in scored.stdout and "stored as evaluation" in scored.stdout

    # lm-eval: multiple_choice over the labels, every split.
    lm = tmp_path / "lm"
    res = export_release(NAME, "1.0.0", "lm-eval", lm, **pull_kw(ws))
    assert set(res.items) == set(rel.rows)
    task = _lm_eval_task(lm, task_name(rel))
    docs = list(task.test_docs())
    assert task.OUTPUT_TYPE == "multiple_choice" and len(docs) == len(gold)
    for doc in docs:
        assert task.doc_to_choice(doc) == list(rel.manifest.labels)
        assert task.doc_to_choice(doc)[task.doc_to_target(doc)] == gold[doc["id"]]
        assert doc["metadata"]["content_hash"] == rel.manifest.content_hash
    assert task.config.metadata["content_hash"] == rel.manifest.content_hash

    def logliks(
        doc: dict[str, Any],
    ) -> list[list[str]]:  # lm-eval writes [ll, is_greedy] as strings
        pick = doc["gold"] if sorted(gold).index(doc["id"]) % 2 else 0
        return [[str(-1.0 if i == pick else -9.0), "False"] for i in range(len(doc["choices"]))]

    sf = _samples_file(tmp_path / f"samples_{task_name(rel)}_2026.jsonl", task, logliks)
    lm_result = evaluate_release(NAME, "1.0.0", sf, model="hf/x", n_resamples=0, **pull_kw(ws))
    first = rel.manifest.labels[0]
    want = sum(1 for i, g in gold.items() if sorted(gold).index(i) % 2 or g == first) / len(gold)
    assert lm_result.metrics["accuracy"] == pytest.approx(want)

    # jsonl through the CLI; a second export into the same folder is refused without --force.
    args = ["export", f"{NAME}@1.0.0", "--format", "jsonl", "--out", tmp_path / "j"]
    out = cli(*args, "--split", "dev", env=env)
    assert out.exit_code == 0, out.output
    # Exported from the publishing workspace: its own key verifies the release, no warning.
    assert "publisher was not" not in out.stderr, out.stderr
    assert f"content hash {rel.manifest.content_hash}" in out.stdout
    lines = (tmp_path / "j" / f"{task_name(rel)}.dev.jsonl").read_text().splitlines()
    assert len(lines) == len(rel.rows["dev"])
    line = json.loads(lines[0])
    assert set(line) == {"id", "input", "target", "metadata"}
    assert line["metadata"]["release"] == f"{NAME}@1.0.0"
    again = cli(*args, env=env)
    assert (
        again.exit_code == 1 and "is not empty; choose a new folder or pass --force" in again.stderr
    )
    assert cli(*args, "--force", env=env).exit_code == 0
    bad = cli("export", f"{NAME}@1.0.0", "--format", "csv", "--out", tmp_path / "k", env=env)
    assert "--format 'csv' is not supported; use one of: inspect, lm-eval, jsonl" in bad.stderr
    assert not (tmp_path / "k").exists()


def test_multilabel_inspect_equals_eval_and_lm_eval_round_trip(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    rows = sample_rows[:40]
    ws = _release(sqlite_settings, rows, tmp_path,
                  lambda r: sorted({r["section"], "misc"}) if len(r["package"]) % 2 else [r["section"]],
                  type="multilabel")  # fmt: skip
    rel = open_release(NAME, "1.0.0", **pull_kw(ws))
    gold = {str(r["id"]): sorted(r["labels"]) for r in rel.rows["test"]}

    def answer(s: dict[str, Any]) -> str:  # exact set (reordered, spaced) or only the first label
        labs = gold[s["id"]]
        return " ; ".join(reversed(labs)) if len(s["id"]) % 3 else labs[0]

    log, _ = _run_inspect(ws, tmp_path, answer)
    ours = evaluate_release(NAME, "1.0.0", log.location, n_resamples=0, **pull_kw(ws))
    assert _inspect_accuracy(log) == pytest.approx(ours.metrics["exact_match"])
    want = sum(1 for i, g in gold.items() if len(i) % 3 or len(g) == 1) / len(gold)
    assert ours.metrics["exact_match"] == pytest.approx(want)

    lm = tmp_path / "lm"
    export_release(NAME, "1.0.0", "lm-eval", lm, **pull_kw(ws))
    task = _lm_eval_task(lm, task_name(rel))
    assert task.OUTPUT_TYPE == "generate_until"
    docs = list(task.test_docs())
    assert {d["id"]: sorted(d["answers"]) for d in docs} == gold
    assert all(task.doc_to_target(d) == ", ".join(gold[d["id"]]) for d in docs)
    # lm-eval's own scorer (utils.process_results) agrees with benchsmith on the same text.
    sf = _samples_file(tmp_path / "samples_ml.jsonl", task, lambda d: answer(d))
    via_lm = sum(task.process_results(d, [answer(d)])["exact_match"] for d in docs) / len(docs)
    lm_result = evaluate_release(NAME, "1.0.0", sf, model="hf/x", n_resamples=0, **pull_kw(ws))
    assert lm_result.metrics["exact_match"] == pytest.approx(via_lm) == pytest.approx(want)
    ws.db.dispose()


def test_reference_answer_inspect_lm_eval_and_content_hash_check(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    rows = sample_rows[:30]
    ws = _release(sqlite_settings, rows, tmp_path, lambda r: f"The {r['section']} section",
                  type="reference_answer", labels=[])  # fmt: skip
    rel = open_release(NAME, "1.0.0", **pull_kw(ws))
    gold = {str(r["id"]): str(r["answer"]) for r in rel.rows["test"]}

    def answer(s: dict[str, Any]) -> str:  # SQuAD-equal variant, or one word only
        g = gold[s["id"]]
        return g.upper().replace("THE ", "") + "!" if len(s["id"]) % 2 else g.split()[1]

    log, samples = _run_inspect(ws, tmp_path, answer)
    assert samples[0]["target"] == gold[samples[0]["id"]]
    ours = evaluate_release(NAME, "1.0.0", log.location, n_resamples=0, **pull_kw(ws))
    assert _inspect_accuracy(log) == pytest.approx(ours.metrics["exact_match"])
    assert ours.metrics["exact_match"] == pytest.approx(
        sum(1 for i in gold if len(i) % 2) / len(gold)
    )

    lm = tmp_path / "lm"
    export_release(NAME, "1.0.0", "lm-eval", lm, **pull_kw(ws))
    task = _lm_eval_task(lm, task_name(rel))
    docs = list(task.test_docs())
    assert {d["id"]: task.doc_to_target(d) for d in docs} == gold
    sf = _samples_file(tmp_path / "samples_ref.jsonl", task, lambda d: answer(d))
    assert evaluate_release(NAME, "1.0.0", sf, model="m", n_resamples=0, **pull_kw(ws)).metrics[
        "exact_match"
    ] == pytest.approx(ours.metrics["exact_match"])

    # A log from another release (another content hash) is refused, naming both hashes.
    doctored = tmp_path / "other.jsonl"
    lines = [json.loads(x) for x in sf.read_text().splitlines()]
    for x in lines:
        x["doc"]["metadata"]["content_hash"] = "f" * 64
    doctored.write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(
        ReleaseError,
        match=f"content hash {'f' * 64}, but {NAME}@1.0.0 has {rel.manifest.content_hash}",
    ):
        evaluate_release(NAME, "1.0.0", doctored, model="m", **pull_kw(ws))
    ws.db.dispose()


def test_run_with_mockllm_records_a_leaderboard_row(rel_ws: Workspace, tmp_path: Path) -> None:
    from builder.evaluate.inspect_run import run_release

    publish_release(rel_ws, actor=LEAD)
    rel = open_release(NAME, "1.0.0", **pull_kw(rel_ws))
    gold = {str(r["id"]): str(r["label"]) for r in rel.rows["test"]}
    out = tmp_path / "peek"
    export_release(NAME, "1.0.0", "inspect", out, **pull_kw(rel_ws))
    model = _mock(lambda s: gold[s["id"]], _samples(out, rel_ws))
    result, location = run_release(NAME, "1.0.0", model, limit=5, n_resamples=0, **pull_kw(rel_ws))
    assert Path(location).is_file() and str(tmp_path / "inspect-logs") in location
    assert result.metrics["accuracy"] == pytest.approx(5 / len(gold))  # the rest are missing
    assert len(result.missing_ids) == len(gold) - 5
    record_evaluation(rel_ws, result, actor=LEAD)
    (board,) = leaderboard(rel_ws, NAME)
    assert [(e.model, e.n) for e in board.entries] == [("mockllm/model", len(gold))]


def test_multiple_choice_inspect_and_lm_eval(
    sqlite_settings: Settings, tmp_path: Path, fast_argon2: None
) -> None:
    from builder.ingest import ingest_files
    from tests.support.mcq import mcq_rows, mcq_workspace, write_rows

    rows = mcq_rows(24)
    ws = mcq_workspace(sqlite_settings, tmp_path)
    ingest_files(ws, [write_rows(tmp_path, rows)])
    as_approved = [r | {"package": r["id"], "priority": None} for r in rows]
    approve(ws, as_approved, [r["id"] for r in rows], answer=lambda r: r["true_answer"], disagree_every=0)  # fmt: skip
    publish_release(ws, actor=LEAD)
    name = "mcq-debian"
    rel = open_release(name, "1.0.0", **pull_kw(ws))
    gold = {str(r["id"]): str(r["answer"]) for r in rel.rows["test"]}
    wrong = {i for n, i in enumerate(sorted(gold)) if n % 3 == 0}

    out = tmp_path / "inspect"
    res = export_release(name, "1.0.0", "inspect", out, **pull_kw(ws))
    samples = [json.loads(x) for x in (out / res.files[1]).read_text().splitlines()]
    first = samples[0]
    assert first["choices"] and first["target"] == gold[first["id"]]
    assert all(c not in first["input"] for c in first["choices"] if len(c) > 8)  # listed by Inspect

    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    def respond(messages: list[Any], *_: Any) -> ModelOutput:
        prompt = "\n".join(m.text for m in messages)
        s = next(x for x in samples if _text(x["input"]).split("\n\n", 1)[1] in prompt)
        letter = gold[s["id"]] if s["id"] not in wrong else ("B" if gold[s["id"]] == "A" else "A")
        o = ModelOutput.from_content(model="mockllm/model", content=f"ANSWER: {letter}")
        o.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return o

    model = get_model("mockllm/model", custom_outputs=respond)
    log = inspect_ai.eval(f"{out / res.files[0]}@{task_name(rel)}", model=model, display="none")[0]
    assert log.status == "success", log.error
    ours = evaluate_release(name, "1.0.0", log.location, n_resamples=0, **pull_kw(ws))
    assert _inspect_accuracy(log) == pytest.approx(ours.metrics["accuracy"])
    assert ours.metrics["accuracy"] == pytest.approx(1 - len(wrong) / len(gold))

    lm = tmp_path / "lm"
    export_release(name, "1.0.0", "lm-eval", lm, **pull_kw(ws))
    task = _lm_eval_task(lm, task_name(rel))
    assert task.OUTPUT_TYPE == "multiple_choice"
    docs = list(task.test_docs())
    for doc in docs:
        src = next(r for r in rel.rows["test"] if r["id"] == doc["id"])
        assert task.doc_to_choice(doc) == ["A", "B", "C", "D"][: len(src["choices"])]
        assert task.doc_to_target(doc) == src["answer_index"]
        assert all(f"{c}" in task.doc_to_text(doc) for c in src["choices"])

    def logliks(d: dict[str, Any]) -> list[list[str]]:
        n = len(d["choices"])
        pick = d["gold"] if d["id"] not in wrong else (d["gold"] + 1) % n
        return [[str(-1.0 if k == pick else -5.0), "False"] for k in range(n)]

    sf = _samples_file(tmp_path / "samples_mcq.jsonl", task, logliks)
    via_lm = evaluate_release(name, "1.0.0", sf, model="hf/x", n_resamples=0, **pull_kw(ws))
    assert via_lm.metrics["accuracy"] == pytest.approx(ours.metrics["accuracy"])
    ws.db.dispose()


def test_conversations_and_images_become_chat_messages_and_image_content(
    rel_ws: Workspace, tmp_path: Path
) -> None:
    import importlib.util

    from inspect_ai.model import (
        ChatMessageAssistant,
        ChatMessageSystem,
        ChatMessageUser,
        ContentImage,
    )

    from builder.export import Release

    publish_release(rel_ws, actor=LEAD)
    real = open_release(NAME, "1.0.0", **pull_kw(rel_ws))
    manifest = real.manifest.model_copy(update={"input_fields": ["chat", "photo"]})
    png = bytes.fromhex("89504e470d0a1a0a") + b"not really a png"
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "which section is vim in?"}]  # fmt: skip
    rows = {"test": [{"id": "c/1", "chat": chat, "photo": {"bytes": png, "path": "a.PNG"}, "label": "editors"}]}  # fmt: skip
    out = tmp_path / "conv"
    res = export_release(NAME, "1.0.0", "inspect", out, release=Release(manifest, rows))
    assert "images/c_1-photo.png" in res.files
    assert (out / "images" / "c_1-photo.png").read_bytes() == png
    spec = importlib.util.spec_from_file_location("exported_task", out / res.files[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (sample,) = list(getattr(module, task_name(real))().dataset)
    kinds = [type(m) for m in sample.input]
    assert kinds == [ChatMessageSystem, ChatMessageUser, ChatMessageAssistant, ChatMessageUser]
    assert "editors" in sample.input[0].text and sample.input[1].text == "hi"
    last = sample.input[-1].content
    assert last[0].text == "which section is vim in?" and isinstance(last[1], ContentImage)
    assert last[1].image == str(out / "images" / "c_1-photo.png")
    assert sample.target == "editors" and sample.metadata["content_hash"] == manifest.content_hash


def test_lm_eval_cli_run_scores_the_same_in_benchsmith(rel_ws: Workspace, tmp_path: Path) -> None:
    """The real ``lm_eval`` CLI (its ``dummy`` model, offline) on the export; its samples
    file scored by benchsmith gives lm-eval's own accuracy."""
    import os
    import subprocess
    import sys

    publish_release(rel_ws, actor=LEAD)
    rel = open_release(NAME, "1.0.0", **pull_kw(rel_ws))
    lm = tmp_path / "lm"
    export_release(NAME, "1.0.0", "lm-eval", lm, **pull_kw(rel_ws))
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "lm_eval", "--model", "dummy", "--include_path", str(lm),
           "--tasks", task_name(rel), "--log_samples", "--output_path", str(results)]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp_path, env=os.environ | {"HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (samples,) = results.glob("*/samples_*.jsonl")
    (summary,) = results.glob("*/results_*.json")
    acc = json.loads(summary.read_text())["results"][task_name(rel)]["acc,none"]
    ours = evaluate_release(NAME, "1.0.0", samples, n_resamples=0, **pull_kw(rel_ws))
    assert ours.metrics["accuracy"] == pytest.approx(acc)
    assert ours.missing_ids == [] and len(ours.metrics) > 0
