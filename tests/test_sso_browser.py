"""Single sign-on against a real OpenID Connect provider, in Chromium (issue 21).

The provider is the certified npm package ``oidc-provider`` (v8, from ``tests/node``), started by
the ``provider`` fixture as ``tests/node/oidc_provider.mjs`` on a free port, with KBP as a
confidential client, an account store carrying ``email``, ``email_verified`` and ``groups``, and
the package's development sign-in pages (the login is the account id, any password). KBP runs on
a live server; Playwright drives the whole flow: the button on /login, the provider's sign-in and
consent pages, the callback, the session, RP-initiated logout. The provider's test controls change
an account's groups, remove the account, alter the next ID tokens (nonce, audience, expiry,
issuer, signature) or restart with a new signing key.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from core import create_app
from tests.helpers import make_account, make_person, node_package

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "correct horse battery"
SCRIPT = Path(__file__).resolve().parent / "node" / "oidc_provider.mjs"

if CHROMIUM is None and os.environ.get("CI"):
    pytest.fail("CI must install Debian's chromium for the browser tests (.ci/run does).", pytrace=False)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Peer:
    """The running provider: its address and its test controls."""

    def __init__(self, workdir: Path, kbp_url: str, accounts: dict):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "provider.json"
        self.settings = {
            "port": self.port, "issuer": self.url, "accounts": accounts,
            "clients": [{"client_id": "kbp", "client_secret": "kbp-test-secret",
                         "redirect_uris": [f"{kbp_url}/login/sso/testidp/callback"],
                         "post_logout_redirect_uris": [f"{kbp_url}/login"]}],
        }
        self.process = None

    def start(self, key_id: str = "test-key-1") -> None:
        self.config.write_text(json.dumps({**self.settings, "key": None, "kid": key_id}), encoding="utf-8")
        self.process = subprocess.Popen(["node", str(SCRIPT), str(self.config)], stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        assert line.startswith("listening"), f"oidc-provider did not start: {line!r}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def _call(self, method: str, path: str, body: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as response:
            assert response.status == 204

    def set_account(self, login: str, **claims) -> None:
        self.settings["accounts"][login] = claims
        self._call("POST", f"/_test/accounts/{login}", claims)

    def remove_account(self, login: str) -> None:
        self.settings["accounts"].pop(login, None)
        self._call("DELETE", f"/_test/accounts/{login}")

    def tamper(self, mode: str) -> None:
        self._call("POST", "/_test/tamper", {"mode": mode})


class Dispatch:
    """The live server's WSGI app, set once the provider's address is known."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    node_package("oidc-provider")
    workdir = tmp_path_factory.mktemp("sso-browser")
    dispatch = Dispatch()
    srv = make_server("127.0.0.1", 0, dispatch, threaded=True)
    kbp_url = f"http://127.0.0.1:{srv.server_port}"
    peer = Peer(workdir, kbp_url, {
        "anna": {"email": "anna.andersson@example.test", "email_verified": True, "name": "Anna Andersson", "groups": ["kbp-coaches"]},
        "bo": {"email": "bo.berg@example.test", "email_verified": True, "groups": []},
        "stranger": {"email": "stranger@example.test", "email_verified": True, "groups": []},
    })
    peer.start()
    try:
        yield from _kbp(workdir, srv, dispatch, kbp_url, peer)
    finally:  # the provider's process ends even when setting KBP up failed
        peer.stop()


def _kbp(workdir, srv, dispatch, kbp_url, peer):
    provider = {"id": "testidp", "title": {"en": "Test IdP", "sv": "Test-IdP"}, "issuer": peer.url, "client_id": "kbp",
                "client_secret": "kbp-test-secret", "scopes": "openid email profile groups", "groups_claim": "groups",
                "roles": {"kbp-admins": "admin", "kbp-coaches": "coach"}, "leeway_seconds": 30}
    app = create_app({"TESTING": False, "DATA_DIR": str(workdir / "data"), "DEFAULT_LOCALE": "en",
                      "OIDC_PROVIDERS": json.dumps([provider]), "LOCAL_LOGIN": "admins"})
    dispatch.app = app
    from core.people import run_import

    storage = app.extensions["kbp"].storage
    report = run_import(storage, "name,email,coach_email\nAnna Andersson,anna.andersson@example.test,\n"
                                 "Bo Berg,bo.berg@example.test,anna.andersson@example.test\n", dry_run=False)
    assert report.ok and report.created == 2, report.problems
    admin = make_account(app, "admin", make_person(app, "Break Glass"), password=PASSWORD)
    employee = make_account(app, "employee", make_person(app, "Eva Lösenord"), password=PASSWORD)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": kbp_url, "peer": peer, "app": app, "storage": storage, "admin": admin, "employee": employee}
    finally:
        srv.shutdown()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB")
    context.route("https://fonts.googleapis.com/**", lambda route: route.abort())  # the provider's pages ask for a font
    p = context.new_page()
    yield p
    context.close()


def person(world, email):
    return world["storage"].collection("people").find(email=email)[0]


def account(world, email):
    found = world["storage"].collection("accounts").find(person_id=person(world, email)["id"])
    return found[0] if found else None


def sso_sign_in(page, world, login: str, lang: str = "en", expect_kbp_path: str | None = "/start") -> None:
    """The person clicks the provider's button on /login, signs in there and agrees to share their details."""
    base, peer = world["url"], world["peer"]
    page.goto(f"{base}/login?lang={lang}")
    page.get_by_role("link", name="Logga in med Test-IdP" if lang == "sv" else "Sign in with Test IdP").click()
    page.wait_for_url(f"{peer.url}/**")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("whatever the provider asks")
    page.locator("button[type=submit]").click()
    page.wait_for_load_state()
    if page.url.startswith(peer.url) and page.locator("button[autofocus]").count():  # the consent page
        page.locator("button[autofocus]").click()
    page.wait_for_url(f"{base}/**")
    if expect_kbp_path is not None:
        assert page.url == base + expect_kbp_path, page.content()


def signed_in_as(page, world) -> str | None:
    response = page.request.get(f"{world['url']}/api/v1/me")
    return response.json()["account"]["username"] if response.ok else None


# ----------------------------------------------------------------------------- the flow


def test_first_sign_in_links_to_the_imported_person_then_groups_change_the_role(world, page):
    assert account(world, "anna.andersson@example.test") is None
    sso_sign_in(page, world, "anna", lang="sv")
    assert page.locator("html").get_attribute("lang") == "sv"
    anna = account(world, "anna.andersson@example.test")
    assert anna["role"] == "coach" and anna["person_id"] == person(world, "anna.andersson@example.test")["id"]
    assert signed_in_as(page, world) == "anna.andersson@example.test"
    page.goto(f"{world['url']}/people")
    assert "Bo Berg" in page.content()  # as a coach she sees the person she coaches
    entries = [e for e in world["storage"].collection("audit").all() if e["subject_id"] == anna["id"] and e["action"] == "sign_in"]
    assert entries[-1]["details"] == {"method": "oidc", "provider": "testidp"}

    world["peer"].set_account("anna", email="anna.andersson@example.test", email_verified=True, groups=["kbp-admins"])
    page.context.clear_cookies()
    sso_sign_in(page, world, "anna")
    assert account(world, "anna.andersson@example.test")["role"] == "admin"
    page.goto(f"{world['url']}/admin/accounts")
    assert page.locator("h1").count() and "403" not in page.title()

    world["peer"].set_account("anna", email="anna.andersson@example.test", email_verified=True, groups=[])
    page.context.clear_cookies()
    sso_sign_in(page, world, "anna")
    assert account(world, "anna.andersson@example.test")["role"] == "employee"  # the removed group removed the role
    assert page.goto(f"{world['url']}/admin/accounts").status == 403
    changes = [e["details"] for e in sorted(world["storage"].collection("audit").all(), key=lambda e: e["at"])
               if e["action"] == "role_change" and e["subject_id"] == anna["id"]]
    assert changes[-2:] == [{"from": "coach", "to": "admin", "provider": "testidp"},
                            {"from": "admin", "to": "employee", "provider": "testidp"}]


@pytest.mark.parametrize("mode, message", [
    ("nonce", "issued for another sign-in (nonce)"),
    ("audience", "issued for another service (audience)"),
    ("expired", "the sign-in token has expired"),
    ("issuer", "comes from another issuer"),
    ("signature", "signature is not valid"),
])
def test_a_tampered_or_expired_id_token_from_the_provider_is_refused(world, page, mode, message):
    world["peer"].tamper(mode)
    try:
        sso_sign_in(page, world, "bo", expect_kbp_path=None)
    finally:
        world["peer"].tamper("none")
    assert "/login/sso/testidp/callback" in page.url
    assert message in page.locator("[role=alert]").inner_text()
    assert signed_in_as(page, world) is None


def test_a_tampered_state_is_refused(world, page):
    world["peer"].tamper("state")  # the redirect back to KBP carries an altered state parameter
    try:
        sso_sign_in(page, world, "bo", expect_kbp_path=None)
    finally:
        world["peer"].tamper("none")
    assert "state=tampered" in page.url
    assert "does not belong to a sign-in started in this browser" in page.locator("[role=alert]").inner_text()
    assert signed_in_as(page, world) is None


def test_an_e_mail_without_a_person_gets_a_clear_page(world, page):
    sso_sign_in(page, world, "stranger", expect_kbp_path=None)
    text = page.locator("[role=alert]").inner_text()
    assert "stranger@example.test" in text and "no person with that e-mail address" in text
    assert signed_in_as(page, world) is None


def test_a_deactivated_account_is_signed_out_at_the_next_request(world, page):
    from core.services import accounts as accounts_service

    sso_sign_in(page, world, "bo")
    bo = account(world, "bo.berg@example.test")
    accounts_service.update_account(world["storage"], accounts_service.CLI, bo["id"], {"active": False})
    try:
        page.goto(f"{world['url']}/plans")
        assert page.url.startswith(f"{world['url']}/login")
        page.context.clear_cookies()
        sso_sign_in(page, world, "bo", expect_kbp_path=None)
        assert "deactivated" in page.locator("[role=alert]").inner_text() and signed_in_as(page, world) is None
    finally:
        accounts_service.update_account(world["storage"], accounts_service.CLI, bo["id"], {"active": True})


def test_sign_out_ends_the_session_at_the_provider_too(world, page):
    sso_sign_in(page, world, "bo")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{world['peer'].url}/**")  # the provider asks to confirm (RP-initiated logout)
    page.locator("button[name=logout]").click()
    page.wait_for_url(f"{world['url']}/login**")
    assert signed_in_as(page, world) is None
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.wait_for_url(f"{world['peer'].url}/**")
    assert page.locator("input[name=login]").count() == 1, "the provider's session ended: it asks who you are again"


def test_rotated_signing_keys_are_picked_up(world, page):
    sso_sign_in(page, world, "bo")  # KBP has the provider's current keys
    peer = world["peer"]
    peer.stop()
    peer.start(key_id="test-key-2")  # a new key pair under a new key id
    page.context.clear_cookies()
    sso_sign_in(page, world, "bo")
    assert signed_in_as(page, world) == "bo.berg@example.test"


def test_local_login_admins_refuses_passwords_except_for_the_break_glass_admin(world, page):
    base = world["url"]
    page.goto(f"{base}/login")
    assert "Only administrators sign in with a password here." in page.content()
    page.get_by_label("Sign-in name").fill(world["employee"]["username"])
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    assert "Only administrators sign in with a password here" in page.locator("[role=alert]").inner_text()
    assert signed_in_as(page, world) is None
    page.get_by_label("Sign-in name").fill(world["admin"]["username"])
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{base}/start")
    assert signed_in_as(page, world) == world["admin"]["username"]


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_sign_in_page_with_provider_buttons_and_its_refusal_pass_axe(world, page, lang):
    axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")
    wcag = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
    page.goto(f"{world['url']}/login?lang={lang}")
    assert page.get_by_role("link", name="Logga in med Test-IdP" if lang == "sv" else "Sign in with Test IdP").is_visible()
    results = axe_sync.Axe().run(page, options=wcag)
    assert results.violations_count == 0, results.generate_report()
    sso_sign_in(page, world, "stranger", lang=lang, expect_kbp_path=None)  # the refusal page
    assert page.locator("html").get_attribute("lang") == lang
    expected = "det finns ingen person med den e-postadressen" if lang == "sv" else "no person with that e-mail address"
    assert expected in page.locator("[role=alert]").inner_text()
    results = axe_sync.Axe().run(page, options=wcag)
    assert results.violations_count == 0, results.generate_report()
