"""CLI for review: ``review``, ``users …``, ``annotations import/export``, ``items …``.

Thin: parse → one library call → print. The shell operator acts as a lead (they hold the
database); every change is audited under ``BENCHSMITH_USER`` or the OS login.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from builder.cli import BenchmarkOpt, JsonOpt, WorkspaceOpt, errors, fail, print_json, settings_for

__all__ = ["register"]

RoleOpt = Annotated[
    str, typer.Option("--role", "-r", help="annotator | reviewer | lead.", show_default=False)
]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]

users_app = typer.Typer(
    help="Review app accounts: add, list, disable, roles.", no_args_is_help=True
)
annotations_app = typer.Typer(help="Answers in and out (JSON Lines).", no_args_is_help=True)
items_app = typer.Typer(help="Benchmark items: list, gold answers.", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            fail("--password-stdin got no password on stdin; pipe one line, e.g. `echo PW |`")
        return line
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def review(
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8501,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
) -> None:
    """Start the review app (Streamlit, headless) and print its URL; Ctrl+C stops it."""
    from builder.review.server import serve

    with errors():
        code = serve(settings_for(workspace, benchmark), host=host, port=port, echo=typer.echo)
    raise typer.Exit(code)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: RoleOpt,
    password_stdin: PasswordStdinOpt = False,
    no_login: Annotated[
        bool, typer.Option("--no-login", help="Create without a password (cannot log in).")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Add a user (prompts for the password unless --password-stdin or --no-login)."""
    from builder.review.users import add_user
    from builder.workspace import open_workspace

    with errors():
        ws = open_workspace(settings_for(workspace))
        password = None if no_login else _read_password(password_stdin)
        info = add_user(ws, name, role, password)
    typer.echo(
        f"user {info.name!r} added as {info.role}" + ("" if info.can_login else " (no login)")
    )


@users_app.command("list")
def users_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List users with their roles (never their passwords)."""
    from builder.review.users import list_users
    from builder.workspace import open_workspace

    with errors():
        users = list_users(open_workspace(settings_for(workspace)))
    if as_json:
        print_json([asdict(u) for u in users])
        return
    if not users:
        typer.echo("no users yet; add one with `benchsmith users add NAME --role lead`")
    for u in users:
        state = "disabled" if u.disabled else ("no login" if not u.can_login else "active")
        typer.echo(f"{u.name:<24} {u.role:<10} {state}")


def _user_change(action: str, name: str, workspace: Path | None, **kw: str) -> None:
    from builder.review import users
    from builder.workspace import open_workspace

    with errors():
        ws = open_workspace(settings_for(workspace))
        info = getattr(users, action)(ws, name, *kw.values())
    state = "disabled" if info.disabled else "enabled"
    typer.echo(f"user {info.name!r}: {info.role}, {state}")


@users_app.command("disable")
def users_disable(name: str, workspace: WorkspaceOpt = None) -> None:
    """Stop a user from logging in (their answers stay)."""
    _user_change("disable_user", name, workspace)


@users_app.command("enable")
def users_enable(name: str, workspace: WorkspaceOpt = None) -> None:
    """Let a disabled user log in again."""
    _user_change("enable_user", name, workspace)


@users_app.command("set-role")
def users_set_role(name: str, role: RoleOpt, workspace: WorkspaceOpt = None) -> None:
    """Change a user's role."""
    _user_change("set_role", name, workspace, role=role)


@users_app.command("set-password")
def users_set_password(
    name: str, password_stdin: PasswordStdinOpt = False, workspace: WorkspaceOpt = None
) -> None:
    """Set a new password (also clears a lockout after failed logins)."""
    _user_change("set_password", name, workspace, password=_read_password(password_stdin))


@annotations_app.command("import")
def annotations_import(
    file: Annotated[
        Path, typer.Argument(help="JSON Lines: source_id, annotator, label|labels|answer.")
    ],
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import answers from another tool or a pilot round (all or nothing)."""
    from builder.review.annotations_io import import_annotations
    from builder.workspace import open_workspace

    with errors():
        report = import_annotations(open_workspace(settings_for(workspace, benchmark)), file)
    if as_json:
        print_json(asdict(report))
        return
    typer.echo(
        f"{file}: {report.imported} imported, {report.revised} revised, "
        f"{report.unchanged} unchanged, {report.skipped} skipped"
    )
    if report.users_created:
        typer.echo(f"created users without login: {', '.join(report.users_created)}")


@annotations_app.command("export")
def annotations_export(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default: stdout).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
) -> None:
    """Export every answer and decision as JSON Lines, for audits."""
    from builder.review.annotations_io import export_annotations, export_lines
    from builder.workspace import open_workspace

    with errors():
        ws = open_workspace(settings_for(workspace, benchmark))
        if out is None:
            for line in export_lines(ws):
                typer.echo(line)
            return
        n = export_annotations(ws, out, overwrite=force)
    typer.echo(f"wrote {n} lines to {out}", err=True)


@items_app.command("list")
def items_list(
    status: Annotated[str | None, typer.Option("--status", "-s", help="Only this status.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List items with their source ids and status."""
    from builder.review.items import list_items
    from builder.workspace import open_workspace

    with errors():
        rows = list_items(
            open_workspace(settings_for(workspace, benchmark)), status=status, limit=limit
        )
    if as_json:
        print_json([r._asdict() for r in rows])
        return
    for r in rows:
        gold = " gold" if r.is_gold else ""
        typer.echo(f"{r.item_id:>7}  {r.status:<10} {r.answers} answer(s){gold}  {r.source_id}")


@items_app.command("gold")
def items_gold(
    source_id: Annotated[str, typer.Argument(help="Source id of the item.")],
    answer: Annotated[
        str | None,
        typer.Option("--answer", "-a", help="The known answer (labels comma-separated)."),
    ] = None,
    unmark: Annotated[bool, typer.Option("--unmark", help="Stop using it as gold.")] = False,
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
) -> None:
    """Mark an item as gold with its known answer (mixed unannounced into queues)."""
    from builder.review.items import set_gold
    from builder.workspace import open_workspace

    if (answer is None) == (not unmark):
        fail("give either --answer VALUE or --unmark")
    with errors():
        result = set_gold(open_workspace(settings_for(workspace, benchmark)), source_id, answer)
    what = f"gold with answer {result.answer!r}" if answer is not None else "no longer gold"
    typer.echo(f"item {result.item_id} ({source_id}) is {what}; status {result.status}")


def register(app: typer.Typer) -> None:
    """Add the review commands to the ``benchsmith`` app."""
    app.command("review")(review)
    app.add_typer(users_app, name="users")
    app.add_typer(annotations_app, name="annotations")
    app.add_typer(items_app, name="items")
