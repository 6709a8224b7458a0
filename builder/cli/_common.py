"""What every command module shares: option types, settings, errors, output, progress.

Command modules import only this (never ``builder.cli.app``), so each imports on its own.
Library modules are imported inside functions: ``benchsmith --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from builder.config import Settings
from builder.display import visible
from builder.errors import BenchsmithError

if TYPE_CHECKING:
    from builder.review.auth import Actor
    from builder.workspace import Workspace

__all__ = [
    "MUTATING",
    "READ_ONLY",
    "BenchmarkOpt",
    "JsonOpt",
    "PrivateRegistryOpt",
    "RegistryOpt",
    "TrustOpt",
    "WorkspaceOpt",
    "acting",
    "errors",
    "fail",
    "open_workspace",
    "own_workspace",
    "print_json",
    "progress_bar",
    "settings_for",
    "trusted_keys",
    "visible",
    "warnings_to_stderr",
]

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
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        help="Registry folder or fsspec URL [env: BENCHSMITH_REGISTRY; default <workspace>/registry].",
    ),
]

PrivateRegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--private-registry",
        help="Where the private holdout goes [env: BENCHSMITH_PRIVATE_REGISTRY].",
    ),
]


MUTATING: dict[str, str] = {
    "init": "lead",
    "ingest": "lead",
    "curate": "lead",
    "release": "lead",
    "eval": "annotator",
    "run": "annotator",
    "users add": "lead",
    "users disable": "lead",
    "users enable": "lead",
    "users set-role": "lead",
    "users set-password": "lead",
    "users unlock": "lead",
    "users set-email": "lead",
    "annotations import": "lead",
    "items gold": "lead",
    "suggestions import": "lead",
    "suggestions baseline": "lead",
    "releases yank": "lead",
    "releases reindex": "lead",
    "keys init": "lead",
}
"""Every command that changes the workspace, and the role its operator needs (checked by
:func:`acting` before the command does anything; ``eval``/``run`` only when they store the
result, ``release`` only without ``--dry-run``). Storing a score changes no benchmark data,
so any enabled user of the workspace may do it. ``tests/test_operator.py`` checks that every
command is here or in :data:`READ_ONLY`, and that each one here refuses a non-lead."""

READ_ONLY = frozenset(
    {
        "status",
        "review",
        "pull",
        "diff",
        "leaderboard",
        "export",
        "users list",
        "annotations export",
        "items list",
        "releases list",
        "keys public",
    }
)
"""Commands that read the workspace (or only a registry) and change nothing in it."""


def acting(ws: Workspace, command: str) -> Actor:
    """The operator allowed to run ``command`` (a key of :data:`MUTATING`) on ``ws``.

    One rule for every changing command (``builder.review.operator``): the acting name
    (``BENCHSMITH_USER``, else the OS login) must be an enabled user with the
    role the table names; a workspace without a lead records the operator as its lead.
    """
    from builder.review.operator import acting_operator, operator_name

    return acting_operator(ws, MUTATING[command], f"`benchsmith {command}`", who=operator_name())


def settings_for(
    workspace: Path | None = None, benchmark: str | None = None, **kw: Any
) -> Settings:
    """Settings from flags over ``BENCHSMITH_*`` variables."""
    return Settings.from_env(home=workspace, benchmark=benchmark, **kw)


def open_workspace(
    workspace: Path | None = None, benchmark: str | None = None, **kw: Any
) -> Workspace:
    """Open the workspace the flags (over ``BENCHSMITH_*``) name; ``kw`` are more settings."""
    from builder.workspace import open_workspace as open_ws

    return open_ws(settings_for(workspace, benchmark, **kw))


def _existing_workspace(st: Settings) -> Workspace | None:
    """The workspace the settings name, when one exists there (never created by a pull)."""
    from sqlalchemy.engine import make_url

    from builder.workspace import open_workspace as open_ws

    url = make_url(st.database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or not Path(url.database).is_file():
            return None
    elif not st.home.is_dir():
        return None
    return open_ws(st)


TrustOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--trust",
        metavar="FILE",
        help="Public key file (PEM) of a trusted publisher, from `benchsmith keys public`; "
        "repeatable. A release not signed by one is refused. Adds to BENCHSMITH_TRUSTED_KEYS "
        "(key files separated by the OS path separator).",
    ),
]


def trusted_keys(st: Settings, extra: list[Path] | None) -> list[Path]:
    """The publisher keys to trust: ``BENCHSMITH_TRUSTED_KEYS`` plus the ``--trust`` files."""
    return [*st.trusted_keys, *(extra or [])]


@contextmanager
def own_workspace(st: Settings) -> Iterator[Workspace | None]:
    """The publishing workspace the settings name, open for the block, or None when there
    is none there (a pull or eval never creates one); its database is closed afterwards."""
    ws = _existing_workspace(st)
    try:
        yield ws
    finally:
        if ws is not None:
            ws.db.dispose()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``Error: message`` to stderr and exit (invisible characters shown as codes)."""
    typer.echo(f"Error: {visible(message, multiline=True)}", err=True)
    raise typer.Exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Turn library errors into ``Error: …`` and exit code 1 (no traceback)."""
    try:
        yield
    except BenchsmithError as e:
        fail(str(e), e.exit_code)


@contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """Print benchsmith's warnings raised inside as ``Warning: <message>`` lines on stderr
    (once each, in order) instead of Python's two-line format; others pass through."""
    import warnings

    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        seen: set[str] = set()
        for w in caught:
            text = str(w.message)
            if not w.category.__module__.startswith("builder."):
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
            elif text not in seen:
                seen.add(text)
                typer.echo(f"Warning: {visible(text, multiline=True)}", err=True)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False))


def progress_bar() -> tuple[Callable[[str, Any], None] | None, Callable[[], None]]:
    """A rich progress callback and its stop function when stderr is a terminal; else none."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "[progress.percentage]{task.percentage:>3.0f}%",
        TimeRemainingColumn(),
        TextColumn("{task.fields[records]}", markup=False),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}
    first: dict[str, tuple[float, int]] = {}
    bar.start()

    def update(name: str, p: Any) -> None:
        # Ingest counts the records it wrote (ReadProgress.rows): show them and their rate,
        # measured from the first report (which comes after a first chunk was written).
        rows = getattr(p, "rows", 0)
        now = time.monotonic()
        if name not in tasks:
            label = escape(visible(Path(name).name))  # a file name is data, not rich markup
            tasks[name] = bar.add_task(label, total=p.total, records="")
            first[name] = (now, rows)
        t0, rows0 = first[name]
        records = f"{rows:,} records" if rows else ""
        if rows > rows0 and now > t0:
            records += f", {(rows - rows0) / (now - t0):,.0f}/s"
        bar.update(tasks[name], completed=p.done, total=p.total, records=records)

    return update, bar.stop
