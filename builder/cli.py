"""The ``benchsmith`` command: parse → one library call → exit code. Nothing else lives here.

Command groups owned by other modules (curate, review, release) register themselves in
:func:`_register_groups`; each command takes the common options below.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from builder.config import Settings
from builder.errors import BenchsmithError

__all__ = ["BenchmarkOpt", "JsonOpt", "WorkspaceOpt", "app", "fail", "main", "settings_for"]

app = typer.Typer(
    name="benchsmith",
    help="Build custom domain benchmarks from your own data, with human review and releases.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace", "-w", help="Workspace folder [env: BENCHSMITH_HOME; default ./.benchsmith]."
    ),
]
BenchmarkOpt = Annotated[
    str | None,
    typer.Option("--benchmark", "-b", help="Benchmark name when the workspace holds several."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result.")]


def settings_for(
    workspace: Path | None = None, benchmark: str | None = None, **kw: Any
) -> Settings:
    """Settings from flags over ``BENCHSMITH_*`` variables."""
    return Settings.from_env(home=workspace, benchmark=benchmark, **kw)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``Error: message`` to stderr and exit."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Turn library errors into ``Error: …`` and exit code 1 (no traceback)."""
    try:
        yield
    except BenchsmithError as e:
        fail(str(e), e.exit_code)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False))


def _progress_bar() -> tuple[Callable[[str, Any], None] | None, Callable[[], None]]:
    """A rich progress callback when stderr is a terminal; otherwise none."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "[progress.percentage]{task.percentage:>3.0f}%",
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}
    bar.start()

    def update(name: str, p: Any) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(Path(name).name, total=p.total)
        bar.update(tasks[name], completed=p.done, total=p.total)

    return update, bar.stop


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
    from builder.workspace import open_workspace

    progress, stop = _progress_bar()
    try:
        with errors():
            ws = open_workspace(settings_for(workspace, benchmark))
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
    from builder.workspace import open_workspace

    with errors():
        ws = open_workspace(settings_for(workspace, benchmark))
        st = benchmark_status(ws)
    if as_json:
        print_json(st)
        return
    typer.echo(f"benchmark: {st['benchmark']}")
    typer.echo(f"pool: {st['pool']} records")
    items = st["items"]
    typer.echo(
        "items: " + (", ".join(f"{k} {v}" for k, v in items.items()) if items else "none yet")
    )
    if st["releases"]:
        for r in st["releases"]:
            typer.echo(
                f"release {r['version']}{' (yanked)' if r['yanked'] else ''}: {r['created_at']}"
            )
    else:
        typer.echo("releases: none yet")


def _register_groups() -> None:
    # Each command group lives beside the library it drives; imported here, one way.
    from builder import cli_curate

    cli_curate.register(app)
    from builder.cli_review import register as register_review

    register_review(app)
    from builder.cli_release import register as register_release

    register_release(app)
    pass


_register_groups()


def main() -> None:
    """Console-script entry point."""
    app()
