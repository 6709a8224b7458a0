"""``benchsmith init``, ``ingest``, ``status``: create the workspace, fill its pool, inspect it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from builder.cli._common import (
    BenchmarkOpt,
    JsonOpt,
    WorkspaceOpt,
    acting,
    errors,
    fail,
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
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Give the first lead a review-app password (first line of stdin).",
        ),
    ] = False,
) -> None:
    """Create the workspace (database, caches, registry) and register the benchmark.

    The operator (BENCHSMITH_USER, else the OS login) becomes the workspace's first lead;
    in an existing workspace they must be a lead already.
    """
    import sys

    from builder.review.operator import init_as_lead, operator_name

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("--password-stdin got no password on stdin; pipe one line, e.g. `echo PW |`")
    with errors():
        result, actor = init_as_lead(
            settings_for(workspace),
            spec,
            update=update,
            who=operator_name(),
            password=password,
        )
    typer.echo(f"benchmark {result.benchmark!r} {result.action} in workspace {result.workspace}")
    typer.echo(f"acting as lead {actor.name!r}", err=True)


@app.command()
def ingest(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="csv / jsonl / parquet files (.gz ok), Label Studio JSON exports, Argilla "
            "datasets folders."
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv|jsonl|parquet (default: from the name) | label-studio | argilla.",
        ),
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
            acting(ws, "ingest")
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
    cur = st.get("curation")
    if cur is None:
        typer.echo("curation: none yet")
        return
    typer.echo(f"latest curation run {cur['run_id']}: {cur['created_at']}")
    from builder.curate.report import stage_line, threshold_lines

    report = {
        "near_duplicate_threshold": cur["near_duplicate_threshold"],
        "near_duplicate_threshold_source": cur["threshold_source"],
        "threshold_examples": cur["threshold_examples"],
    }
    typer.echo(stage_line([(k, n) for k, n in cur["stages"]]))
    for line in threshold_lines(report):
        typer.echo(line)
