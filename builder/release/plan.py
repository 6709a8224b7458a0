"""Plan a release: which items, which splits, which version, what changed since the parent.

:func:`plan_release` reads the approved items, gives each its split (pinned to its split
in earlier releases, else a hash of its id), diffs them against the newest published
version and picks the version (the suggested semver bump unless told otherwise). It
publishes nothing; ``builder.release.snapshot`` publishes a plan, and the Releases page
previews one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.conversation import redact_turns
from builder.errors import ReleaseError
from builder.hashing import canonical_json
from builder.release.columns import slice_columns, with_answer_index
from builder.release.diff import ReleaseDiff, diff_rows, suggest_bump
from builder.release.extractive import extractive_gold
from builder.release.manifest import (
    AgreementSummary,
    Bump,
    answer_field_for,
    bump_level,
    bump_version,
    parse_version,
    version_key,
)
from builder.release.pull import pull_release, read_rows
from builder.release.registry import Registry
from builder.release.reindex import find_unrecorded, unrecorded_error
from builder.release.splits import HOLDOUT_SPLIT, assign_splits
from builder.release.summary import agreement_summary
from builder.spec import BenchmarkSpec
from builder.store.annotations import releasable_answers
from builder.store.items import ApprovedItem, approved_items
from builder.store.pool import ingest_sources, pool_size
from builder.store.releases import get_release, pinned_splits, release_items, releases
from builder.store.runs import latest_run
from builder.workspace import Workspace

__all__ = ["RESERVED_COLUMNS", "ReleasePlan", "plan_release"]

_RANK = {"patch": 0, "minor": 1, "major": 2}
RESERVED_COLUMNS = (
    "id",
    "label",
    "labels",
    "answer",
    "answer_index",
    "cluster",
    "stratum",
    "weight",
    "split",
)
"""Release columns an input field may not be named after."""


@dataclass
class ReleasePlan:
    """What :func:`publish_release` would publish (also the app's preview)."""

    benchmark: str
    benchmark_id: int
    spec: BenchmarkSpec
    version: str
    parent: str | None
    latest: str | None
    suggested_bump: Bump | None
    bump: Bump | None
    diff: ReleaseDiff | None
    private_changes: dict[str, int]
    rows: dict[str, list[dict[str, Any]]]
    """split → rows (public splits in spec order, then the holdout)."""
    items: list[tuple[int, int, str, Any]]
    """(item id, revision, split, answer) for ReleaseItem."""
    agreement: AgreementSummary
    sampling: dict[str, Any]
    embedder: str | None
    notes: str
    registry: str
    warnings: list[str] = field(default_factory=list)

    @property
    def public_splits(self) -> list[str]:
        """Splits published in the public registry."""
        return [s for s in self.rows if s != HOLDOUT_SPLIT]

    @property
    def holdout(self) -> list[dict[str, Any]]:
        """Rows of the private holdout."""
        return self.rows.get(HOLDOUT_SPLIT, [])

    def summary(self) -> dict[str, Any]:
        """JSON-ready preview."""
        return {
            "benchmark": self.benchmark,
            "version": self.version,
            "parent": self.parent,
            "suggested_bump": self.suggested_bump,
            "bump": self.bump,
            "splits": {s: len(self.rows[s]) for s in self.public_splits},
            "holdout": len(self.holdout),
            "changes": None if self.diff is None else self.diff.counts(),
            "private_changes": self.private_changes,
            "agreement": self.agreement.model_dump(),
            "registry": self.registry,
            "warnings": self.warnings,
        }


def _answer(kind: str, labels: frozenset[str], item: ApprovedItem) -> Any:
    a = item.answer
    where = f"approved item {item.source_id!r} (item #{item.item_id})"
    fix = "fix its answer in the review app (Adjudicate) or send it back, then release again"
    if kind in ("classification", "multiple_choice"):
        if not isinstance(a, str) or a not in labels:
            raise ReleaseError(
                f"{where} has answer {a!r}, which is not one of the task's labels; {fix}"
            )
        return a
    if kind == "multilabel":
        if not isinstance(a, list) or any(not isinstance(x, str) or x not in labels for x in a):
            raise ReleaseError(
                f"{where} has answer {a!r}; a multilabel answer is a list of the task's labels; {fix}"
            )
        return sorted(set(a))
    if not isinstance(a, str) or not a.strip():
        raise ReleaseError(f"{where} has answer {a!r}; a reference answer is non-empty text; {fix}")
    return a


def _row(
    fields: list[str], text_field: str, answer_field: str, item: ApprovedItem, answer: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {"id": item.source_id}
    for f in fields:
        value = item.data.get(f)
        if f == text_field and item.text is not None:
            # The redacted text replaces the record's; a conversation is redacted turn by turn.
            value = redact_turns(value) if isinstance(value, list) else item.text
        row[f] = value
    row[answer_field] = answer
    row["cluster"], row["stratum"], row["weight"] = item.cluster, item.stratum, item.weight
    return row


def _sampling(
    ws: Workspace, bench_id: int, items: list[ApprovedItem]
) -> tuple[dict[str, Any], str | None]:
    with ws.db.session() as s:
        pool = pool_size(s, bench_id)
        run = latest_run(s, bench_id)
        sources = [Path(x).name for x in ingest_sources(s, bench_id)]
    strata = Counter(i.stratum for i in items if i.stratum is not None)
    out: dict[str, Any] = {
        "pool_size": pool,
        "items": len(items),
        "coverage": len(items) / pool if pool else 0.0,
        "weight_sum": float(sum(i.weight for i in items)),
        "clusters": len({i.cluster for i in items if i.cluster is not None}),
        "strata": dict(sorted(strata.items())),
        "sources": sources,
        "curation_run": None,
    }
    if run is not None:
        out["curation_run"] = {
            "id": run.id,
            "created_at": run.created_at.isoformat(),
            "embedder": run.embedder,
            "seed": run.seed,
        }
        report = run.report if isinstance(run.report, dict) else {}
        # The threshold the run used (an unset spec value means the embedder's default).
        if isinstance(report.get("near_duplicate_threshold"), int | float):
            out["curation_run"]["near_duplicate_threshold"] = report["near_duplicate_threshold"]
        method = report.get("method")
        if isinstance(method, str):
            out["method"] = method
    return out, (run.embedder if run is not None and run.embedder else None)


def _private_changes(
    ws: Workspace, bench_id: int, parent: str | None, holdout: list[tuple[int, int, str, Any]]
) -> dict[str, int]:
    """Changes of the holdout against the parent release, from the database (never listed)."""
    if parent is None:
        return {}
    with ws.db.session() as s:
        rel = get_release(s, bench_id, parent)
        if rel is None or rel.id is None:
            return {}
        before = {i: (r, a) for i, r, sp, a in release_items(s, rel.id) if sp == HOLDOUT_SPLIT}
    after = {i: (r, a) for i, r, _, a in holdout}
    common = set(before) & set(after)
    return {
        "added": len(set(after) - set(before)),
        "removed": len(set(before) - set(after)),
        "relabeled": sum(
            canonical_json(before[i][1]) != canonical_json(after[i][1]) for i in common
        ),
        "revised": sum(before[i][0] != after[i][0] for i in common),
    }


def _choose_version(
    name: str,
    latest: str | None,
    taken: set[str],
    suggested: Bump | None,
    version: str | None,
    bump: Bump | None,
    diff: ReleaseDiff | None,
) -> tuple[str, Bump | None]:
    if version and bump:
        raise ReleaseError("give --version or --bump, not both")
    if version:
        parse_version(version)
        if version in taken:
            raise ReleaseError(
                f"release {name}@{version} already exists; releases are immutable — publish a new "
                f"version (suggested: {bump_version(latest, suggested or 'patch')})"
            )
        chosen = bump_level(latest, version) if latest else None
        if latest and chosen is None:
            raise ReleaseError(
                f"version {version} is not above the latest release {latest}; use --version "
                f"{bump_version(latest, suggested or 'patch')} or --bump {suggested or 'patch'}"
            )
    else:
        chosen = bump or suggested
        version = bump_version(latest, chosen or "major")
    if suggested and chosen and _RANK[chosen] < _RANK[suggested] and diff is not None:
        c = {k: v for k, v in diff.counts().items() if v and k != "unchanged"}
        raise ReleaseError(
            f"the changes since {latest} ({c or 'in the private holdout'}) need a {suggested} bump; "
            f"a {chosen} release ({version}) would hide them — use --bump {suggested} "
            f"or --version {bump_version(latest, suggested)}"
        )
    return version, chosen


def plan_release(
    ws: Workspace,
    *,
    benchmark: str | None = None,
    version: str | None = None,
    bump: Bump | None = None,
    notes: str = "",
    registry: str | None = None,
) -> ReleasePlan:
    """Everything a release of the approved items would hold; publishes nothing."""
    bench, spec = ws.benchmark(benchmark)
    assert bench.id is not None
    clash = sorted(set(spec.task.input_fields + slice_columns(spec)) & set(RESERVED_COLUMNS))
    if clash:
        raise ReleaseError(
            f"input field(s) {clash} collide with release columns {list(RESERVED_COLUMNS)}; rename the "
            "field in the source mapping (task.input_fields) before releasing"
        )
    with ws.db.session() as s:
        items = approved_items(s, bench.id, text_field=spec.source.text_field)
        pins = pinned_splits(s, bench.id)
        annotations = releasable_answers(
            s, benchmark_id=bench.id, item_ids=[i.item_id for i in items]
        )
        db_versions = {r.version for r in releases(s, bench.id)}
    if not items:
        raise ReleaseError(
            f"benchmark {bench.name!r} has no approved items; approve items in the review app "
            "or import annotations (`benchsmith annotations import`) before releasing"
        )
    kind, labels = spec.task.type.value, frozenset(spec.task.labels)
    answers = {
        i.item_id: extractive_gold(i.source_id, i.item_id, i.answer)
        if spec.task.context_field
        else _answer(kind, labels, i)
        for i in items
    }
    by_sid = {i.source_id: i for i in items}
    splits = assign_splits(
        bench.name,
        list(by_sid),
        spec.release.splits,
        spec.release.private_holdout,
        pinned={i.source_id: pins[i.item_id] for i in items if i.item_id in pins},
    )
    fields = [*spec.task.input_fields, *slice_columns(spec)]
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in spec.release.splits}
    for sid, item in by_sid.items():
        rows.setdefault(splits[sid], []).append(
            with_answer_index(
                spec,
                _row(
                    fields,
                    spec.source.text_field,
                    answer_field_for(spec.task),
                    item,
                    answers[item.item_id],
                ),
            )
        )
    # A split the spec no longer names stays while pinned items still live in it.
    rows = {k: v for k, v in rows.items() if k in spec.release.splits or v}
    item_rows = [(i.item_id, i.revision, splits[i.source_id], answers[i.item_id]) for i in items]

    reg = Registry(registry or ws.settings.registry)
    published = reg.versions(bench.name)
    missing = sorted(db_versions - set(published), key=version_key)
    if missing:
        raise ReleaseError(
            f"this workspace published {bench.name} {', '.join(missing)}, which the registry "
            f"{reg.url} does not hold; release to the registry that does (--registry URL)"
        )
    unrecorded = find_unrecorded(published, db_versions)
    if unrecorded:
        # Published but never recorded (a crash between the move and the commit): never
        # publish the next version silently on top; `releases reindex` adopts it.
        raise unrecorded_error(bench.name, unrecorded, reg.url)
    latest = published[-1] if published else None
    diff = None
    if latest is not None:
        # As this workspace published it: same content hash, signed by its key (or trusted).
        prev = pull_release(
            bench.name,
            latest,
            registry=reg,
            cache_dir=ws.settings.cache_dir,
            warn_yanked=False,
            workspace=ws,
        )
        public = [
            r
            for s, rs in rows.items()
            if s != HOLDOUT_SPLIT
            for r in ({**x, "split": s} for x in rs)
        ]
        diff = diff_rows(
            read_rows(prev.path, prev.manifest),
            public,
            answer_field=answer_field_for(spec.task),
            input_fields=list(
                dict.fromkeys([*prev.manifest.input_fields, *spec.task.input_fields])
            ),
            old_version=latest,
        )
    private = _private_changes(
        ws, bench.id, latest, [r for r in item_rows if r[2] == HOLDOUT_SPLIT]
    )
    suggested = suggest_bump(diff, private_changes=private)
    chosen_version, chosen = _choose_version(
        bench.name, latest, set(published) | db_versions, suggested, version, bump, diff
    )
    if diff is not None:
        diff.new = chosen_version
    sampling, embedder = _sampling(ws, bench.id, items)
    plan = ReleasePlan(
        benchmark=bench.name,
        benchmark_id=bench.id,
        spec=spec,
        version=chosen_version,
        parent=latest,
        latest=latest,
        suggested_bump=suggested,
        bump=chosen,
        diff=diff,
        private_changes=private,
        rows=rows,
        items=item_rows,
        agreement=agreement_summary(
            "extractive" if spec.task.context_field else spec.task.type.value,
            annotations,
            spec.task.labels,
        ),
        sampling=sampling,
        embedder=embedder or spec.curation.embedder,
        notes=notes,
        registry=reg.url,
    )
    if diff is not None and diff.is_empty and not any(private.values()):
        plan.warnings.append(
            f"no item changed since {latest}; this release only updates the card and notes"
        )
    return plan
