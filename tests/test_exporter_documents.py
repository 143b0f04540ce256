"""The documents exporters receive match their JSON Schemas in docs/schemas/ (checked with the
jsonschema library, formats included), whether built by the API for a real export or handed out by
the fixtures of ``core.testing`` that plugin authors use."""
from __future__ import annotations

import copy
import json

import pytest
from jsonschema import Draft202012Validator, ValidationError

from core import testing
from tests.conftest import ROOT, anonymous_client
from tests.helpers import csrf_token, make_account, make_person, sign_in
from tests.plugins import runtime_failures

SUBJECTS = sorted(testing.DOCUMENT_SCHEMAS)


@pytest.mark.parametrize("subject", SUBJECTS)
def test_each_schema_is_valid_and_shipped_with_the_package(subject):
    path = ROOT / "docs" / "schemas" / testing.DOCUMENT_SCHEMAS[subject]
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert testing.document_schema(subject) == schema  # core/exporter_schemas/ links to docs/schemas/


def test_the_fixture_documents_fit_their_schemas(kbp_plan_document, kbp_dialogue_guide_document, kbp_framework_document,
                                                 kbp_validate_document):
    kbp_validate_document("plan", kbp_plan_document)
    kbp_validate_document("dialogue_guide", kbp_dialogue_guide_document)
    kbp_validate_document("framework", kbp_framework_document)
    assert kbp_plan_document["focus"] and kbp_plan_document["questions"] and kbp_plan_document["activities"]
    assert kbp_plan_document["follow_ups"] and kbp_plan_document["coach"]
    assert kbp_framework_document["groups"][0]["competencies"]


@pytest.mark.parametrize("subject,breakage", [
    ("plan", lambda d: d.pop("focus")),
    ("plan", lambda d: d["activities"][0].update(kind="bogus")),
    ("dialogue_guide", lambda d: d.update(language="Swedish")),
    ("framework", lambda d: d["groups"][0]["competencies"][0].update(global_id="no-colon")),
    ("framework", lambda d: d.update(extra=1)),
])
def test_the_schemas_reject_a_wrong_document(subject, breakage, kbp_plan_document, kbp_framework_document):
    document = copy.deepcopy(kbp_framework_document if subject == "framework" else kbp_plan_document)
    breakage(document)
    with pytest.raises(ValidationError):
        testing.validate_document(subject, document)


@pytest.mark.parametrize("lang", ["en", "sv"])
def test_what_an_exporter_really_receives_fits_the_schemas(make_app, monkeypatch, lang):
    monkeypatch.setattr(runtime_failures, "RECEIVED", [])
    app = make_app(PLUGINS=["runtime_failures=tests.plugins.runtime_failures"])
    coach_person = make_person(app, "Kim Coach")
    person = make_person(app, "Rut Receiver", coach_id=coach_person["id"])
    coach = sign_in(anonymous_client(app), make_account(app, "coach", coach_person))
    coach.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(coach)
    plan = coach.post("/api/v1/plans", json={"person_id": person["id"], "situation": "new_role"}).get_json()
    plan = coach.patch(f"/api/v1/plans/{plan['id']}", json={
        "version": plan["version"], "focus": ["kbp-sample:planning-own-work"], "follow_up_date": "2030-01-31"}).get_json()
    suggested = coach.get(f"/api/v1/plans/{plan['id']}/suggestions?lang={lang}").get_json()
    coach.patch(f"/api/v1/plans/{plan['id']}", json={
        "version": plan["version"], "questions": [q["id"] for q in suggested["questions"][:2]],
        "activities": [{"ref": {"source": a["source"], "id": a["id"]}, "due": "2030-06-30"} for a in suggested["activities"][:2]]})
    for url in (f"/api/v1/plans/{plan['id']}/export/flaky-text?lang={lang}",
                f"/api/v1/plans/{plan['id']}/export/flaky-guide?lang={lang}",
                f"/api/v1/frameworks/kbp-sample/export/flaky-framework?lang={lang}"):
        assert coach.get(url).status_code == 200, url
    assert [subject for subject, _doc, _locale in runtime_failures.RECEIVED] == ["plan", "dialogue_guide", "framework"]
    for subject, document, locale in runtime_failures.RECEIVED:
        assert locale == lang == document["language"]
        testing.validate_document(subject, document)
    plan_doc = runtime_failures.RECEIVED[0][1]
    assert plan_doc["questions"] and plan_doc["activities"] and plan_doc["follow_up_date"] == "2030-01-31"


def test_the_fixture_clients_have_their_roles(kbp_client, kbp_coach_client, kbp_employee_client, kbp_plan):
    roles = [c.get("/api/v1/me").get_json()["account"]["role"] for c in (kbp_client, kbp_coach_client, kbp_employee_client)]
    assert roles == ["admin", "coach", "employee"]
    assert kbp_client.get("/plugins").status_code == 200
    assert kbp_coach_client.get("/plugins").status_code == 403
    assert kbp_employee_client.get("/plugins").status_code == 403
    mine = {p["id"] for p in kbp_employee_client.get("/api/v1/plans").get_json()}
    assert kbp_plan["id"] in mine
    assert kbp_employee_client.person["id"] == kbp_plan["person_id"]
    response = kbp_employee_client.post(f"/api/v1/plans/{kbp_plan['id']}/agree", json={"version": kbp_plan["version"]})
    assert response.status_code == 200, response.get_json()  # a write: the CSRF token is set
