"""Sessions, sign-in throttling, password rules and API-token lifetimes (issue 12 items 7–10, issue 24).

Every test signs in the way a person does (the sign-in form, each client with its own CSRF token),
so what is tested is the product's behaviour, not a session the test wrote itself. Time is faked
through :func:`core.sessions.now`; nothing sleeps.
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import pytest
from flask.testing import FlaskClient

from core import create_app
from tests.helpers import csrf_token, make_account, make_person, signed_in_client

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def app(tmp_path):
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "DEFAULT_LOCALE": "en"})


@pytest.fixture
def clock(monkeypatch):
    """A fake clock for sessions, throttling and tokens: ``clock.advance(seconds)``."""
    from core import sessions

    class Clock:
        t = time.time()

        def advance(self, seconds: float) -> None:
            self.t += seconds

    fake = Clock()
    monkeypatch.setattr(sessions, "now", lambda: fake.t)
    return fake


def client_of(app, address: str = "127.0.0.1", **environ) -> FlaskClient:
    """A browser of its own (cookies, CSRF token) at ``address``."""
    client = FlaskClient(app, app.response_class, use_cookies=True)
    client.environ_base.update({"REMOTE_ADDR": address, **environ})
    return client


def login(client, username, password):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)})


def user(app, role="employee", password=PASSWORD, **person):
    p = make_person(app, **person)
    return make_account(app, role, p, password=password)


def signed_in(app, account, password=PASSWORD, address="127.0.0.1") -> FlaskClient:
    client = client_of(app, address)
    response = login(client, account["username"], password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def copy_cookie(source: FlaskClient, app) -> FlaskClient:
    """Another client holding a copy of ``source``'s session cookie (as a thief would)."""
    thief = client_of(app)
    cookie = source.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    thief.set_cookie(cookie.key, cookie.value)
    return thief


def api_post(client, url, **kwargs):
    return client.post(url, headers={"X-CSRFToken": csrf_token(client, "/me")}, **kwargs)


# ----------------------------------------------------------------------------- 7. revocable sessions


def test_a_cookie_copied_before_sign_out_no_longer_works(app):
    account = user(app)
    browser = signed_in(app, account)
    thief = copy_cookie(browser, app)
    assert thief.get("/api/v1/me").status_code == 200
    assert browser.post("/logout", data={"csrf_token": csrf_token(browser, "/me")}).status_code == 302
    assert thief.get("/api/v1/me").status_code == 401
    assert thief.get("/me").status_code == 302


def test_sign_out_everywhere_ends_every_session_of_the_account_only(app):
    account = user(app)
    laptop, phone = signed_in(app, account), signed_in(app, account)
    other = signed_in(app, user(app))
    assert api_post(laptop, "/api/v1/me/sessions/sign-out-everywhere").status_code == 204
    assert laptop.get("/api/v1/me").status_code == 401
    assert phone.get("/api/v1/me").status_code == 401
    assert other.get("/api/v1/me").status_code == 200
    # the page does the same
    laptop, phone = signed_in(app, account), signed_in(app, account)
    response = laptop.post("/me", data={"action": "sign_out_everywhere", "csrf_token": csrf_token(laptop, "/me")})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert phone.get("/api/v1/me").status_code == 401
    assert laptop.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("change", [{"active": False}, {"role": "coach"}, {"password": NEW_PASSWORD}])
def test_deactivation_role_change_and_password_reset_end_sessions(app, change):
    admin = signed_in_client(app, "admin")
    account = user(app)
    browser = signed_in(app, account)
    response = admin.patch(f"/api/v1/accounts/{account['id']}", json=change, headers={"X-CSRFToken": csrf_token(admin, "/me")})
    assert response.status_code == 200, response.get_json()
    assert browser.get("/api/v1/me").status_code == 401
    assert not app.extensions["kbp"].storage.collection("sessions").find(account_id=account["id"])


def test_sessions_are_stored_server_side_without_the_cookie_secret(app):
    account = user(app)
    browser = signed_in(app, account)
    records = app.extensions["kbp"].storage.collection("sessions").find(account_id=account["id"])
    assert len(records) == 1
    with app.test_request_context():
        from flask import current_app

        serializer = current_app.session_interface.get_signing_serializer(current_app)
        secret = serializer.loads(browser.get_cookie("session").value)["sid"]
    assert secret not in str(records) and records[0]["id"] != secret


# ----------------------------------------------------------------------------- 8. lifetimes


def test_session_cookie_lives_at_most_the_absolute_timeout_not_31_days(app):
    account = user(app)
    client = client_of(app)
    response = login(client, account["username"], PASSWORD)
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", response.headers["Set-Cookie"]).group(1))
    lifetime = expires - datetime.now(timezone.utc)
    assert lifetime.total_seconds() <= 7 * 24 * 3600 + 60
    assert app.config["SESSION_IDLE_SECONDS"] == 8 * 3600 and app.config["SESSION_MAX_SECONDS"] == 7 * 24 * 3600


def test_idle_timeout(app, clock):
    account = user(app)
    browser = signed_in(app, account)
    clock.advance(7 * 3600)
    assert browser.get("/api/v1/me").status_code == 200  # activity keeps the session alive
    clock.advance(7 * 3600)
    assert browser.get("/api/v1/me").status_code == 200
    clock.advance(8 * 3600 + 1)
    assert browser.get("/api/v1/me").status_code == 401
    assert not app.extensions["kbp"].storage.collection("sessions").find(account_id=account["id"])


def test_absolute_timeout_even_when_active(app, clock):
    browser = signed_in(app, user(app))
    for _ in range(7 * 24 // 6):
        clock.advance(6 * 3600)
        assert browser.get("/api/v1/me").status_code == 200
    clock.advance(6 * 3600)  # 7 days and 6 hours after signing in
    assert browser.get("/api/v1/me").status_code == 401


def test_lifetimes_are_configurable_from_the_environment(tmp_path, monkeypatch, clock):
    monkeypatch.setenv("KBP_SESSION_IDLE_SECONDS", "600")
    monkeypatch.setenv("KBP_SESSION_MAX_SECONDS", "3600")
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "d")})
    assert app.config["SESSION_IDLE_SECONDS"] == 600 and app.config["SESSION_MAX_SECONDS"] == 3600
    assert app.permanent_session_lifetime.total_seconds() == 3600
    browser = signed_in(app, user(app))
    clock.advance(599)
    assert browser.get("/api/v1/me").status_code == 200
    clock.advance(601)
    assert browser.get("/api/v1/me").status_code == 401


def test_bad_lifetime_settings_are_refused_at_start(tmp_path):
    with pytest.raises(SystemExit, match="SESSION_IDLE_SECONDS"):
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "d"), "SESSION_IDLE_SECONDS": 0})


# ----------------------------------------------------------------------------- 9. throttling


def failed(client, username, times=1):
    for _ in range(times):
        assert login(client, username, "wrong password").status_code == 401


def test_failures_with_many_names_from_one_address_do_not_lock_other_accounts(app):
    """Behind a reverse proxy one address is the whole office: a few wrong names lock nobody else."""
    victim = user(app)
    office = client_of(app, "10.0.0.1")
    for n in range(12):
        failed(office, f"someone{n}@example.test", times=1)
    failed(office, "typo@example.test", times=5)  # that name is now locked at this address; nobody else is
    assert login(client_of(app, "10.0.0.1"), victim["username"], PASSWORD).status_code == 302


def test_account_and_address_pair_locks_with_exponential_back_off(app, clock):
    account = user(app)
    attacker = client_of(app, "10.6.6.6")
    failed(attacker, account["username"], times=5)
    locked = login(attacker, account["username"], PASSWORD)  # even the right password is refused now
    assert locked.status_code == 429
    assert "Try again in 1 minute" in locked.get_data(as_text=True)
    assert locked.headers["Retry-After"] == "60"
    # the owner, at another address, is not locked out by the attacker's five tries
    assert login(client_of(app, "10.1.1.1"), account["username"], PASSWORD).status_code == 302
    clock.advance(61)
    failed(attacker, account["username"])  # the sixth failure: twice as long
    assert login(attacker, account["username"], PASSWORD).headers["Retry-After"] == "120"
    clock.advance(121)
    failed(attacker, account["username"])
    assert login(attacker, account["username"], PASSWORD).headers["Retry-After"] == "240"
    clock.advance(241)
    assert login(attacker, account["username"], PASSWORD).status_code == 302  # success forgets the failures
    failed(client_of(app, "10.6.6.6"), account["username"])
    assert login(client_of(app, "10.6.6.6"), account["username"], PASSWORD).status_code == 302


def test_account_is_locked_from_any_address_after_many_failures(app, clock):
    account = user(app)
    for n in range(20):  # 20 addresses, one failure each: no pair lock, but the account's own limit
        failed(client_of(app, f"10.20.0.{n}"), account["username"])
    fresh = client_of(app, "10.8.8.8")  # its own CSRF token, a never-seen address
    response = login(fresh, account["username"], PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.get_data(as_text=True)
    clock.advance(61)
    assert login(client_of(app, "10.8.8.8"), account["username"], PASSWORD).status_code == 302


def test_password_spraying_from_one_address_is_limited(app, clock):
    account = user(app)
    sprayer = client_of(app, "10.66.0.1")
    for n in range(100):
        failed(sprayer, f"guess{n}@example.test")
    response = login(sprayer, account["username"], PASSWORD)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) <= 15 * 60
    assert login(client_of(app, "10.66.0.2"), account["username"], PASSWORD).status_code == 302
    clock.advance(15 * 60 + 1)
    assert login(client_of(app, "10.66.0.1"), account["username"], PASSWORD).status_code == 302


def test_throttle_counters_are_shared_through_storage(app, tmp_path):
    """Two apps on one data folder stand in for two gunicorn workers."""
    account = user(app)
    worker2 = create_app({"TESTING": True, "DATA_DIR": app.config["DATA_DIR"], "DEFAULT_LOCALE": "en"})
    failed(client_of(app, "10.3.3.3"), account["username"], times=3)
    failed(client_of(worker2, "10.3.3.3"), account["username"], times=2)
    assert login(client_of(app, "10.3.3.3"), account["username"], PASSWORD).status_code == 429
    assert login(client_of(worker2, "10.3.3.3"), account["username"], PASSWORD).status_code == 429


def test_forwarded_for_is_ignored_unless_from_a_trusted_proxy(tmp_path):
    untrusted = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "a"), "DEFAULT_LOCALE": "en"})
    account = user(untrusted)
    failed(client_of(untrusted, "10.0.0.9", HTTP_X_FORWARDED_FOR="192.0.2.1"), account["username"], times=5)
    # a client cannot dodge its lock by inventing a forwarded address
    spoofed = client_of(untrusted, "10.0.0.9", HTTP_X_FORWARDED_FOR="192.0.2.2")
    assert login(spoofed, account["username"], PASSWORD).status_code == 429

    proxied = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "b"), "DEFAULT_LOCALE": "en",
                          "TRUSTED_PROXIES": "10.0.0.9, 10.1.0.0/16"})
    account = user(proxied)
    failed(client_of(proxied, "10.0.0.9", HTTP_X_FORWARDED_FOR="192.0.2.1"), account["username"], times=5)
    assert login(client_of(proxied, "10.0.0.9", HTTP_X_FORWARDED_FOR="192.0.2.1"), account["username"], PASSWORD).status_code == 429
    # behind the trusted proxy, another client's address is another client
    assert login(client_of(proxied, "10.0.0.9", HTTP_X_FORWARDED_FOR="192.0.2.2"), account["username"], PASSWORD).status_code == 302
    # two trusted hops: the address before the inner proxy counts
    two_hops = client_of(proxied, "10.0.0.9", HTTP_X_FORWARDED_FOR="192.0.2.1, 10.1.4.4")
    assert login(two_hops, account["username"], PASSWORD).status_code == 429
    # an address the proxy added for a client that is not a trusted proxy is not believed further
    chained = client_of(proxied, "10.0.0.9", HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.7")
    assert login(chained, account["username"], PASSWORD).status_code == 302


def test_trusted_proxies_setting_is_checked_at_start(tmp_path):
    with pytest.raises(SystemExit, match="TRUSTED_PROXIES"):
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "d"), "TRUSTED_PROXIES": "not-an-address"})


def test_lock_message_in_swedish(app):
    account = user(app)
    client = client_of(app, "10.7.7.7")
    failed(client, account["username"], times=5)
    client.get("/login?lang=sv")
    page = login(client, account["username"], PASSWORD).get_data(as_text=True)
    assert "Försök igen om 1 minut" in page


# ----------------------------------------------------------------------------- 10. passwords


@pytest.mark.parametrize("password,why", [
    ("short pw 1", "at least 12"),
    ("qwerty123456", "common"),
    ("password2024!", "common"),
    ("Lösenord12345", "common"),
    ("aaaaaaaaaaaaaaaa", "common"),
    ("abcabcabcabcabc", "common"),
    ("1234567890123", "common"),
])
def test_weak_passwords_are_refused_everywhere(app, password, why):
    from click.testing import CliRunner

    from core.cli import main

    admin = signed_in_client(app, "admin")
    response = admin.post("/api/v1/accounts", json={"username": "new@example.test", "password": password, "role": "employee"},
                          headers={"X-CSRFToken": csrf_token(admin, "/me")})
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] and body["status"] == 422 and "password" in body["errors"]
    assert why in " ".join(body["errors"]["password"])
    page = admin.post("/admin/accounts", data={"username": "new@example.test", "password": password, "role": "employee",
                                               "csrf_token": csrf_token(admin, "/me")})
    assert page.status_code == 422 and why in page.get_data(as_text=True)
    result = CliRunner().invoke(main, ["--data-dir", app.config["DATA_DIR"], "users", "create", "--role", "admin",
                                       "--username", "cli@example.test", "--password-stdin"], input=password + "\n")
    assert result.exit_code != 0 and why in result.output
    assert not app.extensions["kbp"].storage.collection("accounts").find(username="new@example.test")


def test_password_may_not_contain_the_sign_in_name(app):
    admin = signed_in_client(app, "admin")
    response = admin.post("/api/v1/accounts", json={"username": "karin.lund@example.test", "password": "karin.lund-secret-99",
                                                    "role": "employee"}, headers={"X-CSRFToken": csrf_token(admin, "/me")})
    assert response.status_code == 422 and "sign-in name" in " ".join(response.get_json()["errors"]["password"])


def test_common_password_list_ships_with_the_package():
    from importlib.resources import files

    text = files("core").joinpath("data/common_passwords.txt").read_text(encoding="utf-8")
    assert "zxcvbn" in text.splitlines()[1]  # the source is recorded in the file
    assert len([w for w in text.splitlines() if w and not w.startswith("#")]) > 20000


def test_demo_password_is_still_accepted(tmp_path):
    from core import auth
    from core.demo import DEMO_PASSWORD

    auth.check_password_rules(DEMO_PASSWORD, "coach@demo.kbp")  # raises when refused


def test_change_own_password(app):
    account = user(app)
    browser, other_device = signed_in(app, account), signed_in(app, account)
    wrong = api_post(browser, "/api/v1/me/password", json={"current_password": "not my password", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 422 and "current_password" in wrong.get_json()["errors"]
    weak = api_post(browser, "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "qwerty123456"})
    assert weak.status_code == 422 and "new_password" in weak.get_json()["errors"]
    ok = api_post(browser, "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert ok.status_code == 204
    assert browser.get("/api/v1/me").status_code == 200  # this session goes on
    assert other_device.get("/api/v1/me").status_code == 401  # the others end
    assert login(client_of(app), account["username"], PASSWORD).status_code == 401
    assert login(client_of(app), account["username"], NEW_PASSWORD).status_code == 302


def test_change_own_password_on_the_page(app):
    account = user(app)
    browser, other_device = signed_in(app, account), signed_in(app, account)
    page = browser.get("/me").get_data(as_text=True)
    assert 'autocomplete="current-password"' in page and 'autocomplete="new-password"' in page
    form = {"action": "change_password", "current_password": PASSWORD, "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD + "x", "csrf_token": csrf_token(browser, "/me")}
    mismatch = browser.post("/me", data=form)
    assert mismatch.status_code == 422 and "do not match" in mismatch.get_data(as_text=True)
    done = browser.post("/me", data={**form, "new_password_again": NEW_PASSWORD})
    assert done.status_code == 302
    assert other_device.get("/me").status_code == 302
    assert browser.get("/me").status_code == 200
    assert login(client_of(app), account["username"], NEW_PASSWORD).status_code == 302


def test_wrong_current_passwords_are_throttled_too(app):
    account = user(app)
    browser = signed_in(app, account)
    for _ in range(5):
        api_post(browser, "/api/v1/me/password", json={"current_password": "guess guess guess", "new_password": NEW_PASSWORD})
    locked = api_post(browser, "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert locked.status_code == 429 and locked.headers["Retry-After"]


def test_a_token_cannot_change_the_password(app):
    account = user(app)
    token = make_token(app, account)
    r = client_of(app).post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                            headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    browser = signed_in(app, account)
    r = client_of(app).post("/api/v1/me/sessions/sign-out-everywhere", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert browser.get("/api/v1/me").status_code == 200


# ----------------------------------------------------------------------------- tokens


def make_token(app, account, **body):
    client = signed_in(app, account)
    r = api_post(client, "/api/v1/me/tokens", json={"name": "t", **body})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["token"]


def bearer(app, token, url="/api/v1/me"):
    return client_of(app).get(url, headers={"Authorization": f"Bearer {token}"})


def test_tokens_expire_after_a_year_by_default(app, clock):
    account = user(app)
    client = signed_in(app, account)
    created = api_post(client, "/api/v1/me/tokens", json={"name": "yearly"}).get_json()
    assert created["expires_at"] == pytest.approx(created["created_at"] + 365 * 86400)
    short = api_post(client, "/api/v1/me/tokens", json={"name": "short", "expires_in_days": 7}).get_json()
    assert short["expires_at"] == pytest.approx(short["created_at"] + 7 * 86400)
    assert api_post(client, "/api/v1/me/tokens", json={"name": "x", "expires_in_days": 0}).status_code == 422
    assert api_post(client, "/api/v1/me/tokens", json={"name": "x", "expires_in_days": 3651}).status_code == 422
    clock.advance(7 * 86400 + 1)
    expired = bearer(app, short["token"])
    assert expired.status_code == 401 and "expired" in expired.get_json()["message"]
    assert bearer(app, created["token"]).status_code == 200
    clock.advance(358 * 86400)
    assert bearer(app, created["token"]).status_code == 401
    listed = client_of(app)
    # expiry is shown on /me (signing in again: the session ended with the absolute timeout)
    assert "expires_at" in signed_in(app, account).get("/api/v1/me/tokens").get_json()[0]
    del listed


def test_admin_password_reset_revokes_every_token_of_the_account(app):
    admin = signed_in_client(app, "admin")
    account = user(app)
    token = make_token(app, account)
    assert bearer(app, token).status_code == 200
    r = admin.patch(f"/api/v1/accounts/{account['id']}", json={"password": NEW_PASSWORD}, headers={"X-CSRFToken": csrf_token(admin, "/me")})
    assert r.status_code == 200
    assert bearer(app, token).status_code == 401
    tokens = app.extensions["kbp"].storage.collection("api_tokens").find(account_id=account["id"])
    assert tokens and all(t["revoked"] for t in tokens)


# ----------------------------------------------------------------------------- issue 24 item 1


def test_a_deactivated_accounts_token_stops_working(app):
    admin = signed_in_client(app, "admin")
    account = user(app)
    token = make_token(app, account)
    assert bearer(app, token).status_code == 200
    admin.patch(f"/api/v1/accounts/{account['id']}", json={"active": False}, headers={"X-CSRFToken": csrf_token(admin, "/me")})
    assert bearer(app, token).status_code == 401


def test_a_demoted_accounts_token_loses_the_old_role(app):
    admin = signed_in_client(app, "admin")
    account = user(app, "admin")
    token = make_token(app, account, role="admin")
    assert bearer(app, token, "/api/v1/accounts").status_code == 200
    admin.patch(f"/api/v1/accounts/{account['id']}", json={"role": "employee"}, headers={"X-CSRFToken": csrf_token(admin, "/me")})
    assert bearer(app, token, "/api/v1/accounts").status_code == 403
    assert bearer(app, token).get_json()["account"]["role"] == "employee"


def test_a_token_cannot_mint_tokens(app):
    account = user(app)
    token = make_token(app, account)
    api = client_of(app, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.post("/api/v1/me/tokens", json={"name": "child"}).status_code == 403
    # nor through the page (a token-authenticated client can fetch a form's CSRF token)
    page = api.post("/me", data={"action": "create_token", "name": "child", "csrf_token": csrf_token(api, "/me")})
    assert page.status_code == 403
    assert len(app.extensions["kbp"].storage.collection("api_tokens").find(account_id=account["id"])) == 1


def test_me_cannot_revoke_another_accounts_token(app):
    owner, other = user(app), user(app)
    token = make_token(app, owner)
    token_id = token.split("_")[1]
    thief = signed_in(app, other)
    api = thief.delete(f"/api/v1/me/tokens/{token_id}", headers={"X-CSRFToken": csrf_token(thief, "/me")})
    assert api.status_code == 404
    page = thief.post("/me", data={"action": "revoke_token", "token_id": token_id, "csrf_token": csrf_token(thief, "/me")})
    assert page.status_code == 404
    assert bearer(app, token).status_code == 200
    assert not app.extensions["kbp"].storage.collection("api_tokens").get(token_id)["revoked"]


# ----------------------------------------------------------------------------- issue 24 "Also"


def test_signed_in_client_acts_as_its_role_on_the_shared_fixture_app(make_app):
    app = make_app()
    coach = signed_in_client(app, "coach")
    assert coach.get("/api/v1/me").get_json()["account"]["role"] == "coach"
    assert coach.get("/api/v1/accounts").status_code == 403


def test_signing_a_bearer_client_in_is_refused(make_app):
    from tests.helpers import sign_in

    app = make_app()
    with pytest.raises(AssertionError, match="bearer"):
        sign_in(app.test_client(), make_account(app, "coach"))


# ----------------------------------------------------------------------------- the CLI


def test_cli_sign_out_and_password_reset(app):
    from click.testing import CliRunner

    from core.cli import main

    account = user(app)
    browser = signed_in(app, account)
    token = make_token(app, account)
    data = ["--data-dir", app.config["DATA_DIR"]]
    result = CliRunner().invoke(main, [*data, "users", "sign-out", account["username"]])
    assert result.exit_code == 0, result.output
    assert "2 sessions" in result.output  # the browser's and make_token's
    assert browser.get("/api/v1/me").status_code == 401
    assert bearer(app, token).status_code == 200  # signing out leaves tokens alone
    weak = CliRunner().invoke(main, [*data, "users", "set-password", account["username"], "--password-stdin"], input="qwerty123456\n")
    assert weak.exit_code != 0 and "common" in weak.output
    browser = signed_in(app, account)
    reset = CliRunner().invoke(main, [*data, "users", "set-password", account["username"], "--password-stdin"], input=NEW_PASSWORD + "\n")
    assert reset.exit_code == 0, reset.output
    assert browser.get("/api/v1/me").status_code == 401
    assert bearer(app, token).status_code == 401
    assert login(client_of(app), account["username"], NEW_PASSWORD).status_code == 302
    missing = CliRunner().invoke(main, [*data, "users", "sign-out", "nobody@example.test"])
    assert missing.exit_code != 0 and "nobody@example.test" in missing.output


def test_sign_in_clears_away_expired_sessions_and_old_throttle_counters(app, clock):
    storage = app.extensions["kbp"].storage
    a, b = user(app), user(app)
    signed_in(app, a)
    failed(client_of(app, "10.4.4.4"), "nobody@example.test")
    clock.advance(8 * 3600 + 1)
    assert storage.collection("sessions").find(account_id=a["id"])
    signed_in(app, b)
    assert not storage.collection("sessions").find(account_id=a["id"])
    assert storage.collection("login_throttle").count() == 3  # still within the 24 hours
    clock.advance(24 * 3600 + 1)
    signed_in(app, b)
    assert storage.collection("login_throttle").count() == 0
