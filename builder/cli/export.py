"""``benchsmith export`` and ``run``: a release in Inspect AI, lm-evaluation-harness or JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from builder.cli._common import (
    JsonOpt,
    RegistryOpt,
    TrustOpt,
    WorkspaceOpt,
    acting,
    errors,
    own_workspace,
    print_json,
    settings_for,
    trusted_keys,
    visible,
    warnings_to_stderr,
)
from builder.cli._scored import NoStoreOpt, echo_heading, echo_stored, store_result

__all__ = ["app"]

app = typer.Typer()

SplitOpt = Annotated[str, typer.Option("--split", help="Split to run (lm-eval: its test split).")]


@app.command("export")
def export_cmd(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@latest")],
    fmt: Annotated[
        str, typer.Option("--format", help="inspect | lm-eval | jsonl", metavar="FORMAT")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write (absent or empty).")],
    split: SplitOpt = "test",
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty --out folder.")
    ] = False,
    registry: RegistryOpt = None,
    trust: TrustOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a verified release as an Inspect AI task, an lm-eval task folder or JSONL."""
    from builder.export import export_release
    from builder.release.refs import parse_release_ref

    with errors(), warnings_to_stderr():
        st = settings_for(workspace, registry=registry)
        name, version = parse_release_ref(ref)
        with own_workspace(st) as ws:
            result = export_release(
                name,
                version,
                fmt,
                out,
                split=split,
                registry=st.registry,
                cache_dir=st.cache_dir,
                trust=trusted_keys(st, trust),
                force=force,
                workspace=ws,
            )
    if as_json:
        print_json(result.to_dict())
        return
    counts = ", ".join(f"{s} {n}" for s, n in result.items.items())
    typer.echo(visible(f"exported {result.release} ({fmt}; {counts} items) to {result.out}"))
    typer.echo(f"  content hash {result.content_hash}")
    typer.echo(visible(f"  run: {result.run_hint}"))


@app.command("run")
def run_cmd(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@latest")],
    model: Annotated[
        str, typer.Option("--model", help="Inspect AI model, PROVIDER/MODEL (e.g. openai/gpt-4o).")
    ],
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Run the first N items only.")
    ] = None,
    split: SplitOpt = "test",
    log_dir: Annotated[
        Path | None,
        typer.Option("--log-dir", help="Inspect log folder (default: INSPECT_LOG_DIR or ./logs)."),
    ] = None,
    no_store: NoStoreOpt = False,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples (0: none).")
    ] = 1000,
    registry: RegistryOpt = None,
    trust: TrustOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export to Inspect AI, run MODEL on it in-process, then score and store like `eval`."""
    from builder.evaluate.inspect_run import run_release
    from builder.release.refs import parse_release_ref

    note = None
    with errors(), warnings_to_stderr():
        st = settings_for(workspace, registry=registry)
        name, version = parse_release_ref(ref)
        with own_workspace(st) as ws:
            if ws is not None and not no_store:
                acting(ws, "run")  # refused before the model runs, not after
            result, location = run_release(
                name,
                version,
                model,
                split=split,
                limit=limit,
                registry=st.registry,
                cache_dir=st.cache_dir,
                trust=trusted_keys(st, trust),
                log_dir=log_dir,
                n_resamples=bootstrap,
                workspace=ws,
            )
        if not no_store:
            note = store_result(result, workspace, registry, home=st.home, command="run")
    if note:
        typer.echo(f"Note: {note}", err=True)
    data = result.to_dict()
    if as_json:
        print_json(data | {"log": location})
        return
    echo_heading(result, split, data["n"])
    typer.echo(f"  {result.primary_metric} {result.primary:.3f}   missing {data['missing']}")
    typer.echo(visible(f"  Inspect log: {location}"))
    echo_stored(result, name)
