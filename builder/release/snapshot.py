"""Freeze approved items into an immutable, checksummed release and publish it.

:func:`publish_release` takes a plan (``builder.release.plan``) and writes Parquet and
JSONL per split, the dataset card, the changelog, the signature (``signature.json``, made with
the workspace's signing key, created on the first release; see ``builder.release.signing``)
and — last — the manifest into a staging folder, records the release in the
database, then moves the private holdout into the private registry and the release into
the public one, and only then commits. Any failure before the final move leaves no
visible version and no database row; a retry starts clean.

Who may publish: only a lead. The acting user is passed in (the CLI acts as
``BENCHSMITH_USER`` or the OS login name). A workspace with no users at all is a
one-person workspace and its operator may publish; once any user exists, the actor must
be an enabled user with role ``lead``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy.exc

from builder.domain import Role
from builder.errors import NotFoundError, PermissionDenied, ReleaseError
from builder.media import media_root
from builder.release.card import CardInfo, render_card
from builder.release.diff import changelog
from builder.release.files import arrow_schema, write_split
from builder.release.manifest import (
    MANIFEST_NAME,
    Bump,
    FileEntry,
    HoldoutRef,
    Manifest,
    SplitSummary,
    answer_field_for,
)
from builder.release.plan import ReleasePlan, plan_release
from builder.release.refs import check_name, check_version
from builder.release.registry import Registry, YankInfo
from builder.release.signing import SIGNATURE_NAME, SigningKey, ensure_signing_key
from builder.release.splits import HOLDOUT_SPLIT
from builder.release.summary import label_counts
from builder.store.audit import log_event
from builder.store.models import utcnow
from builder.store.releases import get_release, insert_release, mark_released, set_yanked
from builder.store.users import count_users, get_user
from builder.workspace import Workspace

__all__ = [
    "STAGES",
    "ReleasePlan",
    "ReleaseResult",
    "plan_release",
    "publish_release",
    "require_lead",
    "yank_release",
]

STAGES = ("files", "card", "manifest", "recorded", "private", "published")
"""Points :func:`publish_release` reports to its ``on_stage`` hook, in order."""


def require_lead(ws: Workspace, actor: str) -> None:
    """Refuse unless ``actor`` may publish (see the module docstring for the rule)."""
    with ws.db.session() as s:
        if count_users(s) == 0:
            return
        user = get_user(s, actor)
    fix = "act as a lead with BENCHSMITH_USER=NAME, or ask a lead to do it"
    if user is None:
        raise PermissionDenied(
            f"user {actor!r} is not in this workspace; only a lead may publish or yank a release; {fix}"
        )
    if user.disabled:
        raise PermissionDenied(
            f"user {actor!r} is disabled; only an enabled lead may publish or yank a release; {fix}"
        )
    if user.role != Role.lead:
        raise PermissionDenied(
            f"user {actor!r} has role {str(user.role)!r}; only a lead may publish or yank a release; {fix}"
        )


@dataclass(frozen=True)
class ReleaseResult:
    """A published release."""

    name: str
    version: str
    parent: str | None
    bump: Bump | None
    content_hash: str
    url: str
    splits: dict[str, int]
    holdout: int
    private_url: str | None
    changes: dict[str, int] | None
    released_items: int
    signed_by: str
    """Fingerprint of the workspace key that signed the release (``benchsmith keys public``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``release --json``)."""
        return dict(self.__dict__)


# ---------------------------------------------------------------------------- publishing


def _manifest(
    plan: ReleasePlan,
    *,
    visibility: str,
    splits: list[str],
    files: list[FileEntry],
    created_at: Any,
    actor: str,
    holdout: HoldoutRef | None,
) -> Manifest:
    spec, kind = plan.spec, plan.spec.task.type.value
    summaries = {
        s: SplitSummary(
            count=len(plan.rows[s]),
            labels=label_counts(kind, (r[answer_field_for(spec.task)] for r in plan.rows[s])),
        )
        for s in splits
    }
    totals = label_counts(
        kind, (r[answer_field_for(spec.task)] for s in splits for r in plan.rows[s])
    )
    return Manifest.build(
        name=plan.benchmark,
        version=plan.version,
        parent=plan.parent,
        visibility=visibility,
        created_at=created_at,
        created_by=actor,
        title=spec.title,
        description=spec.description,
        task_type=kind,
        input_fields=list(spec.task.input_fields),
        answer_field=answer_field_for(spec.task),
        labels=list(spec.task.labels),
        spec_hash=spec.spec_hash(),
        spec=spec.model_dump(mode="json"),
        license=spec.release.license,
        notes=plan.notes,
        splits=summaries,
        counts={**totals, "_total": sum(x.count for x in summaries.values())},
        agreement=plan.agreement,
        embedder=plan.embedder,
        sampling=plan.sampling,
        holdout=holdout,
        files=sorted(files, key=lambda f: f.path),
    )


def publish_release(
    ws: Workspace,
    *,
    actor: str,
    benchmark: str | None = None,
    version: str | None = None,
    bump: Bump | None = None,
    notes: str = "",
    registry: str | None = None,
    private_registry: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ReleaseResult:
    """Build and publish a release of the approved items (leads only; see the module doc).

    ``on_stage`` is called with each name in :data:`STAGES` as the publish passes it.
    """
    require_lead(ws, actor)
    plan = plan_release(
        ws, benchmark=benchmark, version=version, bump=bump, notes=notes, registry=registry
    )
    hook = on_stage or (lambda _stage: None)
    key = ensure_signing_key(ws.settings.keys_dir)
    reg = Registry(plan.registry)
    priv = Registry(private_registry or ws.settings.private_registry)
    if plan.holdout and _same_place(reg, priv):
        raise ReleaseError(
            f"the private registry {priv.url} is the public one; the holdout must never be public — "
            "set --private-registry / BENCHSMITH_PRIVATE_REGISTRY to another location"
        )
    name, created_at = plan.benchmark, utcnow()
    with contextlib.ExitStack() as stack:
        schema = arrow_schema(
            plan.spec,
            [r for rs in plan.rows.values() for r in rs],
            media=media_root(ws.settings.home),
        )
        stage = stack.enter_context(reg.staging(name, plan.version))
        files = [f for s in plan.public_splits for f in write_split(stage, s, plan.rows[s], schema)]
        hook("files")
        holdout_ref, pstage = None, None
        if plan.holdout:
            pstage = stack.enter_context(priv.staging(name, plan.version))
            pfiles = write_split(pstage, HOLDOUT_SPLIT, plan.holdout, schema)
            pm = _manifest(
                plan,
                visibility="private",
                splits=[HOLDOUT_SPLIT],
                files=pfiles,
                created_at=created_at,
                actor=actor,
                holdout=None,
            )
            _commit_manifest(pstage, pm, key)
            holdout_ref = HoldoutRef(
                split=HOLDOUT_SPLIT, count=len(plan.holdout), content_hash=pm.content_hash
            )
        public_manifest = functools.partial(
            _manifest,
            plan,
            visibility="public",
            splits=plan.public_splits,
            created_at=created_at,
            actor=actor,
            holdout=holdout_ref,
        )
        draft = public_manifest(files=files)
        card = render_card(
            CardInfo(
                name=name,
                version=plan.version,
                parent=plan.parent,
                spec=plan.spec,
                splits=draft.splits,
                agreement=plan.agreement,
                created_at=created_at,
                created_by=actor,
                # datasets cannot read an empty Parquet split; its files stay (and are verified).
                data_files={s: f"data/{s}.parquet" for s in plan.public_splits if plan.rows[s]},
                sampling=plan.sampling,
                embedder=plan.embedder,
                notes=plan.notes,
                holdout_count=len(plan.holdout),
                changes=None if plan.diff is None else plan.diff.counts(),
            )
        )
        log = changelog(
            plan.diff,
            name=name,
            version=plan.version,
            splits={s: len(plan.rows[s]) for s in plan.public_splits},
            notes=plan.notes,
            bump=plan.bump,
            private_changes=plan.private_changes,
        )
        files += [_text_file(stage, "README.md", card), _text_file(stage, "CHANGELOG.md", log)]
        hook("card")
        manifest = public_manifest(files=files)
        # The manifest is the commit point: written last, after every file it lists.
        _commit_manifest(stage, manifest, key)
        hook("manifest")
        with ws.db.session() as s:
            try:
                release_id = insert_release(
                    s,
                    benchmark_id=plan.benchmark_id,
                    version=plan.version,
                    parent=plan.parent,
                    content_hash=manifest.content_hash,
                    registry_url=reg.url,
                    created_by=actor,
                    notes=plan.notes,
                    manifest=manifest.model_dump(mode="json"),
                    items=plan.items,
                )
            except sqlalchemy.exc.IntegrityError:
                raise ReleaseError(
                    f"release {name}@{plan.version} was just published by someone else; release again to get the next version"
                ) from None
            released = mark_released(s, release_id)
            log_event(
                s,
                actor=actor,
                action="release.publish",
                entity="release",
                entity_id=f"{name}@{plan.version}",
                benchmark_id=plan.benchmark_id,
                after={
                    "version": plan.version,
                    "parent": plan.parent,
                    "bump": plan.bump,
                    "content_hash": manifest.content_hash,
                    "splits": {k: v.count for k, v in manifest.splits.items()},
                    "holdout": len(plan.holdout),
                    "changes": None if plan.diff is None else plan.diff.counts(),
                    "signed_by": key.fingerprint,
                },
            )
            s.flush()
            hook("recorded")
            if pstage is not None:
                if reg.exists(name, plan.version):
                    raise ReleaseError(
                        f"release {name}@{plan.version} already exists in {reg.url}; publish a new version"
                    )
                # An earlier attempt may have left an orphaned private half; its public half never appeared.
                priv.publish(pstage, name, plan.version, replace=True)
            try:
                hook("private")
                reg.publish(stage, name, plan.version)
            except BaseException:
                if pstage is not None and not reg.exists(name, plan.version):
                    # Best effort: a holdout whose release never appeared is not a release.
                    priv.remove(name, plan.version)
                raise
            hook("published")
    return ReleaseResult(
        name=name,
        version=plan.version,
        parent=plan.parent,
        bump=plan.bump,
        content_hash=manifest.content_hash,
        url=reg.path(name, plan.version),
        splits={k: v.count for k, v in manifest.splits.items()},
        holdout=len(plan.holdout),
        private_url=priv.path(name, plan.version) if plan.holdout else None,
        changes=None if plan.diff is None else plan.diff.counts(),
        released_items=released,
        signed_by=key.fingerprint,
    )


def _same_place(a: Registry, b: Registry) -> bool:
    if a.is_local and b.is_local:
        return Path(a.root).resolve() == Path(b.root).resolve()
    return type(a.fs) is type(b.fs) and a.root.rstrip("/") == b.root.rstrip("/")


def _commit_manifest(stage: Path, manifest: Manifest, key: SigningKey) -> None:
    """Sign the manifest's exact bytes, then write the signature and — last — the manifest."""
    data = manifest.to_json().encode("utf-8")
    (stage / SIGNATURE_NAME).write_bytes(key.sign_manifest(data))
    (stage / MANIFEST_NAME).write_bytes(data)


def _text_file(stage: Path, rel: str, text: str) -> FileEntry:
    import hashlib

    data = text.encode("utf-8")
    (stage / rel).write_bytes(data)
    return FileEntry(
        path=rel, sha256=hashlib.sha256(data).hexdigest(), size=len(data), format="markdown"
    )


def yank_release(
    ws: Workspace, name: str, version: str, *, reason: str, actor: str, registry: str | None = None
) -> YankInfo:
    """Yank ``name@version`` (leads only): it stays readable, pulls warn, ``latest`` skips it."""
    check_name(name, where="yank")
    check_version(version, where="yank")
    require_lead(ws, actor)
    reg = Registry(registry or ws.settings.registry)
    try:
        bench_id = ws.benchmark(name)[0].id
    except NotFoundError:
        bench_id = None  # released from another workspace: yank in the registry only
    info = reg.yank(name, version, reason=reason, by=actor)
    with ws.db.session() as s:
        rel = get_release(s, bench_id, version) if bench_id is not None else None
        if rel is not None and rel.id is not None:
            set_yanked(s, rel.id, info.reason)
        log_event(
            s,
            actor=actor,
            action="release.yank",
            entity="release",
            entity_id=f"{name}@{version}",
            benchmark_id=bench_id,
            after=dict(info.__dict__),
        )
    return info
