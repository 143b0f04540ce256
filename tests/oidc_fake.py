"""Single sign-on at the unit level: ID tokens the tests sign themselves with a test JWKS.

The provider's discovery document and keys are set on KBP's Authlib client directly (no network),
and the token endpoint's answer is the token the test made; everything else — ``state`` in the
session, the nonce, the signature against the JWKS, issuer, audience, expiry with the configured
leeway, linking and roles — is KBP's real code. The whole flow against a real provider is in
``tests/test_sso_browser.py``.
"""
from __future__ import annotations

import time
from unittest import mock
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

ISSUER = "https://idp.example.test/realms/kbp"
CLIENT_ID = "kbp-unit"
KEY = RSAKey.generate_key(2048, private=True, parameters={"kid": "unit-key-1", "use": "sig", "alg": "RS256"})
STRANGER = RSAKey.generate_key(2048, private=True, parameters={"kid": "unit-key-1", "use": "sig", "alg": "RS256"})


def provider_settings(provider_id: str = "unit", **overrides) -> dict:
    return {"id": provider_id, "title": {"en": "Unit IdP", "sv": "Enhetens IdP"}, "issuer": ISSUER,
            "client_id": CLIENT_ID, "client_secret": "unit-secret", "groups_claim": "groups",
            "roles": {"kbp-admins": "admin", "kbp-coaches": "coach"}, **overrides}


def preset_metadata(app, provider_id: str = "unit", *, issuer: str = ISSUER, keys=(KEY,)) -> None:
    """The discovery document and JWKS as if fetched (Authlib does not fetch what it has)."""
    with app.app_context():
        client = app.extensions["kbp_oidc"]["oauth"].create_client(provider_id)
        client.server_metadata.update({
            "_loaded_at": time.time(), "issuer": issuer,
            "authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks", "end_session_endpoint": f"{ISSUER}/logout",
            "id_token_signing_alg_values_supported": ["RS256"],
            "jwks": {"keys": [k.as_dict(private=False) for k in keys]},
        })


def id_token(claims: dict, key=KEY) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)


def claims_for(email: str, nonce: str, **overrides) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "sub": "sub-" + email, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce,
            "email": email, "email_verified": True, "groups": [], **overrides}


def start(client, provider_id: str = "unit") -> dict:
    """``GET /login/sso/<id>``: the parameters KBP sent to the provider (state, nonce, PKCE …)."""
    response = client.get(f"/login/sso/{provider_id}")
    assert response.status_code == 302, response.get_data(as_text=True)
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def answer(client, sent: dict, token_claims: dict | None = None, *, provider_id: str = "unit", key=KEY,
           state: str | None = None, token: dict | None = None):
    """The provider's answer: the callback with ``code`` and ``state``; the token endpoint returns
    ``token`` (default: an access token and an ID token of ``token_claims`` signed with ``key``)."""
    from authlib.integrations.flask_client.apps import FlaskOAuth2App

    if token is None:
        token = {"access_token": "at-unit", "token_type": "Bearer", "expires_in": 300, "id_token": id_token(token_claims, key)}
    with mock.patch.object(FlaskOAuth2App, "fetch_access_token", return_value=dict(token)) as fetch:
        response = client.get(f"/login/sso/{provider_id}/callback?code=unit-code&state={state or sent['state']}")
    if response.status_code == 302:  # the token request carried the PKCE verifier of this sign-in
        assert fetch.call_args.kwargs.get("code_verifier"), fetch.call_args
    return response


def sso_sign_in(client, email: str, provider_id: str = "unit", **claim_overrides):
    """Sign ``client`` in through single sign-on as ``email`` (a well-formed, correctly signed answer)."""
    sent = start(client, provider_id)
    return answer(client, sent, claims_for(email, sent["nonce"], **claim_overrides), provider_id=provider_id)
