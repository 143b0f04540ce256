"""The preparation sheet: the employee prepares for the medarbetarsamtal, on their own.

A coaching plan's employee answers the self-reflection questions of the plan's focus competencies
before the talk (those tagged with the plan's situation first). One sheet per plan, in the
collection ``preparations``::

    plan_id, person_id
    answers       [{question, competency, text (snapshot in every language), note, shared}]
    version, updated_at

Answers are **private until shared**, exactly like self-reflection notes: only the employee writes
them and decides what to share; the coach (the person's current coach, as for the plan) and an admin
reading the plan see the shared answers only — never a private one, nor that it exists; exports
made by anyone but the employee leave private answers out. Nobody else can write the sheet, so
there is nothing of the employee's to keep safe from someone else's edit. Writing the sheet is not
an audit event (like notes in a plan): what is private leaves no trace others can read.
"""
from __future__ import annotations

import time
from typing import Any

from core import plans
from core import recruitment as rules
from core.auth import Account
from core.i18n import gettext as _
from core.services import audit
from core.services.errors import Conflict, Forbidden, Invalid, NotFound

PREPARATIONS = rules.PREPARATIONS


def _plan(storage, actor: Account | None, plan_id: str) -> tuple[dict, str]:
    audit.require(actor, "employee")
    try:
        plan, rel = plans.visible_plan(storage, actor, plan_id)
    except plans.PlanError:
        raise NotFound(_("No such plan.")) from None
    if plan["mode"] != "coaching":
        raise NotFound(_("A preparation sheet belongs to a development dialogue with a coach; "
                         "in a self-reflection your notes are private already."))
    return plan, rel


def questions(registry, plan: dict) -> list[tuple[Any, Any]]:
    """(question set, question) pairs for the sheet: self-reflection questions of the focus
    competencies, the plan's situation first."""
    found = [(qs, q) for f in plan["focus"] for qs, q in registry.questions_for(f["competency"], "self_reflection")]
    found.sort(key=lambda item: plan["situation"] not in item[1].situations)
    order = [f["competency"] for f in plan["focus"]]
    found.sort(key=lambda item: order.index(item[1].competency))
    return found


visible_answers = rules.visible_answers
for_viewer = rules.sheet_for_viewer


def get_sheet(storage, actor: Account | None, plan_id: str) -> tuple[dict, dict, str]:
    """(plan, sheet as the actor may see it, relation). A plan without a sheet gets an empty one."""
    plan, rel = _plan(storage, actor, plan_id)
    found = storage.collection(PREPARATIONS).find(plan_id=plan_id)
    sheet = found[0] if found else {"plan_id": plan_id, "person_id": plan["person_id"], "answers": [], "version": 0}
    return plan, for_viewer(sheet, rel), rel


def shared_for_plan(storage, actor: Account | None, plan: dict) -> list[dict]:
    """What the actor may see of the plan's sheet (coach, admin: shared answers; employee: all)."""
    if plan.get("mode") != "coaching":
        return []
    try:
        _plan_record, sheet, _rel = get_sheet(storage, actor, plan["id"])
    except NotFound:
        return []
    return sheet["answers"]


def save_sheet(storage, snap: plans.Snapshotter, registry, actor: Account | None, plan_id: str, answers: Any,
               expected_version: int | None = None) -> dict:
    """The employee's answers ([{question, note, shared}]); a question left out keeps its answer.
    Returns the sheet."""
    plan, rel = _plan(storage, actor, plan_id)
    if rel != "employee":
        raise Forbidden(_("Only the employee writes their preparation."))
    if not isinstance(answers, list):
        raise Invalid(_("Send the answers as a list."), {"answers": [_("Send the answers as a list.")]})
    available = {q.id: (qs, q) for qs, q in questions(registry, plan)}
    with storage.collection(PREPARATIONS).transaction() as tx:
        found = tx.find(plan_id=plan_id)
        current = found[0] if found else None
        version = current["version"] if current else 0
        if expected_version is not None and expected_version != version:
            raise Conflict(_("Your preparation was changed in another tab after you opened it. "
                             "Reload it to see the latest version, then make your change again."))
        by_id = {a["question"]: dict(a) for a in (current or {}).get("answers", [])}
        for index, item in enumerate(answers):
            qid = item.get("question") if isinstance(item, dict) else None
            field = f"answers.{index}"
            if qid not in available and qid not in by_id:
                message = _("Unknown question: %(id)s", id=qid)
                raise Invalid(message, {f"{field}.question": [message]})
            entry = by_id.get(qid)
            if entry is None:
                snapshot = snap.question(*available[qid], shared=False)
                entry = {"question": qid, "competency": snapshot["competency"], "text": snapshot["text"],
                         "note": "", "shared": False}
            try:
                entry["note"] = plans._text((item.get("note") or "").strip(), f"{field}.note", "note", _("Note"), entry["note"])
            except plans.PlanError as exc:
                raise Invalid(str(exc), {f"{field}.note": list(exc.errors.values())[0]}) from None
            if "shared" in item:
                entry["shared"] = bool(item["shared"])
            by_id[qid] = entry
        order = list(available)
        answers_out = sorted((a for a in by_id.values() if a["note"] or a["shared"]),
                             key=lambda a: order.index(a["question"]) if a["question"] in order else len(order))
        record = {**(current or {"plan_id": plan_id, "person_id": plan["person_id"]}), "answers": answers_out,
                  "version": version + 1, "updated_at": time.time()}
        stored = tx.upsert(record) if current else tx.insert(record)
    return stored
