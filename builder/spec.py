"""BenchmarkSpec: the benchmark definition file (YAML), validated by pydantic.

``schemas/benchmark.schema.json`` is generated from :class:`BenchmarkSpec` by
``python -m builder.schemas``; a test fails when the file is stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from builder.choices import LETTERS
from builder.domain import FieldKind, TaskType
from builder.errors import SpecError, shown
from builder.hashing import content_hash
from builder.textio import decode_utf8
from builder.yamlsafe import BoundedSafeLoader, load_yaml

__all__ = [
    "FORMAT_VERSION",
    "BenchmarkSpec",
    "CurationSpec",
    "EvaluationSpec",
    "ReleaseSpec",
    "ReviewSpec",
    "SourceSpec",
    "TaskSpec",
    "TaskType",
    "load_spec",
]

FORMAT_VERSION = 1
SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskSpec(_Strict):
    """The labeling task."""

    type: TaskType
    """classification (one label), multilabel (a set of labels) or reference_answer (text)."""
    input_fields: list[str] = Field(min_length=1)
    """Source fields shown to annotators and written to releases."""
    labels: list[str] = Field(default_factory=list)
    """Allowed labels; required for classification and multilabel."""
    choices_field: str | None = None
    """multiple_choice only: the input field holding each item's list of 2–10 choice texts;
    labels are then the choice letters A–J (filled in when absent)."""
    context_field: str | None = None
    """reference_answer only: the input field holding the passage answers are spans of
    (extractive, SQuAD v2 style: answers ``{text: [...], answer_start: [...]}``, empty lists =
    unanswerable; see :mod:`builder.spans`)."""

    @model_validator(mode="after")
    def _context_in_inputs(self) -> TaskSpec:
        if self.context_field is not None:
            if self.type is not TaskType.reference_answer:
                raise ValueError(
                    f"task.context_field is for reference_answer tasks, not {self.type.value}; "
                    "remove it or set task.type: reference_answer"
                )
            if self.context_field not in self.input_fields:
                raise ValueError(
                    f"task.context_field {self.context_field!r} must be one of "
                    f"task.input_fields {self.input_fields}; add it there"
                )
        return self

    @model_validator(mode="before")
    @classmethod
    def _choice_letters(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "multiple_choice":
            if "labels" not in data:
                data = {**data, "labels": list(LETTERS)}
            elif data["labels"] != list(LETTERS):
                raise ValueError(
                    "a multiple_choice task's labels are the choice letters A–J; remove "
                    "task.labels (the choices come from task.choices_field)"
                )
        return data

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, labels: list[str]) -> list[str]:
        seen: set[str] = set()
        dupes = sorted({lab for lab in labels if lab in seen or seen.add(lab)})  # type: ignore[func-returns-value]
        if dupes:
            raise ValueError(f"duplicate labels {dupes}; list each label once")
        if any(not lab.strip() for lab in labels):
            raise ValueError("labels must be non-empty strings")
        return labels

    @model_validator(mode="after")
    def _labels_for_type(self) -> TaskSpec:
        if self.type is not TaskType.reference_answer and len(self.labels) < 2:
            raise ValueError(f"a {self.type.value} task needs at least two labels in task.labels")
        if (self.type is TaskType.multiple_choice) != (self.choices_field is not None):
            raise ValueError(
                "task.choices_field is required for a multiple_choice task and only for it; "
                "name the input field that holds each item's list of choices"
                if self.type is TaskType.multiple_choice
                else f"task.choices_field is only for multiple_choice tasks; remove it from "
                f"this {self.type.value} task"
            )
        if self.choices_field is not None and self.choices_field not in self.input_fields:
            raise ValueError(
                f"task.choices_field {self.choices_field!r} must be one of task.input_fields "
                f"{self.input_fields}; add it there so annotators see the choices"
            )
        return self


class SourceSpec(_Strict):
    """How raw rows map onto records."""

    id_field: str | None = None
    """Field holding a stable id; the content hash is used when absent."""
    text_field: str
    """Field that is embedded, deduplicated and scanned for PII."""
    metadata_fields: list[str] = Field(default_factory=list)
    """Extra fields kept with each record (optional in every row)."""
    field_kinds: dict[str, FieldKind] = Field(default_factory=dict)
    """Field → text | conversation | image; a field not named here is text. A conversation
    is a list of ``{role, content}`` turns (``builder.conversation``)."""

    def kind(self, name: str) -> FieldKind:
        """The kind of field ``name`` (``text`` when not in ``field_kinds``)."""
        return self.field_kinds.get(name, FieldKind.text)


class ContaminationSpec(_Strict):
    """Word n-gram overlap check against earlier releases and other files."""

    ngram: int = Field(default=13, ge=3, le=50)
    """Shingle length in words."""
    against: list[str] = Field(default_factory=list)
    """Extra files (jsonl/csv/parquet/txt) to check against."""


class CurationSpec(_Strict):
    """How the sample is picked."""

    size: int = Field(default=300, ge=1)
    """Number of items to select."""
    embedder: str = "minilm"
    """minilm | static | tfidf | image (``builder.curate.image_embed``) | path to a local
    sentence-transformers model."""
    near_duplicate_threshold: float | None = Field(default=None, gt=0, le=1)
    """Cosine similarity at or above which two records are near-duplicates. Unset (null):
    the embedder's own calibrated default (``builder.curate.embed.DEFAULT_THRESHOLDS``:
    0.92 for minilm; each embedder's cosine scale differs); the threshold used is recorded
    in the curation report. A value set here is used as is, with any embedder."""
    image_hash_distance: int = Field(default=4, ge=0, le=64)
    """Image fields: records whose 64-bit perceptual hashes (``imagehash.phash``) differ in at
    most this many bits are near-duplicates (0 = identical hashes only)."""
    strata_field: str | None = None
    """Optional metadata field whose values get proportional quotas with a minimum."""
    min_per_stratum: int = Field(default=1, ge=0)
    """Minimum items per stratum when strata_field is set."""
    clusters: int | None = Field(default=None, ge=1)
    """k for k-means; chosen from pool and sample size when absent."""
    min_chars: int = Field(default=1, ge=0)
    """Records with shorter text are filtered out."""
    max_chars: int = Field(default=20_000, ge=1)
    """Records with longer text are filtered out."""
    pii: Literal["flag", "redact", "drop"] = "flag"
    """What to do with records containing personal data."""
    contamination: ContaminationSpec = Field(default_factory=ContaminationSpec)
    seed: int = 13
    """Seed for every random choice."""
    engine: Literal["local", "ray"] = "local"
    """Where scanning, embedding and the pair search run: ``local`` (this process) or
    ``ray`` (a Ray cluster, ``pip install 'benchsmith[ray]'``; ``curate --ray-address`` or
    ``RAY_ADDRESS`` names it). Both decide alike (``builder.curate.engine``)."""


class ReviewSpec(_Strict):
    """How items are reviewed."""

    annotators_per_item: int = Field(default=2, ge=1, le=20)
    """Distinct annotators asked per item."""
    auto_approve_unanimous: bool = True
    """Approve items whose answers all agree without a reviewer."""
    lease_minutes: int = Field(default=30, ge=1)
    """How long an item stays reserved for an annotator who opened it."""
    skill_threshold: float = Field(default=0.7, ge=0, le=1)
    """The dashboard flags an annotator whose Dawid–Skene skill (the accuracy their
    estimated confusion matrix implies, 0–1; ``builder.review.skill``) is below this."""
    gold_every: int = Field(default=10, ge=0)
    """One gold item (``items gold``) per this many answers of each annotator, unannounced,
    at a position that varies per annotator and block; 1 = every item while gold items last,
    0 = gold items are never served."""
    suggestions: Literal["hidden", "reviewers", "annotators"] = "reviewers"
    """Who sees a model's suggested answer (``benchsmith suggestions``): ``hidden`` nobody;
    ``reviewers`` reviewers and leads while adjudicating, annotators label blind;
    ``annotators`` annotators too, except on the blind control share of items (see
    ``builder.review.suggestions``). A suggestion never counts as an annotator."""
    suggestion_control: float = Field(default=0.05, ge=0, lt=1)
    """With ``suggestions: annotators``: share of items (a hash of the item id seeded with
    ``curation.seed``, the same for every annotator and session) shown without their
    suggestion, against which the dashboard measures anchoring."""


class ReleaseSpec(_Strict):
    """How approved items become a release."""

    splits: dict[str, float] = Field(default_factory=lambda: {"test": 1.0})
    """Split name → share; shares must sum to 1."""
    private_holdout: float = Field(default=0.0, ge=0, lt=1)
    """Share of the test split kept in the private registry only."""
    license: str = "CC-BY-4.0"
    """License written to the dataset card."""

    @field_validator("splits")
    @classmethod
    def _splits_sum(cls, splits: dict[str, float]) -> dict[str, float]:
        if not splits:
            raise ValueError("give at least one split, e.g. {test: 1.0}")
        bad = {k: v for k, v in splits.items() if not 0 < v <= 1}
        if bad:
            raise ValueError(f"split shares must be in (0, 1], got {bad}")
        if abs(sum(splits.values()) - 1.0) > 1e-6:
            raise ValueError(f"split shares must sum to 1, got {sum(splits.values()):g}")
        return splits


class EvaluationSpec(_Strict):
    """How predictions are scored beyond the headline metrics."""

    slices: list[str] = Field(default_factory=list)
    """Metadata fields (each one of source.metadata_fields) to report every metric per value
    of; releases carry these fields and ``eval`` scores each slice with a bootstrap CI."""
    rubric: str | None = None
    """Grading rubric for a model grader (reference answers): the exported Inspect task adds
    ``model_graded_qa`` with it under ``-T rubric=true``; the guidelines when absent."""

    @field_validator("slices")
    @classmethod
    def _unique_slices(cls, slices: list[str]) -> list[str]:
        if len(set(slices)) != len(slices):
            raise ValueError(f"evaluation.slices {slices} lists a field twice; list each once")
        return slices


class BenchmarkSpec(_Strict):
    """A benchmark definition: what is labeled, from which source, curated and released how."""

    format_version: int = FORMAT_VERSION
    """Version of this file format."""
    name: str = Field(pattern=SLUG, max_length=64)
    """Slug of lowercase letters, digits and single dashes; unique in the workspace."""
    title: str = ""
    """Human title for the app and the dataset card."""
    description: str = ""
    """What the benchmark measures and why (goes to the dataset card)."""
    task: TaskSpec
    guidelines: str | None = None
    """Markdown file (relative to the spec) shown beside every item."""
    source: SourceSpec
    curation: CurationSpec = Field(default_factory=CurationSpec)
    review: ReviewSpec = Field(default_factory=ReviewSpec)
    release: ReleaseSpec = Field(default_factory=ReleaseSpec)
    evaluation: EvaluationSpec = Field(default_factory=lambda: EvaluationSpec())

    @model_validator(mode="after")
    def _fields_consistent(self) -> BenchmarkSpec:
        if (
            self.curation.strata_field
            and self.curation.strata_field not in self.source.metadata_fields
        ):
            raise ValueError(
                f"curation.strata_field {self.curation.strata_field!r} must be one of "
                f"source.metadata_fields {self.source.metadata_fields}"
            )
        stray = [f for f in self.evaluation.slices if f not in self.source.metadata_fields]
        if stray:
            raise ValueError(
                f"evaluation.slices {stray} must be among source.metadata_fields "
                f"{self.source.metadata_fields}; add them there or drop the slice"
            )
        if self.curation.min_chars > self.curation.max_chars:
            raise ValueError("curation.min_chars must not exceed curation.max_chars")
        unknown = sorted(set(self.source.field_kinds) - set(self.fields))
        if unknown:
            raise ValueError(
                f"source.field_kinds names {unknown}, which are not fields of the spec "
                f"({self.fields}); name the task's input, text or metadata fields"
            )
        return self

    @property
    def fields(self) -> list[str]:
        """Every source field a record keeps, in a stable order."""
        out: list[str] = []
        for f in [*self.task.input_fields, self.source.text_field, *self.source.metadata_fields]:
            if f not in out:
                out.append(f)
        return out

    @property
    def required_fields(self) -> list[str]:
        """Fields every row must have (id, text and inputs)."""
        req = [self.source.id_field] if self.source.id_field else []
        for f in [*self.task.input_fields, self.source.text_field]:
            if f not in req:
                req.append(f)
        return req

    def spec_hash(self) -> str:
        """Hex sha256 of the canonical JSON (:func:`builder.hashing.canonical_json`) of the
        spec's JSON dump without the fields left at their defaults; stored with the
        benchmark and in release manifests.

        Defaults are left out so that a new spec field (which comes with a default) does not
        change the hash of every spec written before it: a spec means the same thing before
        and after the upgrade, and ``init`` / ``releases reindex`` must still recognise it.
        """
        return content_hash(self.model_dump(mode="json", exclude_defaults=True))

    def check_source_fields(self, columns: list[str], *, where: str) -> None:
        """Refuse a source whose columns lack a field the spec needs."""
        missing = [f for f in self.required_fields if f not in columns]
        if missing:
            raise SpecError(
                f"{where}: input field(s) {missing} named by the spec are missing from the source "
                f"(its columns are {columns}); fix source.id_field / source.text_field / "
                "task.input_fields in the spec or add the column"
            )


_YAML_KINDS = {
    "tag:yaml.org,2002:bool": "the boolean",
    "tag:yaml.org,2002:int": "the number",
    "tag:yaml.org,2002:float": "the number",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "the date",
}


def _yaml_node(root: yaml.Node | None, loc: tuple[int | str, ...]) -> yaml.Node | None:
    """The node of the composed YAML at a pydantic error location (None when not found)."""
    node = root
    for i, part in enumerate(loc):
        if part == "[key]":
            return node
        if isinstance(node, yaml.MappingNode):
            pairs = node.value
            match = [v for k, v in pairs if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
            if not match and loc[i + 1 : i + 2] == ("[key]",):
                # A key YAML typed (``yes: 0.5``): the one key that is not a plain string.
                odd = [k for k, _ in pairs if k.tag != "tag:yaml.org,2002:str"]
                return odd[0] if len(odd) == 1 else None
            if len(match) != 1:
                return None
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return None
            node = node.value[part]
        else:
            return None
    return node


def _typed_scalar(text: str | None, loc: tuple[int | str, ...]) -> tuple[str, str, int] | None:
    """(what was typed, what YAML read it as, line) for a bare word YAML did not read as text.

    YAML 1.1 reads ``yes``/``no``/``on``/``off``/``true`` as booleans, ``12`` and ``1.5`` as
    numbers, ``~`` or nothing as null and ``2024-01-01`` as a date.
    """
    if text is None:
        return None
    try:
        node = _yaml_node(yaml.compose(text, Loader=BoundedSafeLoader), loc)
    except yaml.YAMLError:
        return None
    if not isinstance(node, yaml.ScalarNode) or node.style or node.tag not in _YAML_KINDS:
        return None
    kind = _YAML_KINDS[node.tag]
    if node.tag == "tag:yaml.org,2002:null":
        read = "null (no value)"
    elif node.tag == "tag:yaml.org,2002:bool":
        read = f"{kind} {yaml.safe_load(node.value)!r}"
    else:
        read = f"{kind} {yaml.safe_load(node.value)}"
    return node.value, read, node.start_mark.line + 1


def _loc_text(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif part != "[key]":
            out += f".{part}" if out else str(part)
    return out


def _format_errors(err: ValidationError, path: str, text: str | None = None) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        typed = (
            _typed_scalar(text, e["loc"])
            if not isinstance(e["input"], str)
            and e["type"] in ("string_type", "literal_error", "enum")
            else None
        )
        if typed is not None:
            word, read, line = typed
            key = e["loc"][-1] == "[key]"
            where = _loc_text(e["loc"][:-2]) + " (a key)" if key else _loc_text(e["loc"])
            if read.startswith("null"):
                empty = f"YAML read `{word}` as null" if word else "the value is empty (null)"
                lines.append(
                    f"line {line}: {where}: {empty}; write the text (in quotes if it is "
                    '"null" or "~"), or remove the entry'
                )
            elif e["type"] == "string_type":
                lines.append(
                    f'line {line}: {where}: YAML read `{word}` as {read}; quote it: "{word}"'
                )
            else:
                msg = e["msg"].removeprefix("Value error, ")
                lines.append(
                    f"line {line}: {where}: {msg}; YAML read `{word}` as {read} (got {shown(e['input'])})"
                )
        elif e["type"] == "extra_forbidden":
            lines.append(f"unknown field {shown(loc)}; remove it or check its spelling")
        elif e["type"] == "string_pattern_mismatch" and loc == "name":
            lines.append(
                f"name {shown(e['input'])} is not a slug; use lowercase letters, digits and single "
                "dashes, e.g. 'debian-sections'"
            )
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{loc}: {msg} (got {shown(e['input'])})")
    # Never echo more than a short prefix of any value, nor hundreds of lines.
    lines = [_clip(line) for line in lines[:_MAX_ERRORS]] + (
        [f"… and {len(lines) - _MAX_ERRORS} more errors"] if len(lines) > _MAX_ERRORS else []
    )
    return f"{path}: invalid benchmark spec:\n  - " + "\n  - ".join(lines)


_MAX_ERRORS = 20
_MAX_LINE = 300


def _clip(line: str) -> str:
    return line if len(line) <= _MAX_LINE else f"{line[:_MAX_LINE]}… ({len(line)} chars)"


def load_spec(path: str | Path) -> tuple[BenchmarkSpec, str | None]:
    """Read and validate a YAML/JSON spec; return it and the guidelines text (if any)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"spec file {str(p)!r} does not exist; pass --spec PATH") from None
    # A UTF-8 byte-order mark is dropped; UTF-16 and bytes that are not UTF-8 are refused.
    text = decode_utf8(data, str(p), SpecError)
    # Aliases are bounded while composing: a "billion laughs" is refused here, in
    # microseconds, before validation could walk (and an error echo) its expansion.
    raw: Any = load_yaml(text, where=str(p))
    if not isinstance(raw, dict):
        raise SpecError(f"{p}: a spec must be a mapping of fields, got {type(raw).__name__}")
    try:
        spec = BenchmarkSpec.model_validate(raw)
    except ValidationError as e:
        raise SpecError(_format_errors(e, str(p), text)) from None
    guidelines = None
    if spec.guidelines:
        gp = (p.parent / spec.guidelines).resolve()
        if not gp.is_file():
            raise SpecError(
                f"{p}: guidelines file {spec.guidelines!r} not found at {gp}; "
                "fix the path (relative to the spec) or remove the field"
            )
        guidelines = decode_utf8(gp.read_bytes(), str(gp), SpecError)
    return spec, guidelines
