"""Tests written for mutants that survived the mutation run of issue 24 (see tools/mutation.md).

Each test names, in its docstring, the mutant(s) of ``tools/mutation.py`` it kills; rerun one with
``.venv/bin/python tools/mutation.py --key 'core.auth:token_state#2' --tests tests/test_mutation_guards.py``.
The tests go through the core functions (the one place each rule lives) and, where the rule is
about a request, through the API.
"""
from __future__ import annotations

import json
import time
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from flask.testing import FlaskClient

from core import auth, create_app, licensing, sessions
from core.entitlements import Entitlements
from core.services import accounts
from core.services.errors import ServiceError
from core.model import LicenceRequirement
from tests.helpers import make_account, make_person

PASSWORD = "correct horse battery"


@pytest.fixture
def app(tmp_path):
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "DEFAULT_LOCALE": "en"})


@pytest.fixture
def storage(app):
    return app.extensions["kbp"].storage


@pytest.fixture
def clock(monkeypatch):
    """The clock of sessions and tokens, frozen: ``clock.t`` is now."""
    fake = SimpleNamespace(t=time.time())
    monkeypatch.setattr(sessions, "now", lambda: fake.t)
    return fake


def bearer(app, token: str):
    client = FlaskClient(app, app.response_class, use_cookies=True)
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


# ----------------------------------------------------------------------------- API tokens


def test_a_token_whose_secret_contains_underscores_works(app, storage, monkeypatch):
    """``token_urlsafe`` secrets contain ``_`` about every other time: the token text must be split
    into prefix, id and secret only (kills ``core.auth:_account_from_token#0``, ``split('_', 3)``,
    which survived because the suite's random secrets only sometimes have an underscore)."""
    account = make_account(app, "coach")
    with monkeypatch.context() as m:
        m.setattr(auth.secrets, "token_urlsafe", lambda n: "under_score_" + "s" * 32)
        _record, token = auth.create_token(storage, account, "with underscores")
    assert token.count("_") == 4
    response = bearer(app, token)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["account"]["username"] == account["username"]
    assert bearer(app, token[:-1] + "t").status_code == 401  # and the secret is still checked


def test_a_token_stops_working_at_its_expiry_second(app, storage, clock):
    """``expires_at`` is the first second a token no longer works (kills ``core.auth:token_state#2``,
    ``<=`` → ``<``)."""
    account = make_account(app, "employee")
    record, token = auth.create_token(storage, account, "one day", expires_in_days=1)
    assert record["expires_at"] == clock.t + 86400
    clock.t = record["expires_at"] - 1
    assert auth.token_state(record) == "active"
    assert bearer(app, token).status_code == 200
    clock.t = record["expires_at"]
    assert auth.token_state(record) == "expired"
    assert bearer(app, token).status_code == 401


def test_token_name_and_lifetime_limits_are_inclusive(app, storage):
    """A name of 100 characters and lifetimes of 1 and 3650 days are accepted, 101 characters are not
    (kills ``core.auth:create_token#8``/``#9`` and the ``1 <= days <= 3650`` boundary mutants)."""
    account = make_account(app, "employee")
    assert auth.create_token(storage, account, "n" * 100)[0]["name"] == "n" * 100
    for name in ("n" * 101, "", "   "):
        with pytest.raises(auth.AuthError) as refused:
            auth.create_token(storage, account, name)
        assert "name" in refused.value.errors  # kills create_token#6 (``or`` → ``and``: a blank name passed)
    for days in (1, auth.TOKEN_MAX_DAYS):
        record, _text = auth.create_token(storage, account, f"{days} days", expires_in_days=days)
        assert record["expires_at"] == pytest.approx(record["created_at"] + days * 86400)
    for days in (0, auth.TOKEN_MAX_DAYS + 1, True, "7", 7.5):  # not whole days: refused (kills create_token#12)
        with pytest.raises(auth.AuthError) as refused:
            auth.create_token(storage, account, "out of range", expires_in_days=days)
        assert "expires_in_days" in refused.value.errors


# ----------------------------------------------------------------------------- licences


def test_a_one_seat_licence_and_a_one_day_licence_are_valid(licence_setup):
    """The smallest licences a vendor can issue: one seat, valid on one day only (kills
    ``core.licensing:_check_payload_fields#14``/``#15``, ``seats < 1`` → ``<= 1``/``< 2``, and ``#19``,
    ``expires < issued`` → ``<=``)."""
    s = licence_setup
    keys = licensing.load_trusted_keys(s.framework.licence.keys_file)
    day = date(2026, 3, 1)
    data = licensing.issue_licence(s.prod_pem, key_id="prod", licensee="Exempel AB", product="acme",
                                   issued=day, expires=day, seats=1)
    result = licensing.verify_licence(data, product="acme", trusted_keys=keys, today=day)
    assert result.ok, result.message
    assert result.seats == 1
    assert licensing.verify_licence(data, product="acme", trusted_keys=keys, today=day + timedelta(days=1)).code == "expired"


# ----------------------------------------------------------------------------- licences: the gate


@pytest.fixture
def licence_setup(tmp_path):
    """A framework that needs a licence, its trusted keys (one production, one demo) and an issuer."""
    prod_pem, prod_pub = licensing.generate_keypair()
    demo_pem, demo_pub = licensing.generate_keypair()
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"keys": [{"key_id": "prod", "public_key": prod_pub},
                                              {"key_id": "demo", "public_key": demo_pub, "demo": True}]}))

    def issue(demo: bool = False, expires: date | None = None) -> bytes:
        return licensing.issue_licence(demo_pem if demo else prod_pem, key_id="demo" if demo else "prod",
                                       licensee="Exempel AB", product="acme", issued=date(2026, 1, 1),
                                       expires=expires or date(2026, 12, 31))

    demo_file = tmp_path / "demo-licence.json"
    demo_file.write_bytes(issue(demo=True))
    framework = SimpleNamespace(id="acme-fw", licence=LicenceRequirement("acme", str(keys_file), str(demo_file)))
    return SimpleNamespace(framework=framework, issue=issue, data=tmp_path / "data", prod_pem=prod_pem)


def test_a_framework_without_a_licence_requirement_is_always_available(tmp_path):
    """Kills ``core.entitlements:Entitlements.available#0`` (``or`` → ``and``): no requirement, no gate."""
    ent = Entitlements(tmp_path, demo_mode=False, today=lambda: date(2026, 6, 1))
    free = SimpleNamespace(id="free", licence=None)
    assert ent.check(free) is None
    assert ent.available(free) is True


def test_the_licence_gate_follows_the_installed_file_and_the_date(licence_setup):
    """Served only with a valid licence; a licence written by another worker and the expiry date
    take effect without a restart (kills the ``Entitlements.check`` and ``available`` mutants)."""
    s = licence_setup
    today = [date(2026, 6, 1)]
    ent = Entitlements(s.data, demo_mode=False, today=lambda: today[0])
    assert ent.available(s.framework) is False and ent.check(s.framework).code == "missing"
    assert ent.install(s.framework, s.issue(expires=date(2026, 6, 2))).ok
    assert ent.available(s.framework) is True
    today[0] = date(2026, 6, 3)  # past the expiry date: the cached answer is not reused
    assert ent.available(s.framework) is False and ent.check(s.framework).code == "expired"
    # another worker installs a renewed licence: this one sees it at its next check
    other = Entitlements(s.data, demo_mode=False, today=lambda: today[0])
    assert other.install(s.framework, s.issue()).ok
    assert ent.available(s.framework) is True


def test_demo_licences_only_in_demo_mode_and_never_over_a_valid_licence(licence_setup):
    """``install_demo`` installs the demo licence in demo mode only, and keeps a valid licence that is
    there (kills the ``Entitlements.install_demo`` mutants)."""
    s = licence_setup
    today = lambda: date(2026, 6, 1)  # noqa: E731
    production = Entitlements(s.data, demo_mode=False, today=today)
    assert production.install_demo(s.framework) is None
    assert production.check(s.framework).code == "missing"
    demo = Entitlements(s.data, demo_mode=True, today=today)
    assert demo.install_demo(s.framework).ok and demo.check(s.framework).demo
    refused = production.check(s.framework)
    assert refused.code == "demo_key" and not refused.ok  # a demo licence never counts in production
    assert refused.demo is True  # and says it is a demo licence (kills core.licensing:verify_licence#9)
    # a full licence installed: demo mode keeps it instead of replacing it with the demo licence
    full = s.issue()
    assert demo.install(s.framework, full).ok
    kept = demo.install_demo(s.framework)
    assert kept.ok and not kept.demo
    assert demo.store.load("acme") == full


def test_malformed_bearer_tokens_are_refused_not_crashed_on(app, storage):
    """A token text that is not ``kbp_<id>_<secret>`` is a 401, whatever its parts: another prefix,
    or too few parts (kills ``core.auth:_account_from_token#1``, ``or`` → ``and``, under which
    ``kbp_<id>`` crashed with an IndexError and ``xyz_<id>_<secret>`` was accepted)."""
    account = make_account(app, "employee")
    record, token = auth.create_token(storage, account, "t")
    assert bearer(app, token).status_code == 200
    secret = token.split("_", 2)[2]
    for text in (f"xyz_{record['id']}_{secret}", f"kbp_{record['id']}", "kbp", f"{record['id']}_{secret}"):
        response = bearer(app, text)
        assert response.status_code == 401, (text, response.status_code)


def test_an_account_stored_without_the_active_flag_counts_as_active_for_tokens_too(app, storage):
    """Accounts written before deactivation existed have no ``active`` field; sign-in, sessions and the
    CLI treat them as active, and so must a token (kills ``core.auth:_account_from_token#16``,
    ``acct.get('active', True)`` → ``False``)."""
    account = make_account(app, "employee")
    _record, token = auth.create_token(storage, account, "t")
    records = storage.collection("accounts")
    records.upsert({k: v for k, v in records.get(account["id"]).items() if k != "active"})
    assert "active" not in records.get(account["id"])
    assert bearer(app, token).status_code == 200
    # and a signed-in session of it goes on (kills load_user#3, the same default on the session path)
    client = FlaskClient(app, app.response_class, use_cookies=True)
    secret = sessions.open_session(storage, account["id"])
    with client.session_transaction() as cookie:
        cookie["account"], cookie["sid"] = account["id"], secret
    assert client.get("/api/v1/me").status_code == 200
    records.update(account["id"], {"active": False})
    assert bearer(app, token).status_code == 401


def _actor(record: dict) -> auth.Account:
    return auth.Account(record["id"], record["username"], record["role"], record.get("person_id"))


def test_deleting_an_account_takes_its_tokens_and_sessions_and_only_an_admin_may(app, storage):
    """No test of the auth subset reached ``delete_account``/``forget_account``: every mutant of
    them survived. Only an admin deletes, never their own account; the account's tokens and
    sessions go with it, other accounts keep theirs; the audit log records it."""
    admin, coach, other = make_account(app, "admin"), make_account(app, "coach"), make_account(app, "employee")
    _rec, token = auth.create_token(storage, other, "t")
    _rec, coach_token = auth.create_token(storage, coach, "t")
    other_session = sessions.open_session(storage, other["id"])
    coach_session = sessions.open_session(storage, coach["id"])
    config = {**sessions.settings_defaults()}
    with pytest.raises(ServiceError) as refused:
        accounts.delete_account(storage, _actor(coach), other["id"])
    assert refused.value.status == 403
    with pytest.raises(ServiceError) as own:
        accounts.delete_account(storage, _actor(admin), admin["id"])
    assert own.value.status == 409
    with pytest.raises(ServiceError) as missing:
        accounts.delete_account(storage, _actor(admin), "nosuchaccount")
    assert missing.value.status == 404
    assert storage.collection("accounts").get(other["id"]) and bearer(app, token).status_code == 200

    accounts.delete_account(storage, _actor(admin), other["id"])
    assert storage.collection("accounts").get(other["id"]) is None
    assert storage.collection("api_tokens").find(account_id=other["id"]) == []
    assert bearer(app, token).status_code == 401
    assert not sessions.check_session(storage, other_session, other["id"], config)
    # the other accounts keep theirs
    assert storage.collection("accounts").get(admin["id"]) and bearer(app, coach_token).status_code == 200
    assert sessions.check_session(storage, coach_session, coach["id"], config)
    entries = [e for e in storage.collection("audit").all() if e["action"] == "delete"]
    assert [(e["subject_type"], e["subject_id"]) for e in entries] == [("account", other["id"])]


def test_only_an_admin_changes_an_account_whatever_calls_the_core(app, storage):
    """``update_account`` itself refuses anyone but an admin (kills ``core.auth:update_account#0``,
    ``#3`` and ``#4``: the subset only ever called it as an admin)."""
    admin, coach, other = make_account(app, "admin"), make_account(app, "coach"), make_account(app, "employee")
    for actor, status in ((None, 401), (_actor(coach), 403), (_actor(other), 403)):
        with pytest.raises(ServiceError) as refused:
            accounts.update_account(storage, actor, other["id"], {"role": "admin"})
        assert refused.value.status == status
    assert storage.collection("accounts").get(other["id"])["role"] == "employee"
    with pytest.raises(ServiceError) as unknown_role:  # kills update_account#11
        accounts.update_account(storage, _actor(admin), other["id"], {"role": "superuser"})
    assert "role" in unknown_role.value.errors
    assert storage.collection("accounts").get(other["id"])["role"] == "employee"
    with pytest.raises(ServiceError) as missing:  # kills update_account#6/#7
        accounts.update_account(storage, _actor(admin), "nosuchaccount", {"role": "coach"})
    assert missing.value.status == 404
    assert accounts.update_account(storage, _actor(admin), other["id"], {"role": "coach"})["role"] == "coach"
    # the change is audited, the refused attempts are not (kills update_account#17)
    updates = [(e["subject_type"], e["subject_id"]) for e in storage.collection("audit").all() if e["action"] == "update"]
    assert updates == [("account", other["id"])]


def test_a_session_check_without_a_secret_or_with_a_bad_account_id_is_no_session(app, storage):
    """A cookie from before server-side sessions (an account id, no ``sid``) or a forged one is simply
    not signed in (kills ``core.sessions:check_session#0``, ``or`` → ``and``, which hashed ``None``)."""
    account = make_account(app, "employee")
    secret = sessions.open_session(storage, account["id"])
    config = sessions.settings_defaults()
    assert sessions.check_session(storage, secret, account["id"], config)
    for bad_secret, bad_account in ((None, account["id"]), ("", account["id"]), (secret, None), (secret, 42)):
        assert sessions.check_session(storage, bad_secret, bad_account, config) is False
    client = FlaskClient(app, app.response_class, use_cookies=True)
    with client.session_transaction() as cookie:
        cookie["account"] = account["id"]  # no "sid"
        cookie["lang"] = "sv"
    assert client.get("/api/v1/me").status_code == 401
    with client.session_transaction() as cookie:  # the stale cookie is cleared, the language kept (kills load_user#4)
        assert dict(cookie) == {"lang": "sv"}


# ----------------------------------------------------------------------------- plans: what others see


def _question(qid: str, note: str, **extra) -> dict:
    return {"id": qid, "competency": "c", "kind": "own" if extra.get("source") == "own" else "coaching",
            "source": extra.pop("source", "qs"), "text": {"en": qid}, "note": note, **extra}


def test_a_question_stored_without_a_shared_flag_is_a_shared_one():
    """Questions from before self-reflection existed have no ``shared`` key: they are shared, so the
    coach still sees their notes (kills ``core.plans:is_private#1``, default ``True`` → ``False``)."""
    from core import plans

    plan = {"questions": [_question("old", "Agreed in the dialogue")]}
    assert not plans.is_private(plan["questions"][0])
    seen = plans.for_viewer(plan, "coach")["questions"]
    assert seen == [plan["questions"][0]] and seen[0]["note"] == "Agreed in the dialogue"


def test_others_see_a_private_question_marked_private_and_without_its_note():
    """The coach's view marks a private question ``private`` (the pages show "private note" and no
    text field for it) and leaves out the employee's own private question entirely (kills
    ``core.plans:for_viewer#2``, ``'private': True`` → ``False``)."""
    from core import plans

    plan = {"questions": [_question("p", "Hemlig", shared=False), _question("s", "Delad", shared=True),
                          _question("own", "Egen", shared=False, source="own")]}
    seen = plans.for_viewer(plan, "coach")["questions"]
    assert [q["id"] for q in seen] == ["p", "s"]
    assert seen[0]["private"] is True and seen[0]["note"] == ""
    assert "private" not in seen[1] and seen[1]["note"] == "Delad"
    assert plans.for_viewer(plan, "employee") is plan


def test_someone_elses_edit_keeps_private_items_but_may_remove_shared_ones():
    """``keep_private_items`` puts back only the employee's private questions, in their place: a
    shared question the coach removed stays removed (kills ``core.plans:keep_private_items#1``,
    ``and`` → ``or``, which put every removed question back)."""
    import copy

    from core import plans

    before = {"questions": [_question("p", "Hemlig", shared=False), _question("s", "Delad", shared=True),
                            _question("t", "Också delad", shared=True)]}
    after = copy.deepcopy(before)
    after["questions"] = [q for q in after["questions"] if q["id"] == "t"]  # the coach removed "p" and "s"
    after["questions"][0]["note"] = "Coach's edit"
    plans.keep_private_items(before, after)
    assert [q["id"] for q in after["questions"]] == ["p", "t"]
    assert after["questions"][0] == before["questions"][0]
    assert after["questions"][1]["note"] == "Coach's edit"


def test_notes_up_to_the_limit_and_the_coach_writing_on_an_older_question():
    """``set_note``: a note may have ``LIMITS["note"]`` characters, not one more (kills ``core.plans:set_note#7``/``#8``);
    the coach writes notes on a shared question, also on one stored before the ``shared`` flag
    existed (kills ``core.plans:set_note#4``), and never on a private one."""
    from core import plans

    most = plans.LIMITS["note"]
    plan = {"questions": [_question("old", ""), _question("p", "Hemlig", shared=False)]}
    assert plans.set_note(plan, "coach", "old", "n" * most, None) == ["questions"]
    # "shared" sent as it is (true) is no change of the flag: allowed (kills set_note#14); false is the employee's call
    assert plans.set_note(plan, "coach", "old", "n" * most, True) == ["questions"]
    with pytest.raises(plans.PlanError) as flag:
        plans.set_note(plan, "coach", "old", "n" * most, False)
    assert flag.value.status == 403 and plan["questions"][0].get("shared", True) is True
    assert plan["questions"][0]["note"] == "n" * most
    with pytest.raises(plans.PlanError):
        plans.set_note(plan, "coach", "old", "n" * (most + 1), None)
    assert plan["questions"][0]["note"] == "n" * most
    with pytest.raises(plans.PlanError) as private:
        plans.set_note(plan, "coach", "p", "Coach writes here", None)
    assert private.value.status == 403 and plan["questions"][1]["note"] == "Hemlig"
    with pytest.raises(plans.PlanError) as unknown:  # kills set_note#18
        plans.set_note(plan, "employee", "nosuchquestion", "x", None)
    assert unknown.value.status == 404


def _agreeable(mode: str) -> dict:
    return {"mode": mode, "focus": [{"competency": "c"}], "activities": [{"id": "a"}],
            "status": "draft", "agreed": {"employee": None, "coach": None}}


def test_agreement_is_the_employees_and_the_coachs_alone():
    """``agree`` refuses anyone else, an admin too, whoever calls it (kills ``core.plans:agree#1``/``#2``:
    the subset reached it only through ``change``, which refuses an admin first)."""
    from core import plans

    for rel in ("admin", None, "someone"):
        plan = _agreeable("coaching")
        with pytest.raises(plans.PlanError) as refused:
            plans.agree(plan, rel)
        assert refused.value.status == 403
        assert plan["agreed"] == {"employee": None, "coach": None} and plan["status"] == "draft"
    for missing in ("focus", "activities"):  # both are needed, not one of them (kills agree#8)
        plan = {**_agreeable("coaching"), missing: []}
        with pytest.raises(plans.PlanError) as incomplete:
            plans.agree(plan, "employee")
        assert incomplete.value.status == 422 and plan["agreed"]["employee"] is None
    plan = _agreeable("coaching")
    plans.agree(plan, "coach")
    assert plan["status"] == "draft" and plan["agreed"]["coach"] and not plan["agreed"]["employee"]
    plans.agree(plan, "employee")
    assert plan["status"] == "agreed"


# ----------------------------------------------------------------------------- accounts: gone meanwhile, audit


def test_account_operations_on_an_account_deleted_meanwhile_answer_404(app, storage):
    """An account deleted between sign-in and the request (or a reset of an unknown id) is a 404,
    not a crash on ``None`` (kills ``core.auth:set_password#1``/``#2``, ``issue_token#3``/``#4`` and
    ``change_own_password#3``)."""
    gone = make_account(app, "employee")
    actor = _actor(gone)
    storage.collection("accounts").delete(gone["id"])
    with pytest.raises(ServiceError) as reset:
        accounts.update_account(storage, accounts.CLI, gone["id"], {"password": "a brand new passphrase"})
    with pytest.raises(ServiceError) as token:
        accounts.issue_token(storage, actor, "t")
    with app.test_request_context("/"):
        with pytest.raises(ServiceError) as change:
            accounts.change_own_password(storage, actor, PASSWORD, "a brand new passphrase", keep_session=None)
    assert (reset.value.status, token.value.status, change.value.status) == (404, 404, 404)
    assert storage.collection("api_tokens").find(account_id=gone["id"]) == []


def test_token_creation_and_sign_out_everywhere_are_audited(app, storage):
    """Kills ``core.auth:issue_token#5`` and ``sign_out_everywhere#2`` (the ``audit.record`` calls
    dropped): who made a token and who ended every session is in the audit log, by id."""
    account = make_account(app, "coach")
    with app.test_request_context("/"):
        token, _text = accounts.issue_token(storage, _actor(account), "laptop")
        accounts.revoke_token(storage, _actor(account), token["id"])
        accounts.sign_out_everywhere(storage, _actor(account))
    entries = {(e["action"], e["subject_id"]) for e in storage.collection("audit").all()}
    assert ("token_create", token["id"]) in entries
    assert ("token_revoke", token["id"]) in entries  # kills revoke_token#8
    assert ("sign_out_everywhere", account["id"]) in entries


def test_revoking_a_token_by_an_empty_or_non_text_id_is_a_404(app, storage):
    """An empty or non-text token id is a 404 like any unknown one. (Does not kill
    ``core.auth:revoke_token#0``: the storage answers such ids with ``None`` too, see tools/mutation.md.)"""
    account = make_account(app, "coach")
    for token_id in ("", None, 7, ["x"]):
        with pytest.raises(ServiceError) as refused:
            accounts.revoke_token(storage, _actor(account), token_id)
        assert refused.value.status == 404


def test_the_new_password_must_differ_from_the_current_one(app, storage):
    """Kills ``core.auth:change_own_password#9`` (the refusal dropped)."""
    account = make_account(app, "employee")
    before = storage.collection("accounts").get(account["id"])["password_hash"]
    with app.test_request_context("/"):
        with pytest.raises(ServiceError) as same:
            accounts.change_own_password(storage, _actor(account), PASSWORD, PASSWORD, keep_session=None)
    assert "new_password" in same.value.errors
    assert storage.collection("accounts").get(account["id"])["password_hash"] == before
    # a real change is audited (kills change_own_password#12, the audit.record dropped)
    with app.test_request_context("/"):
        accounts.change_own_password(storage, _actor(account), PASSWORD, "a brand new passphrase", keep_session=None)
    assert storage.collection("accounts").get(account["id"])["password_hash"] != before
    assert [e["actor"] for e in storage.collection("audit").all() if e["action"] == "password_change"] == [account["id"]]


def test_an_ordinary_request_does_not_write_the_session(app, storage, clock):
    """``last_seen`` is written at most once a minute, so an ordinary request costs no write (kills
    ``core.sessions:check_session#12``, ``t - last_seen`` → ``t + last_seen``: a write on every request)."""
    account = make_account(app, "employee")
    secret = sessions.open_session(storage, account["id"])
    config = sessions.settings_defaults()
    key = sessions._key(secret)
    started = storage.collection(sessions.SESSIONS).get(key)["last_seen"]
    for elapsed in (sessions.TOUCH_SECONDS / 2, sessions.TOUCH_SECONDS):  # "older than": not at 60 s exactly (#11)
        clock.t = started + elapsed
        assert sessions.check_session(storage, secret, account["id"], config)
        assert storage.collection(sessions.SESSIONS).get(key)["last_seen"] == started
    clock.t = started + sessions.TOUCH_SECONDS + 1
    assert sessions.check_session(storage, secret, account["id"], config)
    assert storage.collection(sessions.SESSIONS).get(key)["last_seen"] == clock.t


def test_session_lifetimes_are_inclusive_and_one_second_is_a_valid_setting(app, storage, clock):
    """A session used exactly ``SESSION_IDLE_SECONDS`` ago is still alive, one second later it is not
    (kills ``core.sessions:_expired#1``); lifetimes of one second are accepted, zero is not, idle no
    longer than absolute (kills ``check_settings#3``, ``#5``, ``#6``); ending a session with no usable secret does nothing (kills ``end_session#0``)."""
    account = make_account(app, "employee")
    config = {"SESSION_IDLE_SECONDS": 100, "SESSION_MAX_SECONDS": 1000}
    secret = sessions.open_session(storage, account["id"])
    clock.t += 100
    assert sessions.check_session(storage, secret, account["id"], config)  # touched now
    clock.t += 101
    assert not sessions.check_session(storage, secret, account["id"], config)
    sessions.check_settings({"SESSION_IDLE_SECONDS": 1, "SESSION_MAX_SECONDS": 1})
    for bad in ({"SESSION_IDLE_SECONDS": 0, "SESSION_MAX_SECONDS": 1},
                {"SESSION_IDLE_SECONDS": 2, "SESSION_MAX_SECONDS": 1}):  # idle longer than absolute (#6)
        with pytest.raises(SystemExit):
            sessions.check_settings(bad)
    kept = sessions.open_session(storage, account["id"])
    for nothing in (None, "", 42):
        sessions.end_session(storage, nothing)
    assert sessions.check_session(storage, kept, account["id"], config)


# ----------------------------------------------------------------------------- plans: lists


def _plan(storage, person_id: str, updated_at: float) -> dict:
    return storage.collection("plans").insert({"person_id": person_id, "coach_id": None, "status": "draft", "mode": "coaching",
                                               "focus": [], "activities": [], "questions": [], "updated_at": updated_at})


def test_plan_lists_admin_sees_all_an_employee_named_as_coach_sees_only_their_own(app, storage):
    """``visible_plans``: an admin lists everyone's plans (kills ``core.plans:_candidate_plans#1``);
    an account with the *employee* role whose person is recorded as someone's coach does not get
    that person's plans (kills ``_candidate_plans#2``, ``and`` → ``or``, which listed them as
    "coach"); the person filter and the newest-first order hold (kills ``visible_plans#2``, ``#10``, ``#12``)."""
    from core import plans

    boss_p = make_person(app, "Berit Chef")
    worker_p = make_person(app, "Will Worker", coach_id=boss_p["id"])
    other_p = make_person(app, "Olle Annan")
    boss = _actor(make_account(app, "employee", boss_p))  # named as coach, but only an employee account
    admin = _actor(make_account(app, "admin"))
    own = _plan(storage, boss_p["id"], 100.0)
    worker_old, worker_new = _plan(storage, worker_p["id"], 200.0), _plan(storage, worker_p["id"], 300.0)
    other = _plan(storage, other_p["id"], 400.0)

    assert [(p["id"], rel) for p, rel in plans.visible_plans(storage, boss)] == [(own["id"], "employee")]
    listed = plans.visible_plans(storage, admin)
    assert [p["id"] for p, _rel in listed] == [other["id"], worker_new["id"], worker_old["id"], own["id"]]
    assert {rel for _p, rel in listed} == {"admin"}
    only = plans.visible_plans(storage, admin, person_id=worker_p["id"])
    assert [p["id"] for p, _rel in only] == [worker_new["id"], worker_old["id"]]


def test_a_session_ended_by_another_request_meanwhile_is_no_session(app, storage, clock, monkeypatch):
    """Sign-out in one worker while another request of the same session is being checked: the check
    finds the record gone when it writes ``last_seen`` and answers "not signed in" (kills
    ``core.sessions:check_session#14``, ``return False`` → ``True`` on that ``NotFoundError``)."""
    account = make_account(app, "employee")
    secret = sessions.open_session(storage, account["id"])
    real = storage.collection

    class EndedMeanwhile:
        def __init__(self, collection):
            self._c = collection

        def get(self, key):
            record = self._c.get(key)
            self._c.delete(key)  # the other worker's sign-out, right after this read
            return record

        def __getattr__(self, name):
            return getattr(self._c, name)

    monkeypatch.setattr(storage, "collection", lambda name: EndedMeanwhile(real(name)) if name == sessions.SESSIONS else real(name))
    clock.t += sessions.TOUCH_SECONDS + 1
    assert sessions.check_session(storage, secret, account["id"], sessions.settings_defaults()) is False


# ----------------------------------------------------------------------------- people: exports


def test_only_the_person_and_an_admin_get_an_export(app, storage):
    """``export_for`` is the one rule for exports: a coach or another employee gets the same 404 as for
    nobody, whatever route calls it (kills ``core.people:export_for#5``, ``or`` → ``and``, under which
    any signed-in account exported anyone)."""
    from core import people

    coach_p = make_person(app, "Cecilia Coach")
    emp_p = make_person(app, "Emil Anställd", coach_id=coach_p["id"])
    coach = _actor(make_account(app, "coach", coach_p))
    colleague = _actor(make_account(app, "employee"))
    for account in (coach, colleague, None):
        with pytest.raises(people.PeopleError) as refused:
            people.export_for(storage, account, emp_p["id"])
        assert refused.value.status == 404
    admin = _actor(make_account(app, "admin"))
    assert people.export_for(storage, admin, emp_p["id"])["person_id"] == emp_p["id"]
    with pytest.raises(people.PeopleError) as missing:  # kills export_for#11/#12
        people.export_for(storage, admin, "nosuchperson")
    assert missing.value.status == 404
    own = _actor(make_account(app, "employee", emp_p))
    assert people.export_for(storage, own, emp_p["id"])["private_notes"] == "included"


def test_an_account_without_a_person_gets_its_account_data_as_its_own_export(app, storage):
    """``export_self`` for an account with no person, or whose person was deleted: the account's own
    data, marked complete (kills ``core.people:export_self#0`` and ``#2``)."""
    from core import people

    lone = make_account(app, "admin")
    storage.collection("accounts").update(lone["id"], {"person_id": None})
    gone_p = make_person(app, "Gustav Borta")
    orphan = make_account(app, "employee", gone_p)
    storage.collection("people").delete(gone_p["id"])
    # its requests still work, with the default language (kills core.auth:load_user#6, which read the
    # missing person's locale)
    _rec, token = auth.create_token(storage, orphan, "t")
    assert bearer(app, token).status_code == 200
    for record in (storage.collection("accounts").get(lone["id"]), orphan):
        export = people.export_self(storage, _actor(record))
        assert export["person_id"] is None and export["private_notes"] == "included"
        assert [a["id"] for a in export["records"]["accounts"]] == [record["id"]]


def test_who_sees_which_people(app, storage):
    """``visible_ids``/``visible_person``: a coach sees themself and their coachees; an account with the
    employee role sees only themself even when their person is recorded as someone's coach; an admin
    everyone (kills ``core.people:visible_ids#2``, ``#3`` and ``visible_person#2``)."""
    from core import people

    coach_p = make_person(app, "Karin Coach")
    named_p = make_person(app, "Nora Namngiven")
    coachee = make_person(app, "Adam Adept", coach_id=coach_p["id"])
    other = make_person(app, "Pia Perifer", coach_id=named_p["id"])
    coach = _actor(make_account(app, "coach", coach_p))
    named = _actor(make_account(app, "employee", named_p))
    admin = _actor(make_account(app, "admin"))
    assert people.visible_ids(storage, coach) == {coach_p["id"], coachee["id"]}
    assert people.visible_ids(storage, named) == {named_p["id"]}
    assert people.visible_ids(storage, admin) is None and people.visible_ids(storage, None) == set()
    assert people.visible_person(storage, coach, coachee["id"])["name"] == "Adam Adept"
    assert people.visible_person(storage, coach, other["id"]) is None
    assert people.visible_person(storage, named, other["id"]) is None
    assert people.visible_person(storage, admin, other["id"])["name"] == "Pia Perifer"


def test_erase_reports_what_it_removed_and_is_audited_anonymously(app, storage):
    """The counts ``erase`` returns (shown to the admin) and the audit entry under the anonymised id
    (kills ``core.people:erase#0`` and ``erase_person#13``–``#15``)."""
    from core import people

    person = make_person(app, "Ellen Raderas")
    account = make_account(app, "employee", person)
    for name in ("laptop", "phone"):
        auth.create_token(storage, account, name)
    counts = people.erase(storage, person["id"], "secret")
    assert counts == {"api_tokens": 2, "accounts": 1, "people": 1}
    erased = [e for e in storage.collection("audit").all() if e["action"] == "erase"]
    assert [(e["subject_type"], e["subject_id"]) for e in erased] == [("person", people.anonymous_id(person["id"], "secret"))]


def test_only_an_admin_issues_a_token_for_another_account(app, storage):
    """``issue_token(..., account_id=…)`` (the console's ``kbp tokens create --user``) is for admins:
    a coach cannot mint a token for someone else (kills ``core.services.accounts:issue_token#3``/``#4``
    on the code after the service layer landed)."""
    coach, other = make_account(app, "coach"), make_account(app, "employee")
    with pytest.raises(ServiceError) as refused:
        accounts.issue_token(storage, _actor(coach), "stolen", account_id=other["id"])
    assert refused.value.status == 403
    assert storage.collection("api_tokens").find(account_id=other["id"]) == []
    own, _text = accounts.issue_token(storage, _actor(coach), "mine", account_id=coach["id"])
    assert storage.collection("api_tokens").get(own["id"])["account_id"] == coach["id"]
    made, _text = accounts.issue_token(storage, accounts.CLI, "console", account_id=other["id"])
    assert storage.collection("api_tokens").get(made["id"])["account_id"] == other["id"]
