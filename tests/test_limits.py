"""Limits and hostile input (issue 12, items 11–15): a clear 4xx naming the field, never a 500.

* plan sizes: every collection and text field of a plan has a limit (``core.plans.LIMITS``), the
  same for the API and the pages; request bodies are limited (413);
* control characters are refused at input and removed at export;
* hostile JSON (deep nesting, huge integers, lone surrogates) and oversized CSV cells are 4xx;
* ``Cache-Control: no-store`` on everything that carries personal data;
* the in-house activity CSV neutralises spreadsheet formulas; non-admins see neither archived
  in-house activities nor their contact person.
"""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from core import plans
from tests.conftest import anonymous_client
from tests.helpers import csrf_token, make_account, make_person, sign_in, signed_in_client
from tests.test_plans import FOCUS, api_flow, world  # noqa: F401 - fixture

ACTIVITY = {"title": {"sv": "Skuggning"}, "description": {"sv": "En dag."}, "competencies": ["kbp-sample:active-listening"],
            "kind": "learning_from_others", "effort": "days"}


def field_error(response, field: str) -> None:
    """A JSON error in our shape whose ``errors`` name ``field`` (at any depth)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.get_json()
    assert isinstance(body["code"], str) and body["status"] == response.status_code and body["message"], body
    assert field in json.dumps(body.get("errors", {})), body


# ----------------------------------------------------------------------------- 11. plan limits


@pytest.fixture
def plan(world):  # noqa: F811
    app, coach, employee, emp = world
    return app, coach, employee, api_flow(coach, emp["id"])


def test_limits_are_declared_once_and_documented():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    import re

    for name in ("focus", "questions", "own_questions", "activities", "follow_ups", "note", "goal", "question_text",
                 "activity_title", "activity_description", "owner", "follow_up_note", "plan_text"):
        documented = re.search(r"\| `%s` \| ([\d,]+) \|" % name, readme)
        assert documented and int(documented.group(1).replace(",", "")) == plans.LIMITS[name], name
    assert "MAX_CONTENT_LENGTH" in readme


def test_too_many_own_questions_or_activities_are_refused_by_the_api(plan):
    app, coach, employee, p = plan
    own = [{"text": f"Fråga {i}"} for i in range(plans.LIMITS["own_questions"] + 1)]
    r = coach.patch(f"/api/v1/plans/{p['id']}", json={"version": p["version"], "own_questions": own})
    field_error(r, "own_questions")
    acts = [{"title": f"Aktivitet {i}"} for i in range(plans.LIMITS["activities"] + 1)]
    r = coach.patch(f"/api/v1/plans/{p['id']}", json={"version": p["version"], "activities": acts})
    field_error(r, "activities")
    assert coach.get(f"/api/v1/plans/{p['id']}").get_json()["version"] == p["version"]  # nothing written


def test_a_plan_at_its_limits_is_accepted(plan):
    app, coach, employee, p = plan
    own = [{"text": "F" * plans.LIMITS["question_text"]} for _ in range(plans.LIMITS["own_questions"])]
    acts = [{"title": f"Aktivitet {i}", "description": "d" * 1000, "owner": "o" * plans.LIMITS["owner"]}
            for i in range(plans.LIMITS["activities"])]
    r = coach.patch(f"/api/v1/plans/{p['id']}", json={"version": p["version"], "own_questions": own, "activities": acts})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert len(body["activities"]) == plans.LIMITS["activities"]
    # one more character of text anywhere would pass the plan's total
    assert plans.written_length(app.extensions["kbp"].storage.collection("plans").get(p["id"])) <= plans.LIMITS["plan_text"]
    big = [{"id": a["id"], "description": "e" * plans.LIMITS["activity_description"]} for a in body["activities"]]
    r = coach.patch(f"/api/v1/plans/{p['id']}", json={"version": body["version"], "activities": big})
    field_error(r, "activities")
    assert "60000" in r.get_json()["message"] or "60,000" in r.get_json()["message"]


def test_a_plan_stored_over_the_limits_stays_editable(plan):
    """Plans written before the limits keep what they have: they may shrink or stay, not grow."""
    app, coach, employee, p = plan
    store = app.extensions["kbp"].storage.collection("plans")
    record = store.get(p["id"])
    record["questions"][0]["note"] = "gammal " * 2000  # 14,000 characters, from before the limits
    record["activities"] = record["activities"] + [dict(record["activities"][-1], id=f"old{i}") for i in range(plans.LIMITS["activities"])]
    store.upsert(record)
    over = len(record["activities"])
    r = coach.patch(f"/api/v1/plans/{p['id']}", json={"version": p["version"], "goals": {FOCUS[0]: "Ett nytt mål."},
                                                     "activities": [{"id": a["id"]} for a in record["activities"]]})
    assert r.status_code == 200, r.get_json()
    aid = record["activities"][0]["id"]
    r = coach.put(f"/api/v1/plans/{p['id']}/activities/{aid}/status", json={"version": r.get_json()["version"], "status": "done"})
    assert r.status_code == 200
    more = [{"id": a["id"]} for a in record["activities"]] + [{"title": "En till"}]
    r2 = coach.patch(f"/api/v1/plans/{p['id']}", json={"version": r.get_json()["version"], "activities": more})
    field_error(r2, "activities")
    assert len(coach.get(f"/api/v1/plans/{p['id']}").get_json()["activities"]) == over


def test_text_limits_name_the_field(plan):
    app, coach, employee, p = plan
    qid = p["questions"][0]["id"]
    r = coach.put(f"/api/v1/plans/{p['id']}/questions/{qid}/note", json={"version": p["version"], "note": "x" * (plans.LIMITS["note"] + 1)})
    field_error(r, "note")
    r = coach.patch(f"/api/v1/plans/{p['id']}", json={"version": p["version"], "goals": {FOCUS[0]: "m" * (plans.LIMITS["goal"] + 1)}})
    field_error(r, "goals")
    r = coach.post(f"/api/v1/plans/{p['id']}/follow-ups", json={"version": p["version"], "note": "f" * (plans.LIMITS["follow_up_note"] + 1)})
    field_error(r, "note")


def test_the_core_rule_limits_follow_ups_and_chosen_questions():
    """The rule lives in core.plans, so every caller (API, pages, CLI) gets it."""

    class Account:
        id = "a1"

    full = {"follow_ups": [{"at": 0, "by": "a1", "note": "x"}] * plans.LIMITS["follow_ups"], "follow_up_date": None}
    with pytest.raises(plans.PlanError) as caught:
        plans.add_follow_up(full, Account(), "En till")
    assert "follow_ups" in caught.value.errors and caught.value.status == 422


def test_the_questions_page_refuses_too_many_own_questions(plan):
    app, coach, employee, p = plan
    form = {"version": str(p["version"]), "csrf_token": csrf_token(coach, f"/plans/{p['id']}/questions"),
            "question": [q["id"] for q in p["questions"] if q["kind"] != "own"],
            "own_new": [f"Egen fråga {i}" for i in range(plans.LIMITS["own_questions"] + 1)]}
    r = coach.post(f"/plans/{p['id']}/questions", data=form, follow_redirects=True)
    assert r.status_code in (200, 422)
    assert str(plans.LIMITS["own_questions"]) in r.get_data(as_text=True)
    assert coach.get(f"/api/v1/plans/{p['id']}").get_json()["version"] == p["version"]


def test_request_bodies_are_limited_with_a_413(app, client):
    assert app.config["MAX_CONTENT_LENGTH"] <= 1024 * 1024  # a plan at its limits is far smaller
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    r = client.post("/api/v1/people", data=json.dumps({"name": big, "email": "a@example.test"}), content_type="application/json")
    assert r.status_code == 413 and r.get_json()["code"] == "payload_too_large"
    admin = signed_in_client(app, "admin")
    token = csrf_token(admin, "/people/new")
    r = admin.post("/people/new", data={"csrf_token": token, "name": big, "email": "b@example.test"})
    assert r.status_code == 413 and "text/html" in r.content_type


def test_imports_may_be_larger_than_other_requests(app, client):
    assert app.config["MAX_IMPORT_LENGTH"] > app.config["MAX_CONTENT_LENGTH"]
    rows = "".join(f"Person {i},p{i}@example.test,\n" for i in range(200))
    padding = "#" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    body = "name,email,coach_email\n" + rows + f'"Padding","pad@example.test","{padding}"\n'
    r = client.post("/api/v1/people/import?dry_run=true", data=body.encode(), content_type="text/csv")
    assert r.status_code == 422 and r.get_json()["problems"]  # read and reported, not refused as too large


# ----------------------------------------------------------------------------- 12. control characters


@pytest.mark.parametrize("bad", ["a\x00b", "a\x07b", "a\x1bb", "a\ufffeb", "a\uffffb", "a\x0bb"])
def test_control_characters_are_refused_in_plan_text(plan, bad):
    app, coach, employee, p = plan
    qid = p["questions"][0]["id"]
    r = coach.put(f"/api/v1/plans/{p['id']}/questions/{qid}/note", json={"version": p["version"], "note": bad})
    assert r.status_code == 422
    field_error(r, "note")
    r = coach.patch(f"/api/v1/plans/{p['id']}", json={"version": p["version"], "own_questions": [{"text": bad}]})
    field_error(r, "own_questions")


def test_tab_newline_and_carriage_return_are_fine(plan):
    app, coach, employee, p = plan
    qid = p["questions"][0]["id"]
    r = coach.put(f"/api/v1/plans/{p['id']}/questions/{qid}/note", json={"version": p["version"], "note": "a\tb\r\nc"})
    assert r.status_code == 200


def test_control_characters_are_refused_everywhere_text_enters(app, client):
    r = client.post("/api/v1/people", json={"name": "Eva\x00", "email": "eva@example.test"})
    assert r.status_code == 422
    field_error(r, "name")
    r = client.post("/api/v1/accounts", json={"username": "eva\x01@example.test", "password": "a long enough password", "role": "employee"})
    field_error(r, "username")
    r = client.post("/api/v1/activity-sources/inhouse/activities", json={**ACTIVITY, "title": {"sv": "Skugg\x02ning"}})
    field_error(r, "title")
    r = client.post("/api/v1/people/import?dry_run=true", data="name,email\nEva\x03,eva@example.test\n".encode(), content_type="text/csv")
    assert r.status_code == 422
    assert [(p["row"], p["column"]) for p in r.get_json()["problems"]] == [(2, "name")]
    csv_text = ("id,source_language,title_sv,description_sv,competencies,kind,effort\n"
                "skugg,sv,Skugg\x04ning,En dag.,kbp-sample:active-listening,learning_from_others,days\n")
    r = client.post("/api/v1/activity-sources/inhouse/import?format=csv", data=csv_text.encode(), content_type="text/csv")
    assert r.status_code == 422 and r.get_json()["problems"][0]["column"] == "title_sv"
    assert client.get("/api/v1/people").get_json() == []


def test_control_characters_in_a_form_get_a_page_naming_the_field(app):
    admin = signed_in_client(app, "admin")
    token = csrf_token(admin, "/people/new")
    r = admin.post("/people/new", data={"csrf_token": token, "name": "Eva\x00", "email": "eva@example.test"})
    assert r.status_code == 422 and "text/html" in r.content_type
    assert "name" in r.get_data(as_text=True)


@pytest.mark.parametrize("exporter_id", ["plan-pdf", "plan-docx", "guide-pdf", "guide-docx", "plan-md", "plan-csv",
                                         "plan-json", "plan-ics"])
def test_stored_control_characters_are_removed_at_export(plan, exporter_id):
    app, coach, employee, p = plan
    store = app.extensions["kbp"].storage.collection("plans")
    record = store.get(p["id"])
    record["questions"][0]["note"] = "före\x01\x0b\ufffeefter"  # (PostgreSQL cannot store U+0000 at all)
    record["focus"][0]["goal"] = "mål\x1b[31m"
    record["follow_ups"] = [{"at": 1.0, "by": "x", "note": "upp\x08följning"}]
    store.upsert(record)
    r = coach.get(f"/api/v1/plans/{p['id']}/export/{exporter_id}?lang=sv")
    if r.status_code == 404:
        pytest.skip(f"no exporter {exporter_id}")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    data = r.data
    if exporter_id.endswith("docx"):
        data = b"".join(zipfile.ZipFile(io.BytesIO(data)).read(n) for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith(".xml"))
    text = data.decode("utf-8", "replace") if not exporter_id.endswith("pdf") else ""
    for bad in ("\x01", "\x0b", "\x1b", "\x08", "\ufffe"):
        assert bad not in text


# ----------------------------------------------------------------------------- 13. hostile JSON and CSV


def deep(n: int) -> str:
    return "[" * n + "]" * n


HOSTILE_BODIES = {
    "deep_list": '{"name": ' + deep(1000) + ', "email": "a@example.test"}',
    "deep_object": '{"a":' * 1000 + "1" + "}" * 1000,
    "huge_int": '{"version": ' + "9" * 5000 + ', "note": "x"}',
    "lone_surrogate": '{"name": "Eva \\ud800", "email": "eva@example.test", "note": "\\udfff", "version": 1}',
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_BODIES))
def test_hostile_json_is_a_4xx_on_every_endpoint(plan, kind):
    app, coach, employee, p = plan
    admin = app.test_client()
    qid = p["questions"][0]["id"]
    targets = [
        (admin, "post", "/api/v1/people"),
        (admin, "post", "/api/v1/accounts"),
        (admin, "post", "/api/v1/activity-sources/inhouse/activities"),
        (coach, "post", "/api/v1/plans"),
        (coach, "patch", f"/api/v1/plans/{p['id']}"),
        (coach, "put", f"/api/v1/plans/{p['id']}/questions/{qid}/note"),
        (coach, "post", "/api/v1/me/tokens"),
    ]
    for client, method, url in targets:
        r = getattr(client, method)(url, data=HOSTILE_BODIES[kind], content_type="application/json")
        assert 400 <= r.status_code < 500, (url, r.status_code, r.get_data(as_text=True)[:300])
        body = r.get_json()
        assert isinstance(body["code"], str) and body["status"] == r.status_code
    assert coach.get("/healthz").status_code == 200


@pytest.mark.parametrize("url", ["/api/v1/audit?limit=%s", "/api/v1/activities/search?q=x&limit=%s",
                                 "/api/v1/frameworks/kbp-sample/competencies/active-listening?activity_limit=%s"])
def test_huge_integers_in_query_strings_are_a_422(client, url):
    r = client.get(url % ("9" * 5000))
    assert r.status_code == 422 and r.get_json()["errors"]


def test_a_lone_surrogate_in_plan_text_is_refused_naming_the_field(plan):
    app, coach, employee, p = plan
    qid = p["questions"][0]["id"]
    body = '{"version": %d, "note": "före \\ud800 efter"}' % p["version"]
    r = coach.put(f"/api/v1/plans/{p['id']}/questions/{qid}/note", data=body, content_type="application/json")
    field_error(r, "note")
    assert coach.get(f"/api/v1/plans/{p['id']}/export/plan-docx").status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/people/import?dry_run=true", "/api/v1/activity-sources/inhouse/import?format=csv"])
def test_a_csv_cell_over_128_kib_is_a_problem_not_a_500(client, path):
    huge = "x" * (128 * 1024 + 10)
    if "people" in path:
        body = f'name,email\n"{huge}",eva@example.test\n'
    else:
        body = ("id,source_language,title_sv,description_sv,competencies,kind,effort\n"
                f'skugg,sv,Skuggning,"{huge}",kbp-sample:active-listening,learning_from_others,days\n')
    r = client.post(path, data=body.encode(), content_type="text/csv")
    assert r.status_code == 422, r.get_data(as_text=True)[:300]
    assert r.get_json()["problems"]


@pytest.mark.parametrize("body", ['name,email\n"Eva\x00,eva@example.test\n', 'na"me\x00\r,email\n', '"a\x00"b\r"c\n'])
@pytest.mark.parametrize("path", ["/api/v1/people/import?dry_run=true", "/api/v1/activity-sources/inhouse/import?format=csv"])
def test_a_csv_the_csv_module_cannot_read_is_a_problem_not_a_500(client, path, body):
    r = client.post(path, data=body.encode(), content_type="text/csv")
    assert r.status_code == 422, r.get_data(as_text=True)[:300]
    assert r.get_json()["problems"] and r.get_json()["code"] == "validation_error"


def test_json_activity_import_with_hostile_json_reports_a_problem(client):
    r = client.post("/api/v1/activity-sources/inhouse/import?format=json", data=deep(5000).encode(), content_type="application/json")
    assert r.status_code in (400, 422) and r.get_json()["status"] == r.status_code


# ----------------------------------------------------------------------------- 14. Cache-Control


def test_personal_data_is_never_cached(plan):
    app, coach, employee, p = plan
    admin = signed_in_client(app, "admin")
    person_id = p["person_id"]
    for client, url in [(coach, "/api/v1/me"), (coach, "/api/v1/people"), (coach, f"/api/v1/plans/{p['id']}"),
                        (coach, f"/api/v1/plans/{p['id']}/export/plan-md"), (coach, "/plans"), (coach, f"/plans/{p['id']}"),
                        (admin, f"/api/v1/people/{person_id}/export"), (admin, f"/people/{person_id}"), (coach, "/api/v1/nowhere"),
                        (coach, "/")]:
        r = client.get(url)
        assert "no-store" in r.headers.get("Cache-Control", ""), (url, r.status_code, r.headers.get("Cache-Control"))
    for url in ("/static/kbp.css", "/api/v1/openapi.json"):
        r = coach.get(url)
        assert r.status_code == 200 and "no-store" not in r.headers.get("Cache-Control", ""), url


# ----------------------------------------------------------------------------- 15. in-house activities


def test_inhouse_csv_export_neutralises_formulas_and_round_trips(client):
    record = {**ACTIVITY, "id": "formel", "title": {"sv": "=1+2"}, "description": {"sv": "@SUM(A1)"}, "owner": "+46 8 123"}
    assert client.post("/api/v1/activity-sources/inhouse/activities", json=record).status_code == 201
    exported = client.get("/api/v1/activity-sources/inhouse/export?format=csv").get_data(as_text=True)
    import csv

    row = next(csv.DictReader(io.StringIO(exported)))
    assert row["title_sv"] == "'=1+2" and row["description_sv"] == "'@SUM(A1)" and row["owner"] == "'+46 8 123"
    r = client.post("/api/v1/activity-sources/inhouse/import?format=csv&dry_run=false", data=exported.encode(), content_type="text/csv")
    assert r.status_code == 200, r.get_json()
    again = client.get("/api/v1/activity-sources/inhouse/activities/formel").get_json()
    assert again["title"]["sv"] == "=1+2" and again["owner"] == "+46 8 123"


def test_the_formula_helper_is_shared_with_the_plan_csv():
    from core import exports
    from plugins import export_plan_text

    assert export_plan_text.spreadsheet_text is exports.spreadsheet_text


def test_non_admins_see_neither_archived_activities_nor_their_owner(app, client):
    for rid, archived in (("aktiv", False), ("arkiverad", True)):
        record = {**ACTIVITY, "id": rid, "title": {"sv": f"Mentor {rid}"}, "owner": "hr.kontakt@example.test", "archived": archived}
        assert client.post("/api/v1/activity-sources/inhouse/activities", json=record).status_code == 201
    employee = sign_in(anonymous_client(app), make_account(app, "employee", make_person(app)))
    listed = employee.get("/api/v1/activity-sources/inhouse/activities?include_archived=true")
    assert listed.status_code in (200, 403)
    if listed.status_code == 200:
        assert [r["id"] for r in listed.get_json()] == ["aktiv"]
        assert "hr.kontakt" not in listed.get_data(as_text=True)
    assert employee.get("/api/v1/activity-sources/inhouse/activities/arkiverad").status_code == 404
    one = employee.get("/api/v1/activity-sources/inhouse/activities/aktiv")
    assert one.status_code == 200 and "owner" not in one.get_json()
    found = employee.get("/api/v1/activities/search?q=mentor")
    assert found.status_code == 200 and "hr.kontakt" not in found.get_data(as_text=True)
    assert [h["id"] for h in found.get_json()["results"]] == ["aktiv"]
    assert employee.get("/api/v1/activities/search?q=mentor&include_archived=true").status_code == 403
    detail = employee.get("/api/v1/frameworks/kbp-sample/competencies/active-listening").get_data(as_text=True)
    assert "Mentor aktiv" in detail and "hr.kontakt" not in detail and "Mentor arkiverad" not in detail
    page = employee.get("/activities?q=mentor").get_data(as_text=True)
    assert "hr.kontakt" not in page and "Mentor arkiverad" not in page
    # the admin still sees both, with the owner
    assert {r["id"] for r in client.get("/api/v1/activity-sources/inhouse/activities?include_archived=true").get_json()} == {"aktiv", "arkiverad"}
    assert client.get("/api/v1/activity-sources/inhouse/activities/aktiv").get_json()["owner"] == "hr.kontakt@example.test"


def test_the_cli_refuses_control_characters_in_a_username(tmp_path):
    from click.testing import CliRunner

    from core.cli import main

    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "d"), "users", "create", "--role", "admin",
                                       "--username", "eva\x07@example.test"])
    assert result.exit_code != 0 and "control characters" in result.output
    ok = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "d"), "users", "create", "--role", "admin",
                                   "--username", "eva@example.test"])
    assert ok.exit_code == 0, ok.output
