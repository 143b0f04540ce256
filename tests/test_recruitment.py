"""The recruitment record, the plan started from it, the preparation sheet and the follow-up
meeting's questions (issue 17, items 2 and 3): what they hold and what they refuse. Who may see
what is in ``tests/test_role_matrix.py`` and ``tests/test_privacy.py``."""
from __future__ import annotations

import pytest

from core import create_app
from tests.helpers import csrf_token, make_account, make_person, sign_in

LISTEN, PLAN = "kbp-sample:active-listening", "kbp-sample:planning-own-work"


def client_for(app, account):
    c = sign_in(app.test_client(), account)
    c.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(c)
    return c


@pytest.fixture
def team(tmp_path):
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "DEFAULT_LOCALE": "en"})
    coach_p = make_person(app, "Cecilia Chef")
    emp_p = make_person(app, "Nora Ny", coach_id=coach_p["id"])
    coach, emp = client_for(app, make_account(app, "coach", coach_p)), client_for(app, make_account(app, "employee", emp_p))
    return {"app": app, "coach": coach, "emp": emp, "pid": emp_p["id"], "coach_p": coach_p}


def fields_of(errors, prefix="") -> set[str]:
    """The dotted field paths an error's ``errors`` names (flat or nested)."""
    if not isinstance(errors, dict):
        return {prefix.rstrip(".")}
    return {path for key, value in errors.items() for path in fields_of(value, f"{prefix}{key}.")}


def put(client, pid, body):
    return client.put(f"/api/v1/people/{pid}/recruitment", json=body)


def test_the_plan_starts_with_the_agreed_needs_as_focus_and_goals(team):
    coach, pid = team["coach"], team["pid"]
    record = put(coach, pid, {"role_title": "Utredare", "competencies": [
        {"competency": PLAN, "rating": 3, "notes": "Tydlig veckoplan."},
        {"competency": LISTEN, "rating": 2, "notes": "Avbröt.", "need": "Sammanfatta före svar."}]}).get_json()
    assert record["version"] == 1 and [c["rating"] for c in record["competencies"]] == [3, 2]
    plan = coach.post(f"/api/v1/people/{pid}/recruitment/plan").get_json()
    assert plan["situation"] == "recruited_need" and plan["mode"] == "coaching"
    assert [(f["competency"], f["goal"]) for f in plan["focus"]] == [(LISTEN, "Sammanfatta före svar.")]  # only the one with a need
    assert coach.get(f"/api/v1/people/{pid}/recruitment").get_json()["plans"] == [plan["id"]]
    # no need agreed anywhere: every recorded competency becomes a focus competency
    put(coach, pid, {"version": 1, "competencies": [{"competency": PLAN}, {"competency": LISTEN, "need": ""}]})
    plan = coach.post(f"/api/v1/people/{pid}/recruitment/plan").get_json()
    assert [f["competency"] for f in plan["focus"]] == [PLAN, LISTEN] and all(f["goal"] == "" for f in plan["focus"])
    # the person themself starts a self-reflection from it
    mine = team["emp"].post(f"/api/v1/people/{pid}/recruitment/plan")
    assert mine.status_code == 201 and mine.get_json()["mode"] == "self_reflection"
    audit = team["app"].extensions["kbp"].storage.collection("audit").all()
    assert [e["action"] for e in audit if e["subject_type"] == "recruitment_record"] == ["create", "update"]


def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(team):
    coach, pid = team["coach"], team["pid"]
    storage = team["app"].extensions["kbp"].storage
    cases = [
        ({"competencies": [{"competency": LISTEN, "rating": 5}]}, 422, "competencies.0.rating"),
        ({"competencies": [{"competency": "kbp-sample:nope"}]}, 422, "competencies.0.competency"),
        ({"competencies": []}, 422, "competencies"),
        ({"competencies": [{"competency": LISTEN}, {"competency": LISTEN}]}, 422, "competencies.1.competency"),
        ({"competencies": [{"competency": LISTEN, "notes": "bell\u0007"}]}, 422, "competencies.0.notes"),
        ({"competencies": [{"competency": LISTEN, "need": "x" * 1001}]}, 422, "competencies.0.need"),
    ]
    for body, status, field in cases:
        r = put(coach, pid, body)
        assert r.status_code == status, (body, r.get_json())
        error = r.get_json()
        assert error["code"] and error["message"] and field in fields_of(error.get("errors")), (body, error)
    assert storage.collection("recruitment_records").count() == 0
    assert put(coach, pid, {"competencies": [{"competency": LISTEN}]}).status_code == 200
    stale = put(coach, pid, {"version": 7, "role_title": "Annan"})
    assert stale.status_code == 409 and stale.get_json()["code"] == "conflict"
    assert coach.get(f"/api/v1/people/{pid}/recruitment").get_json()["role_title"] == ""
    # the page shows the message and keeps what was stored
    page = coach.post(f"/people/{pid}/recruitment", data={"action": "choose", "csrf_token": csrf_token(coach)})
    assert page.status_code == 422 and "Choose at least one competency" in page.get_data(as_text=True)
    assert team["emp"].post(f"/api/v1/people/{pid}/recruitment/plan").status_code == 201


def test_new_dialogue_offers_the_record_only_when_recruited_with_a_need(team):
    coach, pid = team["coach"], team["pid"]
    token = csrf_token(coach)

    def start(situation, **extra):
        return coach.post("/plans/new", data={"person_id": pid, "situation": situation, "csrf_token": token, **extra})

    assert start("recruited_need").status_code == 302  # no record: straight on
    put(coach, pid, {"competencies": [{"competency": LISTEN, "need": "Lyssna klart.", "notes": "Anteckning"}]})
    asked = start("recruited_need")  # an open dialogue exists now: asked first, then offered the record
    assert asked.status_code == 200 and 'name="confirm_another"' in asked.get_data(as_text=True)
    offer = start("recruited_need", confirm_another="1")
    assert offer.status_code == 200 and "Start from the recruitment record?" in offer.get_data(as_text=True)
    assert "Lyssna klart." in offer.get_data(as_text=True) and "Anteckning" not in offer.get_data(as_text=True)
    assert 'name="confirm_another" value="1"' in offer.get_data(as_text=True)  # "Start without it" keeps the answer
    assert start("new_role", confirm_another="1").status_code == 302
    without = start("recruited_need", from_recruitment="0", confirm_another="1")
    assert without.status_code == 302 and "/focus" in without.headers["Location"]
    started = coach.post(f"/people/{pid}/recruitment/plan", data={"csrf_token": token})
    assert started.status_code == 302 and "/focus" in started.headers["Location"]


@pytest.mark.parametrize("lang, heading, question", [
    ("en", "The follow-up meeting", "Which coming conversation do you want to practise on next?"),
    ("sv", "Uppföljningsmötet", "Vilket kommande samtal vill du öva på härnäst?"),
])
def test_follow_up_questions_per_competency_in_the_guide_and_on_the_plan(team, lang, heading, question):
    coach, pid = team["coach"], team["pid"]
    put(coach, pid, {"competencies": [{"competency": LISTEN, "need": "Lyssna."}]})
    plan = coach.post(f"/api/v1/people/{pid}/recruitment/plan").get_json()
    guide = coach.get(f"/plans/{plan['id']}/guide?lang={lang}").get_data(as_text=True)
    assert heading in guide and question in guide
    assert question in coach.get(f"/plans/{plan['id']}?lang={lang}").get_data(as_text=True)


def test_a_framework_without_follow_up_questions_gets_the_three_general_ones(team):
    from core.web.recruitment_pages import follow_up_questions

    app = team["app"]
    plan = {"focus": [{"competency": "acme:none", "name": {"en": "Patience"}}]}
    with app.test_request_context("/?lang=en"):
        blocks = follow_up_questions(plan)
    assert blocks[0]["questions"][0] == "What has happened since we last talked about Patience?"
    assert len(blocks[0]["questions"]) == 3


def test_preparation_keeps_answers_and_refuses_unknown_questions(team):
    coach, emp, pid = team["coach"], team["emp"], team["pid"]
    put(coach, pid, {"competencies": [{"competency": LISTEN, "need": "Lyssna."}]})
    plan = coach.post(f"/api/v1/people/{pid}/recruitment/plan").get_json()
    sheet = emp.get(f"/api/v1/plans/{plan['id']}/preparation?lang=sv").get_json()
    assert sheet["questions"] and all(q["kind"] == "self_reflection" and q["competency"] == LISTEN for q in sheet["questions"])
    first = sheet["questions"][0]["id"]
    r = emp.put(f"/api/v1/plans/{plan['id']}/preparation", json={"answers": [{"question": "nope", "note": "x"}]})
    assert r.status_code == 422 and "answers.0.question" in r.get_json()["errors"]
    r = emp.put(f"/api/v1/plans/{plan['id']}/preparation", json={"answers": [{"question": first, "note": "Mitt svar"}]})
    assert r.status_code == 200 and r.get_json()["answers"][0]["note"] == "Mitt svar" and r.get_json()["version"] == 1
    stale = emp.put(f"/api/v1/plans/{plan['id']}/preparation", json={"version": 0, "answers": [{"question": first, "note": "Ny"}]})
    assert stale.status_code == 409
    too_long = emp.put(f"/api/v1/plans/{plan['id']}/preparation", json={"answers": [{"question": first, "note": "x" * 4001}]})
    assert too_long.status_code == 422 and "answers.0.note" in too_long.get_json()["errors"]
    assert emp.get(f"/api/v1/plans/{plan['id']}/preparation").get_json()["answers"][0]["note"] == "Mitt svar"


def test_the_demo_has_a_recruitment_record_to_start_from(tmp_path):
    from core.demo import seed_demo

    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "demo"), "DEMO": True, "DEMO_DATA_DIR_IS_DATA_DIR": True})
    list(seed_demo(app))
    storage = app.extensions["kbp"].storage
    noor = storage.collection("people").find(email="noor@demo.kbp")[0]
    record = storage.collection("recruitment_records").find(person_id=noor["id"])[0]
    assert [c["need"] != "" for c in record["competencies"]] == [True, False]
    list(seed_demo(app))  # seeding again adds nothing
    assert storage.collection("recruitment_records").count() == 1


def test_a_record_whose_competency_is_no_longer_offered_starts_no_half_plan(team):
    coach, pid = team["coach"], team["pid"]
    put(coach, pid, {"competencies": [{"competency": LISTEN, "need": "Lyssna."}]})
    storage = team["app"].extensions["kbp"].storage
    record = storage.collection("recruitment_records").find(person_id=pid)[0]
    gone = [{**record["competencies"][0], "competency": "kbp-sample:retired-competency"}]
    storage.collection("recruitment_records").update(record["id"], {"competencies": gone})
    r = coach.post(f"/api/v1/people/{pid}/recruitment/plan")
    assert r.status_code == 422 and "retired-competency" in r.get_json()["message"]
    assert storage.collection("plans").count() == 0
