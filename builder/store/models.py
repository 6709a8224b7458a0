"""SQLModel tables: the whole persistent state of a workspace.

Changing a table means adding an Alembic migration (``builder/store/migrations``);
``tests/test_migrations.py`` fails when the models and the migrations disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import JSON, Column, DateTime, Index, String, Text, UniqueConstraint, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from builder.domain import ItemStatus, Role, Verdict

__all__ = [
    "Annotation",
    "Assignment",
    "AuditEvent",
    "Benchmark",
    "CurationRun",
    "Decision",
    "Evaluation",
    "IngestBatch",
    "Item",
    "LoginSession",
    "Record",
    "Release",
    "ReleaseItem",
    "Suggestion",
    "UTCDateTime",
    "User",
    "utcnow",
]


def utcnow() -> datetime:
    """Timezone-aware now in UTC (every stored time is UTC)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend (SQLite drops the zone; we restore UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; store UTC-aware datetimes")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


_E = TypeVar("_E", bound=StrEnum)


class Members(dict[str, _E]):
    """A :class:`StrEnum`'s value → member; a value the enum lacks (none is ever written)
    stays text rather than failing a read."""

    def __missing__(self, key: str) -> _E:
        return key  # type: ignore[return-value]


def members(enum: type[_E]) -> Members[_E]:
    """The value → member map of ``enum``."""
    return Members({m.value: m for m in enum})


def as_text(column: Any) -> Any:
    """``column`` without its :class:`EnumText` result processing, for bulk reads that map
    the text with :func:`members` themselves."""
    return type_coerce(column, String)


class EnumText(TypeDecorator[StrEnum]):
    """A :class:`StrEnum` stored as plain VARCHAR (no database enum type), read back as members.

    Any result processor costs about 0.7 µs a row; bulk reads of 100,000 rows select the
    column :func:`as_text` and look the members up in their own row loop instead.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum
        self._members = members(enum)

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else self._members[value]


def _enum(enum: type[StrEnum], **default: Any) -> Any:
    return Field(**default, sa_column=Column(EnumText(enum, 16), nullable=False))


def _ts(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _json(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


class Benchmark(SQLModel, table=True):
    """A benchmark registered from a spec; several may share a workspace."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=64)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    spec_hash: str = Field(max_length=64)
    guidelines: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class IngestBatch(SQLModel, table=True):
    """One ingest of one file; records point at the batch that added them."""

    id: int | None = Field(default=None, primary_key=True)
    benchmark_id: int = Field(foreign_key="benchmark.id", index=True)
    source: str
    """File path as given."""
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)
    ingested: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0


class Record(SQLModel, table=True):
    """One row of the pool: immutable, identified by source id, carrying its content hash."""

    __table_args__ = (
        UniqueConstraint("benchmark_id", "source_id", name="uq_record_source"),
        # The pool is read in record-id pages and ranges (builder.store.pool).
        Index("ix_record_pool", "benchmark_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    benchmark_id: int = Field(foreign_key="benchmark.id")
    source_id: str = Field(max_length=512)
    content_hash: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    """Mapped fields: inputs and metadata, and the text field unless it equals ``text`` (the
    text is stored once; :func:`builder.store.pool.with_text` restores the field)."""
    batch_id: int = Field(foreign_key="ingestbatch.id")


class CurationRun(SQLModel, table=True):
    """A curate run and its report (shown in the app)."""

    id: int | None = Field(default=None, primary_key=True)
    benchmark_id: int = Field(foreign_key="benchmark.id", index=True)
    created_at: datetime = _ts()
    embedder: str = ""
    seed: int = 0
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Item(SQLModel, table=True):
    """A record chosen into a benchmark, with why it was chosen and its flags."""

    __table_args__ = (
        UniqueConstraint("benchmark_id", "record_id", name="uq_item_record"),
        Index("ix_item_queue", "benchmark_id", "status", "id"),
        Index("ix_item_gold", "benchmark_id", "is_gold", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    benchmark_id: int = Field(foreign_key="benchmark.id")
    record_id: int = Field(foreign_key="record.id", index=True)
    status: ItemStatus = _enum(ItemStatus, default=ItemStatus.candidate)
    revision: int = 1
    """Bumped whenever the item's text or final answer changes."""
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """Redacted text when PII redaction applied; None means the record's text."""
    cluster: int | None = None
    stratum: str | None = Field(default=None, max_length=256)
    reason: str = ""
    """Why curation picked it (e.g. 'cluster 4 representative (facility location)')."""
    weight: float = 1.0
    """Inclusion weight: how many pool records this item stands for."""
    flags: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """pii (kinds and spans), near_duplicates (sibling source ids), …"""
    is_gold: bool = False
    gold_answer: Any = _json()
    answer: Any = _json()
    """Final answer once decided."""
    run_id: int | None = Field(default=None, foreign_key="curationrun.id")
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class User(SQLModel, table=True):
    """A person (or an imported annotator without login)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=128)
    email: str | None = Field(default=None, unique=True, index=True, max_length=320)
    """Lower-cased address a single sign-on login is matched by (None: no SSO login)."""
    role: Role = _enum(Role)
    password_hash: str | None = None
    """argon2 hash; None means the user cannot log in."""
    disabled: bool = False
    failed_logins: int = 0
    locked_until: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()


class LoginSession(SQLModel, table=True):
    """A login of the review app, server side: the browser holds only the token's cookie.

    The token itself is never stored (its sha256 is); a session ends at ``expires_at``, when
    ``revoked_at`` is set (logout, password reset, disable, role change, "end my other
    sessions"), or when the user's credential stamp no longer matches ``stamp``.
    """

    __table_args__ = (Index("ix_loginsession_user", "user_id", "revoked_at"),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    user_id: int = Field(foreign_key="user.id")
    method: str = Field(default="password", max_length=16)
    """How the user logged in: ``password`` or ``oidc``."""
    stamp: str = Field(default="", max_length=64)
    """The user's credential stamp at login (see ``review.auth.credential_stamp``)."""
    address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=256)
    created_at: datetime = _ts()
    last_seen_at: datetime = _ts()
    expires_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)


class Suggestion(SQLModel, table=True):
    """A model's suggested answer for one pool record (never an annotator's answer)."""

    __table_args__ = (
        UniqueConstraint("record_id", "model", name="uq_suggestion_record_model"),
        Index("ix_suggestion_benchmark", "benchmark_id", "record_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    benchmark_id: int = Field(foreign_key="benchmark.id")
    record_id: int = Field(foreign_key="record.id")
    model: str = Field(max_length=256)
    answer: Any = _json(nullable=False)
    """A label, a list of labels, or an answer text, by task type."""
    score: float | None = None
    """The model's confidence in [0, 1], when it gave one."""
    source: str = Field(default="import", max_length=32)
    """``import`` (``suggestions import``) or ``baseline`` (``suggestions baseline``)."""
    created_at: datetime = _ts()


class Assignment(SQLModel, table=True):
    """A slot of an item leased to one annotator; the lease expires if abandoned."""

    __table_args__ = (
        UniqueConstraint("item_id", "annotator_id", name="uq_assignment_item_annotator"),
        Index("ix_assignment_open", "item_id", "completed_at", "expires_at"),
        # "my open lease" and "how many have I done" are range scans on this index.
        Index("ix_assignment_annotator", "annotator_id", "completed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id")
    annotator_id: int = Field(foreign_key="user.id")
    leased_at: datetime = _ts()
    expires_at: datetime = _ts()
    completed_at: datetime | None = _ts(nullable=True)
    skipped_at: datetime | None = _ts(nullable=True)
    """Set when the annotator skipped: the slot is free and the item comes back to them last."""


class Annotation(SQLModel, table=True):
    """One annotator's answer to one item; append-only (an edit supersedes the old row)."""

    __table_args__ = (Index("ix_annotation_item_current", "item_id", "is_current"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id")
    annotator_id: int = Field(foreign_key="user.id", index=True)
    answer: Any = _json(nullable=False)
    """A label, a list of labels, or reference text, by task type."""
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    supersedes_id: int | None = Field(default=None, foreign_key="annotation.id")
    is_current: bool = True
    created_at: datetime = _ts()


class Decision(SQLModel, table=True):
    """A reviewer's (or the auto-approval policy's) final answer and verdict."""

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    reviewer_id: int | None = Field(default=None, foreign_key="user.id")
    """None when the policy decided."""
    verdict: Verdict = _enum(Verdict)
    answer: Any = _json()
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = _ts()


class Release(SQLModel, table=True):
    """A published version (the files in the registry are the truth; this is the index)."""

    __table_args__ = (UniqueConstraint("benchmark_id", "version", name="uq_release_version"),)

    id: int | None = Field(default=None, primary_key=True)
    benchmark_id: int = Field(foreign_key="benchmark.id", index=True)
    version: str = Field(max_length=64)
    parent: str | None = Field(default=None, max_length=64)
    content_hash: str = Field(max_length=64)
    registry_url: str
    created_by: str = ""
    created_at: datetime = _ts()
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    yanked: bool = False
    yank_reason: str | None = None
    manifest: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ReleaseItem(SQLModel, table=True):
    """Which exact item revision a release holds, in which split, with which answer."""

    release_id: int = Field(foreign_key="release.id", primary_key=True)
    item_id: int = Field(foreign_key="item.id", primary_key=True)
    revision: int
    split: str = Field(max_length=32)
    answer: Any = _json()


class AuditEvent(SQLModel, table=True):
    """Append-only log: who did what, when, with before/after."""

    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts()
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64, index=True)
    entity: str = Field(max_length=32)
    entity_id: str = Field(max_length=128)
    benchmark_id: int | None = Field(default=None, foreign_key="benchmark.id")
    before: Any = _json()
    after: Any = _json()


class Evaluation(SQLModel, table=True):
    """A model's scores on one release version."""

    id: int | None = Field(default=None, primary_key=True)
    benchmark: str = Field(max_length=64, index=True)
    version: str = Field(max_length=64)
    model: str = Field(max_length=256)
    split: str = Field(default="test", max_length=32)
    """Release split the predictions were scored on."""
    predictions_sha256: str = Field(default="", max_length=64)
    """sha256 of the predictions file, so a result can be traced to its input."""
    created_at: datetime = _ts()
    created_by: str = ""
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
