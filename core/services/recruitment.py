"""From recruitment to development: the recruitment record of a person, and the plan started from it.

A competency-based recruitment ends with an assessment per competency of the requirement profile
(*kravprofil*) and, for the person hired, often an agreed development need. KBP keeps that as one
**recruitment record** per person, in the collection ``recruitment_records``::

    person_id            whom it is about (a person in KBP: add them when the offer is accepted)
    recorded_by          the account that first recorded it
    role_title           what they were recruited as (optional)
    competencies         [{competency, name/framework (snapshots in every language),
                           rating (1–4 or None), notes, need}]
    plans                ids of the plans started from it
    version, created_at, updated_at

**Who may do what** (the rules of plans, :mod:`core.plans`, applied to the person):

* the person's **current coach** (read from the person record at every request — when the coach
  changes, the former coach loses the record, the new one gets it) and an **admin** (HR, who often
  records it for the hiring manager) read and write everything, interview notes and ratings too;
  the account that recorded it keeps access only while it is one of those;
* the **employee** reads the competencies and the agreed development needs only — never the
  ratings or the interview notes (see the README, *From recruitment to development*);
* anyone else gets a 404, exactly like a person who does not exist.

Every write carries the record's ``version`` (409 on an older one) and is one commit with its
audit entry (``create``/``update``/``delete`` of a ``recruitment_record``; ids, never content).
:func:`start_plan` starts the development plan in the situation *recruited with a development need*
with the focus competencies and goals pre-filled from the agreed needs.
"""
from __future__ import annotations

import time
from typing import Any

from core import plans
from core import recruitment as rules
from core.auth import Account
from core.i18n import gettext as _
from core.schemas import text_problem
from core.services import audit
from core.services.errors import Conflict, Forbidden, Invalid, NotFound

RECORDS = rules.RECORDS
PEOPLE = "people"
SITUATION = "recruited_need"
#: the interview assessment per competency, against the requirement profile
RATINGS = (1, 2, 3, 4)
LIMITS = {"competencies": 10, "notes": 4000, "need": 1000, "role_title": 200}


def _rel(storage, actor: Account | None, person_id: str) -> str | None:
    """``coach`` (the person's current coach), ``admin``, ``employee`` (the person) or None."""
    if actor is None or not isinstance(person_id, str) or not person_id:
        return None
    if actor.person_id and actor.role in ("coach", "admin") and plans.is_current_coach(storage, actor.person_id, person_id):
        return "coach"
    if actor.role == "admin":
        return "admin"
    if actor.person_id and actor.person_id == person_id:
        return "employee"
    return None


def _person(storage, actor: Account | None, person_id: str) -> tuple[dict, str]:
    audit.require(actor, "employee")
    rel = _rel(storage, actor, person_id)
    person = storage.collection(PEOPLE).get(person_id) if rel else None
    if person is None:
        raise NotFound(_("No such person."))
    return person, rel


for_viewer = rules.record_for_viewer


def get_record(storage, actor: Account | None, person_id: str) -> tuple[dict, str]:
    """(the person's recruitment record as the actor may see it, the actor's relation)."""
    _person_record, rel = _person(storage, actor, person_id)
    found = storage.collection(RECORDS).find(person_id=person_id)
    if not found:
        raise NotFound(_("No recruitment record has been kept for this person."))
    return for_viewer(found[0], rel), rel


def find_record(storage, actor: Account | None, person_id: str) -> tuple[dict | None, str | None]:
    """Like :func:`get_record`, but (None, relation) when there is none or the actor may not see it."""
    try:
        return get_record(storage, actor, person_id)
    except (NotFound, Forbidden):
        return None, _rel(storage, actor, person_id) if actor is not None else None


def can_write(storage, actor: Account | None, person_id: str) -> bool:
    return _rel(storage, actor, person_id) in ("coach", "admin")


def _writer(storage, actor: Account | None, person_id: str) -> dict:
    person, rel = _person(storage, actor, person_id)
    if rel not in ("coach", "admin"):
        raise Forbidden(_("Only the person's coach or an administrator keeps the recruitment record."))
    return person


def _text(value: Any, field: str, limit: str) -> str:
    text = ("" if value is None else str(value)).strip()
    problem = text_problem(text)
    if problem is None and len(text) > LIMITS[limit]:
        problem = _("At most %(num)d characters (this text has %(len)d).", num=LIMITS[limit], len=len(text))
    if problem:
        raise Invalid(problem, {field: [problem]})
    return text


def _rating(value: Any, field: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        rating = int(value)
    except (TypeError, ValueError):
        rating = 0
    if rating not in RATINGS or isinstance(value, bool):
        message = _("Choose an assessment from 1 to 4, or none.")
        raise Invalid(message, {field: [message]})
    return rating


def _competencies(snap: plans.Snapshotter, items: Any, previous: list[dict]) -> list[dict]:
    if not isinstance(items, list) or not items:
        message = _("Choose at least one competency from the requirement profile.")
        raise Invalid(message, {"competencies": [message]})
    if len(items) > LIMITS["competencies"]:
        message = _("A recruitment record holds at most %(num)d competencies.", num=LIMITS["competencies"])
        raise Invalid(message, {"competencies": [message]})
    before = {c["competency"]: c for c in previous}
    result, seen = [], set()
    for index, item in enumerate(items):
        item = item if isinstance(item, dict) else {"competency": item}
        gid = item.get("competency")
        field = f"competencies.{index}"
        if not isinstance(gid, str) or gid in seen:
            message = _("Name each competency once.")
            raise Invalid(message, {f"{field}.competency": [message]})
        seen.add(gid)
        old = before.get(gid)
        if old is None:
            try:
                old = snap.competency(gid)
            except plans.PlanError as exc:
                raise Invalid(str(exc), {f"{field}.competency": [str(exc)]}) from None
            old = {k: old[k] for k in ("competency", "name", "framework")} | {"rating": None, "notes": "", "need": ""}
        entry = dict(old)
        if "rating" in item:
            entry["rating"] = _rating(item["rating"], f"{field}.rating")
        if "notes" in item:
            entry["notes"] = _text(item["notes"], f"{field}.notes", "notes")
        if "need" in item:
            entry["need"] = _text(item["need"], f"{field}.need", "need")
        result.append(entry)
    return result


def save_record(storage, snap: plans.Snapshotter, actor: Account | None, person_id: str, data: dict,
                expected_version: int | None = None) -> dict:
    """Create or change the person's recruitment record (their coach or an admin). ``data``:
    ``role_title`` and ``competencies`` ([{competency, rating, notes, need}]; the list replaces the
    previous one, fields left out keep their value). Returns the record as the actor sees it."""
    _writer(storage, actor, person_id)
    with storage.unit_of_work(RECORDS, audit.AUDIT) as uow:
        found = uow[RECORDS].find(person_id=person_id)
        current = found[0] if found else None
        if current is not None and expected_version is not None and expected_version != current["version"]:
            raise Conflict(_("The recruitment record was changed by someone else after you opened it. "
                             "Reload it to see the latest version, then make your change again."))
        now = time.time()
        record = dict(current) if current else {"person_id": person_id, "recorded_by": actor.id, "role_title": "",
                                                "competencies": [], "plans": [], "version": 0, "created_at": now}
        if "role_title" in data:
            record["role_title"] = _text(data.get("role_title"), "role_title", "role_title")
        if "competencies" in data or current is None:
            record["competencies"] = _competencies(snap, data.get("competencies"), record["competencies"])
        record["version"] += 1
        record["updated_at"] = now
        stored = uow[RECORDS].upsert(record) if current else uow[RECORDS].insert(record)
        uow[audit.AUDIT].insert(audit.entry(actor, "update" if current else "create", "recruitment_record", stored["id"]))
    return for_viewer(stored, _rel(storage, actor, person_id))


def delete_record(storage, actor: Account | None, person_id: str) -> None:
    """Remove the person's recruitment record (their coach or an admin); plans started from it stay."""
    _writer(storage, actor, person_id)
    with storage.unit_of_work(RECORDS, audit.AUDIT) as uow:
        found = uow[RECORDS].find(person_id=person_id)
        if not found:
            raise NotFound(_("No recruitment record has been kept for this person."))
        uow[RECORDS].delete(found[0]["id"])
        uow[audit.AUDIT].insert(audit.entry(actor, "delete", "recruitment_record", found[0]["id"]))


def offers_plan(storage, actor: Account | None, person_id: str, situation: str) -> bool:
    """Whether starting a dialogue with ``person_id`` in ``situation`` should offer the record."""
    if situation != SITUATION or actor is None:
        return False
    record, rel = find_record(storage, actor, person_id)
    return record is not None and rel in ("coach", "employee")


def start_plan(storage, snap: plans.Snapshotter, actor: Account | None, person_id: str) -> dict:
    """Start the development plan from the record: situation *recruited with a development need*,
    the competencies with an agreed need as focus (all recorded ones when none has a need; at most
    the plan's limit, in the record's order) and each need as the goal. The person's coach starts a
    coaching dialogue, the person themself a self-reflection (the rules of :func:`core.plans.create_plan`)."""
    record, rel = get_record(storage, actor, person_id)
    if rel == "admin":
        raise Forbidden(_("The development plan is started by the person's coach, or by the person themself."))
    chosen = [c for c in record["competencies"] if (c.get("need") or "").strip()] or record["competencies"]
    chosen = chosen[:plans.MAX_FOCUS]
    mode = "self_reflection" if rel == "employee" else "coaching"
    try:
        for c in chosen:  # a competency no longer offered (licence lapsed, framework removed): refuse before writing
            snap.competency(c["competency"])
        plan = plans.create_plan(storage, snap, actor, person_id, SITUATION, mode)

        def prefill(p, _rel):
            changed = plans.set_focus(p, snap, [c["competency"] for c in chosen])
            return changed + plans.set_goals(p, {c["competency"]: c.get("need") or "" for c in chosen})

        plan = plans.change(storage, actor, plan["id"], None, "update", prefill)
    except plans.PlanError as exc:
        from core.services.errors import from_status

        raise from_status(exc.status, str(exc), exc.errors) from None
    with storage.unit_of_work(RECORDS, audit.AUDIT) as uow:
        found = uow[RECORDS].find(person_id=person_id)
        if found:
            uow[RECORDS].update(found[0]["id"], {"plans": [*found[0].get("plans", []), plan["id"]]})
        uow[audit.AUDIT].insert(audit.entry(actor, "create", "plan", plan["id"]))
    return plan


def for_plan(storage, actor: Account | None, plan: dict) -> tuple[dict | None, str | None]:
    """The recruitment record to show beside a plan in *recruited with a development need*, as the
    actor may see it (coach and admin: with interview notes), or (None, None)."""
    if plan.get("situation") != SITUATION:
        return None, None
    return find_record(storage, actor, plan["person_id"])


def interview_questions(registry, presenter, gids: list[str]) -> dict[str, list[dict]]:
    """The ``interview`` questions (with their probes) of each competency, for the record's page."""
    return {gid: [presenter.question(qs, q) for qs, q in registry.questions_for(gid, "interview")] for gid in gids}
