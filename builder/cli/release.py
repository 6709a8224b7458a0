"""``benchsmith release``, ``pull``, ``diff``: publish a version, fetch one, compare two.

The acting user (``release`` is for leads only) is ``BENCHSMITH_USER``, else the OS login
name; see ``builder.review.operator``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from builder.cli._common import (
    BenchmarkOpt,
    JsonOpt,
    PrivateRegistryOpt,
    RegistryOpt,
    TrustOpt,
    WorkspaceOpt,
    acting,
    errors,
    fail,
    open_workspace,
    own_workspace,
    print_json,
    settings_for,
    trusted_keys,
    visible,
    warnings_to_stderr,
)

if TYPE_CHECKING:
    from builder.release.manifest import Bump

__all__ = ["app"]

app = typer.Typer()


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


@app.command("release")
def release(
    version: Annotated[
        str | None, typer.Option("--version", help="Exact version X.Y.Z (above the latest).")
    ] = None,
    bump: Annotated[
        str | None, typer.Option("--bump", help="major|minor|patch (default: the suggested bump).")
    ] = None,
    notes: Annotated[
        str, typer.Option("--notes", help="Release notes for the card and changelog.")
    ] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the version, bump and diff; publish nothing.")
    ] = False,
    registry: RegistryOpt = None,
    private_registry: PrivateRegistryOpt = None,
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Freeze the approved items into a new immutable release (leads only)."""
    from builder.release.snapshot import plan_release, publish_release

    if bump is not None and bump not in ("major", "minor", "patch"):
        fail(f"--bump {bump!r} is not one of major, minor, patch")
    level = cast("Bump | None", bump)
    with errors():
        ws = open_workspace(
            workspace, benchmark, registry=registry, private_registry=private_registry
        )
        if dry_run:
            plan = plan_release(ws, version=version, bump=level, notes=notes)
            summary = plan.summary()
        else:
            actor = acting(ws, "release")
            result = publish_release(ws, actor=actor.name, version=version, bump=level, notes=notes)
    if dry_run:
        if as_json:
            print_json(summary)
            return
        typer.echo(
            f"would publish {summary['benchmark']}@{summary['version']}"
            + (
                f" ({summary['bump']} bump from {summary['parent']}; suggested {summary['suggested_bump']})"
                if summary["parent"]
                else " (first release)"
            )
        )
        typer.echo(
            "splits: "
            + ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
            + (f"; private holdout {summary['holdout']}" if summary["holdout"] else "")
        )
        if summary["changes"]:
            typer.echo("changes: " + ", ".join(f"{k} {v}" for k, v in summary["changes"].items()))
        for w in summary["warnings"]:
            typer.echo(f"Warning: {w}", err=True)
        return
    if as_json:
        print_json(result.to_dict())
        return
    typer.echo(f"published {result.name}@{result.version} → {result.url}")
    typer.echo(
        "splits: "
        + ", ".join(f"{k} {v}" for k, v in result.splits.items())
        + (f"; private holdout {result.holdout} → {result.private_url}" if result.holdout else "")
    )
    if result.changes:
        typer.echo(
            f"against {result.parent} ({result.bump}): "
            + ", ".join(f"{k} {v}" for k, v in result.changes.items() if k != "unchanged")
        )
    typer.echo(f"signed with key {result.signed_by} (engineers pin it: benchsmith keys public)")
    typer.echo(f"content hash {result.content_hash}")


@app.command("pull")
def pull(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@latest")],
    dest: Annotated[
        Path | None,
        typer.Option("--dest", help="Also copy the verified files into this empty folder."),
    ] = None,
    registry: RegistryOpt = None,
    trust: TrustOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Download a release, verify every file against its manifest and who signed it.

    With --trust (or BENCHSMITH_TRUSTED_KEYS) a release not signed by a trusted key is
    refused; without, a one-line warning says the publisher was not verified. Inside the
    publishing workspace, its own key verifies its releases and a release whose content
    hash differs from the one recorded at publishing is refused.
    """
    from builder.release.pull import pull_release
    from builder.release.refs import parse_release_ref

    with errors(), warnings_to_stderr():
        st = settings_for(workspace, registry=registry)
        name, version = parse_release_ref(ref)
        with own_workspace(st) as ws:
            result = pull_release(
                name,
                version,
                registry=st.registry,
                cache_dir=st.cache_dir,
                dest=dest,
                warn_yanked=False,
                trust=trusted_keys(st, trust),
                workspace=ws,
            )
    if result.yanked is not None:
        typer.echo(
            f"Warning: {name}@{result.version} was yanked by {result.yanked.by} at {result.yanked.at}: {result.yanked.reason}",
            err=True,
        )
    if as_json:
        print_json({**result.to_dict(), "dest": None if dest is None else str(dest)})
        return
    how = "from the verified cache" if result.from_cache else "downloaded"
    typer.echo(
        f"verified {name}@{result.version}: {result.verified.files} files, {_mb(result.verified.bytes)}, "
        f"content hash {result.manifest.content_hash[:16]}… ({how})"
    )
    sig = result.signature
    if sig.status == "trusted":
        typer.echo(f"publisher: verified, signed by key {sig.fingerprint} ({sig.source})")
    else:
        typer.echo(f"publisher: NOT verified ({sig.signer})")
    typer.echo(f"files: {dest if dest is not None else result.path}")


@app.command("diff")
def diff(
    old: Annotated[str, typer.Argument(help="NAME@VERSION (the older one)")],
    new: Annotated[str, typer.Argument(help="NAME@VERSION (the newer one)")],
    registry: RegistryOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Items added, removed, relabeled or with changed input between two versions."""
    from builder.release.diff import diff_releases
    from builder.release.refs import parse_release_ref

    with errors(), warnings_to_stderr():
        st = settings_for(workspace, registry=registry)
        (na, va), (nb, vb) = parse_release_ref(old), parse_release_ref(new)
        if na != nb:
            fail(f"compare two versions of one benchmark, got {na!r} and {nb!r}")
        d = diff_releases(na, va, vb, registry=st.registry, cache_dir=st.cache_dir)
    if as_json:
        print_json(d.to_dict())
        return
    typer.echo(f"{na} {d.old} → {d.new}: " + ", ".join(f"{k} {v}" for k, v in d.counts().items()))
    for title, ids in (
        ("added", d.added),
        ("removed", d.removed),
        ("input changed", d.input_changed),
    ):
        for i in ids:
            typer.echo(f"  {title}: {visible(i)}")
    for r in d.relabeled:
        typer.echo(visible(f"  relabeled: {r.id}: {r.before} → {r.after}"))
    for m in d.moved:
        typer.echo(visible(f"  moved: {m.id}: {m.before} → {m.after}"))
