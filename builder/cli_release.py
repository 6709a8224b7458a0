"""CLI for releases and their consumers: ``release``, ``releases list|yank``, ``pull``,
``diff``, ``eval``, ``leaderboard``. Each command parses, makes one library call, prints.

The acting user (for ``release`` and ``releases yank``, which only leads may run) is
``BENCHSMITH_USER``, else the OS login name; see ``builder.release.snapshot``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from builder.cli import BenchmarkOpt, JsonOpt, WorkspaceOpt, errors, fail, print_json, settings_for

if TYPE_CHECKING:
    from builder.release.manifest import Bump

__all__ = ["register"]

RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        help="Registry folder or fsspec URL [env: BENCHSMITH_REGISTRY; default <workspace>/registry].",
    ),
]


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def _ci(ci: Any) -> str:
    return "" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


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
    private_registry: Annotated[
        str | None,
        typer.Option(
            "--private-registry",
            help="Where the private holdout goes [env: BENCHSMITH_PRIVATE_REGISTRY].",
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Freeze the approved items into a new immutable release (leads only)."""
    from builder.release.snapshot import plan_release, publish_release
    from builder.workspace import current_actor, open_workspace

    if bump is not None and bump not in ("major", "minor", "patch"):
        fail(f"--bump {bump!r} is not one of major, minor, patch")
    level = cast("Bump | None", bump)
    with errors():
        ws = open_workspace(
            settings_for(workspace, benchmark, registry=registry, private_registry=private_registry)
        )
        if dry_run:
            plan = plan_release(ws, version=version, bump=level, notes=notes)
            summary = plan.summary()
        else:
            result = publish_release(
                ws, actor=current_actor(), version=version, bump=level, notes=notes
            )
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
    typer.echo(f"content hash {result.content_hash}")


def releases_list(
    name: Annotated[
        str | None, typer.Argument(help="Benchmark name (default: every name in the registry).")
    ] = None,
    registry: RegistryOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List published versions in the registry (yanked ones marked)."""
    from builder.release.registry import Registry

    with errors():
        reg = Registry(settings_for(workspace, registry=registry).registry)
        names = [name] if name else reg.names()
        infos = [i for n in names for i in reg.releases(n)]
    if as_json:
        print_json(
            [
                {**i.__dict__, "yanked": None if i.yanked is None else i.yanked.__dict__}
                for i in infos
            ]
        )
        return
    if not infos:
        typer.echo(f"no releases{f' of {name!r}' if name else ''} in {reg.url}")
        return
    for i in infos:
        flag = f"  YANKED: {i.yanked.reason}" if i.yanked else ""
        splits = ", ".join(f"{k} {v}" for k, v in i.splits.items())
        typer.echo(
            f"{i.name}@{i.version}  {i.created_at[:19]}  {i.created_by}  {i.items} items ({splits})  {i.content_hash[:12]}{flag}"
        )


def releases_yank(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown to everyone who pulls it).")],
    registry: RegistryOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Yank a version: it stays readable, but pulls warn and NAME@latest skips it (leads only)."""
    from builder.release.registry import parse_ref
    from builder.release.snapshot import yank_release
    from builder.workspace import current_actor, open_workspace

    with errors():
        name, version = parse_ref(ref)
        if version == "latest":
            fail("name the exact version to yank: NAME@X.Y.Z")
        ws = open_workspace(settings_for(workspace, registry=registry))
        info = yank_release(ws, name, version, reason=reason, actor=current_actor())
    typer.echo(f"yanked {name}@{version} ({info.reason}); it stays readable and pulls warn")


def pull(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@latest")],
    dest: Annotated[
        Path | None,
        typer.Option("--dest", help="Also copy the verified files into this empty folder."),
    ] = None,
    registry: RegistryOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Download a release and verify every file against its manifest (cached once verified)."""
    from builder.release.pull import pull_release
    from builder.release.registry import parse_ref

    with errors():
        st = settings_for(workspace, registry=registry)
        name, version = parse_ref(ref)
        result = pull_release(
            name,
            version,
            registry=st.registry,
            cache_dir=st.cache_dir,
            dest=dest,
            warn_yanked=False,
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
    typer.echo(f"files: {dest if dest is not None else result.path}")


def diff(
    old: Annotated[str, typer.Argument(help="NAME@VERSION (the older one)")],
    new: Annotated[str, typer.Argument(help="NAME@VERSION (the newer one)")],
    registry: RegistryOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Items added, removed, relabeled or with changed input between two versions."""
    from builder.release.diff import diff_releases
    from builder.release.registry import parse_ref

    with errors():
        st = settings_for(workspace, registry=registry)
        (na, va), (nb, vb) = parse_ref(old), parse_ref(new)
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
            typer.echo(f"  {title}: {i}")
    for r in d.relabeled:
        typer.echo(f"  relabeled: {r.id}: {r.before} → {r.after}")
    for m in d.moved:
        typer.echo(f"  moved: {m.id}: {m.before} → {m.after}")


def eval_cmd(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@latest")],
    predictions: Annotated[
        Path, typer.Option("--predictions", help='JSONL, one {"id", "prediction"} per line.')
    ],
    model: Annotated[str, typer.Option("--model", help="Model name for the leaderboard.")],
    split: Annotated[str, typer.Option("--split", help="Split to score.")] = "test",
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Do not store the result in the workspace.")
    ] = False,
    bootstrap: Annotated[
        int,
        typer.Option(
            "--bootstrap", min=0, help="Bootstrap resamples for the 95% intervals (0: none)."
        ),
    ] = 1000,
    registry: RegistryOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score predictions on a verified release, per slice with 95% intervals; store the result."""
    from builder.errors import ConfigError
    from builder.evaluate import evaluate_release, record_evaluation
    from builder.release.registry import parse_ref
    from builder.workspace import current_actor, open_workspace

    note = None
    with errors():
        st = settings_for(workspace, registry=registry)
        name, version = parse_ref(ref)
        result = evaluate_release(
            name,
            version,
            predictions,
            model=model,
            split=split,
            registry=st.registry,
            cache_dir=st.cache_dir,
            n_resamples=bootstrap,
        )
        if not no_store:
            try:
                record_evaluation(open_workspace(st), result, actor=current_actor())
            except ConfigError:
                note = f"not stored: no workspace at {st.home} (pass --workspace to keep results for the leaderboard)"
    if result.yanked:
        typer.echo(f"Warning: {name}@{result.version} was yanked: {result.yanked}", err=True)
    if note:
        typer.echo(f"Note: {note}", err=True)
    data = result.to_dict()
    if as_json:
        print_json({k: v for k, v in data.items() if k != "slices"} | {"slices": data["slices"]})
        return
    typer.echo(
        f"{result.benchmark}@{result.version} {split} — model {result.model}: {data['n']} items"
    )
    pw = data.get("pool_weighted") or {}
    pw_ci = data.get("pool_weighted_ci") or {}
    for metric, ci in data["ci"].items():
        line = f"  {metric:<12} {data[metric]:.3f}  95% CI {_ci(ci)}"
        if metric in pw:
            line += f"   pool-weighted {pw[metric]:.3f} {_ci(pw_ci.get(metric))}"
        typer.echo(line)
    typer.echo(
        f"  missing predictions: {data['missing']} (scored wrong)   unknown ids: {data['unknown']} (not scored)"
    )
    for label, n in data["unknown_labels"].items():
        typer.echo(f"  predicted label not in the task: {label!r} ×{n}")
    if data["human_ceiling"] is not None:
        flag = "  — SATURATED: the model reaches the human ceiling" if data["saturated"] else ""
        typer.echo(f"  human ceiling ({result.primary_metric}): {data['human_ceiling']:.3f}{flag}")
    if result.evaluation_id is not None:
        typer.echo(
            f"stored as evaluation {result.evaluation_id}; see `benchsmith leaderboard {name}`"
        )


def leaderboard_cmd(
    name: Annotated[str, typer.Argument(help="Benchmark name")],
    version: Annotated[str | None, typer.Option("--version", help="Only this version.")] = None,
    split: Annotated[str, typer.Option("--split", help="Split the runs scored.")] = "test",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Models ranked per version; flags saturation at the release's human ceiling."""
    from builder.evaluate import leaderboard
    from builder.workspace import open_workspace

    with errors():
        boards = leaderboard(
            open_workspace(settings_for(workspace)), name, version=version, split=split
        )
    if as_json:
        print_json([b.to_dict() for b in boards])
        return
    if not boards:
        typer.echo(
            f"no evaluations of {name}{'@' + version if version else ''} ({split}) yet; run `benchsmith eval`"
        )
        return
    for b in boards:
        ceiling = "unknown" if b.human_ceiling is None else f"{b.human_ceiling:.3f}"
        typer.echo(
            f"{b.benchmark}@{b.version} ({b.split}) — ranked by {b.metric}; human ceiling {ceiling}"
        )
        for e in b.entries:
            typer.echo(
                f"  {e.rank:>3}. {e.model:<28} {e.value:.3f} {_ci(e.ci):<18} n={e.n} missing={e.missing}"
            )
        if b.saturated:
            typer.echo(
                "  SATURATED: the best model reaches the human agreement level; grow or harden the benchmark"
            )


def register(app: typer.Typer) -> None:
    """Add the release commands to the ``benchsmith`` app."""
    app.command("release")(release)
    group = typer.Typer(help="Published releases in the registry.", no_args_is_help=True)
    group.command("list")(releases_list)
    group.command("yank")(releases_yank)
    app.add_typer(group, name="releases")
    app.command("pull")(pull)
    app.command("diff")(diff)
    app.command("eval")(eval_cmd)
    app.command("leaderboard")(leaderboard_cmd)
