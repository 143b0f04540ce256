"""OpenID Connect single sign-on: provider settings, Authlib's client, and the checked answer.

The protocol is Authlib's Flask client (authorization code flow with PKCE S256, ``state`` and
``nonce`` kept in the signed session cookie, the ID token's signature checked against the
provider's JWKS — fetched again when a token names a key id it does not know, so rotated keys are
picked up — and its issuer, audience, expiry and nonce checked). This module adds what KBP decides:

* the settings (``OIDC_PROVIDERS``: JSON in ``KBP_OIDC_PROVIDERS`` or a list of tables in the
  TOML config file), checked at start so a typo stops the server with the reason;
* that the discovery document's ``issuer`` is the configured one and every answer names it;
* the clock skew tolerated (``leeway_seconds``, default :data:`DEFAULT_LEEWAY`, at most
  :data:`MAX_LEEWAY`);
* that the e-mail address is verified (``email_verified``) unless the provider is trusted for it;
* a translated message for every refusal (:class:`OidcError`), and a log line without personal data.

Which person and account a verified identity becomes, and with which role, is decided in
:mod:`core.services.sso`.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlencode, urlsplit

from flask import current_app

from core.i18n import gettext as _

log = logging.getLogger(__name__)

LOCAL_LOGIN_MODES = ("all", "admins", "off")
DEFAULT_SCOPES = "openid email profile"
#: seconds of clock difference tolerated on ``exp``/``iat`` (documented in the README)
DEFAULT_LEEWAY = 60
MAX_LEEWAY = 300
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_EXTENSION = "kbp_oidc"
_KNOWN_KEYS = {"id", "title", "issuer", "discovery_url", "client_id", "client_secret", "scopes", "email_claim",
               "trust_email", "groups_claim", "roles", "default_role", "create_people", "leeway_seconds", "logout"}


class OidcError(Exception):
    """A sign-in with a provider that did not succeed; the message is translated and safe to show."""

    def __init__(self, message: str, status: int = 400, reason: str = "refused"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Provider:
    id: str
    title: Any  # a name, or {"sv": "…", "en": "…"}
    issuer: str
    discovery_url: str
    client_id: str
    client_secret: str
    scopes: str = DEFAULT_SCOPES
    email_claim: str = "email"
    trust_email: bool = False
    groups_claim: str | None = None
    roles: Mapping[str, str] = field(default_factory=dict)
    default_role: str | None = "employee"
    create_people: bool = False
    leeway_seconds: int = DEFAULT_LEEWAY
    logout: bool = True

    def label(self, locale: str) -> str:
        """The provider's name in the reader's language (the first one given when theirs is missing)."""
        if isinstance(self.title, Mapping):
            return self.title.get(locale) or self.title.get(locale.split("_")[0]) or next(iter(self.title.values()))
        return str(self.title)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class Identity:
    """What a provider vouched for, every check passed."""

    provider: str
    subject: str
    email: str
    name: str
    groups: tuple[str, ...] | None  # None: the provider does not send groups (roles are kept in KBP)


# ----------------------------------------------------------------------------- settings


def _bad(message: str) -> SystemExit:
    return SystemExit(f"OIDC_PROVIDERS: {message} (KBP_OIDC_PROVIDERS or oidc_providers in the config file; see the README, Single sign-on)")


def parse_providers(value: Any, roles: tuple[str, ...]) -> list[Provider]:
    """The configured providers, each checked; stops the start with the reason when one is wrong."""
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _bad(f"not valid JSON: {exc}") from None
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        raise _bad("give a list of providers")
    providers: list[Provider] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise _bad("each provider is an object with id, issuer, client_id and client_secret")
        unknown = sorted(set(item) - _KNOWN_KEYS)
        if unknown:
            raise _bad(f"unknown setting(s) {', '.join(unknown)} in provider {item.get('id')!r}")
        pid = item.get("id")
        if not isinstance(pid, str) or not _ID.match(pid):
            raise _bad(f"provider id {pid!r} must be lower-case letters, digits and '-' (it is part of the callback address)")
        if any(p.id == pid for p in providers):
            raise _bad(f"provider id {pid!r} is used twice")
        for key in ("issuer", "client_id", "client_secret"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise _bad(f"provider {pid!r} needs {key}")
        issuer = item["issuer"].strip()
        if urlsplit(issuer).scheme not in ("https", "http") or not urlsplit(issuer).netloc:
            raise _bad(f"provider {pid!r}: issuer must be an https:// address")
        mapping = item.get("roles") or {}
        if not isinstance(mapping, Mapping) or any(not isinstance(g, str) or r not in roles for g, r in mapping.items()):
            raise _bad(f"provider {pid!r}: roles maps group names to one of {', '.join(roles)}")
        default_role = item.get("default_role", "employee")
        if default_role is not None and default_role not in roles:
            raise _bad(f"provider {pid!r}: default_role must be one of {', '.join(roles)} or null")
        leeway = item.get("leeway_seconds", DEFAULT_LEEWAY)
        if isinstance(leeway, bool) or not isinstance(leeway, int) or not 0 <= leeway <= MAX_LEEWAY:
            raise _bad(f"provider {pid!r}: leeway_seconds must be 0 to {MAX_LEEWAY}")
        scopes = item.get("scopes", DEFAULT_SCOPES)
        if isinstance(scopes, list):
            scopes = " ".join(scopes)
        if "openid" not in str(scopes).split():
            raise _bad(f"provider {pid!r}: scopes must include openid")
        title = item.get("title") or pid
        if not isinstance(title, (str, Mapping)) or (isinstance(title, Mapping) and not title):
            raise _bad(f"provider {pid!r}: title is a name or an object of names by language")
        providers.append(Provider(
            id=pid, title=dict(title) if isinstance(title, Mapping) else title, issuer=issuer,
            discovery_url=item.get("discovery_url") or issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_id=item["client_id"], client_secret=item["client_secret"], scopes=str(scopes),
            email_claim=item.get("email_claim", "email"), trust_email=bool(item.get("trust_email", False)),
            groups_claim=item.get("groups_claim") or None, roles=dict(mapping), default_role=default_role,
            create_people=bool(item.get("create_people", False)), leeway_seconds=leeway,
            logout=bool(item.get("logout", True)),
        ))
    return providers


def local_login_mode(config: Mapping[str, Any]) -> str:
    mode = str(config.get("LOCAL_LOGIN") or "all").strip().lower()
    if mode not in LOCAL_LOGIN_MODES:
        raise SystemExit(f"LOCAL_LOGIN must be one of {', '.join(LOCAL_LOGIN_MODES)}, got {mode!r} (KBP_LOCAL_LOGIN).")
    return mode


def init_app(app) -> None:
    """Read the settings and register one Authlib client per provider (discovery happens at first use)."""
    from authlib.integrations.flask_client import OAuth

    from core.auth import ROLES

    app.config["LOCAL_LOGIN"] = local_login_mode(app.config)
    providers = parse_providers(app.config.get("OIDC_PROVIDERS"), ROLES)
    oauth = OAuth(app)
    for p in providers:
        oauth.register(
            name=p.id, client_id=p.client_id, client_secret=p.client_secret, server_metadata_url=p.discovery_url,
            client_kwargs={"scope": p.scopes, "code_challenge_method": "S256", "timeout": 10},
        )
    app.extensions[_EXTENSION] = {"providers": {p.id: p for p in providers}, "oauth": oauth}


def providers() -> list[Provider]:
    state = current_app.extensions.get(_EXTENSION)
    return list(state["providers"].values()) if state else []


def provider(provider_id: Any) -> Provider:
    state = current_app.extensions.get(_EXTENSION) or {"providers": {}}
    found = state["providers"].get(provider_id) if isinstance(provider_id, str) else None
    if found is None:
        raise OidcError(_("There is no sign-in service by that name."), status=404, reason="unknown_provider")
    return found


def _client(p: Provider):
    return current_app.extensions[_EXTENSION]["oauth"].create_client(p.id)


def _metadata(p: Provider) -> dict:
    """The discovery document (fetched once per process); its issuer must be the configured one."""
    client = _client(p)
    try:
        metadata = client.load_server_metadata()
    except Exception as exc:  # noqa: BLE001 - network, HTTP or JSON: the provider cannot be used now
        client.server_metadata.pop("_loaded_at", None)
        log.warning("OIDC provider %s: discovery document unavailable (%s)", p.id, type(exc).__name__)
        raise OidcError(_("%(provider)s cannot be reached just now. Try again in a moment.", provider=p.label(_locale())),
                        status=503, reason="unreachable") from None
    if metadata.get("issuer") != p.issuer:
        client.server_metadata.clear()
        log.warning("OIDC provider %s: discovery document names issuer %r, configured %r", p.id, metadata.get("issuer"), p.issuer)
        raise OidcError(_("%(provider)s is not set up correctly (its issuer does not match). Tell your administrator.",
                          provider=p.label(_locale())), status=503, reason="issuer_mismatch")
    return metadata


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "en")


# ----------------------------------------------------------------------------- the flow


def authorization_url(p: Provider, redirect_uri: str, locale: str) -> str:
    """Where to send the browser: the provider's authorization endpoint with a fresh ``state``,
    ``nonce`` and PKCE challenge (kept in the session until the answer comes back)."""
    from flask import session

    _metadata(p)
    client = _client(p)
    for key in [k for k in session if k.startswith("_state_")]:  # one pending sign-in per browser: the
        session.pop(key)  # cookie must not grow with every click (a browser drops cookies over 4 kB)
    rv = client.create_authorization_url(redirect_uri, ui_locales=locale)
    client.save_authorize_data(redirect_uri=redirect_uri, **rv)
    return rv["url"]


_REASONS = {
    "state": lambda: _("the answer does not belong to a sign-in started in this browser"),
    "nonce": lambda: _("the sign-in token was issued for another sign-in (nonce)"),
    "signature": lambda: _("the sign-in token's signature is not valid"),
    "aud": lambda: _("the sign-in token was issued for another service (audience)"),
    "azp": lambda: _("the sign-in token was issued for another service (audience)"),
    "iss": lambda: _("the sign-in token comes from another issuer"),
    "exp": lambda: _("the sign-in token has expired"),
    "iat": lambda: _("the sign-in token's time is not valid"),
    "email_verified": lambda: _("the provider has not confirmed that the e-mail address is verified"),
    "email": lambda: _("the provider did not send an e-mail address"),
    "id_token": lambda: _("the provider sent no sign-in token"),
}


def _refused(p: Provider, reason: str) -> OidcError:
    log.warning("OIDC sign-in with %s refused: %s", p.id, reason)
    explanation = _REASONS.get(reason, lambda: _("the answer could not be verified"))()
    return OidcError(_("Signing in with %(provider)s did not succeed: %(reason)s. Start again from the sign-in page; "
                       "if it happens again, tell your administrator.", provider=p.label(_locale()), reason=explanation),
                     status=400, reason=reason)


def complete(p: Provider) -> Identity:
    """Check the provider's answer to this browser's sign-in and return who it vouches for."""
    from authlib.integrations.base_client import MismatchingStateError, OAuthError
    from joserfc import errors as jose_errors
    from requests import RequestException

    metadata = _metadata(p)
    client = _client(p)
    try:
        token = client.authorize_access_token(
            leeway=p.leeway_seconds,
            # Authlib checks the audience only through ``azp``; the client id must be in ``aud`` itself
            claims_options={"iss": {"essential": True, "values": [p.issuer]}, "aud": {"essential": True, "value": p.client_id}})
    except MismatchingStateError:
        raise _refused(p, "state") from None
    except OAuthError as exc:
        if exc.error in ("access_denied", "login_required", "interaction_required", "consent_required"):
            raise OidcError(_("Signing in with %(provider)s was cancelled.", provider=p.label(_locale())),
                            status=400, reason=exc.error) from None
        raise _refused(p, f"oauth:{exc.error}") from None
    except jose_errors.ExpiredTokenError:
        raise _refused(p, "exp") from None
    except (jose_errors.InvalidClaimError, jose_errors.MissingClaimError) as exc:
        raise _refused(p, getattr(exc, "claim", "claims")) from None
    except (jose_errors.BadSignatureError, jose_errors.InvalidKeyIdError, jose_errors.DecodeError,
            jose_errors.UnsupportedAlgorithmError, jose_errors.MissingKeyError):
        raise _refused(p, "signature") from None
    except jose_errors.JoseError as exc:
        raise _refused(p, f"jose:{type(exc).__name__}") from None
    except RequestException as exc:
        log.warning("OIDC provider %s: token endpoint unavailable (%s)", p.id, type(exc).__name__)
        raise OidcError(_("%(provider)s cannot be reached just now. Try again in a moment.", provider=p.label(_locale())),
                        status=503, reason="unreachable") from None
    if "id_token" not in token or "userinfo" not in token:
        raise _refused(p, "id_token")
    claims = dict(token["userinfo"])
    wanted = [c for c in (p.email_claim, p.groups_claim, "email_verified") if c]
    if any(c not in claims for c in wanted) and metadata.get("userinfo_endpoint"):
        claims = {**_userinfo(p, client, token, claims["sub"]), **claims}
    return _identity(p, claims)


def _userinfo(p: Provider, client, token: dict, subject: str) -> dict:
    """Claims the ID token left out (some providers send e-mail and groups only here); the subject must match."""
    try:
        info = dict(client.userinfo(token=token))
    except Exception as exc:  # noqa: BLE001 - the ID token alone decides then
        log.warning("OIDC provider %s: userinfo unavailable (%s)", p.id, type(exc).__name__)
        return {}
    if info.get("sub") != subject:
        raise _refused(p, "sub")
    return info


def _identity(p: Provider, claims: Mapping[str, Any]) -> Identity:
    email = claims.get(p.email_claim)
    if not isinstance(email, str) or "@" not in email:
        raise _refused(p, "email")
    if not p.trust_email and claims.get("email_verified") not in (True, "true"):
        raise _refused(p, "email_verified")
    groups: tuple[str, ...] | None = None
    if p.groups_claim:
        raw = claims.get(p.groups_claim) or []
        if isinstance(raw, str):
            raw = raw.split()
        groups = tuple(str(g) for g in raw if isinstance(g, (str, int)))
    name = claims.get("name") if isinstance(claims.get("name"), str) else ""
    return Identity(provider=p.id, subject=str(claims["sub"]), email=email.strip().lower(), name=name.strip(), groups=groups)


def logout_url(p: Provider, post_logout_redirect_uri: str, locale: str) -> str | None:
    """The provider's RP-initiated logout address, when it has one (and it is not switched off)."""
    if not p.logout:
        return None
    try:
        endpoint = _metadata(p).get("end_session_endpoint")
    except OidcError:
        return None
    if not endpoint:
        return None
    query = urlencode({"client_id": p.client_id, "post_logout_redirect_uri": post_logout_redirect_uri, "ui_locales": locale})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
