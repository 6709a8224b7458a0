"""BenchmarkSpec: the benchmark definition file (YAML), validated by pydantic.

``schemas/benchmark.schema.json`` is generated from :class:`BenchmarkSpec` by
``python -m builder.schemas``; a test fails when the file is stale.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from builder.domain import TaskType
from builder.errors import SpecError

__all__ = [
    "FORMAT_VERSION",
    "BenchmarkSpec",
    "CurationSpec",
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
        return self


class SourceSpec(_Strict):
    """How raw rows map onto records."""

    id_field: str | None = None
    """Field holding a stable id; the content hash is used when absent."""
    text_field: str
    """Field that is embedded, deduplicated and scanned for PII."""
    metadata_fields: list[str] = Field(default_factory=list)
    """Extra fields kept with each record (optional in every row)."""


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
    """minilm | static | tfidf | path to a local sentence-transformers model."""
    near_duplicate_threshold: float = Field(default=0.92, gt=0, le=1)
    """Cosine similarity at or above which two records are near-duplicates."""
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


class ReviewSpec(_Strict):
    """How items are reviewed."""

    annotators_per_item: int = Field(default=2, ge=1, le=20)
    """Distinct annotators asked per item."""
    auto_approve_unanimous: bool = True
    """Approve items whose answers all agree without a reviewer."""
    lease_minutes: int = Field(default=30, ge=1)
    """How long an item stays reserved for an annotator who opened it."""


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
        if self.curation.min_chars > self.curation.max_chars:
            raise ValueError("curation.min_chars must not exceed curation.max_chars")
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
        """sha256 of the canonical JSON of the spec."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()

    def check_source_fields(self, columns: list[str], *, where: str) -> None:
        """Refuse a source whose columns lack a field the spec needs."""
        missing = [f for f in self.required_fields if f not in columns]
        if missing:
            raise SpecError(
                f"{where}: input field(s) {missing} named by the spec are missing from the source "
                f"(its columns are {columns}); fix source.id_field / source.text_field / "
                "task.input_fields in the spec or add the column"
            )


def _format_errors(err: ValidationError, path: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"unknown field {loc!r}; remove it or check its spelling")
        elif e["type"] == "string_pattern_mismatch" and loc == "name":
            lines.append(
                f"name {e['input']!r} is not a slug; use lowercase letters, digits and single "
                "dashes, e.g. 'debian-sections'"
            )
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{loc}: {msg} (got {e['input']!r})")
    return f"{path}: invalid benchmark spec:\n  - " + "\n  - ".join(lines)


def load_spec(path: str | Path) -> tuple[BenchmarkSpec, str | None]:
    """Read and validate a YAML/JSON spec; return it and the guidelines text (if any)."""
    p = Path(path)
    try:
        raw: Any = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"spec file {str(p)!r} does not exist; pass --spec PATH") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise SpecError(f"{p}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{p}: a spec must be a mapping of fields, got {type(raw).__name__}")
    try:
        spec = BenchmarkSpec.model_validate(raw)
    except ValidationError as e:
        raise SpecError(_format_errors(e, str(p))) from None
    guidelines = None
    if spec.guidelines:
        gp = (p.parent / spec.guidelines).resolve()
        if not gp.is_file():
            raise SpecError(
                f"{p}: guidelines file {spec.guidelines!r} not found at {gp}; "
                "fix the path (relative to the spec) or remove the field"
            )
        guidelines = gp.read_text(encoding="utf-8")
    return spec, guidelines
