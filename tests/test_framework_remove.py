"""Removing a framework imported at run time (page, API, ``kbp frameworks remove``), on both backends.

One rule in :mod:`core.services.framework_imports` (``remove``): administrators only; only frameworks
imported through the page, the API or the command line (a plugin's framework is refused: disable the
plugin); an unknown id is a 404; while plans or in-house activities use its competencies the removal
needs a confirmation (the page asks, the API answers 409 ``framework_in_use`` with the counts until
``?confirm=true``, the command line asks unless ``--yes``); plans stay readable and exportable (they
keep their copies of the names); in-house activities are kept with their links; every server sees the
removal at its next request; an audit entry.
"""
from __future__ import annotations

import io
import json
import re

import pytest

from tests.test_interop_files import MOODLE_EXAMPLE, WHAT_STANDARDS, deep_world  # noqa: F401 - fixture by name
from tests.test_plan_exports import PLAN_EXPORTERS, text_of

STANDARDS = "what-standards-could-be"
COMPONENT_3A = "acc5bce4-435f-47b3-b5aa-2ebb459061b0"
FOCUS = f"{STANDARDS}:{COMPONENT_3A}"
NAMED = "Represent proportional relationships by equations"  # a competency's name (7.RP.A.2c)


def framework_ids(client) -> set[str]:
    return {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}


def audit_entries(client) -> list[tuple[str, str, str]]:
    return [(e["action"], e["subject_type"], e["subject_id"]) for e in client.get("/api/v1/audit").get_json()]


def import_standards(client):
    r = client.post("/api/v1/framework-imports", data={"file": (io.BytesIO(WHAT_STANDARDS.read_bytes()), "s.json")},
                    content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()


def assert_error(r, status: int, code: str) -> dict:
    body = r.get_json()
    assert r.status_code == status, body
    assert body["code"] == code and body["status"] == status and body["message"]
    assert set(body) <= {"code", "status", "message", "errors"}
    return body


def coach_with_plan(app, focus: str):
    """A coach (signed in, CSRF header set) and a plan of their coachee with ``focus`` as its focus."""
    from tests.helpers import csrf_token, make_person, signed_in_client

    coach_p = make_person(app, "Karin Coach")
    emp_p = make_person(app, "Erik Medarbetare", coach_id=coach_p["id"])
    coach = signed_in_client(app, "coach", coach_p)
    coach.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(coach)
    plan = coach.post("/api/v1/plans", json={"person_id": emp_p["id"], "situation": "new_role"}).get_json()
    r = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "focus": [focus]})
    assert r.status_code == 200, r.get_json()
    return coach, r.get_json()


def test_recruitment_records_count_as_uses_and_keep_their_names(make_app):
    """A recruitment record assessing one of its competencies makes the framework "in use" too; it
    keeps its copy of the name after the removal (the same rule as plans)."""
    app = make_app()
    admin = app.test_client()
    import_standards(admin)
    coach, plan = coach_with_plan(app, "kbp-sample:active-listening")  # the plan does not use it
    record = coach.put(f"/api/v1/people/{plan['person_id']}/recruitment", json={"role_title": "Analyst", "competencies": [
        {"competency": FOCUS, "rating": 2, "notes": "Mixed up the ratios.", "need": "Practise ratio tables."}]})
    assert record.status_code == 200, record.get_json()
    name = record.get_json()["competencies"][0]["name"]["en"]

    body = assert_error(admin.delete(f"/api/v1/frameworks/{STANDARDS}?lang=en"), 409, "framework_in_use")
    assert body["errors"] == {"confirm": ["0 plans use its competencies, 1 recruitment record and 0 in-house activities."]}
    assert "recruitment records keep their copies" in body["message"]
    swedish = assert_error(admin.delete(f"/api/v1/frameworks/{STANDARDS}?lang=sv"), 409, "framework_in_use")
    assert "1 rekryteringsunderlag" in swedish["errors"]["confirm"][0]
    page = admin.get(f"/admin/frameworks/{STANDARDS}/remove?lang=en").get_data(as_text=True)
    assert "1 recruitment record" in page and 'class="notice"' in page

    assert admin.delete(f"/api/v1/frameworks/{STANDARDS}?confirm=true").status_code == 204
    kept = coach.get(f"/api/v1/people/{plan['person_id']}/recruitment")
    assert kept.status_code == 200 and kept.get_json()["competencies"][0]["name"]["en"] == name


# ----------------------------------------------------------------------------- the API, on two servers


def test_an_imported_framework_removed_on_one_server_is_gone_on_the_other_without_a_restart(make_app):
    """Two apps on one store (one data folder, or one PostgreSQL schema): two servers behind a load balancer."""
    first, second = make_app().test_client(), make_app().test_client()
    import_standards(first)
    assert STANDARDS in framework_ids(second)
    assert second.get(f"/frameworks/{STANDARDS}/{COMPONENT_3A}").status_code == 200

    r = second.delete(f"/api/v1/frameworks/{STANDARDS}")
    assert r.status_code == 204 and r.get_data() == b""
    for client in (first, second):
        assert STANDARDS not in framework_ids(client)
        assert_error(client.get(f"/api/v1/frameworks/{STANDARDS}"), 404, "not_found")
        assert client.get(f"/api/v1/frameworks/{STANDARDS}/competencies/{COMPONENT_3A}").status_code == 404
        assert client.get(f"/frameworks/{STANDARDS}").status_code == 404
    assert first.application.extensions["kbp"].storage.collection("framework_imports").all() == []
    assert ("delete", "framework", STANDARDS) in audit_entries(first)
    # removing it again: it is not there
    assert_error(first.delete(f"/api/v1/frameworks/{STANDARDS}"), 404, "not_found")
    # and a restart does not bring it back
    assert STANDARDS not in framework_ids(make_app().test_client())


def test_search_no_longer_finds_the_removed_frameworks_competencies(make_app):
    """Neither by name (a query naming a competency finds its activities) nor with ``competency=``."""
    from core.activity_search import searcher

    app = make_app()
    client = app.test_client()
    search = searcher(app)
    with app.test_request_context():  # the names are taken before the import: an import must renew them
        assert not search.named_competencies(NAMED)
    import_standards(client)
    r = client.post("/api/v1/activity-sources/inhouse/activities", json={
        "title": {"en": "Ratio workshop"}, "description": {"en": "A day of tables."},
        "competencies": [FOCUS, "kbp-sample:active-listening"], "kind": "learning_from_others", "effort": "days", "source_language": "en"})
    assert r.status_code == 201, r.get_json()
    with app.test_request_context():
        assert any(g.startswith(STANDARDS + ":") for g in search.named_competencies(NAMED))
    found = client.get(f"/api/v1/activities/search?competency={FOCUS}").get_json()
    assert [a["title"] for a in found["results"]] == ["Ratio workshop"]

    assert client.delete(f"/api/v1/frameworks/{STANDARDS}?confirm=true").status_code == 204
    with app.test_request_context():
        assert not [g for g in search.named_competencies(NAMED) if g.startswith(STANDARDS)]
    assert client.get(f"/api/v1/activities/search?competency={FOCUS}").get_json() == {"total": 0, "results": []}
    assert client.get("/activities?competency=" + FOCUS).status_code == 200
    # the activity itself is still found by its other competency and its words
    found = client.get("/api/v1/activities/search?q=ratio+workshop").get_json()
    assert "Ratio workshop" in [a["title"] for a in found["results"]]


def test_a_framework_that_is_not_imported_here_is_refused(deep_world, make_app):
    """A plugin's framework, or one from a file in an import folder, is not removed: the message says what to do."""
    body = assert_error(make_app().test_client().delete("/api/v1/frameworks/kbp-sample?lang=en"), 409,
                        "framework_from_plugin")
    assert "sample_framework" in body["message"] and "disable" in body["message"]
    assert_error(make_app().test_client().delete("/api/v1/frameworks/no-such-framework"), 404, "not_found")
    app, _coach, _emp = deep_world  # imported from the import folders at start, not through KBP
    from tests.helpers import signed_in_client

    admin = signed_in_client(app, "admin")
    from tests.helpers import csrf_token

    admin.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(admin)
    body = assert_error(admin.delete(f"/api/v1/frameworks/{STANDARDS}?lang=en"), 409, "framework_from_plugin")
    assert "import folder" in body["message"]
    assert STANDARDS in framework_ids(admin)


def test_only_administrators_remove(make_app):
    from tests.helpers import csrf_token, make_person, signed_in_client

    app = make_app()
    import_standards(app.test_client())
    coach = signed_in_client(app, "coach", make_person(app, "Karin Coach"))
    coach.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(coach)
    assert_error(coach.delete(f"/api/v1/frameworks/{STANDARDS}?confirm=true"), 403, "forbidden")
    assert STANDARDS in framework_ids(app.test_client())


# ----------------------------------------------------------------------------- plans and activities


def test_a_framework_in_use_is_removed_only_when_confirmed_and_its_plans_stay_readable(make_app):
    app = make_app()
    admin = app.test_client()
    import_standards(admin)
    coach, plan = coach_with_plan(app, FOCUS)
    name = plan["focus"][0]["name"]["en"]
    activity = admin.post("/api/v1/activity-sources/inhouse/activities", json={
        "title": {"en": "Ratio workshop"}, "description": {"en": "A day of ratio tables."},
        "competencies": [FOCUS, "kbp-sample:active-listening"], "kind": "learning_from_others", "effort": "days", "source_language": "en"})
    assert activity.status_code == 201, activity.get_json()
    activity = activity.get_json()

    body = assert_error(admin.delete(f"/api/v1/frameworks/{STANDARDS}?lang=en"), 409, "framework_in_use")
    assert "1 plan" in body["message"] and "1 in-house activity" in body["message"]
    assert "confirm=true" in body["message"]
    assert body["errors"] == {"confirm": ["1 plan uses its competencies, and 1 in-house activity."]}
    assert STANDARDS in framework_ids(admin)  # nothing removed
    assert_error(admin.delete(f"/api/v1/frameworks/{STANDARDS}?confirm=maybe"), 422, "validation_error")

    assert admin.delete(f"/api/v1/frameworks/{STANDARDS}?confirm=true").status_code == 204
    assert STANDARDS not in framework_ids(coach)
    # the plan: readable, with its copy of the name, on its page and in every export
    got = coach.get(f"/api/v1/plans/{plan['id']}")
    assert got.status_code == 200 and got.get_json()["focus"][0]["name"]["en"] == name
    page = coach.get(f"/plans/{plan['id']}?lang=en")
    assert page.status_code == 200 and name.split()[0] in page.get_data(as_text=True)
    for exporter_id in PLAN_EXPORTERS:
        r = coach.get(f"/api/v1/plans/{plan['id']}/export/{exporter_id}?lang=en")
        assert r.status_code == 200, (exporter_id, r.get_data(as_text=True)[:300])
        if exporter_id not in ("plan-ics", "plan-csv"):  # those list activities and dates only
            assert " ".join(name.split()[:3]) in " ".join(text_of(exporter_id, r.data).split()), exporter_id
    # the plan can still be changed (its goal), keeping its focus
    current = got.get_json()
    r = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": current["version"], "goals": {FOCUS: "Keep going."}})
    assert r.status_code == 200, r.get_json()
    # the in-house activity is kept with its links (a re-import shows it again) and can still be edited
    kept = admin.get(f"/api/v1/activity-sources/inhouse/activities/{activity['id']}").get_json()
    assert kept["competencies"] == [FOCUS, "kbp-sample:active-listening"]
    r = admin.patch(f"/api/v1/activity-sources/inhouse/activities/{activity['id']}",
                    json={"title": {"en": "Ratio workshop, day two"}, "version": kept["version"]})
    assert r.status_code == 200, r.get_json()
    # but a removed competency cannot be added anew
    r = admin.patch(f"/api/v1/activity-sources/inhouse/activities/{activity['id']}",
                    json={"competencies": ["kbp-sample:active-listening", f"{STANDARDS}:another"]})
    assert r.status_code == 422 and "competencies" in r.get_json()["errors"]
    # it still shows under the competency it keeps
    page = admin.get("/frameworks/kbp-sample/active-listening?lang=en").get_data(as_text=True)
    assert "Ratio workshop, day two" in page
    # importing the framework again brings its competencies back to the activity
    import_standards(admin)
    detail = admin.get(f"/api/v1/frameworks/{STANDARDS}/competencies/{COMPONENT_3A}?lang=en").get_json()
    assert "Ratio workshop, day two" in json.dumps(detail)
    assert [e for e in audit_entries(admin) if e == ("delete", "framework", STANDARDS)]


# ----------------------------------------------------------------------------- the page


def test_the_page_asks_before_removing_and_says_what_uses_the_framework(make_app):
    from tests.helpers import csrf_token

    app = make_app()
    admin = app.test_client()
    import_standards(admin)
    coach_with_plan(app, FOCUS)
    page = admin.get(f"/frameworks/{STANDARDS}?lang=en").get_data(as_text=True)
    link = f'href="/admin/frameworks/{STANDARDS}/remove"'
    assert link in page
    assert 'href="/admin/frameworks/kbp-sample/remove"' not in admin.get("/frameworks/kbp-sample").get_data(as_text=True)
    # the imported frameworks are listed where imports are made, with the same link
    listing = admin.get("/admin/framework-import?lang=en").get_data(as_text=True)
    assert listing.count(link) == 1 and listing.count('id="imported"') == 1

    confirm = admin.get(f"/admin/frameworks/{STANDARDS}/remove?lang=en")
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert "1 plan uses its competencies" in text and "0 in-house activities" in text
    assert 'name="csrf_token"' in text and 'method="post"' in text
    token = csrf_token(admin, f"/admin/frameworks/{STANDARDS}/remove")
    # without the CSRF token: refused, nothing removed
    assert admin.post(f"/admin/frameworks/{STANDARDS}/remove", data={}).status_code == 400
    assert STANDARDS in framework_ids(admin)
    r = admin.post(f"/admin/frameworks/{STANDARDS}/remove?lang=en", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/framework-import")
    done = admin.get(r.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "The framework &#39;What Standards Could Be&#39; is removed" in done
    assert STANDARDS not in framework_ids(admin)
    # a plugin's framework: the page says why not; an unknown one: 404
    refused = admin.get("/admin/frameworks/kbp-sample/remove?lang=en")
    assert refused.status_code == 409 and "disable" in refused.get_data(as_text=True)
    assert admin.get(f"/admin/frameworks/{STANDARDS}/remove").status_code == 404


def test_the_confirmation_page_is_in_swedish(make_app):
    app = make_app()
    admin = app.test_client()
    import_standards(admin)
    text = admin.get(f"/admin/frameworks/{STANDARDS}/remove?lang=sv").get_data(as_text=True)
    assert "Ta bort kompetensmodellen" in text
    assert "0 utvecklingsplaner använder dess kompetenser och 0 egna aktiviteter." in text


# ----------------------------------------------------------------------------- the command line


def test_the_command_line_removes_after_asking(make_app, data_dir):
    from click.testing import CliRunner

    from core.cli import main

    def kbp(*args, **kwargs):
        return CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], catch_exceptions=False, **kwargs)

    app = make_app()
    client = app.test_client()
    import_standards(client)
    coach_with_plan(app, FOCUS)
    refused = kbp("frameworks", "remove", "kbp-sample", "--yes")
    assert refused.exit_code == 1 and "sample_framework" in refused.output
    unknown = kbp("frameworks", "remove", "no-such-framework", "--yes")
    assert unknown.exit_code == 1 and "no-such-framework" in unknown.output
    kept = kbp("frameworks", "remove", STANDARDS, input="n\n")
    assert kept.exit_code == 1 and "1 plan uses its competencies" in kept.output
    assert STANDARDS in framework_ids(client)
    done = kbp("frameworks", "remove", STANDARDS, "--yes")
    assert done.exit_code == 0, done.output
    assert "Removed: What Standards Could Be (id what-standards-could-be)" in done.output
    assert STANDARDS not in framework_ids(client)  # the running app, without a restart
    assert ("delete", "framework", STANDARDS) in audit_entries(client)


def test_the_activity_form_keeps_a_link_to_a_removed_competency_until_the_admin_unticks_it(make_app):
    """The edit page offers only competencies of the catalogue: a link to a removed one is shown, ticked,
    under its own heading, so saving the form keeps it (and unticking it drops it)."""
    from tests.helpers import csrf_token

    app = make_app()
    admin = app.test_client()
    import_standards(admin)
    activity = admin.post("/api/v1/activity-sources/inhouse/activities", json={
        "title": {"en": "Ratio workshop"}, "description": {"en": "A day of tables."},
        "competencies": [FOCUS, "kbp-sample:active-listening"], "kind": "learning_from_others", "effort": "days",
        "source_language": "en"}).get_json()
    assert admin.delete(f"/api/v1/frameworks/{STANDARDS}?confirm=true").status_code == 204
    url = f"/admin/sources/inhouse/activities/{activity['id']}"
    page = admin.get(url + "?lang=en").get_data(as_text=True)
    ticked = re.findall(r'name="competencies" value="([^"]+)" checked', page)
    assert sorted(ticked) == sorted([FOCUS, "kbp-sample:active-listening"])
    assert "No longer offered" in page
    form = {"csrf_token": csrf_token(admin, url), "source_language": "en", "title_en": "Ratio workshop, day two",
            "description_en": "A day of tables.", "kind": "learning_from_others", "effort": "days"}
    version = re.search(r'name="version" value="([^"]*)"', page).group(1)
    r = admin.post(url, data={**form, "version": version, "competencies": ticked})
    assert r.status_code == 302, (r.status_code, re.findall(r"<li>.*?</li>", r.get_data(as_text=True))[:5])
    kept = admin.get(f"/api/v1/activity-sources/inhouse/activities/{activity['id']}").get_json()
    assert kept["title"]["en"] == "Ratio workshop, day two" and FOCUS in kept["competencies"]
    version = re.search(r'name="version" value="([^"]*)"', admin.get(url).get_data(as_text=True)).group(1)
    r = admin.post(url, data={**form, "version": version, "competencies": ["kbp-sample:active-listening"]})
    assert r.status_code == 302
    kept = admin.get(f"/api/v1/activity-sources/inhouse/activities/{activity['id']}").get_json()
    assert kept["competencies"] == ["kbp-sample:active-listening"]


@pytest.mark.parametrize("how", ["write", "commit"])
def test_a_failed_removal_removes_nothing(make_app, monkeypatch, how):
    """The removal and its audit entry are one commit: a failure part-way leaves the framework and no entry."""
    from core.services import accounts, framework_imports
    from tests.test_services import _everything, _injections

    app = make_app()
    client = app.test_client()
    import_standards(client)
    state = app.extensions["kbp"]
    storage = state.storage
    before = _everything(storage)
    injections = dict(_injections(storage, monkeypatch, ("audit", "insert"), "framework_imports"))
    if how not in injections:
        pytest.skip("the PostgreSQL store commits in the database, no parts to fail between")
    with injections[how], pytest.raises(OSError, match="injected"):
        framework_imports.remove(state, accounts.CLI, STANDARDS)
    assert _everything(storage) == before
    assert STANDARDS in framework_ids(make_app().test_client())
    framework_imports.remove(state, accounts.CLI, STANDARDS)
    assert STANDARDS not in framework_ids(client)


def test_an_import_the_catalogue_leaves_out_is_listed_and_removed_without_touching_the_plugins_framework(make_app):
    """A stored import whose id a plugin provides now is left out (with a problem on /plugins): the import page
    lists it as left out, and removing it deletes only the stored record — plans using the plugin's framework
    of that id are not counted, since nothing changes for them."""
    app = make_app()
    app.extensions["kbp"].storage.collection("framework_imports").insert({
        "id": "kbp-sample", "filename": "old.json", "format": "case", "plugin": "import_case", "imported_by": "cli",
        "imported_at": 1.0, "framework": {"id": "kbp-sample", "name": "Copy", "description": "", "version": "1",
                                          "source_language": "en", "domain": "case_import",
                                          "groups": [{"id": "g", "name": "G", "description": "", "competencies": [
                                              {"id": "c", "name": "C", "definition": "A definition."}]}]}})
    coach_with_plan(app, "kbp-sample:active-listening")
    admin = make_app().test_client()
    listing = admin.get("/admin/framework-import?lang=en").get_data(as_text=True)
    assert 'Copy <span class="tag">left out</span>' in listing
    assert 'href="/admin/frameworks/kbp-sample/remove"' in listing
    assert admin.delete("/api/v1/frameworks/kbp-sample").status_code == 204
    assert app.extensions["kbp"].storage.collection("framework_imports").all() == []
    assert admin.get("/api/v1/frameworks/kbp-sample").get_json()["plugin"] == "sample_framework"
    assert_error(admin.delete("/api/v1/frameworks/kbp-sample"), 409, "framework_from_plugin")
