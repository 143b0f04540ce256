"""Issue 18 on the server, without JavaScript: the start page per role (data from
core.services.start), what the plan pages keep when they refuse a form, the language switch, and
the *Needs your attention* list that no longer runs together."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from core import plans
from core.auth import Account
from core.services import plan_edits
from core.services import start as start_service
from tests.helpers import csrf_token, make_account, make_person, plain_client, sign_in

FOCUS = ["kbp-sample:active-listening", "kbp-sample:sharing-knowledge"]


def acting(account) -> Account:
    return Account(account["id"], account["username"], account["role"], account["person_id"])


def make_plan(app, coach_account, person, *, focus=FOCUS[:1], activities=(), follow_up=None, agree=()) -> dict:
    storage = app.extensions["kbp"].storage
    registry = app.extensions["kbp"].registry
    with app.test_request_context():
        snap = plans.Snapshotter(registry, ["sv", "en"])
        coach = acting(coach_account)
        plan = plans.create_plan(storage, snap, coach, person["id"], "new_role", "coaching")

        def fill(p, rel):
            plans.set_focus(p, snap, list(focus))
            plans.set_activities(p, snap, registry, [{"title": title, "description": "Gör.", "due": due} for title, due in activities])
            plans.set_goals(p, {}, follow_up)
            for role in agree:
                p["agreed"][role] = 1.0
            return ["focus"]

        return plans.change(storage, coach, plan["id"], None, "update", fill)


@pytest.fixture
def team(app):
    coach_p = make_person(app, "Cecilia Coach")
    with_plan = make_person(app, "Per Plan", coach_id=coach_p["id"])
    without = make_person(app, "Ulla Utan", coach_id=coach_p["id"])
    other_p = make_person(app, "Otto Annan")
    accounts = {"coach": make_account(app, "coach", coach_p), "employee": make_account(app, "employee", with_plan),
                "other": make_account(app, "coach", other_p), "admin": make_account(app, "admin")}
    late = (date.today() - timedelta(days=3)).isoformat()
    soon = (date.today() + timedelta(days=5)).isoformat()
    later = (date.today() + timedelta(days=40)).isoformat()
    plan = make_plan(app, accounts["coach"], with_plan, activities=[("Skugga en kollega", late), ("Läs en bok", later)],
                     follow_up=soon, agree=("employee",))
    return {"app": app, "accounts": accounts, "plan": plan, "with_plan": with_plan, "without": without, "soon": soon}


def page(app, account, url) -> str:
    response = sign_in(plain_client(app), account).get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def test_start_page_data_per_role(team):
    app, accounts = team["app"], team["accounts"]
    storage = app.extensions["kbp"].storage
    coach = start_service.start_page(storage, acting(accounts["coach"]))["coach"]
    assert [p["name"] for p in coach["without_plan"]] == ["Ulla Utan"]
    assert [p["id"] for p in coach["follow_ups"]] == [team["plan"]["id"]]
    assert [p["id"] for p in coach["waiting"]] == [team["plan"]["id"]]  # the employee confirmed, the coach not yet
    assert [(row["name"], [a["title"]["_"] for item in row["plans"] for a in item["activities"]]) for row in coach["overdue"]] == [
        ("Per Plan", ["Skugga en kollega"])]
    employee = start_service.start_page(storage, acting(accounts["employee"]))
    assert employee["coach"] is None
    emp = employee["employee"]
    assert emp["waiting"] == []  # they confirmed already
    assert [item["activity"]["title"]["_"] for item in emp["activities"]] == ["Skugga en kollega", "Läs en bok"]
    assert emp["activities"][0]["overdue"] and not emp["activities"][1]["overdue"]
    assert emp["next_follow_up"]["follow_up_date"] == team["soon"]
    other = start_service.start_page(storage, acting(accounts["other"]))["coach"]
    assert other["without_plan"] == other["follow_ups"] == other["waiting"] == other["overdue"] == []


def test_start_pages_show_each_role_what_is_due(team):
    app, accounts = team["app"], team["accounts"]
    coach = page(app, accounts["coach"], "/start?lang=en")
    assert "Development dialogues to hold" in coach and "Ulla Utan" in coach
    assert f'href="/plans/new?person={team["without"]["id"]}"' in coach
    assert "Start a dialogue with Ulla Utan" in coach and "Skugga en kollega" in coach
    employee = page(app, accounts["employee"], "/start?lang=sv")
    assert "Mina närmaste aktiviteter" in employee and "Skugga en kollega" in employee and "försenad" in employee
    assert "Utvecklingsdialoger att hålla" not in employee and "Ulla Utan" not in employee
    other = page(app, accounts["other"], "/start?lang=en")
    assert "Per Plan" not in other and "Ulla Utan" not in other and "Skugga en kollega" not in other
    admin = page(app, accounts["admin"], "/start?lang=en")
    assert 'href="/overview"' in admin and "Per Plan" not in admin
    assert 'href="/overview"' not in coach


def test_sign_in_lands_on_the_start_page(team):
    app, accounts = team["app"], team["accounts"]
    client = plain_client(app)
    token = csrf_token(client)
    response = client.post("/login", data={"username": accounts["coach"]["username"], "password": "correct horse battery",
                                           "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/start"


def test_person_page_links_to_plans_and_starts_a_dialogue_asking_before_a_second(team):
    app, accounts = team["app"], team["accounts"]
    person = team["with_plan"]
    body = page(app, accounts["coach"], f"/people/{person['id']}?lang=en")
    assert f'href="/plans?person={person["id"]}"' in body and f'href="/plans/new?person={person["id"]}"' in body
    assert "/plans/new" not in page(app, accounts["admin"], f"/people/{person['id']}?lang=en")  # not their coachee
    client = sign_in(plain_client(app), accounts["coach"])
    form = {"person_id": person["id"], "situation": "grow_further", "csrf_token": csrf_token(client)}
    asked = client.post("/plans/new?lang=en", data=form)
    assert asked.status_code == 200 and "already has an open development plan" in asked.get_data(as_text=True)
    assert len(app.extensions["kbp"].storage.collection("plans").find(person_id=person["id"])) == 1
    started = client.post("/plans/new", data={**form, "confirm_another": "1"})
    assert started.status_code == 302
    assert len(app.extensions["kbp"].storage.collection("plans").find(person_id=person["id"])) == 2
    fresh = client.post("/plans/new", data={**form, "person_id": team["without"]["id"]})
    assert fresh.status_code == 302  # nobody to ask about


def test_activity_owners_are_offered_from_the_two_people_of_the_plan(team):
    body = page(team["app"], team["accounts"]["coach"], f"/plans/{team['plan']['id']}?lang=en")
    datalist = re.search(r'<datalist id="owner-choices">(.*?)</datalist>', body).group(1)
    assert re.findall(r'value="([^"]+)"', datalist) == ["Per Plan", "Cecilia Coach"]
    assert 'list="owner-choices"' in body


def test_needs_your_attention_does_not_run_together(team):
    body = page(team["app"], team["accounts"]["coach"], "/plans?lang=sv")
    item = re.search(r'<section class="overview" aria-labelledby="attention">(.*?)</section>', body, re.S).group(1)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", item))
    assert re.search(r"1 aktivitet är försenad · uppföljning", text), text


# ----------------------------------------------------------------------------- forms that keep what was typed (no JavaScript)


def post(client, url, data):
    return client.post(url, data={**data, "csrf_token": csrf_token(client)})


def test_a_sixth_focus_competency_is_refused_and_the_choice_kept(app):
    """Without JavaScript the server refuses 6 and shows the page with the 6 still ticked."""
    registry = app.extensions["kbp"].registry
    registry.entitlements.demo_mode = True  # enough competencies: the Lindelöw demo licence
    registry.entitlements.install_demo(registry.frameworks["malin-lindelow"])
    coach_p = make_person(app, "C")
    person = make_person(app, "P", coach_id=coach_p["id"])
    coach = make_account(app, "coach", coach_p)
    plan = make_plan(app, coach, person)
    client = sign_in(plain_client(app), coach)
    six = sorted(g for g in registry.competencies if g.startswith("malin-lindelow:"))[:6]
    assert len(six) == 6
    response = client.post(f"/plans/{plan['id']}/focus?lang=en",
                           data={"focus": six, "version": str(plan["version"]), "csrf_token": csrf_token(client)})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and 'role="alert"' in body
    assert all(re.search(rf'value="{re.escape(g)}" checked', body) for g in six)
    assert [f["competency"] for f in app.extensions["kbp"].storage.collection("plans").get(plan["id"])["focus"]] == FOCUS[:1]


def test_agree_refuses_unsaved_changes_and_keeps_them(team):
    app, plan = team["app"], team["plan"]
    client = sign_in(plain_client(app), team["accounts"]["coach"])
    body = client.get(f"/plans/{plan['id']}?lang=en").get_data(as_text=True)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))
    goal = f"goal_{FOCUS[0]}"
    response = post(client, f"/plans/{plan['id']}/agree?lang=en", {**form, goal: "Ett nytt mål", "note": "Anteckning"})
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "not saved yet" in text and 'role="alert"' in text
    assert ">Ett nytt mål</textarea>" in text and ">Anteckning</textarea>" in text
    stored = app.extensions["kbp"].storage.collection("plans").get(plan["id"])
    assert not stored["agreed"]["coach"] and stored["focus"][0].get("goal", "") == ""
    response = post(client, f"/plans/{plan['id']}/agree", form)  # nothing unsaved: agreed
    assert response.status_code == 302
    assert app.extensions["kbp"].storage.collection("plans").get(plan["id"])["status"] == "agreed"


def test_one_save_covers_goals_and_the_follow_up_note_and_returns_to_the_field(team):
    app, plan = team["app"], team["plan"]
    client = sign_in(plain_client(app), team["accounts"]["coach"])
    body = client.get(f"/plans/{plan['id']}").get_data(as_text=True)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))
    response = post(client, f"/plans/{plan['id']}", {**form, f"goal_{FOCUS[0]}": "Mål", "note": "Vi sågs.",
                                                     "return_to": f"goal_{FOCUS[0]}"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/plans/{plan['id']}#goal_{FOCUS[0]}")
    stored = app.extensions["kbp"].storage.collection("plans").get(plan["id"])
    assert stored["focus"][0]["goal"] == "Mål" and [f["note"] for f in stored["follow_ups"]] == ["Vi sågs."]


def test_a_step_link_after_unsaved_input_goes_on_after_saving_and_only_to_a_local_page(team):
    app, plan = team["app"], team["plan"]
    client = sign_in(plain_client(app), team["accounts"]["coach"])
    version = str(plan["version"])
    response = post(client, f"/plans/{plan['id']}/questions", {"version": version, "own_new": "Egen fråga?",
                                                               "goto": f"/plans/{plan['id']}/activities"})
    assert response.headers["Location"] == f"/plans/{plan['id']}/activities"
    stored = app.extensions["kbp"].storage.collection("plans").get(plan["id"])
    response = post(client, f"/plans/{plan['id']}/questions", {"version": str(stored["version"]), "goto": "https://evil.example/"})
    assert response.headers["Location"] == f"/plans/{plan['id']}/questions"


def test_a_note_written_for_an_unticked_question_chooses_it(team):
    app, plan = team["app"], team["plan"]
    registry = app.extensions["kbp"].registry
    qid = registry.questions_for(FOCUS[0], "coaching")[1][1].id
    client = sign_in(plain_client(app), team["accounts"]["coach"])
    body = client.get(f"/plans/{plan['id']}/questions").get_data(as_text=True)
    assert len(re.findall(r'<textarea id="note_', body)) == len(registry.questions_for(FOCUS[0], "coaching"))
    post(client, f"/plans/{plan['id']}/questions", {"version": str(plan["version"]), f"note_{qid}": "Skrivet direkt."})
    stored = app.extensions["kbp"].storage.collection("plans").get(plan["id"])
    assert [(q["id"], q["note"]) for q in stored["questions"]] == [(qid, "Skrivet direkt.")]


def test_the_language_switch_stays_on_the_page(team):
    body = page(team["app"], team["accounts"]["coach"], "/plans?status=draft&lang=en")
    languages = re.search(r'<nav class="languages".*?</nav>', body, re.S).group(0)
    assert 'href="/plans?status=draft&amp;lang=sv"' in languages
    body = page(team["app"], team["accounts"]["coach"], f"/plans/{team['plan']['id']}/questions?lang=sv")
    assert f'href="/plans/{team["plan"]["id"]}/questions?lang=en"' in body


def test_merge_keeps_mine_takes_theirs_and_shows_both_where_both_changed():
    stored = {"focus": [{"competency": "a", "goal": "theirs"}, {"competency": "b", "goal": "their b"},
                        {"competency": "c", "goal": "same"}],
              "activities": [], "follow_up_date": None}
    form = {"goal_a": "mine", "was_goal_a": "base", "goal_b": "base b", "was_goal_b": "base b",
            "goal_c": "mine c", "was_goal_c": "same", "follow_up_date": "", "was_follow_up_date": "", "note": "kept"}
    values, conflicts = plan_edits.merge(stored, form)
    assert values["goal_a"] == "mine" and conflicts == {"goal_a": "theirs"}
    assert values["goal_b"] == "their b" and values["goal_c"] == "mine c" and values["note"] == "kept"
    assert plan_edits.typed_fields(stored, {**form, "keep_saved_goal_a": "1"})["goal_a"] == "theirs"


def test_a_conflict_on_the_questions_page_keeps_ticks_notes_and_own_questions(team):
    app, plan = team["app"], team["plan"]
    registry = app.extensions["kbp"].registry
    qids = [q.id for _qs, q in registry.questions_for(FOCUS[0], "coaching")]
    client = sign_in(plain_client(app), team["accounts"]["coach"])
    stale = str(plan["version"])
    post(client, f"/plans/{plan['id']}", {"version": stale, "follow_up_date": "2031-01-01"})  # someone saves first
    response = post(client, f"/plans/{plan['id']}/questions?lang=en", {
        "version": stale, "question": qids[0], f"note_{qids[1]}": "Min anteckning", "own_new": "Min egen fråga?"})
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and 'role="alert"' in body
    assert f'value="{qids[0]}" checked' in body and f'value="{qids[1]}" checked' in body  # ticked, and chosen by its note
    assert ">Min anteckning</textarea>" in body and 'value="Min egen fråga?"' in body
    assert app.extensions["kbp"].storage.collection("plans").get(plan["id"])["questions"] == []


def test_a_conflict_on_the_activities_page_keeps_picks_and_the_written_activity(team):
    app, plan = team["app"], team["plan"]
    client = sign_in(plain_client(app), team["accounts"]["coach"])
    body = client.get(f"/plans/{plan['id']}/activities").get_data(as_text=True)
    pick = re.findall(r'name="pick" value="([^"]+)"', body)[0]
    stale = str(plan["version"])
    post(client, f"/plans/{plan['id']}", {"version": stale, "follow_up_date": "2031-01-01"})  # someone saves first
    response = post(client, f"/plans/{plan['id']}/activities?lang=en", {
        "version": stale, "pick": pick, "keep": plan["activities"][0]["id"], "new_title": "Mitt nya förslag",
        "new_description": "Så här gör vi."})
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and 'role="alert"' in body
    assert f'value="{pick}" checked' in body and 'value="Mitt nya förslag"' in body and ">Så här gör vi.</textarea>" in body
    assert f'name="keep" value="{plan["activities"][1]["id"]}" checked' not in body  # unticked stays unticked
    assert len(app.extensions["kbp"].storage.collection("plans").get(plan["id"])["activities"]) == 2
