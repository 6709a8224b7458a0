"""``benchsmith init``, ``ingest``, ``status``: create the workspace, fill its pool, inspect it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from builder.cli._common import (
    BenchmarkOpt,
    JsonOpt,
    WorkspaceOpt,
    errors,
    open_workspace,
    print_json,
    progress_bar,
    settings_for,
    visible,
)

__all__ = ["app"]

app = typer.Typer()


@app.command()
def init(
    spec: Annotated[Path, typer.Option("--spec", help="Benchmark spec (YAML).")],
    workspace: WorkspaceOpt = None,
    update: Annotated[bool, typer.Option("--update", help="Replace a registered spec.")] = False,
) -> None:
    """Create the workspace (database, caches, registry) and register the benchmark."""
    from builder.workspace import init_workspace

    with errors():
        result = init_workspace(settings_for(workspace), spec, update=update)
    typer.echo(f"benchmark {result.benchmark!r} {result.action} in workspace {result.workspace}")


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="csv / jsonl / parquet files (.gz ok).")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv|jsonl|parquet (default: from the name).")
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid", help="Land valid rows; write rejected rows to a rejects file."
        ),
    ] = False,
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load raw records into the pool (all-or-nothing per file unless --skip-invalid)."""
    from builder.ingest import ingest_files

    progress, stop = progress_bar()
    try:
        with errors():
            ws = open_workspace(workspace, benchmark)
            report = ingest_files(ws, files, fmt=fmt, skip_invalid=skip_invalid, progress=progress)
    finally:
        stop()
    summary = report.summary()
    if as_json:
        print_json(
            {k: summary[k] for k in ("ingested", "duplicates", "conflicts", "rejected", "seconds")}
        )
        return
    for f in report.files:
        typer.echo(
            f"{f.path}: {f.ingested} ingested, {f.duplicates} already in the pool, "
            f"{f.conflicts} conflicts, {f.rejected} rejected"
        )
        if f.conflict_ids:
            shown = ", ".join(f.conflict_ids[:10])
            typer.echo(
                f"  conflicts (changed content under an existing id, kept the pool's version): {shown}"
                + (" …" if len(f.conflict_ids) > 10 else ""),
                err=True,
            )
        if f.rejects_file:
            typer.echo(f"  rejected rows and reasons: {f.rejects_file}", err=True)
    typer.echo(f"done in {summary['seconds']:.1f} s")


@app.command()
def status(
    workspace: WorkspaceOpt = None, benchmark: BenchmarkOpt = None, as_json: JsonOpt = False
) -> None:
    """Pool size, items by status, releases."""
    from builder.status import benchmark_status

    with errors():
        st = benchmark_status(open_workspace(workspace, benchmark))
    if as_json:
        print_json(st)
        return
    typer.echo(f"benchmark: {visible(st['benchmark'])}")
    typer.echo(f"pool: {st['pool']} records")
    items = st["items"]
    typer.echo(
        "items: " + (", ".join(f"{k} {v}" for k, v in items.items()) if items else "none yet")
    )
    if st["releases"]:
        for r in st["releases"]:
            typer.echo(
                visible(
                    f"release {r['version']}{' (yanked)' if r['yanked'] else ''}: {r['created_at']}"
                )
            )
    else:
        typer.echo("releases: none yet")
