"""The private calendar feed: valid iCalendar (parsed by ``icalendar``), follows plan changes,
404 after revocation or with a wrong secret."""
from __future__ import annotations

import re
from datetime import date, timedelta

from icalendar import Calendar

from tests.conftest import anonymous_client
from tests.helpers import csrf_token
from tests.test_reminders import make_plan, world  # noqa: F401 - fixture

TODAY = date.today()


def create_feed(client) -> str:
    r = client.post("/me/reminders", data={"csrf_token": csrf_token(client, "/me/reminders"), "action": "create_feed"})
    assert r.status_code == 200
    url = re.search(r'<code class="token">([^<]+)</code>', r.get_data(as_text=True)).group(1)
    return url.replace("http://localhost", "")


def events(app, path) -> dict:
    r = anonymous_client(app).get(path)
    assert r.status_code == 200 and r.mimetype == "text/calendar"
    assert "no-store" in r.headers["Cache-Control"]
    cal = Calendar.from_ical(r.data)  # the external parser; raises on invalid data
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_the_feed_shows_due_dates_and_follow_ups_and_follows_changes(world):  # noqa: F811
    app = world["app"]
    plan = make_plan(world["coach"], world["emp_p"]["id"], due_in=3, follow_up_in=10)
    path = create_feed(world["employee"])
    assert path.startswith("/calendar/") and path.endswith(".ics")
    found = events(app, path)
    act = plan["activities"][0]
    act_uid = f"kbp-plan-{plan['id']}-activity-{act['id']}@kbp"
    fu_uid = f"kbp-plan-{plan['id']}-follow-up@kbp"
    assert set(found) == {act_uid, fu_uid}
    assert found[act_uid].decoded("DTSTART") == TODAY + timedelta(days=3)
    assert str(found[act_uid]["SUMMARY"]) == "Due: Skugga en kollega"  # the employee reads English
    assert found[fu_uid].decoded("DTSTART") == TODAY + timedelta(days=10)
    assert "Hemligt" not in anonymous_client(app).get(path).get_data(as_text=True)  # never goals
    # the plan changes: the feed follows, with the same UIDs and a higher SEQUENCE
    before = int(found[fu_uid]["SEQUENCE"])
    r = world["coach"].patch(f"/api/v1/plans/{plan['id']}", json={
        "version": plan["version"], "follow_up_date": (TODAY + timedelta(days=20)).isoformat()})
    assert r.status_code == 200
    plan = r.get_json()
    assert world["employee"].put(f"/api/v1/plans/{plan['id']}/activities/{act['id']}/status",
                                 json={"version": plan["version"], "status": "done"}).status_code == 200
    found = events(app, path)
    assert set(found) == {fu_uid}  # a done activity leaves the calendar
    assert found[fu_uid].decoded("DTSTART") == TODAY + timedelta(days=20) and int(found[fu_uid]["SEQUENCE"]) > before
    # the coach's own feed has the follow-up with the person's name, in Swedish
    coach_path = create_feed(world["coach"])
    coach_events = events(app, coach_path)
    assert str(coach_events[fu_uid]["SUMMARY"]) == "Uppföljning av utvecklingsplanen för Erik Medarbetare"
    assert act_uid not in coach_events


def test_a_revoked_or_replaced_address_answers_404(world):  # noqa: F811
    app = world["app"]
    make_plan(world["coach"], world["emp_p"]["id"])
    emp = world["employee"]
    first = create_feed(emp)
    second = create_feed(emp)  # a new address revokes the old one
    visitor = anonymous_client(app)
    assert visitor.get(first).status_code == 404 and visitor.get(second).status_code == 200
    feed_id = second.rsplit("/", 1)[1].split("_", 1)[0]
    assert visitor.get(f"/calendar/{feed_id}_wrong-secret.ics").status_code == 404
    r = emp.post("/me/reminders", data={"csrf_token": csrf_token(emp, "/me/reminders"), "action": "revoke_feed"})
    assert r.status_code == 302
    assert visitor.get(second).status_code == 404
    storage = app.extensions["kbp"].storage
    assert storage.collection("calendar_feeds").count() == 0
    assert [e["action"] for e in storage.collection("audit").all() if e["subject_type"] == "calendar_feed"] == [
        "token_create", "token_create", "token_revoke"]


def test_export_and_erase_cover_reminders_and_the_feed(world):  # noqa: F811
    from core import reminders
    from tests.conftest import AdminClient

    app = world["app"]
    make_plan(world["coach"], world["emp_p"]["id"])
    path = create_feed(world["employee"])
    storage = app.extensions["kbp"].storage
    with app.app_context():
        reminders.plan_run(storage, app.config)
    pid = world["emp_p"]["id"]
    assert storage.collection("notifications").find(person_id=pid)
    admin = AdminClient(app, app.response_class)
    export = admin.get(f"/api/v1/people/{pid}/export").get_json()
    records = export["records"]
    assert records["notifications"] and records["calendar_feeds"]
    assert "secret_sha256" not in str(records["calendar_feeds"])
    assert admin.delete(f"/api/v1/people/{pid}").status_code == 200
    for name in ("notifications", "calendar_feeds", "reminder_prefs", "reminder_mails"):
        assert storage.collection(name).find(person_id=pid) == []
    assert anonymous_client(app).get(path).status_code == 404
