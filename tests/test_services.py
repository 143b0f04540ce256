"""The service layer (issue 13): handlers only parse, call a service and render; the services'
units of work commit all or nothing; the accounts page and the API refuse the same input alike."""
from __future__ import annotations

import ast
import html
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.services import accounts as accounts_service
from core.services import people as people_service
from core.services.errors import Conflict, Invalid
from core import sessions
from tests.helpers import csrf_token, make_account, make_person, signed_in_client

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------- (a) no storage in handlers

#: modules that parse, call a service and render: no storage access, no audit entries of their own
HANDLER_MODULES = sorted(
    [*(ROOT / "core" / "api").glob("*.py"), *(ROOT / "core" / "web").glob("*.py"), *(ROOT / "core").glob("cli*.py")]
)

#: The operator commands that work on the store itself, not on records through a rule: each entry is
#: (module, function). Everything else - people, accounts, plans, activities, the catalogue - goes
#: through core/services/.
ALLOWED = {
    # ``kbp compact`` rewrites every collection's files (an operation on the store, like a backup,
    # with no record, permission or audit entry involved)
    ("core/cli_ops.py", "compact_cmd"),
    # ``kbp serve`` closes the server process's store before gunicorn forks its workers (each worker
    # opens its own): process management, not data access
    ("core/cli.py", "serve"),
}


def _storage_uses(tree: ast.AST):
    """(function name, line, what) for every direct storage access or audit write in ``tree``."""
    parents: dict[ast.AST, str] = {}

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            parents[child] = name
            visit(child, name)

    visit(tree, "<module>")
    for node in ast.walk(tree):
        func = parents.get(node, "<module>")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr in ("collection", "unit_of_work", "transaction", "collection_names"):
                yield func, node.lineno, f".{attr}("
            if attr == "record" and isinstance(node.func.value, ast.Name) and node.func.value.id == "audit":
                yield func, node.lineno, "audit.record("
        if isinstance(node, ast.Attribute):
            value = node.value
            named = (isinstance(value, ast.Name) and value.id in ("storage", "store")) or (
                isinstance(value, ast.Attribute) and value.attr in ("storage", "store")) or (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("storage", "store"))
            if named:
                yield func, node.lineno, f"storage.{node.attr}"


def test_the_scan_finds_storage_access():
    code = ("def f():\n    storage().collection('people').all()\n"
            "def g(app):\n    app.extensions['kbp'].storage.unit_of_work('a')\n"
            "def h(storage):\n    storage.healthy()\n"
            "def i():\n    audit.record(None, 'create', 'person', '1')\n"
            "def ok(storage):\n    service.call(storage, 1)\n")
    found = {(func, what) for func, _line, what in _storage_uses(ast.parse(code))}
    assert {("f", ".collection("), ("g", ".unit_of_work("), ("h", "storage.healthy"), ("i", "audit.record(")} <= found
    assert not [f for f in found if f[0] == "ok"]


def test_handlers_and_cli_call_no_storage_directly():
    offences = []
    for path in HANDLER_MODULES:
        rel = path.relative_to(ROOT).as_posix()
        if (rel, "*") in ALLOWED:
            continue
        for func, line, what in _storage_uses(ast.parse(path.read_text(encoding="utf-8"))):
            if (rel, func) not in ALLOWED:
                offences.append(f"{rel}:{line} in {func}: {what}")
    assert not offences, "call a service instead:\n" + "\n".join(offences)


def test_the_allowlist_names_real_modules_and_functions():
    for rel, func in ALLOWED:
        path = ROOT / rel
        assert path.exists(), rel
        if func != "*":
            names = {n.name for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.FunctionDef)}
            assert func in names, (rel, func)


# ----------------------------------------------------------------------------- (b) one rule, one message


def _page_error(response) -> str:
    text = html.unescape(response.get_data(as_text=True))
    start = text.index('role="alert">') + len('role="alert">')
    return text[start:text.index("</p>", start)]


@pytest.mark.parametrize("case", ["no such person", "weak password", "duplicate username", "person has an account"])
def test_accounts_page_and_api_refuse_the_same_input_with_the_same_message(make_app, case):
    app = make_app()
    existing = make_account(app, "employee")
    data = {"username": "new.person@example.test", "password": "a long and unusual phrase", "role": "employee",
            "person_id": None}
    if case == "no such person":
        data["person_id"] = "nobody-has-this-id"
    elif case == "weak password":
        data["password"] = "password123"
    elif case == "duplicate username":
        data["username"] = existing["username"]
    else:
        data["person_id"] = existing["person_id"]
    api = app.test_client().post("/api/v1/accounts", json={k: v for k, v in data.items() if v is not None})
    page_client = signed_in_client(app, "admin")
    page = page_client.post("/admin/accounts", data={**{k: v or "" for k, v in data.items()},
                                                     "csrf_token": csrf_token(page_client, "/admin/accounts")})
    body = api.get_json()
    assert api.status_code in (409, 422) and page.status_code == api.status_code, (api.status_code, page.status_code)
    assert body["message"] and _page_error(page) == body["message"]
    assert body["errors"] and set(body["errors"]) <= {"username", "password", "person_id"}
    accounts = app.extensions["kbp"].storage.collection("accounts").find(username=data["username"])
    assert len(accounts) == (1 if case == "duplicate username" else 0)  # nothing stored by either


# ----------------------------------------------------------------------------- (c) units of work


def _everything(storage) -> dict:
    """Every record of every collection (a collection opened but still empty counts as none)."""
    found = {name: sorted(storage.collection(name).all(), key=lambda r: r["id"]) for name in storage.collection_names()}
    return {name: records for name, records in found.items() if records}


@contextmanager
def failing_write(storage, monkeypatch, collection: str, operation: str):
    """Every unit of work on ``storage`` raises when ``operation`` (insert, update, delete) is
    called on ``collection`` — after the writes made before it in the same unit of work."""
    original = storage.unit_of_work

    class Writer:
        def __init__(self, inner, name):
            self._inner, self._name = inner, name

        def __getattr__(self, attr):
            target = getattr(self._inner, attr)
            if self._name == collection and attr == operation:
                def fail(*args, **kwargs):
                    raise OSError(f"disk full (injected) at {collection}.{operation}")
                return fail
            return target

    class Uow:
        def __init__(self, inner):
            self._inner = inner

        def __getitem__(self, name):
            return Writer(self._inner[name], name)

    @contextmanager
    def unit_of_work(*names):
        with original(*names) as uow:
            yield Uow(uow)

    monkeypatch.setattr(storage, "unit_of_work", unit_of_work)
    yield
    monkeypatch.setattr(storage, "unit_of_work", original)


def fail_on(name: str):
    def fail(part):
        if part == name:
            raise OSError(f"disk full (injected) before {part}")
    return fail


def _coach_with_everything(app):
    """A coach with an account, a session, a token, a coachee and audit entries about them."""
    storage = app.extensions["kbp"].storage
    coach = make_person(app, "Sam Lind")
    make_person(app, "Noor Haddad", coach_id=coach["id"])
    account = make_account(app, "coach", coach)
    sessions.open_session(storage, account["id"])
    accounts_service.issue_token(storage, accounts_service.CLI, "script", account_id=account["id"])
    admin = accounts_service.CLI
    people_service.update_person(storage, admin, coach["id"], {"job_title": "Teamleader"})
    return storage, coach, account


def _injections(storage, monkeypatch, write: tuple[str, str], part: str):
    """Both ways of failing part-way: a write that raises, and (embedded store) a commit that fails
    between the parts it writes."""
    yield "write", failing_write(storage, monkeypatch, *write)
    if hasattr(storage, "before_part"):
        @contextmanager
        def commit():
            storage.before_part = fail_on(part)
            try:
                yield
            finally:
                storage.before_part = None
        yield "commit", commit()


@pytest.mark.parametrize("how", ["write", "commit"])
def test_a_failed_erase_leaves_everything_as_it_was(make_app, monkeypatch, how):
    app = make_app()
    storage, coach, account = _coach_with_everything(app)
    before = _everything(storage)
    # the audit log is the last write of the erase (its own entry), people a middle part of the commit
    injections = dict(_injections(storage, monkeypatch, ("audit", "insert"), "people"))
    if how not in injections:
        pytest.skip("the PostgreSQL store commits in the database, no parts to fail between")
    with injections[how], pytest.raises(OSError, match="injected"):
        people_service.erase(storage, accounts_service.CLI, coach["id"], app.config["SECRET_KEY"])
    assert _everything(storage) == before
    # and the same erase without a failure removes it all, in one go
    people_service.erase(storage, accounts_service.CLI, coach["id"], app.config["SECRET_KEY"])
    assert storage.collection("people").get(coach["id"]) is None
    assert not storage.collection("accounts").find(person_id=coach["id"])
    assert not storage.collection("sessions").find(account_id=account["id"])
    assert not storage.collection("api_tokens").find(account_id=account["id"])
    assert not [e for e in storage.collection("audit").all() if coach["id"] in (e["actor"], e["subject_id"])]


@pytest.mark.parametrize("how", ["write", "commit"])
def test_a_failed_people_import_imports_nothing(make_app, monkeypatch, how):
    app = make_app()
    storage = app.extensions["kbp"].storage
    make_person(app, "Ada Berg", email="ada@example.test")
    before = _everything(storage)
    csv = ("name,email,coach_email\nAda Berg,ada@example.test,bo@example.test\nBo Ek,bo@example.test,\n"
           "Cy Dahl,cy@example.test,bo@example.test\n")
    injections = dict(_injections(storage, monkeypatch, ("audit", "insert"), "people"))
    if how not in injections:
        pytest.skip("the PostgreSQL store commits in the database, no parts to fail between")
    with injections[how], pytest.raises(OSError, match="injected"):
        people_service.import_csv(storage, accounts_service.CLI, csv, dry_run=False)
    assert _everything(storage) == before
    report = people_service.import_csv(storage, accounts_service.CLI, csv, dry_run=False)
    assert (report.created, report.updated) == (2, 1)
    assert [e["action"] for e in storage.collection("audit").all()] == ["import"]


@pytest.mark.parametrize("how", ["write", "commit"])
@pytest.mark.parametrize("change", [{"role": "employee"}, {"password": "a brand new long phrase"}])
def test_a_failed_account_change_keeps_the_account_and_its_sessions(make_app, monkeypatch, how, change):
    app = make_app()
    storage, _coach, account = _coach_with_everything(app)
    before = _everything(storage)
    # the account is written first, its sessions after it: fail at the sessions
    injections = dict(_injections(storage, monkeypatch, ("sessions", "delete"), "sessions"))
    if how not in injections:
        pytest.skip("the PostgreSQL store commits in the database, no parts to fail between")
    with injections[how], pytest.raises(OSError, match="injected"):
        accounts_service.update_account(storage, accounts_service.CLI, account["id"], change)
    assert _everything(storage) == before
    accounts_service.update_account(storage, accounts_service.CLI, account["id"], change)
    assert not storage.collection("sessions").find(account_id=account["id"])
    tokens = storage.collection("api_tokens").find(account_id=account["id"])
    assert [t["revoked"] for t in tokens] == [("password" in change)]


def _actor(account: dict, role: str | None = None):
    from core.auth import Account

    return Account(account["id"], account["username"], role or account["role"], account["person_id"])


def _coach_and_plan(app):
    """A coach, their coachee and a coaching plan with one focus competency (through the plan service)."""
    from core.services import plans as plans_service

    storage = app.extensions["kbp"].storage
    registry = app.extensions["kbp"].registry
    coach = make_person(app, "Sam Lind")
    employee = make_person(app, "Noor Haddad", coach_id=coach["id"])
    coach_actor = _actor(make_account(app, "coach", coach))
    plan, rel = plans_service.create_plan(storage, registry, coach_actor, employee["id"], "new_role", "coaching")
    assert rel == "coach"
    plan, _rel = plans_service.set_focus(storage, registry, coach_actor, plan["id"], plan["version"],
                                         ["kbp-sample:active-listening"])
    return storage, registry, coach_actor, plan


@pytest.mark.parametrize("how", ["write", "commit"])
def test_a_failed_plan_change_writes_neither_the_plan_nor_its_history(make_app, monkeypatch, how):
    from core.services import plans as plans_service

    app = make_app()
    with app.test_request_context():
        storage, registry, coach, plan = _coach_and_plan(app)
        before = _everything(storage)
        # the plan is written first, its history entry after it: fail at the history
        injections = dict(_injections(storage, monkeypatch, ("plan_history", "insert"), "plan_history"))
        if how not in injections:
            pytest.skip("the PostgreSQL store commits in the database, no parts to fail between")
        with injections[how], pytest.raises(OSError, match="injected"):
            plans_service.set_focus(storage, registry, coach, plan["id"], plan["version"],
                                    ["kbp-sample:active-listening", "kbp-sample:planning-own-work"])
        assert _everything(storage) == before
        changed, _rel = plans_service.set_focus(storage, registry, coach, plan["id"], plan["version"],
                                                ["kbp-sample:active-listening", "kbp-sample:planning-own-work"])
        assert changed["version"] == plan["version"] + 1 and len(changed["focus"]) == 2
        actions = [h["action"] for h in plans_service.history(storage, coach, plan["id"])]
        assert actions == ["create", "update", "update"]


@pytest.mark.parametrize("how", ["write", "commit"])
def test_a_failed_plan_start_leaves_no_plan_history_or_audit_entry(make_app, monkeypatch, how):
    from core.services import plans as plans_service

    app = make_app()
    storage = app.extensions["kbp"].storage
    coach = make_person(app, "Sam Lind")
    employee = make_person(app, "Noor Haddad", coach_id=coach["id"])
    actor = _actor(make_account(app, "coach", coach))
    before = _everything(storage)
    injections = dict(_injections(storage, monkeypatch, ("audit", "insert"), "audit"))
    if how not in injections:
        pytest.skip("the PostgreSQL store commits in the database, no parts to fail between")
    with app.test_request_context():
        with injections[how], pytest.raises(OSError, match="injected"):
            plans_service.create_plan(storage, app.extensions["kbp"].registry, actor, employee["id"], "new_role", "coaching")
        assert _everything(storage) == before
        plan, _rel = plans_service.create_plan(storage, app.extensions["kbp"].registry, actor, employee["id"], "new_role",
                                               "coaching")
    assert [h["action"] for h in storage.collection("plan_history").find(plan_id=plan["id"])] == ["create"]
    assert [(e["action"], e["subject_id"]) for e in storage.collection("audit").all()] == [("create", plan["id"])]


ACTIVITIES_CSV = ("id,source_language,title_sv,description_sv,competencies,kind,effort\n"
                  "mentorskap,sv,Mentorskap,Träffa en mentor varje månad.,kbp-sample:active-listening,learning_from_others,months\n"
                  "skugga,sv,Skugga en kollega,Följ en kollega en dag.,kbp-sample:planning-own-work,on_the_job,days\n")


@pytest.mark.parametrize("how", ["write", "commit"])
def test_a_failed_activity_import_imports_nothing(make_app, monkeypatch, how):
    from core.services import activities as activities_service

    app = make_app()
    storage, registry = app.extensions["kbp"].storage, app.extensions["kbp"].registry
    with app.test_request_context():
        activities_service.create(storage, registry, accounts_service.CLI, "inhouse", {
            "id": "mentorskap", "source_language": "sv", "title": {"sv": "Mentor"}, "description": {"sv": "Förut."},
            "competencies": ["kbp-sample:active-listening"], "kind": "learning_from_others", "effort": "months"})
        before = _everything(storage)
        # the records are written first, the audit entry after them: fail at the audit entry
        injections = dict(_injections(storage, monkeypatch, ("audit", "insert"), "audit"))
        if how not in injections:
            pytest.skip("the PostgreSQL store commits in the database, no parts to fail between")
        with injections[how], pytest.raises(OSError, match="injected"):
            activities_service.import_file(storage, registry, accounts_service.CLI, "inhouse", ACTIVITIES_CSV, "csv",
                                           dry_run=False)
        assert _everything(storage) == before
        source = registry.activity_sources["inhouse"]
        assert [a.title for a in source.loaded()] == ["Mentor"]  # the source's cache saw no half import either
        result = activities_service.import_file(storage, registry, accounts_service.CLI, "inhouse", ACTIVITIES_CSV, "csv",
                                                dry_run=False)
    assert (result["ok"], result["created"], result["updated"]) == (True, 1, 1)
    assert sorted(r["id"] for r in storage.collection("inhouse_activities").all()) == ["mentorskap", "skugga"]
    assert [e["action"] for e in storage.collection("audit").all()] == ["create", "import"]


@pytest.mark.parametrize("how", ["write", "commit"])
def test_a_failed_activity_change_keeps_the_activity(make_app, monkeypatch, how):
    from core.services import activities as activities_service

    app = make_app()
    storage, registry = app.extensions["kbp"].storage, app.extensions["kbp"].registry
    with app.test_request_context():
        created = activities_service.create(storage, registry, accounts_service.CLI, "inhouse", {
            "source_language": "sv", "title": {"sv": "Mentor"}, "description": {"sv": "Förut."},
            "competencies": ["kbp-sample:active-listening"], "kind": "learning_from_others", "effort": "months"})
        before = _everything(storage)
        changes = (lambda: activities_service.update(storage, registry, accounts_service.CLI, "inhouse", created["id"],
                                                     {"title": {"sv": "Mentorskap"}}, created["version"]),
                   lambda: activities_service.set_archived(storage, registry, accounts_service.CLI, "inhouse",
                                                           created["id"], True))
        for change in changes:
            # the record is written first, the audit entry after it: fail at the audit entry
            injections = dict(_injections(storage, monkeypatch, ("audit", "insert"), "audit"))
            if how not in injections:
                pytest.skip("the PostgreSQL store commits in the database, no parts to fail between")
            with injections[how], pytest.raises(OSError, match="injected"):
                change()
            assert _everything(storage) == before
            change()
            assert _everything(storage) != before
            before = _everything(storage)


def test_save_as_in_house_activity_goes_through_the_writable_source_with_its_audit_entry(make_app, monkeypatch):
    """The plan page's "also save it as an in-house activity": the activity service writes it through
    the writable-source capability (whichever source is editable), with its audit entry, in one commit."""
    from core.services import plans as plans_service
    from tests.helpers import plain_client, sign_in

    app = make_app()
    storage, registry = app.extensions["kbp"].storage, app.extensions["kbp"].registry
    boss = make_person(app, "Ada Chef")
    worker = make_person(app, "Bo Ek", coach_id=boss["id"])
    admin = make_account(app, "admin", boss)
    with app.test_request_context():
        plan, _rel = plans_service.create_plan(storage, registry, _actor(admin), worker["id"], "new_role", "coaching")
        plan, _rel = plans_service.set_focus(storage, registry, _actor(admin), plan["id"], plan["version"],
                                             ["kbp-sample:active-listening"])
    source = registry.activity_sources["inhouse"]
    used = []
    real_create_in = type(source).create_in
    monkeypatch.setattr(type(source), "create_in", lambda self, writer, record: used.append(record["title"]) or
                        real_create_in(self, writer, record))
    client = sign_in(plain_client(app), admin)
    url = f"/plans/{plan['id']}/activities"
    response = client.post(url, data={"version": plan["version"], "new_title": "Skugga en kollega", "new_kind": "on_the_job",
                                      "new_description": "En dag.", "new_competency": "kbp-sample:active-listening",
                                      "new_save_inhouse": "1", "csrf_token": csrf_token(client, url)})
    assert response.status_code == 302
    assert used == [{"en": "Skugga en kollega"}]  # in the language of the page
    [record] = source.records()
    assert record["competencies"] == ["kbp-sample:active-listening"] and record["description"] == {"en": "En dag."}
    assert [(e["action"], e["subject_type"], e["subject_id"]) for e in storage.collection("audit").all()][-1] == (
        "create", "activity", record["id"])
    with app.test_request_context():
        stored, _rel = plans_service.get_plan(storage, _actor(admin), plan["id"])
    assert [a["title"] for a in stored["activities"]] == [{"_": "Skugga en kollega"}]


def test_plan_activity_and_catalogue_services_check_permissions_themselves(make_app):
    from core.services import activities as activities_service
    from core.services import catalogue as catalogue_service
    from core.services import plans as plans_service
    from core.services.errors import Forbidden, NotFound, Unauthenticated

    app = make_app()
    storage, registry = app.extensions["kbp"].storage, app.extensions["kbp"].registry
    with app.test_request_context():
        _storage, _registry, coach, plan = _coach_and_plan(app)
        outsider = _actor(make_account(app, "coach"))
        employee = _actor(make_account(app, "employee"))
        for call in (lambda: plans_service.get_plan(storage, outsider, plan["id"]),
                     lambda: plans_service.history(storage, outsider, plan["id"]),
                     lambda: plans_service.agree(storage, outsider, plan["id"], plan["version"]),
                     lambda: plans_service.create_plan(storage, registry, outsider, plan["person_id"], "new_role", "coaching")):
            with pytest.raises(NotFound):  # a plan (or person) one may not see does not exist for them
                call()
        with pytest.raises(Unauthenticated):
            plans_service.list_plans(storage, None)
        record = {"source_language": "sv", "title": {"sv": "X"}, "description": {"sv": "Y"},
                  "competencies": ["kbp-sample:active-listening"], "kind": "training", "effort": "days"}
        for call in (lambda: activities_service.create(storage, registry, employee, "inhouse", record),
                     lambda: activities_service.records(registry, employee, "inhouse", include_archived=True),
                     lambda: activities_service.export(storage, registry, employee, "inhouse", "csv", ["sv"]),
                     lambda: activities_service.import_file(storage, registry, employee, "inhouse", ACTIVITIES_CSV, "csv", True),
                     lambda: activities_service.save_from_plan(storage, registry, coach, title="X", description="", kind="",
                                                               competency="kbp-sample:active-listening", locale="sv")):
            with pytest.raises(Forbidden):
                call()
        with pytest.raises(NotFound):
            catalogue_service.framework(registry, "no-such-framework")
        assert not storage.collection("inhouse_activities").all()
        assert [e["action"] for e in storage.collection("audit").all()] == ["create"]  # the plan's, nothing else


# ----------------------------------------------------------------------------- declared uniqueness


def test_uniqueness_is_the_stores_a_duplicate_is_a_conflict_naming_the_field(make_app, monkeypatch):
    app = make_app()
    storage = app.extensions["kbp"].storage
    person = make_person(app)
    account = make_account(app, "employee")
    # no "look first": even with every lookup by the unique field blind, the store refuses the duplicate
    from core.storage import Transaction

    real_find = Transaction.find

    def blind_find(self, **equals):
        return [] if set(equals) & {"email", "username"} else real_find(self, **equals)

    monkeypatch.setattr(Transaction, "find", blind_find)
    with pytest.raises(Conflict) as exc:
        people_service.create_person(storage, accounts_service.CLI, {"name": "Twin", "email": person["email"]})
    assert set(exc.value.errors) == {"email"}
    with pytest.raises(Conflict) as exc:
        accounts_service.create_account(storage, accounts_service.CLI, username=account["username"],
                                        password="a long and unusual phrase", role="employee")
    assert set(exc.value.errors) == {"username"}
    assert len(storage.collection("people").all()) == 2 and len(storage.collection("accounts").all()) == 1


def test_services_check_permissions_themselves(make_app):
    app = make_app()
    storage = app.extensions["kbp"].storage
    employee = make_account(app, "employee")
    from core.auth import Account
    from core.services.errors import Forbidden

    actor = Account(employee["id"], employee["username"], "employee", employee["person_id"])
    for call in (lambda: people_service.create_person(storage, actor, {"name": "X", "email": "x@example.test"}),
                 lambda: accounts_service.list_accounts(storage, actor),
                 lambda: accounts_service.update_account(storage, actor, employee["id"], {"role": "admin"}),
                 lambda: people_service.import_csv(storage, actor, "name,email\n", dry_run=True)):
        with pytest.raises(Forbidden):
            call()
    with pytest.raises(Invalid):
        accounts_service.create_account(storage, accounts_service.CLI, username="y@example.test",
                                        password="a long and unusual phrase", role="employee", person_id="nobody")


# ----------------------------------------------------------------------------- import cycles


def _import_graph() -> dict[str, set[str]]:
    """Module -> the core/plugins/frameworks modules it imports, counting imports inside functions
    and under ``TYPE_CHECKING`` (an import is an import)."""
    mods = {}
    for top in ("core", "plugins", "frameworks"):
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path

    def resolve(name):
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                targets = [resolve(f"{base}.{a.name}") if f"{base}.{a.name}" in mods else resolve(base) for a in node.names]
            graph[mod].update(t for t in targets if t and t != mod)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10000))
    try:
        for v in graph:
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_import_cycles_at_all():
    cycles = _cycles(_import_graph())
    assert cycles == [], "import cycles (counting imports inside functions):\n" + "\n".join(
        " <-> ".join(sorted(c)) for c in cycles)


def test_the_model_imports_nothing_from_the_core():
    assert _import_graph()["core.model"] == set()
