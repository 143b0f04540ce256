"""pytest fixtures for KBP plugin authors, shipped with KBP (entry point ``pytest11``: ``kbp``).

With KBP installed, every test suite gets these fixtures without importing anything::

    def test_my_exporter(kbp_plan_document):
        data = MyExporter().export(kbp_plan_document, "en")

    @pytest.fixture
    def kbp_plugins():                      # plugins to load besides the installed ones
        return ["acme=acme_kbp.plugin"]     # ``name=module``, like KBP_PLUGINS

    def test_page(kbp_app, kbp_client):     # admin; kbp_coach_client, kbp_employee_client too
        assert kbp_client.get("/api/v1/plugins").status_code == 200

Fixtures
    ``kbp_plugins`` / ``kbp_config`` — override to choose extra plugins and settings;
    ``kbp_app`` — a KBP app on a fresh data folder in pytest's ``tmp_path``;
    ``kbp_client`` (admin), ``kbp_coach_client``, ``kbp_employee_client`` — test clients signed in
    through the real sign-in page (with the CSRF token set for POSTs); the coach coaches the employee,
    whose person record is ``kbp_employee_client.person``;
    ``kbp_plan_document``, ``kbp_dialogue_guide_document``, ``kbp_framework_document`` — real exporter
    input documents built by the app (a plan on the sample framework, the sample framework), each
    valid against its JSON Schema (``kbp_validate_document(subject, document)`` checks one).

Only KBP's own environment variables are cleared (``KBP_*``), so a test never reads the developer's
instance.
"""
from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

#: the JSON Schema of what an exporter of each subject receives (see docs/schemas/)
SCHEMA_DIR = Path(__file__).resolve().parent / "exporter_schemas"
DOCUMENT_SCHEMAS = {
    "plan": "exporter-plan-document-v1.schema.json",
    "dialogue_guide": "exporter-dialogue-guide-document-v1.schema.json",
    "framework": "exporter-framework-document-v1.schema.json",
}
PASSWORD = "kbp plugin tests: not a real password"
SAMPLE_FRAMEWORK = "kbp-sample"
_numbers = itertools.count(1)


def document_schema(subject: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / DOCUMENT_SCHEMAS[subject]).read_text(encoding="utf-8"))


def validate_document(subject: str, document: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``document`` is a valid input for ``subject``."""
    from jsonschema import Draft202012Validator, FormatChecker

    Draft202012Validator(document_schema(subject), format_checker=FormatChecker()).validate(document)


def make_app(data_dir: str | Path, plugins: list[str] | None = None, **config: Any):
    """A KBP app for tests: ``TESTING``, English by default, its data in ``data_dir``."""
    from core import create_app

    return create_app({"TESTING": True, "DATA_DIR": str(data_dir), "DEFAULT_LOCALE": "en",
                       "PLUGINS": list(plugins or []), **config})


def make_person(app, name: str, coach_id: str | None = None) -> dict:
    from core import people

    n = next(_numbers)
    return people.create_person(app.extensions["kbp"].storage, {
        "name": name, "email": f"kbp-test-{n}@example.org", "job_title": "", "unit": "", "coach_id": coach_id,
        "locale": None, "status": "active"})


def signed_in_client(app, role: str, person: dict | None = None):
    """A test client signed in through ``/login`` as a new account of ``role``, ready for POSTs."""
    from core import auth

    username = person["email"] if person else f"kbp-test-{role}-{next(_numbers)}@example.org"
    auth.create_account(app.extensions["kbp"].storage, username=username, password=PASSWORD, role=role,
                        person_id=person["id"] if person else None)
    client = app.test_client()
    client.environ_base.pop("HTTP_AUTHORIZATION", None)
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": _csrf(client, "/login")})
    assert response.status_code in (302, 303), f"signing in as {role} failed: {response.status_code}"
    client.environ_base["HTTP_X_CSRFTOKEN"] = _csrf(client, "/")
    client.person = person
    return client


def _csrf(client, url: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True))
    return found.group(1) if found else ""


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def kbp_plugins() -> list[str]:
    """Plugins to load besides the installed ones (``name=module``); override in your conftest."""
    return []


@pytest.fixture
def kbp_config() -> dict[str, Any]:
    """Extra settings for ``kbp_app`` (e.g. ``{"ACME.COURSES_CSV": "..."}``); override in your conftest."""
    return {}


@pytest.fixture
def kbp_app(tmp_path, monkeypatch, kbp_plugins, kbp_config):
    import os

    for key in list(os.environ):
        if key.startswith("KBP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("KBP_LOCALE", "en")
    return make_app(tmp_path / "kbp-data", kbp_plugins, **kbp_config)


@pytest.fixture
def kbp_client(kbp_app):
    return signed_in_client(kbp_app, "admin")


@pytest.fixture
def kbp_coach_person(kbp_app):
    return make_person(kbp_app, "Kim Coach")


@pytest.fixture
def kbp_employee_person(kbp_app, kbp_coach_person):
    return make_person(kbp_app, "Alex Employee", coach_id=kbp_coach_person["id"])


@pytest.fixture
def kbp_coach_client(kbp_app, kbp_coach_person):
    return signed_in_client(kbp_app, "coach", kbp_coach_person)


@pytest.fixture
def kbp_employee_client(kbp_app, kbp_employee_person):
    return signed_in_client(kbp_app, "employee", kbp_employee_person)


@pytest.fixture
def kbp_plan(kbp_app, kbp_coach_client, kbp_employee_person) -> dict:
    """A plan made through the API by the coach: two sample-framework focus competencies, questions,
    activities, goals, a follow-up date and one follow-up held."""
    client = kbp_coach_client
    focus = [f"{SAMPLE_FRAMEWORK}:planning-own-work", f"{SAMPLE_FRAMEWORK}:active-listening"]
    plan = client.post("/api/v1/plans", json={"person_id": kbp_employee_person["id"], "situation": "new_role"}).get_json()
    plan = client.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "focus": focus}).get_json()
    suggested = client.get(f"/api/v1/plans/{plan['id']}/suggestions?lang=en").get_json()
    response = client.patch(f"/api/v1/plans/{plan['id']}", json={
        "version": plan["version"],
        "questions": [q["id"] for q in suggested["questions"][:3]],
        "own_questions": [{"text": "What do you need from me?"}],
        "activities": [{"ref": {"source": a["source"], "id": a["id"]}, "owner": "Alex", "due": "2030-06-30"}
                       for a in suggested["activities"][:2]],
        "goals": {focus[0]: "Plan each week on Monday morning."},
        "follow_up_date": "2030-09-01",
    })
    assert response.status_code == 200, response.get_data(as_text=True)
    plan = response.get_json()
    response = client.post(f"/api/v1/plans/{plan['id']}/follow-ups",
                           json={"version": plan["version"], "note": "Good start; planning slot kept."})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _plan_document(app, plan_id: str, locale: str) -> dict:
    from core import plans

    storage = app.extensions["kbp"].storage
    plan = storage.collection("plans").get(plan_id)
    return plans.plan_document(storage, plan, "coach", locale)


@pytest.fixture
def kbp_plan_document(kbp_app, kbp_plan) -> dict:
    """What an exporter of subject ``plan`` receives (English)."""
    return _plan_document(kbp_app, kbp_plan["id"], "en")


@pytest.fixture
def kbp_dialogue_guide_document(kbp_app, kbp_plan) -> dict:
    """What an exporter of subject ``dialogue_guide`` receives (English)."""
    return _plan_document(kbp_app, kbp_plan["id"], "en")


@pytest.fixture
def kbp_framework_document(kbp_app) -> dict:
    """What an exporter of subject ``framework`` receives: the sample framework in English."""
    from core.exports import framework_document

    registry = kbp_app.extensions["kbp"].registry
    return framework_document(registry, registry.frameworks[SAMPLE_FRAMEWORK], "en")


@pytest.fixture
def kbp_validate_document():
    """``kbp_validate_document(subject, document)``: raises unless the document fits its schema."""
    return validate_document
