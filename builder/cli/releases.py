"""``benchsmith releases list|yank|reindex``: the published versions in a registry."""

from __future__ import annotations

from typing import Annotated

import typer

from builder.cli._common import (
    BenchmarkOpt,
    JsonOpt,
    PrivateRegistryOpt,
    RegistryOpt,
    WorkspaceOpt,
    acting,
    errors,
    fail,
    open_workspace,
    print_json,
    settings_for,
    visible,
)

__all__ = ["app"]

app = typer.Typer(help="Published releases in the registry.", no_args_is_help=True)


@app.command("list")
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
            visible(
                f"{i.name}@{i.version}  {i.created_at[:19]}  {i.created_by}  {i.items} items ({splits})  {i.content_hash[:12]}{flag}"
            )
        )


@app.command("yank")
def releases_yank(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown to everyone who pulls it).")],
    registry: RegistryOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Yank a version: it stays readable, but pulls warn and NAME@latest skips it (leads only)."""
    from builder.release.refs import parse_release_ref
    from builder.release.snapshot import yank_release

    with errors():
        name, version = parse_release_ref(ref)
        if version == "latest":
            fail("name the exact version to yank: NAME@X.Y.Z")
        ws = open_workspace(workspace, registry=registry)
        actor = acting(ws, "releases yank")
        info = yank_release(ws, name, version, reason=reason, actor=actor.name)
    typer.echo(f"yanked {name}@{version} ({info.reason}); it stays readable and pulls warn")


@app.command("reindex")
def releases_reindex(
    registry: RegistryOpt = None,
    private_registry: PrivateRegistryOpt = None,
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Adopt versions the registry holds but this workspace never recorded (leads only).

    A release interrupted after it was published and before it was recorded leaves such a
    version; each is verified (files, spec, parent, this workspace's signature, items)
    before it is recorded.
    """
    from builder.release.reindex import reindex_releases

    with errors():
        ws = open_workspace(
            workspace, benchmark, registry=registry, private_registry=private_registry
        )
        report = reindex_releases(ws, actor=acting(ws, "releases reindex").name)
    if as_json:
        print_json(report.to_dict())
        return
    if not report.adopted:
        typer.echo(f"{report.benchmark}: the workspace records every version in {report.registry}")
        return
    for v in report.adopted:
        typer.echo(f"adopted {report.benchmark}@{v}: verified and recorded in this workspace")
