"""Adopt versions the registry holds but the workspace database does not (``releases reindex``).

:func:`~builder.release.snapshot.publish_release` moves a release into the registry and
then commits its database row. A crash (or a lost database connection) between the two
leaves a published version the workspace does not know; the next release refuses to
publish on top of it (``builder.release.plan``) and says to run this.

:func:`find_unrecorded` lists such versions; :func:`reindex_releases` adopts them, oldest
first, only after checking that each one is this workspace's own:

* every file verifies against the manifest (and the manifest against its content hash);
* it was built from this benchmark's spec (same spec hash);
* it continues this workspace's history (its parent is the newest recorded version);
* it is signed with this workspace's key (``builder.release.signing``);
* its private holdout half, if any, is in the private registry with the hash the public
  manifest names;
* every row is an approved (or released) item of this benchmark with the same answer.

Adopting records the release and its items, marks the items released and logs
``release.adopt``; a version that fails a check is never adopted, and the error says why
and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from builder.errors import ReleaseError, TrustError
from builder.hashing import canonical_json
from builder.release.manifest import Manifest, answer_field_for, version_key
from builder.release.registry import Registry
from builder.release.splits import HOLDOUT_SPLIT
from builder.spec import BenchmarkSpec
from builder.workspace import Workspace

__all__ = ["ReindexReport", "find_unrecorded", "reindex_releases"]

REINDEX_COMMAND = "benchsmith releases reindex"


@dataclass
class ReindexReport:
    """What a reindex found and adopted."""

    benchmark: str
    registry: str
    adopted: list[str] = field(default_factory=list)
    """Versions recorded by this run, oldest first."""
    recorded: list[str] = field(default_factory=list)
    """Versions the database already knew."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``releases reindex --json``)."""
        return dict(self.__dict__)


def _spec_hash_of(manifest: Manifest) -> str:
    """The hash the manifest's spec has today.

    The manifest's recorded ``spec_hash`` was computed by the benchsmith that built it, over
    the spec fields of its day; read through today's model (which fills newer fields with
    their defaults), the same spec hashes as the workspace's. A spec today's model refuses
    keeps its recorded hash, which then cannot match.
    """
    try:
        return BenchmarkSpec.model_validate(manifest.spec).spec_hash()
    except ValidationError:
        return manifest.spec_hash


def find_unrecorded(published: list[str], recorded: set[str]) -> list[str]:
    """Published versions with no database row, oldest first."""
    return sorted(set(published) - recorded, key=version_key)


def unrecorded_error(name: str, versions: list[str], url: str) -> ReleaseError:
    """The refusal a release gives while the registry holds versions the workspace lacks."""
    listed = ", ".join(f"{name}@{v}" for v in versions)
    return ReleaseError(
        f"the registry {url} holds {listed}, which this workspace has no record of (a release "
        "interrupted after it was published and before it was recorded, or another "
        "workspace's release); no new version is published on top of it — run "
        f"`{REINDEX_COMMAND}` to verify it and adopt it if it is this workspace's, or "
        "release to a registry of your own with --registry URL if it is not"
    )


def _normal_answer(kind: str, answer: Any) -> bytes:
    if kind == "multilabel" and isinstance(answer, list | tuple):
        answer = sorted(set(answer))
    return canonical_json(answer)


def _rows(reg: Registry, manifest: Manifest) -> list[tuple[str, dict[str, Any]]]:
    """(split, row) of every data row of a verified release, read from the registry."""
    import pyarrow.parquet as pq

    out: list[tuple[str, dict[str, Any]]] = []
    for split in manifest.splits:
        with reg.open(manifest.name, manifest.version, manifest.data_file(split).path) as f:
            out += [(split, row) for row in pq.read_table(f).to_pylist()]
    return out


def _not_ours(name: str, version: str, url: str, why: str) -> ReleaseError:
    return ReleaseError(
        f"{name}@{version} in {url} cannot be adopted: {why}; it is not this workspace's "
        "release as recorded here — if it is another workspace's, release this benchmark to "
        "a registry of your own (--registry URL); if it is a leftover nobody uses, ask the "
        "registry's owner to move its folder away (benchsmith never deletes a published "
        "version), then release again"
    )


def _check_signature(ws: Workspace, reg: Registry, manifest_bytes: bytes, ref: str) -> str:
    """Fingerprint of this workspace's key, which must have signed the release."""
    from builder.release.signing import SIGNATURE_NAME, check_signature, workspace_public_key

    name, version = ref.split("@")
    key = workspace_public_key(ws.settings.keys_dir)
    if key is None:
        raise _not_ours(
            name,
            version,
            reg.url,
            f"this workspace has no signing key ({ws.settings.keys_dir}), so it signed nothing",
        )
    try:
        signature: bytes | None = reg.read_bytes(name, version, SIGNATURE_NAME)
    except FileNotFoundError:
        signature = None
    try:
        check_signature(manifest_bytes, signature, [key], where=f"{ref} in {reg.url}")
    except TrustError as e:
        raise _not_ours(
            name, version, reg.url, f"its signature is not this workspace's ({e})"
        ) from None
    return key.fingerprint


def reindex_releases(
    ws: Workspace,
    *,
    actor: str,
    benchmark: str | None = None,
    registry: str | None = None,
    private_registry: str | None = None,
) -> ReindexReport:
    """Verify and adopt every version of the benchmark the database lacks (leads only)."""
    from builder.release.snapshot import require_lead
    from builder.store.audit import log_event
    from builder.store.items import approved_items
    from builder.store.releases import insert_release, mark_released, releases, set_yanked

    require_lead(ws, actor)
    bench, spec = ws.benchmark(benchmark)
    assert bench.id is not None
    name, kind = bench.name, spec.task.type.value
    reg = Registry(registry or ws.settings.registry)
    priv = Registry(private_registry or ws.settings.private_registry)
    with ws.db.session() as s:
        known = [r.version for r in releases(s, bench.id)]
    published = reg.versions(name)
    report = ReindexReport(name, reg.url, recorded=sorted(known, key=version_key))
    for version in find_unrecorded(published, set(known)):
        ref = f"{name}@{version}"
        manifest, raw = reg.manifest_with_bytes(name, version)
        reg.verify(name, version)
        if manifest.visibility != "public":
            raise _not_ours(name, version, reg.url, "its manifest is a private half")
        if _spec_hash_of(manifest) != spec.spec_hash():
            raise _not_ours(
                name,
                version,
                reg.url,
                f"it was built from another spec (spec hash {manifest.spec_hash[:16]}…, this "
                f"benchmark's is {spec.spec_hash()[:16]}…)",
            )
        newest = max(known, key=version_key) if known else None
        if manifest.parent != newest or (newest and version_key(version) <= version_key(newest)):
            raise _not_ours(
                name,
                version,
                reg.url,
                f"its parent is {manifest.parent or 'none'} but this workspace's newest "
                f"release is {newest or 'none'}",
            )
        signer = _check_signature(ws, reg, raw, ref)
        rows = _rows(reg, manifest)
        if manifest.holdout is not None:
            if not priv.exists(name, version):
                raise _not_ours(
                    name,
                    version,
                    reg.url,
                    f"its private holdout half is not in the private registry {priv.url} "
                    "(pass --private-registry URL if it is elsewhere)",
                )
            pm = priv.read_manifest(name, version)
            if pm.content_hash != manifest.holdout.content_hash:
                raise _not_ours(
                    name,
                    version,
                    reg.url,
                    f"the private registry's {ref} (content hash {pm.content_hash[:16]}…) is "
                    f"not the holdout it names ({manifest.holdout.content_hash[:16]}…)",
                )
            priv.verify(name, version)
            rows += [(HOLDOUT_SPLIT, r) for _, r in _rows(priv, pm)]
        answer_field = answer_field_for(spec.task)
        with ws.db.session() as s:
            items = {
                i.source_id: i
                for i in approved_items(s, bench.id, text_field=spec.source.text_field)
            }
            held: list[tuple[int, int, str, Any]] = []
            for split, row in rows:
                item = items.get(str(row.get("id")))
                if item is None:
                    raise _not_ours(
                        name,
                        version,
                        reg.url,
                        f"its item {row.get('id')!r} is not an approved item of {name} here",
                    )
                answer = row.get(answer_field)
                if _normal_answer(kind, item.answer) != _normal_answer(kind, answer):
                    raise _not_ours(
                        name,
                        version,
                        reg.url,
                        f"its item {item.source_id!r} has answer {answer!r} but the approved "
                        f"answer here is {item.answer!r} (changed since?)",
                    )
                held.append((item.item_id, item.revision, split, answer))
            if len({h[0] for h in held}) != len(held):
                raise _not_ours(name, version, reg.url, "it lists an item twice")
            release_id = insert_release(
                s,
                benchmark_id=bench.id,
                version=version,
                parent=manifest.parent,
                content_hash=manifest.content_hash,
                registry_url=reg.url,
                created_by=manifest.created_by,
                notes=manifest.notes,
                manifest=manifest.model_dump(mode="json"),
                items=held,
                created_at=manifest.created_at,
            )
            mark_released(s, release_id)
            yanked = reg.yank_info(name, version)
            if yanked is not None:
                set_yanked(s, release_id, yanked.reason)
            log_event(
                s,
                actor=actor,
                action="release.adopt",
                entity="release",
                entity_id=ref,
                benchmark_id=bench.id,
                after={
                    "version": version,
                    "parent": manifest.parent,
                    "content_hash": manifest.content_hash,
                    "items": len(held),
                    "signed_by": signer,
                },
            )
        known.append(version)
        report.adopted.append(version)
    return report
