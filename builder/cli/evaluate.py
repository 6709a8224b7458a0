"""``benchsmith eval`` and ``leaderboard``: score predictions on a release, rank models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from builder.cli._common import (
    JsonOpt,
    RegistryOpt,
    WorkspaceOpt,
    acting,
    errors,
    open_workspace,
    own_workspace,
    print_json,
    settings_for,
    visible,
    warnings_to_stderr,
)
from builder.cli._scored import NoStoreOpt, echo_heading, echo_stored, store_result

__all__ = ["app"]

app = typer.Typer()


def _ci(ci: Any) -> str:
    return "" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


@app.command("eval")
def eval_cmd(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@latest")],
    predictions: Annotated[
        Path,
        typer.Option(
            "--predictions",
            help='JSONL, one {"id", "prediction"} per line; or an Inspect AI log (.eval/.json) '
            "or an lm-eval --log_samples file.",
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model name for the leaderboard (default: the log's)."),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split to score.")] = "test",
    no_store: NoStoreOpt = False,
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
    from builder.evaluate import evaluate_release
    from builder.evaluate.slicing import slice_lines
    from builder.release.refs import parse_release_ref

    note = None
    with errors(), warnings_to_stderr():
        st = settings_for(workspace, registry=registry)
        name, version = parse_release_ref(ref)
        with own_workspace(st) as ws:
            if ws is not None and not no_store:
                acting(ws, "eval")  # refused before scoring, not after
            result = evaluate_release(
                name,
                version,
                predictions,
                model=model,
                split=split,
                registry=st.registry,
                cache_dir=st.cache_dir,
                n_resamples=bootstrap,
                workspace=ws,
            )
        if not no_store:
            note = store_result(
                result,
                workspace,
                registry,
                home=st.home,
                command="eval",
                hint=" (pass --workspace to keep results for the leaderboard)",
            )
    if result.yanked:
        typer.echo(f"Warning: {name}@{result.version} was yanked: {result.yanked}", err=True)
    if note:
        typer.echo(f"Note: {note}", err=True)
    data = result.to_dict()
    if as_json:
        print_json({k: v for k, v in data.items() if k != "slices"} | {"slices": data["slices"]})
        return
    echo_heading(result, split, data["n"])
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
        typer.echo(f"  predicted label not in the task: {visible(label)!r} ×{n}")
    for line in slice_lines(data, result.primary_metric):
        typer.echo(visible(line))
    if data["human_ceiling"] is not None:
        flag = "  — SATURATED: the model reaches the human ceiling" if data["saturated"] else ""
        typer.echo(f"  human ceiling ({result.primary_metric}): {data['human_ceiling']:.3f}{flag}")
    echo_stored(result, name)


@app.command("leaderboard")
def leaderboard_cmd(
    name: Annotated[str, typer.Argument(help="Benchmark name")],
    version: Annotated[str | None, typer.Option("--version", help="Only this version.")] = None,
    split: Annotated[str, typer.Option("--split", help="Split the runs scored.")] = "test",
    slice_: Annotated[
        str | None,
        typer.Option("--slice", help="Rank by one slice, FIELD=VALUE (e.g. subject=devel)."),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Models ranked per version; flags saturation at the release's human ceiling."""
    from builder.evaluate import leaderboard
    from builder.evaluate.scoring import SMALL_SLICE

    with errors():
        boards = leaderboard(
            open_workspace(workspace), name, version=version, split=split, slice=slice_
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
            visible(
                f"{b.benchmark}@{b.version} ({b.split}) — ranked by {b.metric}"
                + (f" on slice {b.slice}" if b.slice else "")
                + f"; human ceiling {ceiling}"
            )
        )
        if b.small:
            typer.echo(f"  note: the slice has under {SMALL_SLICE} items; its intervals are wide")
        for e in b.entries:
            typer.echo(
                f"  {e.rank:>3}. {visible(e.model):<28} {e.value:.3f} {_ci(e.ci):<18} n={e.n} missing={e.missing}"
            )
        if b.saturated:
            typer.echo(
                "  SATURATED: the best model reaches the human agreement level; grow or harden the benchmark"
            )
