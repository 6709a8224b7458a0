"""The release manifest (``manifest.json``): what a release holds and how to verify it.

The manifest is the commit point of a release: it is written last, and a version folder
without one does not exist. Its ``content_hash`` is the sha256 of the canonical JSON of
every other manifest field — including each file's sha256 — so one hash pins the whole
release, and any edit to the manifest or to a file is detected.

How that JSON is encoded is recorded in the manifest's ``hashing`` field:
``"canonical-json/1"`` (:func:`builder.hashing.canonical_json`, format_version 2 on) or
absent for releases published before it (format_version 1), which were hashed with the
stdlib ``json`` encoding kept here as a private legacy verifier: published releases stay
verifiable forever.

Also here: semantic versions (``X.Y.Z``) and bumps, used to name releases.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from builder.errors import IntegrityError, ReleaseError, shown
from builder.hashing import HASHING_SCHEME, content_hash, sha256_hex

__all__ = [
    "ANSWER_FIELDS",
    "EXTRACTIVE_ANSWERS",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "AgreementSummary",
    "Bump",
    "FileEntry",
    "HoldoutRef",
    "Manifest",
    "SplitSummary",
    "answer_field_for",
    "bump_level",
    "bump_version",
    "content_hash_of",
    "parse_manifest",
    "parse_version",
    "version_key",
]

FORMAT_VERSION = 2
"""2: ``content_hash`` taken as the ``hashing`` field says (1: the legacy encoding)."""
MANIFEST_NAME = "manifest.json"
ANSWER_FIELDS: dict[str, str] = {
    "classification": "label",
    "multilabel": "labels",
    "reference_answer": "answer",
    "multiple_choice": "answer",  # the letter; ``answer_index`` holds its 0-based position
}
"""Gold answer column of a release row, by task type."""
EXTRACTIVE_ANSWERS = "answers"
"""Gold column of an extractive task (``task.context_field`` set): SQuAD v2's
``{"text": [...], "answer_start": [...]}``, empty lists = unanswerable."""


def answer_field_for(task: Any) -> str:
    """The gold column for a :class:`builder.spec.TaskSpec`: :data:`EXTRACTIVE_ANSWERS` for
    an extractive task, else :data:`ANSWER_FIELDS` by task type."""
    if getattr(task, "context_field", None):
        return EXTRACTIVE_ANSWERS
    return ANSWER_FIELDS[task.type.value]


Bump = Literal["major", "minor", "patch"]
# ASCII digits only, to the very end (``\d`` takes other scripts' digits, ``$`` a final "\n").
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\Z")
_SHA256 = r"^[0-9a-f]{64}$"


def _legacy_canonical_json(data: Any) -> bytes:
    """The encoding of manifests without a ``hashing`` field (format_version 1): stdlib
    json, sorted keys, no spaces, UTF-8 kept, NaN refused. Verification only."""
    return json.dumps(
        data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def content_hash_of(raw: dict[str, Any]) -> str:
    """Hex sha256 of a manifest's fields other than ``content_hash``, encoded by the scheme
    its ``hashing`` field names (absent or None: the legacy stdlib encoding).

    ``raw`` is the manifest's JSON object. Raises :class:`ReleaseError` for a scheme this
    benchsmith does not know.
    """
    scheme = raw.get("hashing")
    body = {
        k: v for k, v in raw.items() if k != "content_hash" and not (k == "hashing" and v is None)
    }
    if scheme is None:
        return sha256_hex(_legacy_canonical_json(body))
    if scheme == HASHING_SCHEME:
        return content_hash(body)
    raise ReleaseError(
        f"the manifest was hashed with scheme {scheme!r}, which this benchsmith does not "
        f"know (it knows {HASHING_SCHEME!r} and the legacy encoding); upgrade benchsmith"
    )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Model):
    """One file of the release and its checksum."""

    path: str
    """POSIX path relative to the release folder, e.g. ``data/test.parquet``."""
    sha256: str = Field(pattern=_SHA256)
    """Lowercase hex sha256 of the file's bytes."""
    size: int = Field(ge=0)
    """Size in bytes."""
    split: str | None = None
    """Split the file holds (data files only)."""
    format: Literal["parquet", "jsonl", "markdown"]
    """File format."""
    rows: int | None = Field(default=None, ge=0)
    """Rows in a data file."""

    @field_validator("path")
    @classmethod
    def _relative(cls, path: str) -> str:
        # A manifest names files inside its own folder only; anything else is an attack.
        parts = path.split("/")
        if (
            not path
            or path.startswith("/")
            or "\\" in path
            or any(p in ("", ".", "..") for p in parts)
        ):
            raise ValueError(f"file path {path!r} must be relative inside the release folder")
        if path == MANIFEST_NAME:
            raise ValueError("the manifest cannot list itself")
        return path


class SplitSummary(_Model):
    """Counts of one split."""

    count: int = Field(ge=0)
    """Items in the split."""
    labels: dict[str, int] = Field(default_factory=dict)
    """Items per gold label (multilabel: an item counts once per label); empty for text answers."""


class AgreementSummary(_Model):
    """Inter-annotator agreement over the released items' current annotations."""

    annotators: int = Field(ge=0)
    """Distinct annotators who labelled released items."""
    annotations: int = Field(ge=0)
    """Current annotations of released items."""
    items_annotated: int = Field(ge=0)
    """Released items with at least one annotation."""
    items_multiply_annotated: int = Field(ge=0)
    """Released items with two or more annotations (the ones agreement is measured on)."""
    krippendorff_alpha: float | None = None
    """Nominal Krippendorff's alpha (None for text answers or too few annotations)."""
    percent_agreement: float | None = None
    """Observed agreement: share of agreeing annotator pairs within items."""
    human_ceiling: float | None = None
    """The headline metric of one annotator scored against another, over every ordered
    pair on the same item: what a human reaches; the leaderboard's saturation level."""
    ceiling_metric: str
    """Which metric ``human_ceiling`` is (accuracy, micro_f1 or token_f1)."""


class HoldoutRef(_Model):
    """The private holdout: counted here, stored only in the private registry."""

    split: str
    """Split name in the private registry."""
    count: int = Field(ge=0)
    """Items held out."""
    content_hash: str = Field(pattern=_SHA256)
    """content_hash of the private manifest (ties the two halves together)."""


class Manifest(_Model):
    """``manifest.json``: identity, provenance, counts and checksums of one release."""

    format_version: int = FORMAT_VERSION
    """Version of this file format."""
    name: str
    """Benchmark name (a slug)."""
    version: str
    """Semantic version X.Y.Z."""
    parent: str | None = None
    """Version this one was diffed against (None for the first release)."""
    visibility: Literal["public", "private"] = "public"
    """public: the release; private: the holdout half kept in the private registry."""
    created_at: datetime
    """When it was published (UTC)."""
    created_by: str
    """Who published it."""
    title: str = ""
    description: str = ""
    task_type: Literal["classification", "multilabel", "reference_answer", "multiple_choice"]
    input_fields: list[str]
    """Input columns of every data file, in order."""
    answer_field: Literal["label", "labels", "answer", "answers"]
    """Gold answer column: label, labels or answer, by task type; answers (SQuAD v2 spans)
    for an extractive reference_answer task."""
    labels: list[str] = Field(default_factory=list)
    """The label set (classification and multilabel)."""
    spec_hash: str
    """sha256 of the benchmark spec the release was built from."""
    spec: dict[str, Any]
    """That spec, for reproducibility."""
    license: str
    notes: str = ""
    """Release notes given by the lead."""
    splits: dict[str, SplitSummary]
    """Counts per split (this registry's splits only)."""
    counts: dict[str, int]
    """Items per gold label over every split here, plus ``"_total"``."""
    agreement: AgreementSummary
    embedder: str | None = None
    """Embedder of the curation run that picked the sample."""
    sampling: dict[str, Any] = Field(default_factory=dict)
    """How the sample was drawn: pool size, coverage, clusters, strata, curation run."""
    holdout: HoldoutRef | None = None
    """Public manifest only: the private holdout's size and hash."""
    files: list[FileEntry]
    """Every file of the release except the manifest."""
    hashing: Literal["canonical-json/1"] | None = None
    """How ``content_hash`` was computed: ``"canonical-json/1"`` (builder.hashing), or
    None/absent for releases published before it (the legacy stdlib encoding)."""
    content_hash: str = Field(pattern=_SHA256)
    """sha256 over every other field (see the module docstring)."""

    @field_validator("version", "parent")
    @classmethod
    def _semver(cls, value: str | None) -> str | None:
        if value is not None and not _SEMVER.match(value):
            raise ValueError(f"{shown(value)} is not a semantic version X.Y.Z")
        return value

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        # The name is a registry folder: a manifest naming anything but a slug is refused.
        from builder.release.refs import is_name

        if not is_name(value):
            raise ValueError(f"{shown(value)} is not a benchmark name (a slug)")
        return value

    def to_json(self) -> str:
        """The file text (indented, sorted keys; a legacy manifest keeps no ``hashing``)."""
        raw = self.model_dump(mode="json")
        if raw["hashing"] is None:
            del raw["hashing"]
        return json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def file(self, path: str) -> FileEntry:
        """The entry for ``path``."""
        for f in self.files:
            if f.path == path:
                return f
        raise ReleaseError(f"{self.name}@{self.version} has no file {path!r}")

    def data_file(self, split: str, fmt: str = "parquet") -> FileEntry:
        """The data file of ``split`` in format ``fmt``."""
        for f in self.files:
            if f.split == split and f.format == fmt:
                return f
        raise ReleaseError(
            f"{self.name}@{self.version} has no split {split!r}; "
            f"it has {sorted(self.splits) or 'none'}"
        )

    @classmethod
    def build(cls, **fields: Any) -> Manifest:
        """A manifest from its fields, with ``content_hash`` computed (by default with
        the current :data:`builder.hashing.HASHING_SCHEME`)."""
        fields.setdefault("hashing", HASHING_SCHEME)
        draft = cls.model_validate({**fields, "content_hash": "0" * 64})
        raw = draft.model_dump(mode="json")
        return cls.model_validate({**raw, "content_hash": content_hash_of(raw)})


def parse_manifest(data: bytes, *, where: str) -> Manifest:
    """Parse and verify a manifest's own hash; ``where`` names it in errors."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IntegrityError(
            f"{where}: manifest.json is not valid JSON ({e}); the release is damaged"
        ) from None
    if not isinstance(raw, dict):
        raise IntegrityError(f"{where}: manifest.json is not a JSON object; the release is damaged")
    fv = raw.get("format_version", FORMAT_VERSION)
    if isinstance(fv, int) and fv > FORMAT_VERSION:
        raise ReleaseError(
            f"{where}: manifest format_version {raw['format_version']} is newer than this "
            f"benchsmith understands ({FORMAT_VERSION}); upgrade benchsmith"
        )
    scheme = raw.get("hashing")
    if scheme is not None and scheme != HASHING_SCHEME:
        raise ReleaseError(
            f"{where}: the manifest was hashed with scheme {scheme!r}, which this benchsmith "
            f"does not know (it knows {HASHING_SCHEME!r} and the legacy encoding); "
            "upgrade benchsmith"
        )
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise IntegrityError(
            f"{where}: manifest.json is invalid at {loc or 'top level'}: {first['msg']}"
        ) from None
    actual = content_hash_of(raw)
    if actual != manifest.content_hash:
        raise IntegrityError(
            f"{where}: manifest.json fails verification: its content hash is {actual[:16]}… "
            f"but it claims {manifest.content_hash[:16]}…; the manifest was edited after "
            "publishing — do not use this copy"
        )
    return manifest


# ------------------------------------------------------------------ semantic versions


def parse_version(text: str) -> tuple[int, int, int]:
    """``"1.2.3"`` → ``(1, 2, 3)``; refuses anything but plain X.Y.Z."""
    m = _SEMVER.match(text) if isinstance(text, str) else None
    if not m:
        raise ReleaseError(
            f"version {shown(text)} is not a semantic version; use X.Y.Z such as 1.0.0 "
            "(numbers without leading zeros, no prefix or suffix)"
        )
    return int(m[1]), int(m[2]), int(m[3])


def version_key(text: str) -> tuple[int, int, int]:
    """Sort key of a version string (non-versions sort first)."""
    m = _SEMVER.match(text)
    return (int(m[1]), int(m[2]), int(m[3])) if m else (-1, -1, -1)


def bump_version(version: str | None, level: Bump) -> str:
    """The next version after ``version`` at ``level``; ``1.0.0`` when there is none."""
    if version is None:
        return "1.0.0"
    major, minor, patch = parse_version(version)
    if level == "major":
        return f"{major + 1}.0.0"
    if level == "minor":
        return f"{major}.{minor + 1}.0"
    if level == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise ReleaseError(f"bump {level!r} is not one of major, minor, patch")


def bump_level(old: str, new: str) -> Bump | None:
    """How big a step ``old`` → ``new`` is (None when ``new`` is not above ``old``)."""
    a, b = parse_version(old), parse_version(new)
    if b <= a:
        return None
    if b[0] > a[0]:
        return "major"
    if b[1] > a[1]:
        return "minor"
    return "patch"
