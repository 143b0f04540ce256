"""The plugin contract's guarantees toward licensed and built-in content, and the plugin author's
kit: reserved ids, validation of what hooks return, exporter input documents."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

import frameworks.malin_lindelow as lindelow
from core.licensing import generate_keypair, issue_licence
from core.plugins import set_enabled
from core.registry import RESERVED, RESERVED_IDS
from tests.conftest import install_dist, plugin_record
from tests.plugins import clash

LINDELOW = "malin-lindelow"


@pytest.fixture
def lindelow_licence(tmp_path, monkeypatch) -> bytes:
    """A test licensor key trusted instead of the shipped one; returns a valid licence for Lindelöw."""
    private, public = generate_keypair()
    keys_file = tmp_path / "trusted_keys.json"
    keys_file.write_text(json.dumps({"keys": [{"key_id": "contract-test-1", "public_key": public}]}))
    monkeypatch.setattr(lindelow, "TRUSTED_KEYS_FILE", keys_file)
    return issue_licence(private, key_id="contract-test-1", licensee="Contract test", product="malin_lindelow",
                         expires=date.today() + timedelta(days=30), issued=date.today() - timedelta(days=1))


def lindelow_served_content(client) -> None:
    """The Lindelöw framework, its questions and activities are its own (never the impostor's)."""
    fw = client.get(f"/api/v1/frameworks/{LINDELOW}?lang=sv")
    assert fw.status_code == 200, fw.get_data(as_text=True)
    assert fw.get_json()["plugin"] == "malin_lindelow"
    assert clash.MARK not in fw.get_data(as_text=True)
    comp = client.get(f"/api/v1/frameworks/{LINDELOW}/competencies/strukturerad?lang=sv")
    assert comp.status_code == 200
    body = comp.get_json()
    assert body["questions"] and body["activities"]
    assert clash.MARK not in comp.get_data(as_text=True)


def sample_served_content(client, kind: str) -> None:
    comp = client.get("/api/v1/frameworks/kbp-sample/competencies/planning-own-work?lang=en")
    assert comp.status_code == 200
    body = comp.get_json()
    assert clash.MARK not in comp.get_data(as_text=True)
    fw = client.get("/api/v1/frameworks/kbp-sample?lang=en").get_json()
    assert fw["plugin"] == "sample_framework"
    if kind == "question_set":
        assert any(q["question_set"] == "kbp-sample-coaching" for q in body["questions"])
    if kind == "exporter":
        exporters = {e["id"]: e for e in client.get("/api/v1/exporters").get_json()}
        assert exporters["plan-json"]["plugin"] == "export_plan_json"
        assert exporters["plan-json"]["media_type"] == "application/json"


@pytest.mark.parametrize("name", ["aaa_clash", "zzz_clash"])  # sorting before and after every built-in
@pytest.mark.parametrize("kind", sorted(clash.KINDS))
def test_a_newcomer_never_takes_an_id_of_a_builtin(kind, name, make_app, tmp_path, monkeypatch, lindelow_licence):
    install_dist(tmp_path / "site", monkeypatch, "acme_clash", "0.1", {name: "tests.plugins.clash"})
    what, builtin = clash.KINDS[kind]
    licensed = kind.startswith("licensed")
    app = make_app(CLASH_KIND=kind)
    registry = app.extensions["kbp"].registry
    assert registry.entitlements.install(registry.frameworks[LINDELOW], lindelow_licence).ok
    client = app.test_client()

    newcomer = plugin_record(client, name)
    assert newcomer["state"] == "failed", newcomer
    assert what in newcomer["reason"]
    assert f"'{builtin}'" in newcomer["reason"] and f"'{name}'" in newcomer["reason"]
    assert plugin_record(client, builtin)["state"] == "active"
    if licensed:
        lindelow_served_content(client)
    else:
        sample_served_content(client, kind)


@pytest.mark.parametrize("state", ["disabled", "unlicensed"])
@pytest.mark.parametrize("kind", ["licensed_framework", "licensed_question_set", "licensed_source"])
def test_licensed_ids_are_never_served_by_another_plugin(kind, state, make_app, app_store, tmp_path, monkeypatch):
    """Whether Lindelöw is disabled or installed without a licence, nobody else serves its ids."""
    install_dist(tmp_path / "site", monkeypatch, "acme_clash", "0.1", {"aaa_clash": "tests.plugins.clash"})
    if state == "disabled":
        set_enabled(app_store, "malin_lindelow", False)
    client = make_app(CLASH_KIND=kind).test_client()

    newcomer = plugin_record(client, "aaa_clash")
    assert newcomer["state"] == "failed", newcomer
    assert "'malin_lindelow'" in newcomer["reason"] and "reserved" in newcomer["reason"]
    assert plugin_record(client, "malin_lindelow")["state"] == state
    listed = client.get("/api/v1/frameworks").get_json()
    assert clash.MARK not in str(listed)
    response = client.get(f"/api/v1/frameworks/{LINDELOW}/competencies/strukturerad")
    assert response.status_code in (403, 404)
    assert clash.MARK not in response.get_data(as_text=True)
    assert clash.MARK not in client.get(f"/frameworks/{LINDELOW}/strukturerad").get_data(as_text=True)
    search = client.get("/api/v1/activities/search?q=IMPOSTOR")
    assert search.status_code == 200
    assert clash.MARK not in search.get_data(as_text=True)


def test_a_newcomer_named_like_a_builtin_fails_and_the_builtin_stays(make_app, tmp_path, monkeypatch):
    install_dist(tmp_path / "site", monkeypatch, "acme_clash", "0.1", {"sample_framework": "tests.plugins.clash"})
    client = make_app(CLASH_KIND="framework").test_client()
    records = {r["name"]: r for r in client.get("/api/v1/plugins").get_json()}
    assert records["sample_framework"]["state"] == "active"
    assert records["sample_framework"]["builtin"] is True
    newcomer = records["sample_framework (acme_clash)"]
    assert newcomer["state"] == "failed"
    assert "reserved for the built-in plugin 'sample_framework'" in newcomer["reason"]
    assert "tests.plugins.clash" in newcomer["reason"]
    sample_served_content(client, "framework")


def test_reserved_ids_are_exactly_what_the_builtins_provide(make_app, tmp_path):
    files = tmp_path / "activity-files"
    files.mkdir()
    registry = make_app(ACTIVITY_FILES_DIR=str(files)).extensions["kbp"].registry
    provided = {key: plugin for key, plugin in registry.owner.items() if plugin in RESERVED_IDS}
    assert provided == RESERVED


# --------------------------------------------------------------------------- failures at request time

from tests.conftest import anonymous_client  # noqa: E402
from tests.helpers import csrf_token, make_account, make_person, sign_in  # noqa: E402
from tests.plugins import runtime_failures  # noqa: E402


@pytest.fixture
def flaky(make_app, monkeypatch):
    monkeypatch.setattr(runtime_failures, "BROKEN", {"source": "", "exporter": "", "search": ""})
    app = make_app(PLUGINS=["runtime_failures=tests.plugins.runtime_failures"])
    admin = app.test_client()
    assert plugin_record(admin, "runtime_failures")["state"] == "active"
    coach_person = make_person(app, "Kim Coach")
    person = make_person(app, "Rut Runtime", coach_id=coach_person["id"])
    client = sign_in(anonymous_client(app), make_account(app, "coach", coach_person))
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(client)
    plan = client.post("/api/v1/plans", json={"person_id": person["id"], "situation": "new_role"}).get_json()
    plan = client.patch(f"/api/v1/plans/{plan['id']}",
                        json={"version": plan["version"], "focus": [runtime_failures.COMPETENCY]}).get_json()
    return admin, client, plan


def suggested_ids(client, plan) -> set[str]:
    response = client.get(f"/api/v1/plans/{plan['id']}/suggestions?lang=en")
    assert response.status_code == 200, response.get_data(as_text=True)
    return {a["id"] for a in response.get_json()["activities"]}


@pytest.mark.parametrize("breakage", ["raise", "dicts", "one-dict"])
def test_a_source_failing_at_request_time_leaves_the_pages_working(flaky, breakage):
    """Issue 24 item 8: the competency page, its API and the plan's suggestions survive a broken source."""
    admin, client, plan = flaky
    assert "flaky-course" in suggested_ids(client, plan)
    runtime_failures.BROKEN["source"] = breakage

    suggested = suggested_ids(client, plan)
    assert "flaky-course" not in suggested and suggested  # the other sources still suggest
    comp = client.get("/api/v1/frameworks/kbp-sample/competencies/planning-own-work?lang=en")
    assert comp.status_code == 200
    assert comp.get_json()["activities"] and "flaky-course" not in {a["id"] for a in comp.get_json()["activities"]}
    assert client.get("/frameworks/kbp-sample/planning-own-work").status_code == 200
    page = client.get(f"/plans/{plan['id']}/activities")
    assert page.status_code == 200

    record = plugin_record(admin, "runtime_failures")
    expected = {"raise": "ConnectionError: the course catalogue server did not answer",
                "dicts": "item 1 is a dict, not a core.model.Activity",
                "one-dict": "returned a dict, not a list of core.model.Activity objects"}[breakage]
    assert any("flaky-catalogue" in p and expected in p for p in record["problems"]), record
    assert expected in admin.get("/plugins").get_data(as_text=True)


@pytest.mark.parametrize("breakage,expected", [("raise", "KeyError"), ("text", "returned a str, not bytes")])
def test_a_failing_exporter_answers_json_naming_it_and_its_plugin(flaky, breakage, expected):
    admin, client, plan = flaky
    assert client.get(f"/api/v1/plans/{plan['id']}/export/flaky-text").get_data() == plan["id"].encode()
    runtime_failures.BROKEN["exporter"] = breakage
    for url, exporter in ((f"/api/v1/plans/{plan['id']}/export/flaky-text", "flaky-text"),
                          ("/api/v1/frameworks/kbp-sample/export/flaky-framework", "flaky-framework")):
        response = client.get(url)
        assert response.status_code == 500
        body = response.get_json()
        assert body["code"] == "exporter_failed"
        assert f"'{exporter}'" in body["message"] and "'runtime_failures'" in body["message"]
        record = plugin_record(admin, "runtime_failures")
        assert any(exporter in p and expected in p for p in record["problems"]), record
    page = admin.get("/plugins").get_data(as_text=True)
    assert "flaky-framework" in page and expected.split(":")[0] in page


# --------------------------------------------------------------------------- what hooks return

from tests.plugins import bad_returns  # noqa: E402


@pytest.mark.parametrize("case", sorted(bad_returns.CASES))
def test_what_a_hook_or_source_returns_is_validated(case, make_app, app_works):
    client = make_app(PLUGINS=["bad_returns=tests.plugins.bad_returns"], BAD_RETURN=case).test_client()
    record = plugin_record(client, "bad_returns")
    assert record["state"] == "failed", record
    expected = bad_returns.CASES[case]
    for text in [expected] if isinstance(expected, str) else expected:
        assert text in record["reason"]
    assert "more problem" not in record["reason"]
    app_works(client)


def test_a_valid_source_of_the_same_plugin_is_active(make_app):
    client = make_app(PLUGINS=["bad_returns=tests.plugins.bad_returns"], BAD_RETURN="").test_client()
    assert plugin_record(client, "bad_returns")["state"] == "active"


def test_a_hook_without_hookimpl_is_reported_like_a_misspelt_one(make_app, app_works):
    client = make_app(PLUGINS=["unmarked_hook=tests.plugins.unmarked_hook"]).test_client()
    record = plugin_record(client, "unmarked_hook")
    assert record["state"] == "failed"
    assert "'kbp_frameworks' is not marked as a hook" in record["reason"] and "@hookimpl" in record["reason"]
    app_works(client)


def test_english_pages_show_the_lindelow_source_title_in_english(make_app, lindelow_licence):
    app = make_app()
    registry = app.extensions["kbp"].registry
    assert registry.entitlements.install(registry.frameworks[LINDELOW], lindelow_licence).ok
    client = app.test_client()
    english = client.get(f"/frameworks/{LINDELOW}/strukturerad?lang=en").get_data(as_text=True)
    assert "Malin Lindelöw: development activities" in english
    assert "utvecklingsaktiviteter" not in english
    swedish = client.get(f"/frameworks/{LINDELOW}/strukturerad?lang=sv").get_data(as_text=True)
    assert "Malin Lindelöw: utvecklingsaktiviteter" in swedish


def test_references_to_unknown_competencies_are_warned_on_the_plugins_page(make_app):
    app = make_app(PLUGINS=["typos=tests.plugins.typos"])
    record = plugin_record(app.test_client(), "typos")
    assert record["state"] == "active", record
    problems = " ".join(record["problems"])
    assert "question set 'typos-questions' refers to competencies no installed framework has" in problems
    assert "kbp-sample:planing-own-work" in problems and "nowhere:thing" in problems
    assert "kbp-sample:active-listening" not in problems
    assert "activity source 'typos' refers to competencies" in problems and "kbp-sample:lisening" in problems
    assert "kbp-sample:planing-own-work" in app.test_client().get("/plugins").get_data(as_text=True)
    assert plugin_record(app.test_client(), "sample_framework")["problems"] == []


def test_an_imported_framework_with_a_builtin_id_fails_the_import_not_the_builtin(make_app, tmp_path):
    """The Moodle CSV of the sample framework, dropped into the import folder: the import is the newcomer."""
    exported = make_app().test_client().get("/api/v1/frameworks/kbp-sample/export/moodle-csv?lang=en")
    assert exported.status_code == 200
    folder = tmp_path / "moodle"
    folder.mkdir()
    (folder / "sample.csv").write_bytes(exported.get_data().replace(b"Sample", b"IMPOSTOR Sample"))
    client = make_app(MOODLE_IMPORT_DIR=str(folder)).test_client()
    record = plugin_record(client, "moodle_csv_import")
    # only the clashing file is skipped (issue 16): the import plugin stays active for the other files
    assert record["state"] == "active"
    assert record["problems"] == ["sample.csv: the framework id 'kbp-sample' is reserved for the built-in plugin "
                                  "'sample_framework'; this file was skipped (give it another title or id number)"]
    assert plugin_record(client, "sample_framework")["state"] == "active"
    sample_served_content(client, "framework")


def test_a_source_failing_while_it_is_searched_leaves_the_search_working(flaky, monkeypatch):
    admin, client, plan = flaky
    monkeypatch.setattr(runtime_failures, "REVISION", {"n": 0})

    def found(query: str) -> set[str]:
        response = client.get(f"/api/v1/activities/search?q={query}&lang=en")
        assert response.status_code == 200, response.get_data(as_text=True)
        return {hit["id"] for hit in response.get_json()["results"]}

    assert "changing-course" in found("course")
    runtime_failures.BROKEN["search"] = "raise"
    runtime_failures.REVISION["n"] += 1  # the source changed: the search reads it again, and it fails
    assert "flaky-course" in found("course")  # the other sources are still searched
    assert client.get("/activities?q=course").status_code == 200
    record = plugin_record(admin, "runtime_failures")
    assert any("changing-catalogue" in p and "the catalogue server timed out" in p for p in record["problems"]), record
