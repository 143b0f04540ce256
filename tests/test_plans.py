"""Development dialogues and plans: the whole flow by API, concurrency, privacy, licence lapse, overview."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

import frameworks.malin_lindelow as lindelow
from core import create_app
from tests.helpers import csrf_token, make_account, make_person, sign_in
from tests.test_lindelow import licensor  # noqa: F401 - fixture

FOCUS = ["kbp-sample:active-listening", "kbp-sample:planning-own-work"]


@pytest.fixture
def world(tmp_path):
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data")})
    coach_p = make_person(app, "Karin Coach")
    emp_p = make_person(app, "Erik Medarbetare", coach_id=coach_p["id"])
    coach = sign_in(app.test_client(), make_account(app, "coach", coach_p))
    employee = sign_in(app.test_client(), make_account(app, "employee", emp_p))
    for c in (coach, employee):
        c.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(c)
    return app, coach, employee, emp_p


def api_flow(client, person_id, focus=FOCUS, situation="new_role"):
    plan = client.post("/api/v1/plans", json={"person_id": person_id, "situation": situation}).get_json()
    plan = client.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "focus": focus}).get_json()
    s = client.get(f"/api/v1/plans/{plan['id']}/suggestions?lang=en").get_json()
    assert s["questions"] and all(q["kind"] == "coaching" for q in s["questions"])
    assert sum(s["kinds"].values()) == len(s["activities"]) and len([k for k, n in s["kinds"].items() if n]) >= 3
    body = {
        "version": plan["version"],
        "questions": [q["id"] for q in s["questions"][:3]],
        "own_questions": [{"text": "Vad behöver du från mig?"}],
        "activities": [{"ref": {"source": a["source"], "id": a["id"]}, "owner": "Erik", "due": "2030-06-30"} for a in s["activities"][:2]]
        + [{"title": "Skugga en erfaren kollega", "description": "En dag i juni.", "kind": "learning_from_others"}],
        "goals": {focus[0]: "Sammanfatta innan jag svarar i varje avstämning."},
        "follow_up_date": "2030-09-01",
    }
    r = client.patch(f"/api/v1/plans/{plan['id']}", json=body)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_the_whole_flow_through_the_api(world):
    app, coach, employee, emp = world
    plan = api_flow(coach, emp["id"])
    assert len(plan["focus"]) == 2 and plan["focus"][0]["goal"].startswith("Sammanfatta")
    assert len(plan["questions"]) == 4 and len(plan["activities"]) == 3
    assert plan["status"] == "draft" and plan["your_role"] == "coach"
    qid = plan["questions"][0]["id"]
    plan = coach.put(f"/api/v1/plans/{plan['id']}/questions/{qid}/note", json={"version": plan["version"], "note": "Vill öva i möten."}).get_json()
    plan = coach.post(f"/api/v1/plans/{plan['id']}/agree", json={"version": plan["version"]}).get_json()
    assert plan["status"] == "draft" and plan["agreed"]["coach"]
    # the employee sees the same plan, agrees, and marks an activity done
    mine = employee.get("/api/v1/plans").get_json()
    assert [p["id"] for p in mine] == [plan["id"]] and mine[0]["your_role"] == "employee"
    plan = employee.post(f"/api/v1/plans/{plan['id']}/agree", json={"version": plan["version"]}).get_json()
    assert plan["status"] == "agreed"
    aid = plan["activities"][0]["id"]
    plan = employee.put(f"/api/v1/plans/{plan['id']}/activities/{aid}/status", json={"version": plan["version"], "status": "done"}).get_json()
    assert plan["progress"] == 33 and plan["status"] == "agreed"  # progress does not undo the agreement
    plan = coach.post(f"/api/v1/plans/{plan['id']}/follow-ups", json={"version": plan["version"], "note": "Bra start.",
                                                                     "next_date": "2030-12-01"}).get_json()
    assert plan["follow_up_date"] == "2030-12-01" and plan["follow_ups"][0]["note"] == "Bra start."
    history = coach.get(f"/api/v1/plans/{plan['id']}/history").get_json()
    assert [h["action"] for h in history] == ["create", "update", "update", "note", "agree", "agree", "activity_status", "follow_up"]
    assert "Bra start" not in str(history) and "Vill öva" not in str(history)  # who, when, which fields: no content
    # changing content after agreement sends it back to draft, to be agreed again
    plan = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "goals": {FOCUS[0]: "Nytt mål"}}).get_json()
    assert plan["status"] == "draft"


def test_bad_input_is_refused_clearly(world):
    app, coach, employee, emp = world
    r = coach.post("/api/v1/plans", json={"person_id": emp["id"], "situation": "holiday"})
    assert r.status_code == 422
    plan = coach.post("/api/v1/plans", json={"person_id": emp["id"], "situation": "new_role"}).get_json()
    too_many = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"],
                                                              "focus": [f"malin-lindelow:{c}" for c in "abcdef"]})
    assert too_many.status_code == 422
    unknown = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "focus": ["kbp-sample:nope"]})
    assert unknown.status_code == 422 and "kbp-sample:nope" in unknown.get_json()["message"]
    bad_date = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "follow_up_date": "31/12/2030"})
    assert bad_date.status_code == 422
    early = coach.post(f"/api/v1/plans/{plan['id']}/agree", json={"version": plan["version"]})
    assert early.status_code == 422
    assert coach.get("/api/v1/plans/nope").status_code == 404
    assert employee.post("/api/v1/plans", json={"person_id": emp["id"], "situation": "new_role"}).status_code == 403


def test_two_tabs_never_silently_lose_an_update(world):
    app, coach, employee, emp = world
    plan = api_flow(coach, emp["id"])
    tab_a = tab_b = plan["version"]
    r = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": tab_a, "goals": {FOCUS[0]: "Från flik A"}})
    assert r.status_code == 200
    r = employee.patch(f"/api/v1/plans/{plan['id']}", json={"version": tab_b, "goals": {FOCUS[0]: "Från flik B"}})
    assert r.status_code == 409 and r.get_json()["code"] == "version_conflict" and r.get_json()["message"]
    assert coach.get(f"/api/v1/plans/{plan['id']}").get_json()["focus"][0]["goal"] == "Från flik A"
    # on the page: the second form is refused with an error (role="alert"), nothing of it is stored,
    # and the person's text stays in the field with the other person's saved text next to it
    page = employee.get(f"/plans/{plan['id']}?lang=en").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    was = {f"was_goal_{FOCUS[0]}": "Från flik A"}
    coach.post(f"/plans/{plan['id']}", data={"version": version, f"goal_{FOCUS[0]}": "Coachens ändring", **was,
                                             "csrf_token": csrf_token(coach)})
    r = employee.post(f"/plans/{plan['id']}", data={"version": version, f"goal_{FOCUS[0]}": "Gammal flik", **was,
                                                     "csrf_token": csrf_token(employee)}, follow_redirects=True)
    body = r.get_data(as_text=True)
    assert r.status_code == 409
    assert 'role="alert"' in body and "Someone else saved this plan" in body
    assert re.search(r'<textarea id="goal_[^"]+"[^>]*>Gammal flik</textarea>', body)  # the person's text, unsaved
    assert re.search(r'Saved meanwhile by someone else:</strong> <span class="theirs">Coachens ändring</span>', body)
    assert coach.get(f"/api/v1/plans/{plan['id']}").get_json()["focus"][0]["goal"] == "Coachens ändring"
    # saving the conflict page puts the person's text on top; "keep the saved text" keeps the other's
    latest = re.search(r'name="version" value="(\d+)"', body).group(1)
    r = employee.post(f"/plans/{plan['id']}", data={"version": latest, f"goal_{FOCUS[0]}": "Gammal flik",
                                                     f"was_goal_{FOCUS[0]}": "Coachens ändring", "csrf_token": csrf_token(employee)})
    assert r.status_code == 302
    assert coach.get(f"/api/v1/plans/{plan['id']}").get_json()["focus"][0]["goal"] == "Gammal flik"


def test_self_reflection_notes_private_until_shared(world):
    app, coach, employee, emp = world
    plan = employee.post("/api/v1/plans", json={"person_id": emp["id"], "situation": "grow_further", "mode": "self_reflection"}).get_json()
    plan = employee.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "focus": FOCUS[:1]}).get_json()
    s = employee.get(f"/api/v1/plans/{plan['id']}/suggestions").get_json()
    assert s["questions"] and all(q["kind"] == "self_reflection" for q in s["questions"])
    plan = employee.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "questions": [q["id"] for q in s["questions"][:2]]}).get_json()
    q1, q2 = (q["id"] for q in plan["questions"])
    plan = employee.put(f"/api/v1/plans/{plan['id']}/questions/{q1}/note", json={"version": plan["version"], "note": "Hemlig tanke"}).get_json()
    plan = employee.put(f"/api/v1/plans/{plan['id']}/questions/{q2}/note", json={"version": plan["version"], "note": "Delad tanke", "shared": True}).get_json()
    seen = coach.get(f"/api/v1/plans/{plan['id']}").get_json()
    notes = {q["id"]: q["note"] for q in seen["questions"]}
    assert notes == {q1: "", q2: "Delad tanke"}
    assert "Hemlig tanke" not in coach.get(f"/plans/{plan['id']}").get_data(as_text=True)
    assert "Hemlig tanke" not in coach.get(f"/plans/{plan['id']}/questions").get_data(as_text=True)
    assert "Hemlig tanke" not in coach.get(f"/plans/{plan['id']}/guide").get_data(as_text=True)
    assert coach.put(f"/api/v1/plans/{plan['id']}/questions/{q1}/note", json={"version": plan["version"], "note": "x"}).status_code == 403
    plan = employee.put(f"/api/v1/plans/{plan['id']}/questions/{q1}/note", json={"version": plan["version"], "note": "Hemlig tanke", "shared": True}).get_json()
    assert "Hemlig tanke" in str(coach.get(f"/api/v1/plans/{plan['id']}").get_json())


def test_plan_stays_readable_after_the_licence_lapses(licensor, world, tmp_path):  # noqa: F811
    app, coach, employee, emp = world
    reg = app.extensions["kbp"].registry
    assert reg.entitlements.install(reg.frameworks["malin-lindelow"], licensor()).ok
    plan = api_flow(coach, emp["id"], focus=["malin-lindelow:ledarskap", "malin-lindelow:tydlig"])
    name_sv = plan["focus"][0]["name"]["sv"]
    activity_title = plan["activities"][0]["title"]["en"]
    assert reg.entitlements.store.remove("malin_lindelow")  # the licence is removed (file or database)
    assert coach.get("/api/v1/frameworks/malin-lindelow").status_code == 403
    again = coach.get(f"/api/v1/plans/{plan['id']}").get_json()
    assert again["focus"][0]["name"]["sv"] == name_sv == "Ledarskap"
    assert again["activities"][0]["title"]["en"] == activity_title
    page = coach.get(f"/plans/{plan['id']}?lang=en").get_data(as_text=True)
    assert "Leadership" in page and activity_title in page
    guide = coach.get(f"/plans/{plan['id']}/guide?lang=sv").get_data(as_text=True)
    assert "Ledarskap" in guide and plan["questions"][0]["text"]["sv"] in guide


def test_overview_lists_what_needs_follow_up(world):
    app, coach, employee, emp = world
    plan = api_flow(coach, emp["id"])
    past = (date.today() - timedelta(days=3)).isoformat()
    items = [{"id": a["id"], "due": past if i == 0 else a["due"]} for i, a in enumerate(plan["activities"])]
    plan = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "activities": items}).get_json()
    assert plan["overdue"] == 1
    assert [p["id"] for p in coach.get("/api/v1/plans?overdue=true").get_json()] == [plan["id"]]
    assert coach.get(f"/api/v1/plans?competency={FOCUS[0]}").get_json() and not coach.get("/api/v1/plans?competency=kbp-sample:learning-from-mistakes").get_json()
    page = coach.get("/plans?lang=en").get_data(as_text=True)
    assert "Needs your attention" in page and "1 activity is overdue" in page and "Erik Medarbetare" in page
    filtered = coach.get("/plans?overdue=1&status=agreed&lang=en").get_data(as_text=True)
    assert "No plans yet." in filtered


def test_web_flow_in_swedish(world):
    app, coach, employee, emp = world
    tok = lambda: csrf_token(coach)
    r = coach.post("/plans/new", data={"person_id": emp["id"], "situation": "role_changes", "csrf_token": tok()})
    plan_url = r.headers["Location"].rsplit("/", 1)[0]
    page = coach.get(r.headers["Location"] + "?lang=sv").get_data(as_text=True)
    assert "Välj 1–5 fokuskompetenser" in page and "Aktivt lyssnande" in page  # definitions shown with the names
    version = lambda url: re.search(r'name="version" value="(\d+)"', coach.get(url).get_data(as_text=True)).group(1)
    coach.post(plan_url + "/focus", data={"focus": FOCUS[:1], "version": version(plan_url + "/focus"), "csrf_token": tok()})
    page = coach.get(plan_url + "/questions").get_data(as_text=True)
    qids = re.findall(r'name="question" value="([^"]+)"', page)
    coach.post(plan_url + "/questions", data={"question": qids[:2], "version": version(plan_url + "/questions"), "csrf_token": tok()})
    page = coach.get(plan_url + "/activities").get_data(as_text=True)
    picks = re.findall(r'name="pick" value="([^"]+)"', page)
    assert "Fördelning av valda aktiviteter" in page
    coach.post(plan_url + "/activities", data={"pick": picks[:2], "new_title": "Egen aktivitet", "version": version(plan_url + "/activities"),
                                                "csrf_token": tok()})
    page = coach.get(plan_url).get_data(as_text=True)
    assert "Utvecklingsplan för Erik Medarbetare" in page and "Egen aktivitet" in page and "Rollen förändras" in page
    guide = coach.get(plan_url + "/guide").get_data(as_text=True)
    assert "Samtalsguide" in guide and 'href="/static/print.css"' in guide


def test_erasing_a_person_removes_their_plans(world):
    app, coach, employee, emp = world
    plan = api_flow(coach, emp["id"])
    admin = sign_in(app.test_client(), make_account(app, "admin"))
    r = admin.delete(f"/api/v1/people/{emp['id']}", headers={"X-CSRFToken": csrf_token(admin)})
    assert r.status_code == 200 and r.get_json()["erased"]["plans"] == 1
    storage = app.extensions["kbp"].storage
    assert storage.collection("plans").get(plan["id"]) is None
    assert storage.collection("plan_history").find(plan_id=plan["id"]) == []
