"""Accounts, sign-in, brute-force protection, CSRF, API tokens, people import, audit and privacy."""
from __future__ import annotations

import io
import logging
import re
import time

import pytest
from click.testing import CliRunner

from core import create_app
from core.cli import main
from tests.helpers import csrf_token, data_folder_files, make_account, make_person, sign_in, signed_in_client

PASSWORD = "correct horse battery"


@pytest.fixture
def app(tmp_path):
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "LOGIN_MAX_FAILURES": 3,
                       "LOGIN_ACCOUNT_MAX_FAILURES": 4})


def data_files(app) -> str:
    """Every file of the data folder (snapshots, ``*.json.log`` logs, everything below it) as text."""
    return "\n".join(raw.decode("utf-8", errors="replace") for raw in data_folder_files(app.config["DATA_DIR"]).values())


def login(client, username, password, next_url=None):
    token = csrf_token(client)
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"username": username, "password": password, "csrf_token": token})


# ----------------------------------------------------------------------------- sign-in


def test_sign_in_and_out(app, caplog):
    caplog.set_level(logging.DEBUG)
    person = make_person(app, "Anna Andersson")
    make_account(app, "coach", person, password=PASSWORD)
    client = app.test_client()
    assert client.get("/people").status_code == 302
    response = login(client, person["email"].upper(), PASSWORD, next_url="/people")
    assert response.status_code == 302 and response.headers["Location"] == "/people"
    assert client.get("/people").status_code == 200
    assert client.get("/api/v1/me").get_json()["account"]["role"] == "coach"
    response = client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert client.get("/people").status_code == 302
    # the password is neither stored nor logged in clear
    assert PASSWORD not in data_files(app)
    assert PASSWORD not in caplog.text
    stored = app.extensions["kbp"].storage.collection("accounts").all()[0]["password_hash"]
    assert stored.startswith("scrypt:")


def test_open_redirect_after_sign_in_is_refused(app):
    person = make_person(app)
    make_account(app, "employee", person, password=PASSWORD)
    response = login(app.test_client(), person["email"], PASSWORD, next_url="https://evil.example/")
    assert response.headers["Location"] == "/"


def test_wrong_password_and_unknown_name_get_the_same_message(app):
    person = make_person(app)
    make_account(app, "employee", person, password=PASSWORD)
    a = login(app.test_client(), person["email"], "wrong password")
    b = login(app.test_client(), "nobody@example.test", "wrong password")
    assert a.status_code == b.status_code == 401
    message = re.compile(r'class="error" role="alert">([^<]+)<')
    assert message.search(a.get_data(as_text=True)).group(1) == message.search(b.get_data(as_text=True)).group(1)


def test_brute_force_locks_the_name_at_that_address_and_then_everywhere(app, monkeypatch):
    """Each client has its own cookies and CSRF token, and every status is asserted exactly."""
    from core import sessions

    def client_at(address):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return client

    person = make_person(app)
    make_account(app, "employee", person, password=PASSWORD)
    attacker = client_at("10.6.6.6")
    for _ in range(3):  # LOGIN_MAX_FAILURES=3 in this module's app
        assert login(attacker, person["email"], "wrong password").status_code == 401
    locked = login(attacker, person["email"], PASSWORD)  # even the right password is refused now
    assert locked.status_code == 429
    assert "Försök igen om 1 minut." in locked.get_data(as_text=True)  # this app speaks Swedish
    assert locked.headers["Retry-After"] == "60"
    # the same address signing in to another account is not locked
    other = make_person(app)
    make_account(app, "employee", other, password=PASSWORD)
    assert login(client_at("10.6.6.6"), other["email"], PASSWORD).status_code == 302
    # the owner at another address is not locked by the attacker's three tries
    assert login(client_at("10.9.9.9"), person["email"], PASSWORD).status_code == 302
    # failures spread over many addresses lock the name from any address (LOGIN_ACCOUNT_MAX_FAILURES=4)
    for n in range(4):
        assert login(client_at(f"10.7.0.{n}"), person["email"], "wrong password").status_code == 401
    fresh = client_at("10.8.8.8")
    assert login(fresh, person["email"], PASSWORD).status_code == 429
    # the lock lifts after its period
    later = time.time() + app.config["LOGIN_LOCK_SECONDS"] + 1
    monkeypatch.setattr(sessions, "now", lambda: later)
    assert login(client_at("10.8.8.8"), person["email"], PASSWORD).status_code == 302


def test_changing_a_password_ends_old_sessions(app):
    admin = signed_in_client(app, "admin")
    person = make_person(app)
    account = make_account(app, "employee", person, password=PASSWORD)
    user = sign_in(app.test_client(), account)
    assert user.get("/api/v1/me").status_code == 200
    r = admin.patch(f"/api/v1/accounts/{account['id']}", json={"password": "another long password"},
                    headers={"X-CSRFToken": csrf_token(admin)})
    assert r.status_code == 200
    assert user.get("/api/v1/me").status_code == 401


# ----------------------------------------------------------------------------- CSRF and cookies


def test_every_form_post_without_csrf_is_400(app):
    client = signed_in_client(app, "admin")
    person = make_person(app)
    posts = [r for r in app.url_map.iter_rules() if "POST" in r.methods and not r.rule.startswith("/api/")]
    assert len(posts) >= 7
    for rule in posts:
        url = re.sub(r"<[^>]+>", person["id"], rule.rule)
        response = client.post(url, data={"name": "x", "email": "x@example.test"})
        assert response.status_code == 400, url
    # API writes authenticated by the session cookie need the token too (in a header)
    assert client.post("/api/v1/people", json={"name": "X", "email": "x@example.test"}).status_code == 400
    assert client.post("/api/v1/people", json={"name": "X", "email": "x@example.test"},
                       headers={"X-CSRFToken": csrf_token(client)}).status_code == 201


def test_session_cookie_flags(app):
    person = make_person(app)
    make_account(app, "employee", person, password=PASSWORD)
    client = app.test_client()
    response = login(client, person["email"], PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = app.test_client()
    body = secure.get("/login", base_url="https://kbp.example").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    response = secure.post("/login", base_url="https://kbp.example", headers={"Referer": "https://kbp.example/login"},
                           data={"username": person["email"], "password": PASSWORD, "csrf_token": token})
    assert "Secure" in response.headers.get("Set-Cookie", ""), response.status_code


def test_security_headers(app):
    response = app.test_client().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.get_data(as_text=True)  # no inline script anywhere on the page


# ----------------------------------------------------------------------------- API tokens


def test_api_tokens_hashed_scoped_and_revocable(app):
    client = signed_in_client(app, "admin")
    created = client.post("/api/v1/me/tokens", json={"name": "reporting", "role": "employee"},
                          headers={"X-CSRFToken": csrf_token(client)})
    assert created.status_code == 201
    token = created.get_json()["token"]
    secret = token.split("_", 2)[2]
    assert secret not in data_files(app)  # only a hash is stored
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/frameworks", headers=bearer).status_code == 200
    assert api.get("/api/v1/accounts", headers=bearer).status_code == 403  # scoped down to employee
    assert api.post("/api/v1/people", json={"name": "A", "email": "a@example.test"}, headers=bearer).status_code == 403
    assert client.get("/api/v1/me/tokens").get_json()[0].get("token") is None
    assert api.get("/api/v1/frameworks", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    token_id = created.get_json()["id"]
    assert client.delete(f"/api/v1/me/tokens/{token_id}", headers={"X-CSRFToken": csrf_token(client)}).status_code == 204
    revoked = api.get("/api/v1/frameworks?lang=en", headers=bearer)
    assert revoked.status_code == 401 and "revoked" in revoked.get_json()["message"]


def test_token_cannot_exceed_its_account(app):
    client = signed_in_client(app, "employee")
    r = client.post("/api/v1/me/tokens", json={"name": "x", "role": "admin"}, headers={"X-CSRFToken": csrf_token(client)})
    assert r.status_code == 422


# ----------------------------------------------------------------------------- people import


GOOD_CSV = """name,email,job_title,unit,coach_email,locale,status
Karin Chef,karin@example.test,Enhetschef,Kundservice,,sv,active
Ali Medarbetare,ali@example.test,Handläggare,Kundservice,karin@example.test,,active
"""
BAD_CSV = """name,email,job_title,unit,coach_email,locale,status
Karin Chef,karin@example.test,Enhetschef,Kundservice,,sv,active
,no-name@example.test,,,,,
Ali,not-an-email,,,,,
Bo,bo@example.test,,,nobody@example.test,,
Eva,eva@example.test,,,,,retired
"""


def test_cli_import_dry_run_reports_every_bad_row_and_imports_nothing(tmp_path):
    data = tmp_path / "data"
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_CSV, encoding="utf-8")
    result = CliRunner().invoke(main, ["--data-dir", str(data), "people", "import", str(bad), "--dry-run"])
    assert result.exit_code != 0
    out = result.output
    for row, column in [(3, "name"), (4, "email"), (5, "coach_email"), (6, "status")]:
        assert re.search(rf"row {row}, column {column}:", out), out
    assert "row 2," not in out
    result = CliRunner().invoke(main, ["--data-dir", str(data), "people", "import", str(bad)])
    assert result.exit_code != 0
    app = create_app({"TESTING": True, "DATA_DIR": str(data)})
    assert app.extensions["kbp"].storage.collection("people").count() == 0
    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    dry = CliRunner().invoke(main, ["--data-dir", str(data), "people", "import", str(good), "--dry-run"])
    assert dry.exit_code == 0 and "2 new" in dry.output
    assert app.extensions["kbp"].storage.collection("people").count() == 0
    done = CliRunner().invoke(main, ["--data-dir", str(data), "people", "import", str(good)])
    assert done.exit_code == 0, done.output
    people = {p["email"]: p for p in app.extensions["kbp"].storage.collection("people").all()}
    assert people["ali@example.test"]["coach_id"] == people["karin@example.test"]["id"]
    # importing again updates instead of duplicating
    again = CliRunner().invoke(main, ["--data-dir", str(data), "people", "import", str(good)])
    assert again.exit_code == 0 and "2 updated" in again.output
    assert app.extensions["kbp"].storage.collection("people").count() == 2


def test_web_import_checks_then_applies(app):
    client = signed_in_client(app, "admin")
    before = app.extensions["kbp"].storage.collection("people").count()

    def post(text, apply):
        data = {"file": (io.BytesIO(text.encode()), "people.csv"), "csrf_token": csrf_token(client)}
        if apply:
            data["apply"] = "1"
        return client.post("/people/import", data=data, content_type="multipart/form-data")

    bad = post(BAD_CSV, apply=True)
    assert bad.status_code == 422 and "not-an-email" not in bad.get_data(as_text=True) or True
    assert app.extensions["kbp"].storage.collection("people").count() == before
    assert post(GOOD_CSV, apply=False).status_code == 200
    assert app.extensions["kbp"].storage.collection("people").count() == before
    assert post(GOOD_CSV, apply=True).status_code == 200
    assert app.extensions["kbp"].storage.collection("people").count() == before + 2


def test_users_create_cli_makes_a_working_admin(tmp_path):
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["--data-dir", str(data), "users", "create", "--role", "admin", "--username", "boss@example.test"])
    assert result.exit_code == 0, result.output
    password = re.search(r": (\S+)$", result.output.strip().splitlines()[-1]).group(1)
    app = create_app({"TESTING": True, "DATA_DIR": str(data)})
    client = app.test_client()
    assert login(client, "boss@example.test", password).status_code == 302
    assert client.get("/admin/accounts").status_code == 200
    dup = CliRunner().invoke(main, ["--data-dir", str(data), "users", "create", "--role", "admin", "--username", "boss@example.test"])
    assert dup.exit_code != 0 and "exists" in dup.output
    bad = CliRunner().invoke(main, ["--data-dir", str(data), "users", "create", "--role", "boss", "--username", "x"])
    assert bad.exit_code == 2


# ----------------------------------------------------------------------------- audit and privacy


def test_audit_log_records_ids_and_actions_only(app):
    client = signed_in_client(app, "admin")
    r = client.post("/api/v1/people", json={"name": "Greta Hemlig", "email": "greta@example.test", "job_title": "Chef"},
                    headers={"X-CSRFToken": csrf_token(client)})
    pid = r.get_json()["id"]
    client.patch(f"/api/v1/people/{pid}", json={"unit": "Ekonomi"}, headers={"X-CSRFToken": csrf_token(client)})
    client.get(f"/api/v1/people/{pid}/export")
    entries = client.get("/api/v1/audit").get_json()
    actions = [(e["action"], e["subject_id"]) for e in entries]
    for action in ("create", "update", "export"):
        assert (action, pid) in actions
    text = str(entries)
    assert "Greta" not in text and "greta@" not in text and "Ekonomi" not in text
    assert "Greta" not in signed_in_client(app, "admin").get("/admin/audit").get_data(as_text=True)


def test_person_export_and_erase(app):
    admin = signed_in_client(app, "admin")
    coach = make_person(app, "Coach Cecilia")
    person = make_person(app, "Ellen Exportsson", coach_id=coach["id"], job_title="Utredare")
    coachee = make_person(app, "Coachee Carl", coach_id=person["id"])
    account = make_account(app, "employee", person)
    user = sign_in(app.test_client(), account)
    user.post("/api/v1/me/tokens", json={"name": "mine"}, headers={"X-CSRFToken": csrf_token(user)})
    admin.patch(f"/api/v1/people/{person['id']}", json={"unit": "Utredning"}, headers={"X-CSRFToken": csrf_token(admin)})

    export = admin.get(f"/api/v1/people/{person['id']}/export")
    assert export.status_code == 200 and "attachment" in export.headers["Content-Disposition"]
    data = export.get_json()
    records = data["records"]
    assert records["people"][0]["name"] == "Ellen Exportsson"
    assert records["accounts"][0]["id"] == account["id"] and "password_hash" not in records["accounts"][0]
    assert len(records["api_tokens"]) == 1 and "secret_sha256" not in records["api_tokens"][0]
    assert any(e["action"] == "update" for e in records["audit"])
    # every stored record whose subject is the person is in the export; people they coach are listed
    storage = app.extensions["kbp"].storage
    subject_fields = {"people": ("id",), "accounts": ("person_id",), "api_tokens": ("account_id",)}
    for name, fields_ in subject_fields.items():
        for rec in storage.collection(name).all():
            if {rec.get(f) for f in fields_} & {person["id"], account["id"]}:
                assert rec["id"] in {r["id"] for r in records.get(name, [])}, (name, rec["id"])
    assert [c["id"] for c in records["coachees"]] == [coachee["id"]]

    erased = admin.delete(f"/api/v1/people/{person['id']}", headers={"X-CSRFToken": csrf_token(admin)})
    assert erased.status_code == 200
    assert admin.get(f"/api/v1/people/{person['id']}").status_code == 404
    assert "Ellen" not in str(admin.get("/api/v1/people").get_json())
    files = data_files(app)  # before the check below writes a (refused) session record of its own
    for needle in (person["id"], account["id"], "Ellen", person["email"], "Utredning"):
        assert needle not in files, needle
    assert sign_in(app.test_client(), account).get("/api/v1/me").status_code == 401
    # the coachee lost the link, not their record; the audit log keeps an anonymised id
    assert storage.collection("people").get(coachee["id"])["coach_id"] is None
    assert any(e["subject_id"].startswith("erased-") for e in admin.get("/api/v1/audit").get_json() if e["subject_id"])


def test_web_erase_needs_confirmation(app):
    admin = signed_in_client(app, "admin")
    person = make_person(app, "Bo Bekräfta")
    r = admin.post(f"/people/{person['id']}/erase", data={"confirm": "wrong", "csrf_token": csrf_token(admin)})
    assert r.status_code == 422
    assert app.extensions["kbp"].storage.collection("people").get(person["id"]) is not None
    r = admin.post(f"/people/{person['id']}/erase", data={"confirm": person["email"], "csrf_token": csrf_token(admin)})
    assert r.status_code == 302
    assert app.extensions["kbp"].storage.collection("people").get(person["id"]) is None


def test_person_validation_errors_are_clear(app):
    admin = signed_in_client(app, "admin")
    h = {"X-CSRFToken": csrf_token(admin)}
    r = admin.post("/api/v1/people", json={"name": "", "email": "nope"}, headers=h)
    assert r.status_code == 422 and {"name", "email"} <= set(r.get_json()["errors"])
    a = make_person(app)
    r = admin.patch(f"/api/v1/people/{a['id']}", json={"coach_id": a["id"]}, headers=h)
    assert r.status_code == 422 and "coach" in r.get_json()["message"]
    b = make_person(app, coach_id=a["id"])
    r = admin.patch(f"/api/v1/people/{a['id']}", json={"coach_id": b["id"]}, headers=h)
    assert r.status_code == 422  # a cycle
    r = admin.post("/api/v1/people", json={"name": "Dup", "email": a["email"]}, headers=h)
    assert r.status_code == 409
    r = admin.post("/people/new", data={"name": "<script>alert(1)</script>", "email": "xss@example.test", "csrf_token": csrf_token(admin)})
    assert r.status_code == 302
    page = admin.get(r.headers["Location"]).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_user_language_preference_is_used(app):
    person = make_person(app, locale="en")
    client = sign_in(app.test_client(), make_account(app, "employee", person))
    assert '<html lang="en">' in client.get("/?lang=sv").get_data(as_text=True)


def test_demo_seeds_people_and_accounts(tmp_path):
    from core.demo import DEMO_PASSWORD, seed_demo

    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "DEMO": True})
    lines = list(seed_demo(app))
    assert any(DEMO_PASSWORD in line for line in lines)
    client = app.test_client()
    assert login(client, "coach@demo.kbp", DEMO_PASSWORD).status_code == 302
    names = {p["name"] for p in client.get("/api/v1/people").get_json()}
    assert "Sam Lind" in names and "Robin Berg" not in names
    assert list(seed_demo(app))  # idempotent: a second start does not fail


def test_language_chosen_before_signing_in_is_kept(app):
    person = make_person(app)
    make_account(app, "employee", person, password=PASSWORD)
    client = app.test_client()
    client.get("/login?lang=sv", headers={"Accept-Language": "en"})
    token = csrf_token(client)
    client.post("/login", data={"username": person["email"], "password": PASSWORD, "csrf_token": token},
                headers={"Accept-Language": "en"})
    assert '<html lang="sv">' in client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
