"""Authorization and privacy rules for plans and people (issue 12, items 1–6; issue 24, items 3 and 5).

* plan access follows the person's *current* coach;
* private self-reflection notes are in the person's own export, not in an admin's;
* erase leaves nothing of the person readable in any file of the data folder (logs included);
* agreement is recorded for the caller's own role only;
* a coach can neither see, change nor remove the employee's private items;
* one coaching-cycle rule for the API, the pages, the CSV import and the CLI.
"""
from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from core import create_app
from core.cli import main
from tests.conftest import BACKEND
from tests.helpers import csrf_token, data_folder_files, files_containing, make_account, make_person, sign_in

FOCUS = ["kbp-sample:active-listening", "kbp-sample:planning-own-work"]


def client_for(app, account):
    c = sign_in(app.test_client(), account)
    c.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(c)
    return c


@pytest.fixture
def org(tmp_path):
    """Two coaches, an employee coached by the first, an admin; everyone signed in."""
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "DEFAULT_LOCALE": "en"})
    old_p = make_person(app, "Olga Tidigarecoach")
    new_p = make_person(app, "Nils Nycoach")
    emp_p = make_person(app, "Erik Medarbetare", coach_id=old_p["id"])
    old_a, new_a, emp_a = (make_account(app, "coach", old_p), make_account(app, "coach", new_p),
                           make_account(app, "employee", emp_p))
    admin_a = make_account(app, "admin")
    return {"app": app, "old": client_for(app, old_a), "new": client_for(app, new_a), "emp": client_for(app, emp_a),
            "admin": client_for(app, admin_a), "old_p": old_p, "new_p": new_p, "emp_p": emp_p,
            "old_a": old_a, "new_a": new_a, "emp_a": emp_a, "data": Path(tmp_path / "data")}


def coaching_plan(coach, person_id, follow_up=None):
    plan = coach.post("/api/v1/plans", json={"person_id": person_id, "situation": "new_role"}).get_json()
    plan = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "focus": FOCUS[:1]}).get_json()
    s = coach.get(f"/api/v1/plans/{plan['id']}/suggestions").get_json()
    body = {"version": plan["version"], "questions": [q["id"] for q in s["questions"][:2]],
            "activities": [{"ref": {"source": s["activities"][0]["source"], "id": s["activities"][0]["id"]}}],
            "follow_up_date": follow_up or "2030-09-01"}
    r = coach.patch(f"/api/v1/plans/{plan['id']}", json=body)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def self_reflection(emp, person_id, private_note="Hemlig reflektion om min chef", shared_note="Delad reflektion"):
    """A self-reflection with one private and one shared note, a private own question, an activity."""
    plan = emp.post("/api/v1/plans", json={"person_id": person_id, "situation": "grow_further", "mode": "self_reflection"}).get_json()
    assert plan.get("id"), plan
    plan = emp.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "focus": FOCUS[:1]}).get_json()
    s = emp.get(f"/api/v1/plans/{plan['id']}/suggestions").get_json()
    plan = emp.patch(f"/api/v1/plans/{plan['id']}", json={
        "version": plan["version"], "questions": [q["id"] for q in s["questions"][:2]],
        "own_questions": [{"text": "Egen hemlig fråga om lönen?"}],
        "activities": [{"title": "Läsa en bok"}]}).get_json()
    q_private, q_shared, q_own = (q["id"] for q in plan["questions"])
    plan = emp.put(f"/api/v1/plans/{plan['id']}/questions/{q_private}/note", json={"version": plan["version"], "note": private_note}).get_json()
    plan = emp.put(f"/api/v1/plans/{plan['id']}/questions/{q_shared}/note",
                   json={"version": plan["version"], "note": shared_note, "shared": True}).get_json()
    plan = emp.put(f"/api/v1/plans/{plan['id']}/questions/{q_own}/note", json={"version": plan["version"], "note": "Egen hemlig anteckning"}).get_json()
    return plan, q_private, q_shared, q_own


# ----------------------------------------------------------------------------- 1. access follows the current coach


def test_plan_access_follows_the_persons_current_coach(org):
    old, new, emp, admin = org["old"], org["new"], org["emp"], org["admin"]
    soon = (date.today() + timedelta(days=3)).isoformat()
    coaching = coaching_plan(old, org["emp_p"]["id"], follow_up=soon)
    reflection, _qp, q_shared, _qo = self_reflection(emp, org["emp_p"]["id"])
    assert old.get(f"/api/v1/plans/{reflection['id']}").status_code == 200  # the coach sees the shared part today
    assert "Erik Medarbetare" in old.get("/plans?lang=en").get_data(as_text=True)

    r = admin.patch(f"/api/v1/people/{org['emp_p']['id']}", json={"coach_id": org["new_p"]["id"]})
    assert r.status_code == 200

    # the former coach: nothing, as for a plan that does not exist
    for plan in (coaching, reflection):
        pid = plan["id"]
        assert old.get(f"/api/v1/plans/{pid}").status_code == 404
        assert old.get(f"/api/v1/plans/{pid}/history").status_code == 404
        assert old.get(f"/api/v1/plans/{pid}/export/plan-json").status_code == 404
        assert old.patch(f"/api/v1/plans/{pid}", json={"version": 99, "goals": {FOCUS[0]: "x"}}).status_code == 404
        assert old.get(f"/plans/{pid}").status_code == 404
    assert old.put(f"/api/v1/plans/{reflection['id']}/questions/{q_shared}/note",
                   json={"version": reflection["version"], "note": "x"}).status_code == 404
    assert old.get("/api/v1/plans").get_json() == []
    page = old.get("/plans?lang=en").get_data(as_text=True)
    assert "Erik Medarbetare" not in page and "Needs your attention" not in page

    # the new coach: the plans, the list and the "needs attention" overview
    seen = new.get(f"/api/v1/plans/{coaching['id']}").get_json()
    assert seen["your_role"] == "coach" and seen["coach_id"] == org["new_p"]["id"]  # the recorded coach follows
    assert {p["id"] for p in new.get("/api/v1/plans").get_json()} == {coaching["id"], reflection["id"]}
    r = new.patch(f"/api/v1/plans/{coaching['id']}", json={"version": seen["version"], "goals": {FOCUS[0]: "Nytt mål"}})
    assert r.status_code == 200
    page = new.get("/plans?lang=en").get_data(as_text=True)
    assert "Needs your attention" in page and "Erik Medarbetare" in page
    # the history keeps who did what, including the change of coach
    history = new.get(f"/api/v1/plans/{coaching['id']}/history").get_json()
    assert org["old_a"]["id"] in {h["by"] for h in history}
    assert any(h["action"] == "coach_change" for h in history)


def test_access_never_relies_on_the_coach_recorded_in_the_plan(org):
    """Plans whose recorded coach is out of date (data from before this rule, or a crash between
    the person's update and the plans') still follow the person record."""
    old, new = org["old"], org["new"]
    plan = coaching_plan(old, org["emp_p"]["id"])
    org["app"].extensions["kbp"].storage.collection("people").update(org["emp_p"]["id"], {"coach_id": org["new_p"]["id"]})
    assert org["app"].extensions["kbp"].storage.collection("plans").get(plan["id"])["coach_id"] == org["old_p"]["id"]
    assert old.get(f"/api/v1/plans/{plan['id']}").status_code == 404
    assert old.get("/api/v1/plans").get_json() == []
    assert new.get(f"/api/v1/plans/{plan['id']}").get_json()["your_role"] == "coach"


def test_a_coach_change_by_csv_import_moves_access_too(org):
    old, new, admin = org["old"], org["new"], org["admin"]
    plan = coaching_plan(old, org["emp_p"]["id"])
    csv_text = f"name,email,coach_email\nErik Medarbetare,{org['emp_p']['email']},{org['new_p']['email']}\n"
    r = admin.post("/api/v1/people/import?dry_run=false", data=csv_text, content_type="text/csv")
    assert r.status_code == 200, r.get_json()
    assert old.get(f"/api/v1/plans/{plan['id']}").status_code == 404
    assert new.get(f"/api/v1/plans/{plan['id']}").get_json()["coach_id"] == org["new_p"]["id"]


# ----------------------------------------------------------------------------- 2. private notes in exports


def test_admin_export_leaves_out_private_notes_and_the_persons_own_export_has_them(org):
    emp, admin = org["emp"], org["admin"]
    self_reflection(emp, org["emp_p"]["id"])
    pid = org["emp_p"]["id"]
    for url in (f"/api/v1/people/{pid}/export", f"/people/{pid}/export"):
        r = admin.get(url)
        assert r.status_code == 200, url
        body = r.get_data(as_text=True)
        assert "Delad reflektion" in body, url
        for secret in ("Hemlig reflektion", "Egen hemlig anteckning", "Egen hemlig fråga"):
            assert secret not in body, (url, secret)
        assert json.loads(body)["private_notes"] == "excluded"
    for url in ("/api/v1/me/export", "/me/export"):
        r = emp.get(url)
        assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"], url
        data = json.loads(r.get_data(as_text=True))
        body = json.dumps(data, ensure_ascii=False)
        assert data["person_id"] == pid and data["private_notes"] == "included"
        for text in ("Hemlig reflektion", "Egen hemlig anteckning", "Egen hemlig fråga", "Delad reflektion"):
            assert text in body, (url, text)
    assert 'href="/me/export"' in emp.get("/me").get_data(as_text=True)
    assert "leaves out the person's private self-reflection notes" in admin.get(f"/people/{pid}?lang=en").get_data(as_text=True)
    # a coach's own export has their own data, never their coachee's private notes
    coach_export = org["old"].get("/api/v1/me/export").get_data(as_text=True)
    assert org["old_p"]["id"] in coach_export and "Hemlig reflektion" not in coach_export
    # an account without a person gets its account data
    nobody_account = make_account(org["app"], "admin")
    nobody = client_for(org["app"], nobody_account)
    from core import auth

    lone = auth.create_account(org["app"].extensions["kbp"].storage, username="lone@example.test",
                               password="correct horse battery", role="employee")
    alone = client_for(org["app"], lone).get("/api/v1/me/export").get_json()
    assert alone["person_id"] is None and [a["id"] for a in alone["records"]["accounts"]] == [lone["id"]]
    assert "password_hash" not in alone["records"]["accounts"][0]
    assert nobody.get("/api/v1/me/export").get_json()["person_id"] == nobody_account["person_id"]


def test_organisations_can_let_admin_exports_include_private_notes(tmp_path):
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "ADMIN_EXPORT_PRIVATE_NOTES": True})
    emp_p = make_person(app, "Ella Anställd")
    emp = client_for(app, make_account(app, "employee", emp_p))
    admin = client_for(app, make_account(app, "admin"))
    self_reflection(emp, emp_p["id"])
    data = admin.get(f"/api/v1/people/{emp_p['id']}/export").get_json()
    assert data["private_notes"] == "included" and "Hemlig reflektion" in json.dumps(data, ensure_ascii=False)


# ----------------------------------------------------------------------------- 3. erase leaves nothing on disk


def assert_gone(data_dir: Path, needles) -> None:
    files = data_folder_files(data_dir)
    assert any(name.endswith(".json.log") for name in files)  # the logs are read too
    leftovers = {needle: files_containing(data_dir, needle) for needle in needles}
    assert not any(leftovers.values()), leftovers
    assert not [name for name in files if name.endswith(".tmp") or "replaced" in name], sorted(files)


@pytest.mark.embedded_only  # about the files of the data folder
def test_erase_leaves_nothing_of_the_person_in_any_file_of_the_data_folder(org):
    app, emp, admin, old = org["app"], org["emp"], org["admin"], org["old"]
    person, account = org["emp_p"], org["emp_a"]
    plan = coaching_plan(old, person["id"])
    old.post(f"/api/v1/plans/{plan['id']}/follow-ups", json={"version": plan["version"], "note": "Uppföljning om Eriks stress"})
    self_reflection(emp, person["id"], private_note="Privat anteckning Zebrafink")
    token = emp.post("/api/v1/me/tokens", json={"name": "mitt skript"}).get_json()
    admin.patch(f"/api/v1/people/{person['id']}", json={"unit": "Enheten Gökotta"})
    admin.get(f"/api/v1/people/{person['id']}/export")
    needles = [person["name"], person["email"], person["id"], account["id"], token["id"], "Privat anteckning Zebrafink",
               "Uppföljning om Eriks stress", "Egen hemlig fråga", "Enheten Gökotta", "Delad reflektion"]
    assert all(files_containing(org["data"], n) for n in needles[:5])  # before: all there
    r = admin.delete(f"/api/v1/people/{person['id']}")
    assert r.status_code == 200
    assert_gone(org["data"], needles)
    # still a working app: others' data is intact
    assert admin.get(f"/api/v1/people/{org['old_p']['id']}").status_code == 200
    assert files_containing(org["data"], org["old_p"]["name"])


@pytest.mark.embedded_only  # about the files of the data folder
def test_erase_from_the_page_leaves_nothing_either(org):
    admin, person = org["admin"], org["emp_p"]
    self_reflection(org["emp"], person["id"], private_note="Sidans hemliga anteckning")
    r = admin.post(f"/people/{person['id']}/erase", data={"confirm": person["email"], "csrf_token": csrf_token(admin)})
    assert r.status_code == 302
    assert_gone(org["data"], [person["name"], person["email"], person["id"], org["emp_a"]["id"], "Sidans hemliga anteckning"])


def test_erasing_a_coach_leaves_their_ids_nowhere_and_anonymises_the_audit(org):
    app, old, admin, emp = org["app"], org["old"], org["admin"], org["emp"]
    coach_p, coach_a = org["old_p"], org["old_a"]
    plan = coaching_plan(old, org["emp_p"]["id"])
    plan = old.post(f"/api/v1/plans/{plan['id']}/follow-ups", json={"version": plan["version"], "note": "Bra möte"}).get_json()
    old.post(f"/api/v1/plans/{plan['id']}/agree", json={"version": plan["version"]})
    old.post("/api/v1/me/tokens", json={"name": "coach script"})
    admin.patch(f"/api/v1/people/{coach_p['id']}", json={"job_title": "Gruppchef"})
    storage = app.extensions["kbp"].storage
    about = [e["id"] for e in storage.collection("audit").all()
             if e["actor"] == coach_a["id"] or e["subject_id"] in (coach_p["id"], coach_a["id"])]
    assert len(about) >= 3  # created the plan, a token, was updated

    assert admin.delete(f"/api/v1/people/{coach_p['id']}").status_code == 200

    kept = emp.get(f"/api/v1/plans/{plan['id']}").get_json()
    assert kept["coach_id"] is None and kept["follow_ups"][0]["note"] == "Bra möte"
    history = emp.get(f"/api/v1/plans/{plan['id']}/history").get_json()
    assert coach_a["id"] not in json.dumps(history) and coach_p["id"] not in json.dumps(history)
    assert any(h["by"].startswith("erased-") for h in history)
    entries = {e["id"]: e for e in storage.collection("audit").all()}
    for entry_id in about:  # the entries about the coach, not the erase entry itself
        entry = entries[entry_id]
        assert entry["action"] != "erase"
        assert coach_a["id"] not in (entry["actor"], entry["subject_id"]) and coach_p["id"] != entry["subject_id"]
        assert entry["actor"].startswith("erased-") or str(entry["subject_id"]).startswith("erased-")
    if BACKEND == "embedded":  # the files of the data folder; PostgreSQL: see the README on erase
        assert_gone(org["data"], [coach_p["name"], coach_p["email"], coach_p["id"], coach_a["id"], "Gruppchef"])


# ----------------------------------------------------------------------------- 4. agreement for one's own role only


def test_agreement_is_recorded_for_the_callers_own_role_only(org):
    old, emp = org["old"], org["emp"]
    reflection, *_ = self_reflection(emp, org["emp_p"]["id"])
    r = old.post(f"/api/v1/plans/{reflection['id']}/agree", json={"version": reflection["version"]})
    assert r.status_code == 403
    stored = emp.get(f"/api/v1/plans/{reflection['id']}").get_json()
    assert stored["agreed"] == {"employee": None, "coach": None} and stored["status"] == "draft"
    page = old.post(f"/plans/{reflection['id']}/agree", data={"version": stored["version"], "csrf_token": csrf_token(old)})
    assert page.status_code == 403
    mine = emp.post(f"/api/v1/plans/{reflection['id']}/agree", json={"version": stored["version"]}).get_json()
    assert mine["status"] == "agreed" and mine["agreed"]["employee"] and mine["agreed"]["coach"] is None

    coaching = coaching_plan(old, org["emp_p"]["id"])
    coached = old.post(f"/api/v1/plans/{coaching['id']}/agree", json={"version": coaching["version"]}).get_json()
    assert coached["agreed"]["coach"] and coached["agreed"]["employee"] is None and coached["status"] == "draft"


# ----------------------------------------------------------------------------- 5. private items are the employee's alone


def test_a_coach_can_neither_see_change_nor_remove_private_items(org):
    old, emp = org["old"], org["emp"]
    plan, q_private, q_shared, q_own = self_reflection(emp, org["emp_p"]["id"])
    pid = plan["id"]
    seen = old.get(f"/api/v1/plans/{pid}").get_json()
    text = json.dumps(seen, ensure_ascii=False)
    assert "Hemlig reflektion" not in text and "Egen hemlig" not in text and "Delad reflektion" in text

    # a PATCH with a questions list lacking the private questions keeps them, untouched
    r = old.patch(f"/api/v1/plans/{pid}", json={"version": seen["version"], "questions": [q_shared], "own_questions": []})
    assert r.status_code == 200, r.get_json()
    # ... and so does a new own question text with the private question's id, or a new focus
    r = old.patch(f"/api/v1/plans/{pid}", json={"version": r.get_json()["version"],
                                               "own_questions": [{"id": q_own, "text": "Coachens text"}]})
    assert r.status_code == 200
    mine = {q["id"]: q for q in emp.get(f"/api/v1/plans/{pid}").get_json()["questions"]}
    assert mine[q_private]["note"] == "Hemlig reflektion om min chef" and mine[q_private]["shared"] is False
    assert mine[q_own]["note"] == "Egen hemlig anteckning" and mine[q_own]["text"] == {"_": "Egen hemlig fråga om lönen?"}

    # the coach cannot change the shared flag of the employee's note, in either direction
    version = old.get(f"/api/v1/plans/{pid}").get_json()["version"]
    assert old.put(f"/api/v1/plans/{pid}/questions/{q_shared}/note",
                   json={"version": version, "note": "Delad reflektion", "shared": False}).status_code == 403
    assert old.put(f"/api/v1/plans/{pid}/questions/{q_private}/note",
                   json={"version": version, "note": "", "shared": True}).status_code == 403
    assert old.put(f"/api/v1/plans/{pid}/questions/{q_private}/note", json={"version": version, "note": "x"}).status_code == 403
    mine = {q["id"]: q for q in emp.get(f"/api/v1/plans/{pid}").get_json()["questions"]}
    assert mine[q_shared]["shared"] is True and mine[q_private]["shared"] is False
    # a new focus drops the coach's questions of the old one, never the employee's private ones
    r = old.patch(f"/api/v1/plans/{pid}", json={"version": version, "focus": FOCUS[1:]})
    assert r.status_code == 200
    mine = {q["id"]: q for q in emp.get(f"/api/v1/plans/{pid}").get_json()["questions"]}
    assert mine[q_private]["note"] == "Hemlig reflektion om min chef" and mine[q_own]["note"] == "Egen hemlig anteckning"

    # the history does not reveal that a private note was edited
    before = old.get(f"/api/v1/plans/{pid}/history").get_json()
    seen_before = old.get(f"/api/v1/plans/{pid}").get_json()
    employee_before = len(emp.get(f"/api/v1/plans/{pid}/history").get_json())
    plan = emp.get(f"/api/v1/plans/{pid}").get_json()
    emp.put(f"/api/v1/plans/{pid}/questions/{q_private}/note", json={"version": plan["version"], "note": "Ändrad hemlighet"})
    assert old.get(f"/api/v1/plans/{pid}/history").get_json() == before
    seen_after = old.get(f"/api/v1/plans/{pid}").get_json()
    assert (seen_after["updated_at"], seen_after["questions"]) == (seen_before["updated_at"], seen_before["questions"])
    assert len(emp.get(f"/api/v1/plans/{pid}/history").get_json()) == employee_before + 1  # the employee sees it
    page = old.get(f"/plans/{pid}?lang=en").get_data(as_text=True)
    assert "Ändrad hemlighet" not in page and "Egen hemlig" not in page

    # the coach cannot start a self-reflection for a coachee
    r = old.post("/api/v1/plans", json={"person_id": org["emp_p"]["id"], "situation": "new_role", "mode": "self_reflection"})
    assert r.status_code == 403


# ----------------------------------------------------------------------------- 6. one coaching-cycle rule everywhere


CYCLES = {
    "two": "name,email,coach_email\nAnna,anna@example.test,bo@example.test\nBo,bo@example.test,anna@example.test\n",
    "three": ("name,email,coach_email\nAnna,anna@example.test,bo@example.test\nBo,bo@example.test,cia@example.test\n"
              "Cia,cia@example.test,anna@example.test\n"),
}


@pytest.mark.parametrize("cycle", sorted(CYCLES))
def test_people_import_refuses_a_coaching_cycle_everywhere(org, cycle, tmp_path):
    app, admin = org["app"], org["admin"]
    people = app.extensions["kbp"].storage.collection("people")
    before = people.count()
    r = admin.post("/api/v1/people/import?dry_run=false", data=CYCLES[cycle], content_type="text/csv")
    assert r.status_code == 422, r.get_json()
    assert any(p["column"] == "coach_email" and "cycle" in p["reason"] for p in r.get_json()["problems"])
    assert admin.post("/api/v1/people/import?dry_run=true", data=CYCLES[cycle], content_type="text/csv").status_code == 422
    page = admin.post("/people/import", data={"file": (io.BytesIO(CYCLES[cycle].encode()), "p.csv"), "apply": "1",
                                              "csrf_token": csrf_token(admin)}, content_type="multipart/form-data")
    assert page.status_code == 422 and "cycle" in page.get_data(as_text=True)
    path = tmp_path / "cycle.csv"
    path.write_text(CYCLES[cycle], encoding="utf-8")
    result = CliRunner().invoke(main, ["--data-dir", app.config["DATA_DIR"], "people", "import", str(path)])
    assert result.exit_code != 0 and "cycle" in result.output
    assert people.count() == before


def test_people_import_refuses_a_cycle_through_people_already_stored(org):
    admin = org["admin"]
    # Erik is coached by Olga; making Olga coached by Erik closes a loop
    csv_text = f"name,email,coach_email\nOlga Tidigarecoach,{org['old_p']['email']},{org['emp_p']['email']}\n"
    r = admin.post("/api/v1/people/import?dry_run=false", data=csv_text, content_type="text/csv")
    assert r.status_code == 422 and "cycle" in str(r.get_json()["problems"])
    assert org["app"].extensions["kbp"].storage.collection("people").get(org["old_p"]["id"])["coach_id"] is None
    # the API refuses the same change with the same rule
    r = admin.patch(f"/api/v1/people/{org['old_p']['id']}", json={"coach_id": org["emp_p"]["id"]})
    assert r.status_code == 422 and "cycle" in r.get_json()["message"]
    # ... and so does the person page
    olga = org["old_p"]
    page = admin.post(f"/people/{olga['id']}/edit", data={"name": olga["name"], "email": olga["email"], "coach_id": org["emp_p"]["id"],
                                                         "csrf_token": csrf_token(admin)})
    assert page.status_code == 422 and "coaching cycle" in page.get_data(as_text=True)
    assert org["app"].extensions["kbp"].storage.collection("people").get(olga["id"])["coach_id"] is None


# ----------------------------------------------------------------------------- issue 17: recruitment record, preparation sheet

NOTES = "Intervjuanteckning Kattuggla"


def text_of(response) -> str:
    """A response as text, JSON without escapes (so non-ASCII needles are found)."""
    return json.dumps(response.get_json(), ensure_ascii=False) if response.is_json else response.get_data(as_text=True)

NEED = "Behov Rödhake"


def recruitment_record(client, person_id, notes=NOTES, need=NEED):
    r = client.put(f"/api/v1/people/{person_id}/recruitment", json={"role_title": "Handläggare", "competencies": [
        {"competency": FOCUS[0], "rating": 2, "notes": notes, "need": need},
        {"competency": FOCUS[1], "rating": 4, "notes": "Stark planerare Trana"}]})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_interview_notes_reach_the_current_coach_and_admins_only(org):
    old, new, emp, admin = org["old"], org["new"], org["emp"], org["admin"]
    pid = org["emp_p"]["id"]
    recruitment_record(old, pid)
    assert NOTES in json.dumps(admin.get(f"/api/v1/people/{pid}/recruitment").get_json(), ensure_ascii=False)
    mine = emp.get(f"/api/v1/people/{pid}/recruitment").get_json()
    assert mine["interview_notes"] == "excluded" and NEED in json.dumps(mine, ensure_ascii=False)
    assert all(set(c) == {"competency", "name", "framework", "need"} for c in mine["competencies"])  # no rating, no notes
    page = text_of(emp.get(f"/people/{pid}/recruitment"))
    assert NEED in page and NOTES not in page and "Trana" not in page
    # another coach learns nothing, not even that a record exists
    assert new.get(f"/api/v1/people/{pid}/recruitment").get_json() == new.get(
        "/api/v1/people/0123456789abcdef/recruitment").get_json()
    assert new.get(f"/people/{pid}/recruitment").status_code == 404
    # the plan started from it: the coach sees the notes beside the dialogue, the employee the need only
    plan = old.post(f"/api/v1/people/{pid}/recruitment/plan").get_json()
    assert NOTES in text_of(old.get(f"/plans/{plan['id']}"))
    assert NOTES in text_of(old.get(f"/plans/{plan['id']}/questions"))
    for url in (f"/plans/{plan['id']}", f"/plans/{plan['id']}/questions", f"/plans/{plan['id']}/guide",
                f"/api/v1/plans/{plan['id']}", "/api/v1/me/export", "/me/export"):
        body = text_of(emp.get(url))
        assert NOTES not in body and "Trana" not in body, url
    assert NEED in text_of(emp.get(f"/plans/{plan['id']}"))
    # the person's own export: the record as they see it; an admin's export: the whole record
    own = emp.get("/api/v1/me/export").get_json()["records"]["recruitment_records"]
    assert own[0]["interview_notes"] == "excluded" and own[0]["competencies"][0]["need"] == NEED
    assert NOTES in text_of(admin.get(f"/api/v1/people/{pid}/export"))
    # the coach changes: the former coach loses the record and its notes at once, the new one gets them
    assert admin.patch(f"/api/v1/people/{pid}", json={"coach_id": org["new_p"]["id"]}).status_code == 200
    assert old.get(f"/api/v1/people/{pid}/recruitment").status_code == 404
    assert old.put(f"/api/v1/people/{pid}/recruitment", json={"role_title": "x"}).status_code == 404
    assert NOTES not in text_of(old.get(f"/plans/{plan['id']}"))
    assert NOTES in text_of(new.get(f"/plans/{plan['id']}"))
    assert new.get(f"/api/v1/people/{pid}/recruitment").get_json()["interview_notes"] == "included"
    # the employee never writes it
    assert emp.put(f"/api/v1/people/{pid}/recruitment", json={"role_title": "Chef"}).status_code == 403
    assert emp.delete(f"/api/v1/people/{pid}/recruitment").status_code == 403


def preparation_with(emp, plan_id, private="Privat förberedelse Lodjur", shared="Delad förberedelse Järv"):
    sheet = emp.get(f"/api/v1/plans/{plan_id}/preparation").get_json()
    first, second = (q["id"] for q in sheet["questions"][:2])
    r = emp.put(f"/api/v1/plans/{plan_id}/preparation", json={"answers": [
        {"question": first, "note": private}, {"question": second, "note": shared, "shared": True}]})
    assert r.status_code == 200, r.get_json()
    return first, second


def test_preparation_answers_are_private_until_shared(org):
    old, new, emp, admin = org["old"], org["new"], org["emp"], org["admin"]
    pid = org["emp_p"]["id"]
    plan = coaching_plan(old, pid)
    first, second = preparation_with(emp, plan["id"])
    for client in (old, admin):
        for url in (f"/api/v1/plans/{plan['id']}/preparation", f"/plans/{plan['id']}/prepare", f"/plans/{plan['id']}",
                    f"/plans/{plan['id']}/questions"):
            body = text_of(client.get(url))
            assert "Lodjur" not in body and "Järv" in body, url
    assert new.get(f"/api/v1/plans/{plan['id']}/preparation").status_code == 404
    assert "Lodjur" in text_of(emp.get(f"/plans/{plan['id']}/prepare"))
    # only the employee writes, and only they decide what is shared
    assert old.put(f"/api/v1/plans/{plan['id']}/preparation", json={"answers": [{"question": first, "shared": True}]}).status_code == 403
    assert "Lodjur" not in text_of(old.get(f"/api/v1/plans/{plan['id']}/preparation"))
    emp.put(f"/api/v1/plans/{plan['id']}/preparation", json={"answers": [{"question": second, "note": "Delad förberedelse Järv",
                                                                           "shared": False}]})
    assert "Järv" not in text_of(old.get(f"/plans/{plan['id']}"))  # unshared again: gone for the coach
    # exports: the person's own has everything, an admin's leaves private answers out
    assert "Lodjur" in text_of(emp.get("/api/v1/me/export"))
    assert "Lodjur" not in text_of(admin.get(f"/api/v1/people/{pid}/export"))
    # a self-reflection has no preparation sheet: its notes are private already
    reflection, *_ = self_reflection(emp, pid)
    assert emp.get(f"/api/v1/plans/{reflection['id']}/preparation").status_code == 404


def test_erase_removes_recruitment_records_and_preparations(org):
    old, emp, admin, app = org["old"], org["emp"], org["admin"], org["app"]
    pid = org["emp_p"]["id"]
    record = recruitment_record(old, pid)
    plan = old.post(f"/api/v1/people/{pid}/recruitment/plan").get_json()
    preparation_with(emp, plan["id"])
    # a record the erased coach kept about someone else loses the coach's account id
    other = make_person(app, "Stina Annan", coach_id=org["old_p"]["id"])
    other_record = recruitment_record(old, other["id"], notes="Om Stina", need="Stinas behov")
    storage = app.extensions["kbp"].storage
    assert storage.collection("recruitment_records").count() == 2 and storage.collection("preparations").count() == 1
    assert admin.delete(f"/api/v1/people/{pid}").status_code == 200
    assert storage.collection("recruitment_records").get(record["id"]) is None
    assert storage.collection("preparations").count() == 0
    assert admin.delete(f"/api/v1/people/{org['old_p']['id']}").status_code == 200
    kept = storage.collection("recruitment_records").get(other_record["id"])
    assert kept["recorded_by"].startswith("erased-") and kept["recorded_by"] != org["old_a"]["id"]
    if BACKEND == "embedded":  # every file of the data folder
        assert_gone(org["data"], [pid, record["id"], plan["id"], NOTES, NEED, "Lodjur", "Järv", org["old_a"]["id"]])
    entries = storage.collection("audit").all()
    assert {("create", "recruitment_record"), ("erase", "person")} <= {(e["action"], e["subject_type"]) for e in entries}
    assert NOTES not in json.dumps(entries, ensure_ascii=False)


def test_recruitment_and_preparation_put_no_personal_content_in_logs(org, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    old, emp = org["old"], org["emp"]
    pid = org["emp_p"]["id"]
    recruitment_record(old, pid)
    plan = old.post(f"/api/v1/people/{pid}/recruitment/plan").get_json()
    preparation_with(emp, plan["id"])
    text_of(old.get(f"/plans/{plan['id']}"))
    old.put(f"/api/v1/people/{pid}/recruitment", json={"competencies": [{"competency": FOCUS[0], "rating": 9, "notes": NOTES}]})
    for secret in (NOTES, NEED, "Trana", "Lodjur", "Järv", org["emp_p"]["name"], org["emp_p"]["email"]):
        assert secret not in caplog.text, secret
