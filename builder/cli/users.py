"""``benchsmith users …``: review app accounts.

Every change needs a lead at the shell: ``BENCHSMITH_USER`` or the OS login must name an
enabled lead of the workspace (``builder.review.operator``); changes are audited under it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from builder.cli._common import (
    JsonOpt,
    WorkspaceOpt,
    acting,
    errors,
    fail,
    open_workspace,
    print_json,
    visible,
)

__all__ = ["app"]

app = typer.Typer(help="Review app accounts: add, list, disable, roles.", no_args_is_help=True)

RoleOpt = Annotated[
    str, typer.Option("--role", "-r", help="annotator | reviewer | lead.", show_default=False)
]
EmailOpt = Annotated[
    str | None,
    typer.Option(
        "--email",
        help="Address single sign-on matches (lower-cased; unique).",
        show_default=False,
    ),
]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            fail("--password-stdin got no password on stdin; pipe one line, e.g. `echo PW |`")
        return line
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: RoleOpt,
    password_stdin: PasswordStdinOpt = False,
    no_login: Annotated[
        bool, typer.Option("--no-login", help="Create without a password (cannot log in).")
    ] = False,
    email: EmailOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Add a user (prompts for the password unless --password-stdin or --no-login).

    With --email the user can also sign in through single sign-on (matched by that address).
    """
    from builder.review.users import add_user

    with errors():
        ws = open_workspace(workspace)
        actor = acting(ws, "users add")
        password = None if no_login else _read_password(password_stdin)
        info = add_user(ws, name, role, password, email=email, actor=actor)
    typer.echo(
        f"user {info.name!r} added as {info.role}"
        + ("" if info.can_login else " (no login)")
        + (f", single sign-on as {info.email!r}" if info.email else "")
    )


@app.command("list")
def users_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List users with their roles (never their passwords)."""
    from builder.review.users import list_users

    with errors():
        users = list_users(open_workspace(workspace))
    if as_json:
        print_json([asdict(u) for u in users])
        return
    if not users:
        typer.echo("no users yet; add one with `benchsmith users add NAME --role lead`")
    for u in users:
        state = "disabled" if u.disabled else ("no login" if not u.can_login else "active")
        typer.echo(f"{visible(u.name):<24} {u.role:<10} {state}")


def _user_change(
    command: str, action: str, name: str, workspace: Path | None, **kw: Callable[[], str]
) -> None:
    from builder.review import users

    with errors():
        ws = open_workspace(workspace)
        actor = acting(ws, command)
        # Values (a password prompt) are asked for only once the operator may act.
        info = getattr(users, action)(ws, name, *(get() for get in kw.values()), actor=actor)
    state = "disabled" if info.disabled else "enabled"
    typer.echo(f"user {info.name!r}: {info.role}, {state}")


@app.command("disable")
def users_disable(name: str, workspace: WorkspaceOpt = None) -> None:
    """Stop a user from logging in (their answers stay)."""
    _user_change("users disable", "disable_user", name, workspace)


@app.command("enable")
def users_enable(name: str, workspace: WorkspaceOpt = None) -> None:
    """Let a disabled user log in again."""
    _user_change("users enable", "enable_user", name, workspace)


@app.command("set-role")
def users_set_role(name: str, role: RoleOpt, workspace: WorkspaceOpt = None) -> None:
    """Change a user's role."""
    _user_change("users set-role", "set_role", name, workspace, role=lambda: role)


@app.command("set-password")
def users_set_password(
    name: str, password_stdin: PasswordStdinOpt = False, workspace: WorkspaceOpt = None
) -> None:
    """Set a new password (also clears a lockout after failed logins)."""
    _user_change(
        "users set-password",
        "set_password",
        name,
        workspace,
        password=lambda: _read_password(password_stdin),
    )


@app.command("set-email")
def users_set_email(
    name: str,
    email: Annotated[
        str | None, typer.Argument(help="The new address (omit with --none).", show_default=False)
    ] = None,
    none: Annotated[
        bool, typer.Option("--none", help="Clear the address: no single sign-on for this user.")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Set the e-mail address single sign-on matches this user by (or clear it)."""
    from builder.review.users import set_email

    if (email is None) == (not none):
        fail("give either an e-mail address or --none, e.g. `users set-email ana ana@example.org`")
    with errors():
        ws = open_workspace(workspace)
        info = set_email(ws, name, email, actor=acting(ws, "users set-email"))
    shown = repr(info.email) if info.email else "none (no single sign-on)"
    typer.echo(f"user {info.name!r}: e-mail {shown}")


@app.command("unlock")
def users_unlock(name: str, workspace: WorkspaceOpt = None) -> None:
    """Lift the login locks after failed logins (from every address)."""
    from builder.review.users import unlock_user

    with errors():
        ws = open_workspace(workspace)
        info = unlock_user(ws, name, actor=acting(ws, "users unlock"))
    typer.echo(f"user {info.name!r}: login locks lifted; failed logins before now no longer count")
