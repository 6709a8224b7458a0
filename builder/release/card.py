"""The dataset card (``README.md``) of a release, with Hugging Face YAML front matter.

The front matter's ``configs`` lists every public split's Parquet file, so
``datasets.load_dataset(<release folder>)`` loads the splits without any loader script.
The body covers purpose, source, sampling and coverage, label distribution, agreement,
annotators, known limitations, license and citation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from builder.release.manifest import AgreementSummary, SplitSummary, answer_field_for
from builder.spec import BenchmarkSpec

__all__ = ["CardInfo", "front_matter", "render_card"]

_HF_TASK = {
    "classification": "text-classification",
    "multilabel": "text-classification",
    "reference_answer": "question-answering",
    "multiple_choice": "multiple-choice",
}
_SMALL_LABEL = 5
"""Labels with fewer test items than this give unstable per-label scores."""
_ALPHA_TENTATIVE = 0.667
"""Krippendorff's lowest acceptable alpha for tentative conclusions."""


@dataclass
class CardInfo:
    """Everything the card says (the manifest's fields, before the manifest exists)."""

    name: str
    version: str
    parent: str | None
    spec: BenchmarkSpec
    splits: Mapping[str, SplitSummary]
    agreement: AgreementSummary
    created_at: datetime
    created_by: str
    data_files: Mapping[str, str]
    """Public split → Parquet path relative to the release folder (non-empty splits only)."""
    sampling: Mapping[str, Any] = field(default_factory=dict)
    embedder: str | None = None
    notes: str = ""
    holdout_count: int = 0
    changes: Mapping[str, int] | None = None
    """Diff counts against the parent."""


def _size_category(n: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return label
    return "1M<n<10M"


def front_matter(info: CardInfo) -> dict[str, Any]:
    """The YAML header Hugging Face reads (license, task, configs/data_files)."""
    total = sum(s.count for s in info.splits.values())
    return {
        "license": info.spec.release.license.lower(),
        "pretty_name": info.spec.title or info.name,
        "language": ["en"],
        "task_categories": [_HF_TASK[info.spec.task.type.value]],
        "size_categories": [_size_category(total)],
        "tags": ["benchsmith", "benchmark"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": p} for s, p in info.data_files.items()],
            }
        ],
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _label_table(info: CardInfo) -> list[str]:
    splits = list(info.splits)
    labels = sorted({lab for s in info.splits.values() for lab in s.labels})
    if not labels:
        return ["Reference answers are free text; there is no label distribution.", ""]
    head = "| label | " + " | ".join(splits) + " | total |"
    lines = [head, "|---|" + "---:|" * (len(splits) + 1)]
    for lab in labels:
        counts = [info.splits[s].labels.get(lab, 0) for s in splits]
        lines.append(f"| {lab} | " + " | ".join(map(str, counts)) + f" | {sum(counts)} |")
    return [*lines, ""]


def _limitations(info: CardInfo) -> list[str]:
    out: list[str] = []
    spec = info.spec
    test = info.splits.get("test")
    if test is not None and spec.task.labels:
        small = sorted(
            lab for lab in spec.task.labels if 0 < test.labels.get(lab, 0) < _SMALL_LABEL
        )
        absent = sorted(
            lab
            for lab in spec.task.labels
            if all(s.labels.get(lab, 0) == 0 for s in info.splits.values())
        )
        if small:
            out.append(
                f"{len(small)} label(s) have fewer than {_SMALL_LABEL} test items ({', '.join(small)}); "
                "their per-label scores have wide confidence intervals."
            )
        if absent:
            out.append(
                f"{len(absent)} label(s) of the task never occur in this release ({', '.join(absent)})."
            )
    ag = info.agreement
    total = sum(s.count for s in info.splits.values()) + info.holdout_count
    if ag.items_multiply_annotated == 0:
        out.append(
            "No item was labelled by two annotators, so agreement and the human ceiling are unknown."
        )
    elif ag.items_multiply_annotated < total:
        out.append(
            f"Agreement is measured on the {ag.items_multiply_annotated} of {total} items that had two or "
            "more annotations."
        )
    if ag.krippendorff_alpha is not None and ag.krippendorff_alpha < _ALPHA_TENTATIVE:
        out.append(
            f"Krippendorff's alpha is {ag.krippendorff_alpha:.3f}, below {_ALPHA_TENTATIVE} "
            "(the usual floor for tentative conclusions): gold labels are noisy."
        )
    if info.sampling.get("pool_size"):
        out.append(
            "Scores on this sample estimate performance on the pool it was drawn from; the "
            "pool-weighted estimate in `benchsmith eval` corrects for unequal inclusion."
        )
    if info.holdout_count:
        out.append(
            f"{info.holdout_count} test items are held out privately and are not in this release."
        )
    return out or ["None recorded."]


def _curation_line(info: CardInfo) -> str:
    run = info.sampling.get("curation_run")
    cur = info.spec.curation
    if not run:
        return (
            "- No curation run is recorded: the items were chosen outside benchsmith's curation "
            f"(the spec names embedder {cur.embedder}, seed {cur.seed})."
        )
    method = f"; method: {info.sampling['method']}" if info.sampling.get("method") else ""
    return (
        f"- Curation run {run.get('id')} of {str(run.get('created_at', ''))[:10]}: embedder "
        f"{info.embedder or cur.embedder}, seed {run.get('seed', cur.seed)}, near-duplicate "
        f"threshold {_threshold(run, cur.near_duplicate_threshold)}{method}."
    )


def _threshold(run: dict[str, Any], spec_value: float | None) -> str:
    """The run's recorded threshold, else the spec's, else the embedder's default."""
    value = run.get("near_duplicate_threshold", spec_value)
    return "the embedder's default" if value is None else f"{value}"


_AGREE = {
    "classification": "the same label",
    "multiple_choice": "the same choice letter",
    "multilabel": "the same label set",
    "reference_answer": "the same text after normalising case, spacing, punctuation and articles",
}


def _aggregation_line(spec: BenchmarkSpec) -> str:
    """Which rule produced the released labels, as the review code applies it (the policy in
    :func:`builder.review.consensus.apply_consensus`, reviewers in ``decide``, gold in
    ``mark_gold``)."""
    review, task = spec.review, spec.task
    agree = (
        "spans that overlap (token F1 ≥ 0.5 between every pair), released as all their spans"
        if task.context_field is not None
        else _AGREE[task.type.value]
    )
    if not review.auto_approve_unanimous:
        policy = (
            "auto-approval is off (`review.auto_approve_unanimous: false`), so every other "
            "item was approved by a reviewer, unanimous ones included"
        )
    elif review.annotators_per_item == 1:
        policy = (
            "with one annotator per item (`review.annotators_per_item: 1`) and auto-approval on, "
            "every other item carries its single annotator's unflagged answer as given"
        )
    else:
        policy = (
            "every other item was approved automatically because a round's first complete set "
            f"of its {review.annotators_per_item} answers agreed ({agree}) and none was flagged "
            "(`review.auto_approve_unanimous`); a revised answer or a flag sends an item to a "
            "reviewer"
        )
    return (
        "- Released labels: a reviewer's decision always wins (an item a reviewer approved "
        "carries the answer the reviewer chose; a gold item, the lead's gold answer); "
        f"{policy}. No label comes from a vote: on disagreeing items majority vote only "
        "pre-fills the reviewer's form, and Dawid–Skene (crowd-kit) estimates of annotator "
        "skill and item posteriors were advisory (dashboard, Adjudicate order), never a label. "
        "This describes the spec of this release."
    )


def _suggestions_line(spec: BenchmarkSpec) -> str:
    """Whether annotators saw model suggestions (``review.suggestions``), which can anchor
    their answers, and the blind control share (:mod:`builder.review.suggestions`)."""
    review = spec.review
    if review.suggestions == "annotators":
        return (
            "- Model suggestions: shown to annotators while labeling (`review.suggestions: "
            f"annotators`), except on a blind control share of {review.suggestion_control:.1%} "
            "of items chosen by a hash of the item id; agreement may be inflated by anchoring "
            "(the review dashboard compares agreement with the suggestion on shown and control "
            "items). Suggestions never counted as an annotator."
        )
    seen = (
        "shown to nobody (`review.suggestions: hidden`)"
        if review.suggestions == "hidden"
        else "not shown to annotators, who labeled blind; reviewers saw them while "
        "adjudicating (`review.suggestions: reviewers`)"
    )
    return f"- Model suggestions: {seen}; they never counted as an annotator."


def _bibtex_key(name: str, version: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", f"{name}_{version}")


def render_card(info: CardInfo) -> str:
    """The full ``README.md`` text."""
    spec = info.spec
    header = yaml.safe_dump(front_matter(info), sort_keys=False, allow_unicode=True)
    title = spec.title or info.name
    total = sum(s.count for s in info.splits.values())
    split_text = ", ".join(f"{k}: {v.count}" for k, v in info.splits.items())
    s = info.sampling
    ag = info.agreement
    lines = [
        "---",
        header.rstrip(),
        "---",
        "",
        f"# {title} — version {info.version}",
        "",
        f"`{info.name}` {info.version}, published {info.created_at:%Y-%m-%d} by {info.created_by}"
        + (f", following {info.parent}." if info.parent else " (first release)."),
        f"{total} items ({split_text}).",
        "",
        "## Purpose",
        "",
        (spec.description.strip() or f"Measures how well a model solves: {title}."),
        "",
        f"Task: **{spec.task.type.value}** — from the input field(s) "
        + ", ".join(f"`{f}`" for f in spec.task.input_fields)
        + f", give the gold `{answer_field_for(spec.task)}`."
        + (
            f" The gold is the letter (A–J) of one of the item's `{spec.task.choices_field}`; "
            "`answer_index` is its 0-based position."
            if spec.task.choices_field
            else f" {len(spec.task.labels)} labels."
            if spec.task.labels
            else ""
        ),
        "",
        "## Source",
        "",
        f"Records of a pool of {s.get('pool_size', 'unknown')} ingested rows"
        + (f" from {', '.join(f'`{x}`' for x in s.get('sources', []))}" if s.get("sources") else "")
        + f"; text field `{spec.source.text_field}`"
        + (
            f", id field `{spec.source.id_field}` (the `id` column)."
            if spec.source.id_field
            else ", ids are content hashes."
        ),
        "",
        "## Sampling and coverage",
        "",
        _curation_line(info),
        f"- Sample: {s.get('items', total)} items of {s.get('pool_size', '?')} pool records "
        f"(coverage {s.get('coverage', 0):.1%}); the items stand for {s.get('weight_sum', 0):,.0f} pool records "
        "by their inclusion weights (column `weight`).",
        f"- Clusters represented: {s.get('clusters', 0)}"
        + (
            f"; strata: {', '.join(f'{k} ({v})' for k, v in s['strata'].items())}"
            if s.get("strata")
            else ""
        )
        + ".",
        "- Splits are a hash of the item id and the benchmark name (not a shuffle); an item keeps its "
        "split in every later version.",
        "",
        "## Label distribution",
        "",
        *_label_table(info),
        "## Annotation and agreement",
        "",
        f"- Annotators: {ag.annotators}; current annotations: {ag.annotations} on {ag.items_annotated} items; "
        f"{ag.items_multiply_annotated} items labelled by two or more annotators.",
        f"- Krippendorff's alpha (nominal): {_pct(ag.krippendorff_alpha)}; observed pairwise agreement: "
        f"{_pct(ag.percent_agreement)}.",
        f"- Human ceiling ({ag.ceiling_metric} of one annotator against another): {_pct(ag.human_ceiling)}. "
        "The leaderboard flags the benchmark as saturated when the best model reaches it.",
        _aggregation_line(spec),
        _suggestions_line(spec),
        "",
    ]
    if info.notes.strip():
        lines += ["## Release notes", "", info.notes.strip(), ""]
    if info.changes:
        lines += [
            "## Changes",
            "",
            f"Against {info.parent}: "
            + ", ".join(
                f"{v} {k.replace('_', ' ')}"
                for k, v in info.changes.items()
                if v and k != "unchanged"
            )
            + ". Item ids are in `CHANGELOG.md`.",
            "",
        ]
    lines += ["## Known limitations", "", *(f"- {x}" for x in _limitations(info)), ""]
    lines += [
        "## Files and verification",
        "",
        "`data/<split>.parquet` and `data/<split>.jsonl` hold one row per item: `id`, the input fields, "
        "the gold answer, `cluster`, `stratum`, `weight`. `manifest.json` lists every file's sha256; "
        f"`benchsmith pull {info.name}@{info.version}` verifies them.",
        "",
        "## License",
        "",
        f"{spec.release.license} for the labels and curation; the source texts keep their own terms.",
        "",
        "## Citation",
        "",
        "```bibtex",
        f"@misc{{{_bibtex_key(info.name, info.version)},",
        f"  title = {{{title} (version {info.version})}},",
        f"  author = {{{info.created_by}}},",
        f"  year = {{{info.created_at:%Y}}},",
        f"  note = {{benchsmith release {info.name}@{info.version}}}",
        "}",
        "```",
        "",
    ]
    return "\n".join(lines)
