"""Single sign-on (OpenID Connect) through Streamlit's ``st.login``: settings and matching.

Streamlit runs the OIDC flow (Authlib: discovery, PKCE, code exchange, ID token checks)
and hands the app the ID token's claims as ``st.user``; this module says how Streamlit is
configured and turns a verified e-mail claim into a benchsmith login. A person is matched
by e-mail only: an address no user has is refused (no self-sign-up; a lead adds people
with ``benchsmith users add NAME --role R --email E``), so is a disabled user, and the
role is always benchsmith's own. A successful sign-on opens the same server-side session
as a password login (method ``oidc``); every attempt is an audit event.

Settings come from ``BENCHSMITH_OIDC_*`` variables, or from the TOML file named by
``BENCHSMITH_OIDC_CONFIG`` (the same keys in lower case, without the prefix; variables
win). The file holds the client secret, so one that others may read is refused.

| variable | meaning |
|---|---|
| ``BENCHSMITH_OIDC_ISSUER`` | the provider's issuer URL (discovery at ``/.well-known/openid-configuration``) |
| ``BENCHSMITH_OIDC_METADATA_URL`` | the discovery document's URL, instead of the issuer |
| ``BENCHSMITH_OIDC_CLIENT_ID`` / ``_CLIENT_SECRET`` | the app's registration at the provider |
| ``BENCHSMITH_OIDC_REDIRECT_URI`` | ``https://<your host>/oauth2callback``, as registered |
| ``BENCHSMITH_OIDC_PROVIDER`` | the name on the button ("Sign in with Okta"); default "single sign-on" |
| ``BENCHSMITH_OIDC_COOKIE_SECRET`` | signs Streamlit's short-lived sign-in cookie; random per start if unset |
"""

from __future__ import annotations

import os
import secrets
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from builder.errors import ConfigError, PermissionDenied, ReviewError
from builder.review._common import clock
from builder.review.auth import LOCAL_ADDRESS, AuthSession, open_session
from builder.review.users import normalize_email
from builder.store.audit import log_event
from builder.store.users import get_user_by_email
from builder.workspace import Workspace

__all__ = [
    "PROVIDER_KEY",
    "OidcSettings",
    "oidc_settings",
    "sso_login",
    "streamlit_auth_secrets",
]

PROVIDER_KEY = "oidc"
"""The provider's name in Streamlit's ``[auth]`` secrets, as ``st.login(PROVIDER_KEY)``."""
_PREFIX = "BENCHSMITH_OIDC_"
_KEYS = (
    "issuer", "metadata_url", "client_id", "client_secret", "redirect_uri", "provider",
    "cookie_secret",
)  # fmt: skip
_REQUIRED = ("client_id", "client_secret", "redirect_uri")


@dataclass(frozen=True)
class OidcSettings:
    """How the app signs people in through an OpenID Connect provider."""

    metadata_url: str
    """The provider's discovery document (``…/.well-known/openid-configuration``)."""
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    """Where the provider sends the browser back: the app's ``/oauth2callback``."""
    provider: str = "single sign-on"
    """The name people know the provider by (shown on the sign-in button)."""
    cookie_secret: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)


def _from_file(path: Path) -> dict[str, str]:
    try:
        mode = path.stat().st_mode
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(
            f"cannot read the single sign-on settings {str(path)!r} (BENCHSMITH_OIDC_CONFIG): "
            f"{e.strerror}; fix the path or unset the variable"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(
            f"{str(path)!r} (BENCHSMITH_OIDC_CONFIG) is not valid TOML: {e}"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{str(path)!r} (BENCHSMITH_OIDC_CONFIG) holds the client secret but others may "
            f"read it (mode {stat.filemode(mode)}); run `chmod 600 {path}`"
        )
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"{str(path)!r} (BENCHSMITH_OIDC_CONFIG) has unknown keys {unknown}; "
            f"use {', '.join(_KEYS)}"
        )
    return {k: str(v) for k, v in data.items()}


def oidc_settings(env: Mapping[str, str] | None = None) -> OidcSettings | None:
    """The single sign-on settings, or None when none are set (password logins only).

    Raises :class:`ConfigError` naming what is missing when only some are set.
    """
    env = os.environ if env is None else env
    values: dict[str, str] = {}
    if env.get(f"{_PREFIX}CONFIG"):
        values.update(_from_file(Path(env[f"{_PREFIX}CONFIG"]).expanduser()))
    for key in _KEYS:
        if env.get(f"{_PREFIX}{key.upper()}"):
            values[key] = env[f"{_PREFIX}{key.upper()}"]
    if not values:
        return None
    missing = [f"{_PREFIX}{k.upper()}" for k in _REQUIRED if not values.get(k)]
    if not values.get("issuer") and not values.get("metadata_url"):
        missing.append(f"{_PREFIX}ISSUER (or {_PREFIX}METADATA_URL)")
    if missing:
        raise ConfigError(
            f"single sign-on is partly set up; also set {', '.join(missing)} "
            "(see the README, Single sign-on), or unset every BENCHSMITH_OIDC_* variable"
        )
    metadata = values.get("metadata_url") or (
        values["issuer"].rstrip("/") + "/.well-known/openid-configuration"
    )
    extra = {k: values[k] for k in ("provider", "cookie_secret") if values.get(k)}
    return OidcSettings(
        metadata_url=metadata,
        client_id=values["client_id"],
        client_secret=values["client_secret"],
        redirect_uri=values["redirect_uri"],
        **extra,
    )


def streamlit_auth_secrets(
    env: Mapping[str, str] | None = None,
) -> dict[str, dict[str, object]] | None:
    """Streamlit's ``[auth]`` secrets for :func:`oidc_settings` (None: SSO not set up).

    Passed to ``st.App(secrets=…)`` in memory, so the client secret is never written to a
    file. The provider section is :data:`PROVIDER_KEY`.
    """
    oidc = oidc_settings(env)
    if oidc is None:
        return None
    return {
        "auth": {
            "redirect_uri": oidc.redirect_uri,
            "cookie_secret": oidc.cookie_secret,
            PROVIDER_KEY: {
                "client_id": oidc.client_id,
                "client_secret": oidc.client_secret,
                "server_metadata_url": oidc.metadata_url,
            },
        }
    }


def sso_login(
    ws: Workspace,
    email: object,
    *,
    email_verified: object = None,
    address: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> AuthSession:
    """Open a session (method ``oidc``) for the user whose e-mail the provider vouched for.

    ``email`` and ``email_verified`` are the ID token's claims as Streamlit passes them.
    Refuses (:class:`PermissionDenied`, audited as ``user.login_failed``) a missing or
    unverified (``email_verified`` false) address, an address no user has, and a
    disabled user.
    """
    at = clock(now)
    where = address or LOCAL_ADDRESS
    shown = email if isinstance(email, str) else ""
    error: PermissionDenied | None = None
    with ws.db.session() as s:

        def refuse(name: str, reason: str, message: str) -> PermissionDenied:
            after = {"address": where, "reason": reason, "method": "oidc", "email": shown}
            event = log_event(
                s, actor=name, action="user.login_failed", entity="user", entity_id=name,
                after=after,
            )  # fmt: skip
            event.at = at
            return PermissionDenied(message)

        try:
            address_ = normalize_email(shown)
        except ReviewError:  # a malformed claim is refused below like a missing one
            address_ = None
        user = get_user_by_email(s, address_) if address_ is not None else None
        if address_ is None:
            error = refuse(
                shown or "(no e-mail)", "no e-mail",
                f"the identity provider sent no usable e-mail address ({shown!r}); ask your "
                "administrator to release the email claim to this app",
            )  # fmt: skip
        elif email_verified is False or str(email_verified).lower() == "false":
            error = refuse(
                address_, "e-mail not verified",
                f"the identity provider has not verified {address_!r}; verify it there first",
            )  # fmt: skip
        elif user is None or user.id is None:
            error = refuse(
                address_, "unknown e-mail",
                f"no benchsmith user has the e-mail address {address_!r}; ask a lead to add "
                f"you (`benchsmith users add NAME --role annotator --email {address_}`)",
            )  # fmt: skip
        elif user.disabled:
            error = refuse(
                user.name, "disabled",
                f"user {user.name!r} is disabled; ask a lead to enable the account",
            )  # fmt: skip
        else:
            event = log_event(
                s, actor=user.name, action="user.login", entity="user", entity_id=user.name,
                after={"address": where, "method": "oidc", "email": address_},
            )  # fmt: skip
            event.at = at
            auth = open_session(
                s, user, method="oidc", address=where, user_agent=user_agent, at=at,
                ttl=ws.settings.session_max,
            )  # fmt: skip
    # Raised after the commit so the refusal's audit event is kept.
    if error is not None:
        raise error
    return auth
