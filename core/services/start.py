"""The start page after sign-in: what is due for the signed-in person, per role.

* an employee: plans waiting for their confirmation, their next activities with dates, their next
  follow-up and their self-reflections;
* a coach (also an admin who coaches): dialogues to hold — people they coach without a current
  plan, follow-ups due within two weeks —, plans waiting for their confirmation and overdue
  activities per person;
* an administrator, or an account granted the HR overview: the way to the overview.

Everything comes from :func:`core.plans.visible_plans`, so the page shows exactly the plans the
account may open (the person record's current coach decides, as everywhere). Private
self-reflection items are never read here: only dates, counts, statuses and names.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from core import plans as plan_rules
from core.auth import Account

#: a coaching plan started within this many days counts as the person's current plan
CURRENT_PLAN_DAYS = 365
#: how many upcoming activities the employee's start page lists
NEXT_ACTIVITIES = 5
FOLLOW_UP_DAYS = 14


def _waiting_for(plan: dict, rel: str) -> bool:
    """Whether ``plan`` waits for ``rel``'s confirmation (a draft with content, not yet confirmed by them)."""
    if plan["status"] != "draft" or not plan["focus"] or not plan["activities"]:
        return False
    if plan["mode"] == "self_reflection" and rel != "employee":
        return False
    return not (plan.get("agreed") or {}).get(rel)


def _open_activities(plan: dict) -> list[dict]:
    return [a for a in plan["activities"] if a["status"] in ("planned", "in_progress")]


def is_open(plan: dict) -> bool:
    """A plan still being worked on: a draft, or an agreed plan with activities not yet done."""
    return plan["status"] == "draft" or bool(_open_activities(plan))


def open_plans(storage, account: Account | None, person_id: str) -> list[dict]:
    """The open coaching plans of ``person_id``, asked about before ``account`` starts another
    (none when ``account`` may not start a dialogue with the person: that answer is a 404 anyway)."""
    person = storage.collection("people").get(person_id)
    if person is None or not plan_rules.may_start(account, person):
        return []
    return [plan for plan, _rel in plan_rules.visible_plans(storage, account, person_id=person_id)
            if plan["mode"] == "coaching" and is_open(plan)]


def start_page(storage, account: Account | None, today: date | None = None, can_view_overview: bool = False) -> dict[str, Any]:
    """The sections of the start page for ``account`` (empty lists when nothing is due)."""
    today = today or date.today()
    found = plan_rules.visible_plans(storage, account)
    people = storage.collection("people")
    names: dict[str, str] = {}

    def name(person_id: str) -> str:
        if person_id not in names:
            names[person_id] = (people.get(person_id) or {}).get("name", "")
        return names[person_id]

    own = [plan for plan, rel in found if rel == "employee"]
    coached = [plan for plan, rel in found if rel == "coach"]
    result: dict[str, Any] = {
        "role": account.role if account else None,
        "overview": bool(can_view_overview),
        "employee": None,
        "coach": None,
    }
    if account is not None and account.person_id:
        upcoming = sorted(({"plan": p, "activity": a} for p in own for a in _open_activities(p) if a.get("due")),
                          key=lambda item: item["activity"]["due"])
        follow_ups = sorted((p for p in own if p.get("follow_up_date") and p["follow_up_date"] >= today.isoformat()),
                            key=lambda p: p["follow_up_date"])
        result["employee"] = {
            "waiting": [p for p in own if _waiting_for(p, "employee")],
            "activities": [{**item, "overdue": item["activity"]["due"] < today.isoformat()} for item in upcoming[:NEXT_ACTIVITIES]],
            "next_follow_up": follow_ups[0] if follow_ups else None,
            "self_reflections": [p for p in own if p["mode"] == "self_reflection"],
            "plans": own,
        }
    if account is not None and account.person_id and account.role in ("coach", "admin"):
        coachees = sorted((p for p in people.find(coach_id=account.person_id) if p.get("status") == "active"),
                          key=lambda p: p["name"].lower())
        for p in coachees:
            names[p["id"]] = p["name"]
        since = (today - timedelta(days=CURRENT_PLAN_DAYS)).isoformat()
        current = {p["person_id"] for p in coached if p["mode"] == "coaching"
                   and date.fromtimestamp(p["created_at"]).isoformat() >= since}
        due = [p for p in coached if p.get("follow_up_date")
               and (date.fromisoformat(p["follow_up_date"]) - today).days <= FOLLOW_UP_DAYS and is_open(p)]
        overdue: dict[str, list[dict]] = {}
        for p in coached:
            late = plan_rules.overdue(p, today)
            if late:
                overdue.setdefault(p["person_id"], []).append({"plan": p, "activities": late})
        result["coach"] = {
            "without_plan": [p for p in coachees if p["id"] not in current],
            "follow_ups": sorted(due, key=lambda p: p["follow_up_date"]),
            "waiting": [p for p in coached if _waiting_for(p, "coach")],
            "overdue": [{"person_id": pid, "name": name(pid), "plans": items} for pid, items in
                        sorted(overdue.items(), key=lambda kv: name(kv[0]).lower())],
            "coachees": coachees,
        }
    result["names"] = names
    for p in own + coached:
        name(p["person_id"])
    return result
