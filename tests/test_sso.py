"""Single sign-on, library and CLI: settings, e-mail matching, refusals, audit (SQLite and
PostgreSQL). The browser flow through a real provider is in test_browser_sso.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.errors import ConfigError, PermissionDenied, ReviewError
from builder.review.sessions import check_session
from builder.review.sso import oidc_settings, sso_login, streamlit_auth_secrets
from builder.review.users import add_user, disable_user, list_users, normalize_email, set_email
from builder.store.audit import history
from builder.workspace import Workspace
from tests.support.common import Cli

pytestmark = pytest.mark.usefixtures("fast_argon2")

ENV = {
    "BENCHSMITH_OIDC_ISSUER": "https://login.example.org/tenant/",
    "BENCHSMITH_OIDC_CLIENT_ID": "review-app",
    "BENCHSMITH_OIDC_CLIENT_SECRET": "s3cret-value",
    "BENCHSMITH_OIDC_REDIRECT_URI": "https://review.example.org/oauth2callback",
}


def test_settings_from_variables_and_streamlit_secrets() -> None:
    assert oidc_settings({}) is None and streamlit_auth_secrets({}) is None
    oidc = oidc_settings({**ENV, "BENCHSMITH_OIDC_PROVIDER": "Okta"})
    assert oidc is not None and oidc.provider == "Okta"
    assert oidc.metadata_url == "https://login.example.org/tenant/.well-known/openid-configuration"
    assert "s3cret-value" not in repr(oidc) and len(oidc.cookie_secret) == 64
    secrets = streamlit_auth_secrets({**ENV, "BENCHSMITH_OIDC_COOKIE_SECRET": "cookie-key"})
    assert secrets == {
        "auth": {
            "redirect_uri": "https://review.example.org/oauth2callback",
            "cookie_secret": "cookie-key",
            "oidc": {
                "client_id": "review-app",
                "client_secret": "s3cret-value",
                "server_metadata_url": (
                    "https://login.example.org/tenant/.well-known/openid-configuration"
                ),
            },
        }
    }
    url = "https://idp.example.org/custom/openid-configuration"
    with_url = {k: v for k, v in ENV.items() if k != "BENCHSMITH_OIDC_ISSUER"}
    oidc = oidc_settings({**with_url, "BENCHSMITH_OIDC_METADATA_URL": url})
    assert oidc is not None and oidc.metadata_url == url


def test_half_set_settings_name_what_is_missing() -> None:
    with pytest.raises(ConfigError) as err:
        oidc_settings({"BENCHSMITH_OIDC_CLIENT_ID": "x"})
    assert str(err.value) == (
        "single sign-on is partly set up; also set BENCHSMITH_OIDC_CLIENT_SECRET, "
        "BENCHSMITH_OIDC_REDIRECT_URI, BENCHSMITH_OIDC_ISSUER (or BENCHSMITH_OIDC_METADATA_URL) "
        "(see the README, Single sign-on), or unset every BENCHSMITH_OIDC_* variable"
    )


def test_a_config_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "oidc.toml"
    path.write_text(
        'issuer = "https://idp.example.org"\nclient_id = "app"\nclient_secret = "s"\n'
        'redirect_uri = "https://review.example.org/oauth2callback"\n',
        encoding="utf-8",
    )
    path.chmod(0o644)
    env = {"BENCHSMITH_OIDC_CONFIG": str(path)}
    with pytest.raises(ConfigError) as err:
        oidc_settings(env)
    assert str(err.value) == (
        f"{str(path)!r} (BENCHSMITH_OIDC_CONFIG) holds the client secret but others may read it "
        f"(mode -rw-r--r--); run `chmod 600 {path}`"
    )
    path.chmod(0o600)
    oidc = oidc_settings({**env, "BENCHSMITH_OIDC_CLIENT_ID": "from-env"})
    assert oidc is not None and (oidc.client_id, oidc.client_secret) == ("from-env", "s")
    path.write_text('issuer = "x"\nclient_sekret = "typo"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"has unknown keys \['client_sekret'\]"):
        oidc_settings(env)
    with pytest.raises(ConfigError, match="cannot read the single sign-on settings"):
        oidc_settings({"BENCHSMITH_OIDC_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Ana.Maria@Example.ORG ", "ana.maria@example.org"),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
        ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
    ],
)
def test_emails_are_lower_cased(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("bad", ["", "ana", "ana@", "@example.org", "a b@example.org",
                                 "ana@localhost", "ana@example..org", "ana@-x.org"])  # fmt: skip
def test_bad_emails_are_refused(bad: str) -> None:
    with pytest.raises(ReviewError) as err:
        normalize_email(bad)
    assert str(err.value) == (
        f"e-mail address {bad!r} is not valid; give one like name@example.org "
        "(the address the identity provider sends for this person)"
    )


def test_emails_are_unique_and_can_be_changed(workspace: Workspace) -> None:
    add_user(workspace, "ana", "annotator", email="Ana@Example.org")
    with pytest.raises(ReviewError) as err:
        add_user(workspace, "ana2", "annotator", email="ana@example.org")
    assert str(err.value) == (
        "e-mail address 'ana@example.org' already belongs to user 'ana'; "
        "free it first with `benchsmith users set-email ana --none`"
    )
    assert [u.name for u in list_users(workspace)] == ["ana"]  # nothing half-written
    add_user(workspace, "ben", "annotator")
    assert set_email(workspace, "ben", "BEN@example.org").email == "ben@example.org"
    assert set_email(workspace, "ana", None).email is None
    assert set_email(workspace, "ben", "ana@example.org").email == "ana@example.org"
    with workspace.db.session() as s:
        (event,) = [
            e for e in history(s, entity="user", entity_id="ana") if e.action == "user.email"
        ]
    assert (event.before, event.after) == ({"email": "ana@example.org"}, {"email": None})


def test_sso_login_matches_by_email_and_keeps_benchsmith_roles(workspace: Workspace) -> None:
    add_user(workspace, "rita", "reviewer", email="rita@example.org")
    auth = sso_login(
        workspace, "RITA@example.org", email_verified=True, address="198.51.100.4",
        user_agent="Chrome/140",
    )  # fmt: skip
    assert (auth.actor.name, auth.actor.role.value, auth.method) == ("rita", "reviewer", "oidc")
    assert check_session(workspace, auth).name == "rita"
    with workspace.db.session() as s:
        event = history(s, entity="user", entity_id="rita")[-1]
    assert (event.action, event.after) == (
        "user.login",
        {"address": "198.51.100.4", "method": "oidc", "email": "rita@example.org"},
    )
    # The same rule ends it: disabling ends an SSO session like a password one.
    disable_user(workspace, "rita")
    with pytest.raises(PermissionDenied, match="'rita' is disabled"):
        check_session(workspace, auth)


@pytest.mark.parametrize(
    ("email", "verified", "message", "entity"),
    [
        (
            "nobody@example.org", True,
            "no benchsmith user has the e-mail address 'nobody@example.org'; ask a lead to add "
            "you (`benchsmith users add NAME --role annotator --email nobody@example.org`)",
            "nobody@example.org",
        ),
        ("ben@example.org", True, "user 'ben' is disabled; ask a lead to enable the account",
         "ben"),
        (
            "ana@example.org", False,
            "the identity provider has not verified 'ana@example.org'; verify it there first",
            "ana@example.org",
        ),
        (
            None, None,
            "the identity provider sent no usable e-mail address (''); ask your administrator "
            "to release the email claim to this app",
            "(no e-mail)",
        ),
    ],
)  # fmt: skip
def test_sso_refusals_are_clear_and_audited(
    workspace: Workspace, email: str | None, verified: bool | None, message: str, entity: str
) -> None:
    add_user(workspace, "ana", "annotator", email="ana@example.org")
    add_user(workspace, "ben", "annotator", email="ben@example.org")
    disable_user(workspace, "ben")
    with pytest.raises(PermissionDenied) as err:
        sso_login(workspace, email, email_verified=verified)
    assert str(err.value) == message
    with workspace.db.session() as s:
        events = [e for e in history(s, entity="user", entity_id=entity)
                  if e.action == "user.login_failed"]  # fmt: skip
    assert len(events) == 1 and events[0].after["method"] == "oidc"


def test_cli_users_add_with_email_and_set_email(
    cli: Cli, cli_ws: Workspace, ops_env: dict[str, str]
) -> None:
    r = cli("users", "add", "ana", "--role", "annotator", "--no-login",
            "--email", "Ana@Example.org", env=ops_env)  # fmt: skip
    assert (r.exit_code, r.stdout) == (
        0, "user 'ana' added as annotator (no login), single sign-on as 'ana@example.org'\n"
    )  # fmt: skip
    r = cli("users", "add", "ben", "--role", "annotator", "--no-login", "--email", "ben",
            env=ops_env)  # fmt: skip
    assert r.exit_code == 1 and "e-mail address 'ben' is not valid" in r.output
    r = cli("users", "set-email", "ana", "ana.m@example.org", env=ops_env)
    assert (r.exit_code, r.stdout) == (0, "user 'ana': e-mail 'ana.m@example.org'\n")
    r = cli("users", "set-email", "ana", "--none", env=ops_env)
    assert (r.exit_code, r.stdout) == (0, "user 'ana': e-mail none (no single sign-on)\n")
    r = cli("users", "set-email", "ana", env=ops_env)
    assert r.exit_code != 0 and "give either an e-mail address or --none" in r.output
    listed = json.loads(cli("users", "list", "--json", env=ops_env).stdout)
    assert [(u["name"], u["email"]) for u in listed if u["name"] == "ana"] == [("ana", None)]
