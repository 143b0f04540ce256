"""Issue 18, part 2, without a browser: times in the organisation's time zone, search by competency
name, the admin activity form's errors, and the accessible names and landmarks of the pages."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from core import create_app
from tests.helpers import csrf_token, make_account, make_person, sign_in

SUMMER_NOON_UTC = datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc).timestamp()  # 12:00 in Stockholm (CEST)
WINTER_UTC = datetime(2026, 1, 15, 23, 30, tzinfo=timezone.utc).timestamp()  # 00:30 the next day in Stockholm


def _plan_with_follow_ups(app):
    """A plan whose follow-ups were written at known UTC times; the coach's client."""
    storage = app.extensions["kbp"].storage
    coach_p = make_person(app, "Karin Coach")
    emp_p = make_person(app, "Erik Medarbetare", coach_id=coach_p["id"])
    coach = make_account(app, "coach", coach_p)
    plan = storage.collection("plans").insert({
        "person_id": emp_p["id"], "coach_id": coach_p["id"], "created_by": coach["id"], "mode": "coaching",
        "situation": "new_role", "focus": [], "questions": [], "activities": [], "status": "draft",
        "follow_ups": [{"at": SUMMER_NOON_UTC, "by": coach_p["id"], "note": "Sommar"},
                       {"at": WINTER_UTC, "by": coach_p["id"], "note": "Vinter"}],
        "follow_up_date": None, "agreed": {"employee": None, "coach": None}, "version": 1,
        "created_at": SUMMER_NOON_UTC, "updated_at": SUMMER_NOON_UTC})
    from tests.helpers import plain_client

    return plan, sign_in(plain_client(app), coach)


def test_times_are_shown_in_the_organisations_time_zone_by_default(make_app):
    app = make_app()
    assert app.config["TIMEZONE"] == "Europe/Stockholm"
    plan, coach = _plan_with_follow_ups(app)
    sv = coach.get(f"/plans/{plan['id']}?lang=sv").get_data(as_text=True)
    assert "2026-07-01 12:00" in sv and "2026-01-16 00:30" in sv  # summer and winter time, and the day changes
    assert "10:00" not in sv and "23:30" not in sv
    en = coach.get(f"/plans/{plan['id']}?lang=en").get_data(as_text=True)
    assert re.search(r"01/07/2026,? 12:00|7/1/26,? 12:00\s?PM", en), en[:200]


def test_kbp_timezone_chooses_another_zone(make_app, monkeypatch):
    monkeypatch.setenv("KBP_TIMEZONE", "America/New_York")
    app = make_app()
    plan, coach = _plan_with_follow_ups(app)
    sv = coach.get(f"/plans/{plan['id']}?lang=sv").get_data(as_text=True)
    assert "2026-07-01 06:00" in sv and "2026-01-15 18:30" in sv


def test_an_unknown_time_zone_stops_the_start_with_a_message(tmp_path):
    with pytest.raises(SystemExit, match="KBP_TIMEZONE: unknown time zone 'Europe/Atlantis'"):
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "TIMEZONE": "Europe/Atlantis"})
