"""Access around the app: `users unlock`, the plain-HTTP warning, private workspace files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from builder.config import Settings
from builder.errors import PermissionDenied, ReviewError
from builder.release.signing import ensure_signing_key
from builder.review import server
from builder.review.auth import MAX_FAILURES, login
from builder.review.server import is_loopback, plain_http_warning
from builder.review.users import add_user
from builder.store.audit import history
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.support.common import SAMPLE_SPEC, Cli
from tests.support.review import PASSWORD

pytestmark = pytest.mark.usefixtures("fast_argon2")


def test_users_unlock(cli: Cli, cli_ws: Workspace, ops_env: dict[str, str]) -> None:
    add_user(cli_ws, "ops", "lead")  # the operator at the shell, a lead without a login
    add_user(cli_ws, "lea", "lead", PASSWORD)
    for _ in range(MAX_FAILURES):
        with pytest.raises(PermissionDenied):
            login(cli_ws, "lea", "guess-guess")
    with pytest.raises(PermissionDenied):
        login(cli_ws, "lea", PASSWORD)
    r = cli("users", "unlock", "lea", env=ops_env)
    assert (r.exit_code, r.stdout, r.stderr) == (
        0,
        "user 'lea': login locks lifted; failed logins before now no longer count\n",
        "",
    )
    assert login(cli_ws, "lea", PASSWORD).actor.name == "lea"
    with cli_ws.db.session() as s:
        unlock = [
            e for e in history(s, entity="user", entity_id="lea") if e.action == "user.unlock"
        ]
    assert [e.actor for e in unlock] == ["ops"]
    r = cli("users", "unlock", "zed", env=ops_env)
    assert r.exit_code != 0 and "no user called 'zed'" in r.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("review.example.org", False),
    ],
)
def test_only_loopback_hosts_serve_without_a_warning(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert (plain_http_warning(host) is None) is loopback


def test_review_on_all_addresses_warns_once_on_stderr(
    cli: Cli, cli_ws: Workspace, ops_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []

    def no_server(settings: Settings, *, host: str, port: int) -> None:
        started.append(host)
        raise ReviewError("not started in tests")

    monkeypatch.setattr(server, "start_app", no_server)  # nothing listens, nothing to stop
    r = cli("review", "--host", "0.0.0.0", env=ops_env)
    assert started == ["0.0.0.0"]
    assert r.stderr.splitlines()[0] == (
        "Warning: serving on 0.0.0.0 over plain HTTP: passwords and sessions cross the network "
        "unencrypted unless a TLS proxy is in front (see the README, Serving to a team)"
    )
    assert [line for line in r.stderr.splitlines() if "plain HTTP" in line] == [
        r.stderr.splitlines()[0]
    ]
    r = cli("review", "--host", "127.0.0.1", env=ops_env)
    assert "plain HTTP" not in r.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_fresh_workspace_is_private_to_its_owner(sqlite_settings: Settings) -> None:
    old = os.umask(0)  # even a permissive umask makes no group- or world-readable file
    try:
        init_workspace(sqlite_settings, SAMPLE_SPEC)
        ws = open_workspace(sqlite_settings)
        add_user(ws, "ana", "annotator", PASSWORD)  # a write: SQLite's -wal and -shm exist
        ensure_signing_key(sqlite_settings.keys_dir)
        home = sqlite_settings.home
        db = home / "benchsmith.db"
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), sqlite_settings.keys_dir / "signing.key"]
        assert {f.name: oct(_mode(f)) for f in files} == {f.name: "0o600" for f in files}
        folders = [home, sqlite_settings.keys_dir, sqlite_settings.embedding_cache]
        assert {d.name: oct(_mode(d)) for d in folders} == {d.name: "0o700" for d in folders}
        ws.db.dispose()
    finally:
        os.umask(old)


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    db.touch()
    db.chmod(0o640)  # a team sharing it through a group, on purpose
    ws = open_workspace(
        Settings.from_env({}, home=tmp_path / "ws", database_url=f"sqlite:///{db}"), create=True
    )
    assert oct(_mode(db)) == "0o640"
    ws.db.dispose()
