"""Single sign-on (issue 21) at the unit level: ID tokens signed with a test JWKS (tests/oidc_fake.py),
KBP's real state, nonce, signature, issuer, audience and expiry checks, linking, roles from groups,
KBP_LOCAL_LOGIN and sign-out. The same flow against a real provider in Chromium: test_sso_browser.py.
"""
from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from core import oidc
from core.auth import ROLES
from tests import oidc_fake as fake
from tests.helpers import csrf_token, make_account, make_person, plain_client

PASSWORD = "correct horse battery"


@pytest.fixture
def sso_app(make_app):
    def _make(local_login: str = "all", **provider):
        app = make_app(OIDC_PROVIDERS=json.dumps([fake.provider_settings(**provider)]), LOCAL_LOGIN=local_login)
        fake.preset_metadata(app)
        return app

    return _make


def storage(app):
    return app.extensions["kbp"].storage


def account_of(app, person) -> dict | None:
    found = storage(app).collection("accounts").find(person_id=person["id"])
    return found[0] if found else None


def audit(app, action) -> list[dict]:
    return [e for e in storage(app).collection("audit").all() if e["action"] == action]


def signed_in(client) -> bool:
    return client.get("/api/v1/me").status_code == 200


# ----------------------------------------------------------------------------- settings


@pytest.mark.parametrize("value, reason", [
    ("{not json", "not valid JSON"),
    ([{"id": "Bad Id", "issuer": "https://x", "client_id": "a", "client_secret": "b"}], "lower-case"),
    ([{"id": "x", "client_id": "a", "client_secret": "b"}], "needs issuer"),
    ([{"id": "x", "issuer": "https://x", "client_id": "a", "client_secret": "b", "roles": {"g": "boss"}}], "roles maps"),
    ([{"id": "x", "issuer": "https://x", "client_id": "a", "client_secret": "b", "leeway_seconds": 3600}], "leeway_seconds"),
    ([{"id": "x", "issuer": "https://x", "client_id": "a", "client_secret": "b", "scopes": "email"}], "openid"),
    ([{"id": "x", "issuer": "https://x", "client_id": "a", "client_secret": "b", "colour": "red"}], "unknown setting"),
    ([{"id": "x", "issuer": "ftp://x", "client_id": "a", "client_secret": "b"}], "https://"),
])
def test_a_wrong_provider_setting_stops_the_start_with_the_reason(value, reason):
    with pytest.raises(SystemExit, match=reason):
        oidc.parse_providers(value, ROLES)


def test_settings_from_json_or_a_toml_list_and_local_login_modes(make_app, tmp_path):
    config = tmp_path / "kbp.toml"
    config.write_text('local_login = "admins"\n[[oidc_providers]]\nid = "keycloak"\nissuer = "https://kc.example/realms/org"\n'
                      'client_id = "kbp"\nclient_secret = "s"\ngroups_claim = "groups"\n[oidc_providers.roles]\n"/kbp-admins" = "admin"\n')
    app = make_app(CONFIG_FILE=str(config))
    with app.test_request_context():
        (p,) = oidc.providers()
        assert (p.id, p.roles, p.leeway_seconds, p.discovery_url) == (
            "keycloak", {"/kbp-admins": "admin"}, 60, "https://kc.example/realms/org/.well-known/openid-configuration")
    assert app.config["LOCAL_LOGIN"] == "admins"
    with pytest.raises(SystemExit, match="LOCAL_LOGIN"):
        make_app(LOCAL_LOGIN="sometimes")


# ----------------------------------------------------------------------------- linking and roles


def test_first_sign_in_links_a_new_account_to_the_imported_person(sso_app):
    app = sso_app()
    person = make_person(app, "Anna Andersson")
    client = plain_client(app)
    sent = fake.start(client)
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"] and sent["nonce"] and sent["state"]
    assert "openid" in sent["scope"].split()
    response = fake.answer(client, sent, fake.claims_for(person["email"].upper(), sent["nonce"], groups=["kbp-coaches"]))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    account = account_of(app, person)
    assert account["role"] == "coach" and account["username"] == person["email"] and account["password_hash"] is None
    assert account["sso"] == {"unit": "sub-" + person["email"].upper()}
    assert client.get("/api/v1/me").get_json()["person"]["id"] == person["id"]
    (entry,) = audit(app, "sign_in")
    assert entry["details"] == {"method": "oidc", "provider": "unit"} and entry["subject_id"] == account["id"]
    session = storage(app).collection("sessions").find(account_id=account["id"])[0]
    assert (session["method"], session["provider"]) == ("oidc", "unit")


def test_an_existing_local_account_is_linked_and_groups_change_its_role_at_every_sign_in(sso_app):
    app = sso_app()
    person = make_person(app)
    local = make_account(app, "employee", person, password=PASSWORD)
    laptop = plain_client(app)
    assert laptop.post("/login", data={"username": local["username"], "password": PASSWORD,
                                       "csrf_token": csrf_token(laptop)}).status_code == 302
    client = plain_client(app)
    assert fake.sso_sign_in(client, person["email"], groups=["kbp-coaches", "kbp-admins", "other"]).status_code == 302
    assert account_of(app, person)["id"] == local["id"] and account_of(app, person)["role"] == "admin"  # highest wins
    assert not signed_in(laptop), "a role change ends the account's other sessions"
    assert signed_in(client)
    assert fake.sso_sign_in(plain_client(app), person["email"], groups=["kbp-coaches"]).status_code == 302
    assert account_of(app, person)["role"] == "coach"  # the admin group was removed at the provider
    assert fake.sso_sign_in(plain_client(app), person["email"], groups=[]).status_code == 302
    assert account_of(app, person)["role"] == "employee"  # no mapped group: default_role
    changes = [e["details"] for e in sorted(audit(app, "role_change"), key=lambda e: e["at"])]
    assert changes == [{"from": "employee", "to": "admin", "provider": "unit"}, {"from": "admin", "to": "coach", "provider": "unit"},
                       {"from": "coach", "to": "employee", "provider": "unit"}]
    password_sign_in = [e for e in audit(app, "sign_in") if e["details"]["method"] == "password"]
    assert len(password_sign_in) == 1


def test_without_a_groups_claim_roles_stay_in_kbp(sso_app):
    app = sso_app(groups_claim=None, default_role="employee")
    person = make_person(app)
    make_account(app, "coach", person)
    assert fake.sso_sign_in(plain_client(app), person["email"], groups=["kbp-admins"]).status_code == 302
    assert account_of(app, person)["role"] == "coach"


def test_no_mapped_group_and_no_default_role_is_refused(sso_app):
    app = sso_app(default_role=None)
    person = make_person(app)
    client = plain_client(app)
    response = fake.sso_sign_in(client, person["email"], groups=["sales"])
    assert response.status_code == 403 and "none of the groups" in response.get_data(as_text=True)
    assert account_of(app, person) is None and not signed_in(client)


def test_an_e_mail_that_matches_no_person_gets_a_clear_page(sso_app):
    app = sso_app()
    client = plain_client(app)
    response = fake.sso_sign_in(client, "stranger@example.test")
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and "stranger@example.test" in page and "no person with that e-mail address" in page
    assert not storage(app).collection("accounts").find(username="stranger@example.test") and not signed_in(client)


def test_just_in_time_creation_makes_the_person_and_the_account(sso_app):
    app = sso_app(create_people=True)
    client = plain_client(app)
    assert fake.sso_sign_in(client, "new.person@example.test", name="Ny Person", groups=["kbp-coaches"]).status_code == 302
    (person,) = storage(app).collection("people").find(email="new.person@example.test")
    assert person["name"] == "Ny Person" and account_of(app, person)["role"] == "coach" and signed_in(client)
    assert [e["subject_type"] for e in audit(app, "create")] == ["person", "account"]


@pytest.mark.parametrize("claims, trust, ok", [
    ({"email_verified": False}, False, False),
    ({"email_verified": None}, False, False),
    ({"email_verified": False}, True, True),  # e.g. Entra ID: the organisation's own directory sets the address
])
def test_the_e_mail_must_be_verified_unless_the_provider_is_trusted_for_it(sso_app, claims, trust, ok):
    app = sso_app(trust_email=trust)
    person = make_person(app)
    client = plain_client(app)
    response = fake.sso_sign_in(client, person["email"], **claims)
    assert (response.status_code == 302) is ok and signed_in(client) is ok
    if not ok:
        assert "not confirmed that the e-mail address is verified" in response.get_data(as_text=True)


def test_a_person_who_left_or_a_deactivated_account_is_refused(sso_app):
    app = sso_app()
    leaver = make_person(app, status="left")
    response = fake.sso_sign_in(plain_client(app), leaver["email"])
    assert response.status_code == 403 and "left the organisation" in response.get_data(as_text=True)
    person = make_person(app)
    account = make_account(app, "employee", person)
    client = plain_client(app)
    assert fake.sso_sign_in(client, person["email"]).status_code == 302 and signed_in(client)
    from core.services import accounts as accounts_service

    accounts_service.update_account(storage(app), accounts_service.CLI, account["id"], {"active": False})
    assert client.get("/").status_code == 302, "the SSO session ends at the next request"
    assert not signed_in(client)
    response = fake.sso_sign_in(plain_client(app), person["email"])
    assert response.status_code == 403 and "deactivated" in response.get_data(as_text=True)


# ----------------------------------------------------------------------------- the answer is checked


def _tampered(sent, email):
    now = int(time.time())
    return {
        "nonce": (fake.claims_for(email, "another-nonce"), fake.KEY, "nonce"),
        "no nonce": ({k: v for k, v in fake.claims_for(email, sent["nonce"]).items() if k != "nonce"}, fake.KEY, "nonce"),
        "signature": (fake.claims_for(email, sent["nonce"]), fake.STRANGER, "signature is not valid"),
        "audience": (fake.claims_for(email, sent["nonce"], aud="another-client"), fake.KEY, "another service"),
        "audience with our azp": (fake.claims_for(email, sent["nonce"], aud=["another-client"], azp=fake.CLIENT_ID),
                                  fake.KEY, "another service"),
        "issuer": (fake.claims_for(email, sent["nonce"], iss="https://attacker.example"), fake.KEY, "another issuer"),
        "expired": (fake.claims_for(email, sent["nonce"], iat=now - 600, exp=now - 61 - 5), fake.KEY, "expired"),
    }


@pytest.mark.parametrize("case", ["nonce", "no nonce", "signature", "audience", "audience with our azp", "issuer", "expired"])
def test_a_tampered_or_expired_id_token_is_refused_with_a_message(sso_app, case):
    app = sso_app()
    person = make_person(app)
    client = plain_client(app)
    sent = fake.start(client)
    claims, key, message = _tampered(sent, person["email"])[case]
    response = fake.answer(client, sent, claims, key=key)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page and "Start again" in page, page
    assert not signed_in(client) and account_of(app, person) is None


def test_a_tampered_or_replayed_state_is_refused(sso_app):
    app = sso_app()
    person = make_person(app)
    client = plain_client(app)
    sent = fake.start(client)
    claims = fake.claims_for(person["email"], sent["nonce"])
    response = fake.answer(client, sent, claims, state=sent["state"] + "x")
    assert response.status_code == 400 and "does not belong to a sign-in started in this browser" in response.get_data(as_text=True)
    other_browser = plain_client(app)  # an answer meant for someone else's browser (login CSRF)
    assert fake.answer(other_browser, sent, claims).status_code == 400 and not signed_in(other_browser)
    assert fake.answer(client, sent, claims).status_code == 302  # the real one still works once …
    assert fake.answer(plain_client(app), sent, claims).status_code == 400  # … and never again


def test_clock_skew_within_the_leeway_is_tolerated(sso_app):
    app = sso_app(leeway_seconds=60)
    person = make_person(app)
    now = int(time.time())
    client = plain_client(app)
    assert fake.sso_sign_in(client, person["email"], iat=now + 30, exp=now - 30).status_code == 302 and signed_in(client)


def test_a_token_response_without_an_id_token_is_refused(sso_app):
    app = sso_app()
    client = plain_client(app)
    sent = fake.start(client)
    response = fake.answer(client, sent, token={"access_token": "a", "token_type": "Bearer"})
    assert response.status_code == 400 and "no sign-in token" in response.get_data(as_text=True)


def test_the_provider_saying_no_is_a_message_not_an_error(sso_app):
    app = sso_app()
    client = plain_client(app)
    sent = fake.start(client)
    response = client.get(f"/login/sso/unit/callback?error=access_denied&state={sent['state']}")
    assert response.status_code == 400 and "was cancelled" in response.get_data(as_text=True)
    assert plain_client(app).get("/login/sso/nope").status_code == 404


# ----------------------------------------------------------------------------- the sign-in page and passwords


def test_the_sign_in_page_has_a_button_per_provider_in_the_readers_language(make_app):
    providers = [fake.provider_settings(), fake.provider_settings("second", title="Kommunens inloggning")]
    app = make_app(OIDC_PROVIDERS=json.dumps(providers))
    client = plain_client(app)
    en = client.get("/login?lang=en&next=/plans").get_data(as_text=True)
    assert "Sign in with Unit IdP" in en and "Sign in with Kommunens inloggning" in en
    assert 'href="/login/sso/unit?next=/plans"' in en
    sv = client.get("/login?lang=sv").get_data(as_text=True)
    assert "Logga in med Enhetens IdP" in sv and "Logga in med Kommunens inloggning" in sv


def test_local_login_admins_lets_only_the_break_glass_admin_use_a_password(sso_app):
    app = sso_app(local_login="admins")
    employee = make_account(app, "employee", password=PASSWORD)
    admin = make_account(app, "admin", password=PASSWORD)
    client = plain_client(app)
    assert "Only administrators sign in with a password here." in client.get("/login").get_data(as_text=True)
    refused = client.post("/login", data={"username": employee["username"], "password": PASSWORD, "csrf_token": csrf_token(client)})
    wrong = client.post("/login", data={"username": employee["username"], "password": "wrong password!", "csrf_token": csrf_token(client)})
    assert refused.status_code == wrong.status_code == 401
    alert = re.compile(r'role="alert">([^<]+)<')
    assert alert.search(refused.get_data(as_text=True)).group(1) == alert.search(wrong.get_data(as_text=True)).group(1), (
        "the answer does not tell that the password was right")
    assert not signed_in(client)
    ok = client.post("/login", data={"username": admin["username"], "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert ok.status_code == 302 and signed_in(client)


def test_local_login_off_refuses_every_password(sso_app):
    app = sso_app(local_login="off")
    admin = make_account(app, "admin", password=PASSWORD)
    client = plain_client(app)
    page = client.get("/login").get_data(as_text=True)
    assert 'type="password"' not in page and "Sign in with Unit IdP" in page
    app.config["LOCAL_LOGIN"] = "all"  # a form fetched before the setting changed (the page has none now)
    token = csrf_token(client)
    app.config["LOCAL_LOGIN"] = "off"
    response = client.post("/login", data={"username": admin["username"], "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 403 and "switched off" in response.get_data(as_text=True) and not signed_in(client)
    assert fake.sso_sign_in(client, admin["username"], groups=["kbp-admins"]).status_code == 302 and signed_in(client)


# ----------------------------------------------------------------------------- sign-out


def test_sign_out_of_an_sso_session_also_ends_the_session_at_the_provider(sso_app):
    app = sso_app()
    person = make_person(app)
    client = plain_client(app)
    fake.sso_sign_in(client, person["email"])
    assert "form-action 'self' https://idp.example.test" in client.get("/").headers["Content-Security-Policy"]
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    location = urlsplit(response.headers["Location"])
    assert response.status_code == 302 and f"{location.scheme}://{location.netloc}{location.path}" == f"{fake.ISSUER}/logout"
    query = parse_qs(location.query)
    assert query["client_id"] == [fake.CLIENT_ID] and query["post_logout_redirect_uri"] == ["http://localhost/login"]
    assert not signed_in(client)
    password_user = make_account(app, "employee", password=PASSWORD)
    client = plain_client(app)
    client.post("/login", data={"username": password_user["username"], "password": PASSWORD, "csrf_token": csrf_token(client)})
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    assert response.headers["Location"] == "/login"


def test_sign_out_without_provider_logout_stays_local(sso_app):
    app = sso_app(logout=False)
    person = make_person(app)
    client = plain_client(app)
    fake.sso_sign_in(client, person["email"])
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    assert response.headers["Location"] == "/login" and not signed_in(client)


def test_the_audit_log_shows_how_someone_signed_in(sso_app):
    app = sso_app()
    person = make_person(app)
    fake.sso_sign_in(plain_client(app), person["email"], groups=["kbp-coaches"])
    admin = app.test_client()  # an administrator's API token
    entries = admin.get("/api/v1/audit").get_json()
    assert {"method": "oidc", "provider": "unit"} in [e.get("details") for e in entries if e["action"] == "sign_in"]
    assert {"from": "employee", "to": "coach", "provider": "unit"} not in [e.get("details") for e in entries]  # a new account
    assert "method: oidc, provider: unit" in admin.get("/admin/audit").get_data(as_text=True)


def test_a_person_marked_as_left_is_signed_out_at_the_next_request_however_they_signed_in(sso_app):
    app = sso_app()
    sso_person, password_person = make_person(app), make_person(app)
    make_account(app, "employee", password_person, password=PASSWORD)
    by_sso = plain_client(app)
    fake.sso_sign_in(by_sso, sso_person["email"])
    by_password = plain_client(app)
    by_password.post("/login", data={"username": password_person["email"], "password": PASSWORD, "csrf_token": csrf_token(by_password)})
    assert signed_in(by_sso) and signed_in(by_password)
    admin = app.test_client()
    for p in (sso_person, password_person):  # the people import (or HR on the person's page) marks them as left
        assert admin.patch(f"/api/v1/people/{p['id']}", json={"status": "left"}).status_code == 200
    assert not signed_in(by_sso) and not signed_in(by_password)
    assert by_sso.get("/plans").status_code == 302
    again = plain_client(app)
    response = again.post("/login", data={"username": password_person["email"], "password": PASSWORD, "csrf_token": csrf_token(again)})
    assert response.status_code == 401 and not signed_in(again)


def test_the_readme_example_is_a_valid_setting():
    import tomllib
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Single sign-on", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0].replace('"…"', '"secret"')
    data = tomllib.loads(example)
    (p,) = oidc.parse_providers(data["oidc_providers"], ROLES)
    assert data["local_login"] in oidc.LOCAL_LOGIN_MODES
    assert p.roles == {"/kbp-admins": "admin", "/kbp-coaches": "coach"} and p.label("sv") == "Kommunens inloggning"


def test_only_the_latest_sign_in_of_a_browser_is_pending_so_the_cookie_stays_small(sso_app):
    app = sso_app()
    person = make_person(app)
    client = plain_client(app)
    first = fake.start(client)
    for _ in range(30):
        latest = fake.start(client)
    assert len(client.get_cookie("session").value) < 1500
    assert latest["ui_locales"] == "en"
    assert fake.answer(client, first, fake.claims_for(person["email"], first["nonce"])).status_code == 400
    assert fake.answer(client, latest, fake.claims_for(person["email"], latest["nonce"])).status_code == 302
