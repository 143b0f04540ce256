"""Development dialogues and plans: the service the API, the pages and the CLI call.

The rules (who relates to a plan how, what a coach sees of private notes, snapshots, limits,
agreement, versions) stay in :mod:`core.plans`; this module adds the sign-in check, the domain
errors, the audit entries and the units of work: a plan change and its ``plan_history`` entry are
one commit (in :func:`core.plans.change`), and so are a new plan, its first history entry and its
audit entry. Every call that changes a plan takes the ``version`` the caller edited: a change based
on an older one is a :class:`~core.services.errors.Conflict` with code ``version_conflict``.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from core import plans as rules
from core.i18n import available_locales
from core.services import audit
from core.services.catalogue import plan_exporter, run_export
from core.services.errors import translated

PLANS = rules.PLANS
HISTORY = rules.HISTORY
EDITORS = ("employee", "coach")


def snapshotter(registry) -> rules.Snapshotter:
    """Copies of competency, question and activity text in every available language."""
    return rules.Snapshotter(registry, available_locales())


# ----------------------------------------------------------------------------- reading


def list_plans(storage, actor, *, person_id: str | None = None, status: str | None = None,
               overdue_only: bool = False, competency: str | None = None) -> list[tuple[dict, str]]:
    """(plan, relation) for the plans the actor may see — their own, their coachees' (admins: all) —
    newest change first."""
    audit.require(actor, "employee")
    return rules.visible_plans(storage, actor, person_id=person_id, status=status, overdue_only=overdue_only,
                               competency=competency)


def person_names(storage, actor, found: Iterable[tuple[dict, str]]) -> dict[str, str]:
    """The names of the people whose plans ``found`` (from :func:`list_plans`) holds."""
    audit.require(actor, "employee")
    people = storage.collection("people")
    names = {}
    for plan, _rel in found:
        if plan["person_id"] not in names:
            names[plan["person_id"]] = (people.get(plan["person_id"]) or {}).get("name", "")
    return names


def get_plan(storage, actor, plan_id: str) -> tuple[dict, str]:
    """The stored plan and how the actor relates to it; :class:`NotFound` for a plan they may not
    see (its existence does not leak). Show it through :func:`core.plans.for_viewer`."""
    audit.require(actor, "employee")
    with translated():
        return rules.visible_plan(storage, actor, plan_id)


def people_for_new_plan(storage, actor) -> list[dict]:
    """People the actor may start a dialogue with: their active coachees (coaches and admins), then themself."""
    audit.require(actor, "employee")
    if not actor.person_id:
        return []
    people = storage.collection("people")
    result = ([p for p in people.find(coach_id=actor.person_id) if p.get("status") == "active"]
              if actor.role in ("coach", "admin") else [])
    me = people.get(actor.person_id)
    return sorted(result, key=lambda p: p["name"].lower()) + ([me] if me else [])


def details(storage, actor, plan_id: str) -> dict[str, Any]:
    """What the plan page shows around the plan: the person, the coach, the history as the actor may
    see it, and the names of the accounts in it (the person's name, else the sign-in name; none for
    an erased account)."""
    plan, rel = get_plan(storage, actor, plan_id)
    people = storage.collection("people")
    entries = rules.history(storage, plan_id, rel)
    accounts = storage.collection("accounts")
    names = {}
    for account_id in {h["by"] for h in entries} | {f["by"] for f in plan["follow_ups"]}:
        account = accounts.get(account_id)
        if account is None:
            continue
        person = people.get(account["person_id"]) if account.get("person_id") else None
        names[account_id] = person["name"] if person else account["username"]
    return {"plan": plan, "rel": rel, "person": people.get(plan["person_id"]) or {},
            "coach": people.get(plan["coach_id"]) if plan.get("coach_id") else None, "history": entries, "names": names}


def history(storage, actor, plan_id: str) -> list[dict]:
    """Who changed what and when (field names, never content); changes to private items only for the employee."""
    _plan, rel = get_plan(storage, actor, plan_id)
    return rules.history(storage, plan_id, rel)


def suggestions(storage, registry, actor, plan_id: str) -> tuple[dict, list, list]:
    """(plan, questions, activities) suggested for the plan's focus competencies, the situation's first."""
    plan, _rel = get_plan(storage, actor, plan_id)
    questions, activities = rules.suggestions(registry, plan)
    return plan, questions, activities


def document(storage, actor, plan_id: str, locale: str, demo: bool = False) -> tuple[dict, dict[str, Any]]:
    """(plan, the plan as a document in ``locale``) — the printable guide and the exporters read it."""
    plan, rel = get_plan(storage, actor, plan_id)
    return plan, rules.plan_document(storage, plan, rel, locale, demo)


def export(storage, registry, actor, plan_id: str, exporter_id: str, locale: str, demo: bool = False) -> tuple[bytes, Any]:
    """Export the plan (or its guide) with an exporter of subject ``plan`` or ``dialogue_guide``:
    (the file, the exporter). Private notes are in it only for the employee. Audited."""
    _plan, data = document(storage, actor, plan_id, locale, demo)
    exporter = plan_exporter(registry, exporter_id)
    body = run_export(registry, exporter, data, locale)
    audit.record(storage, actor, "export", "plan", plan_id)
    return body, exporter


# ----------------------------------------------------------------------------- changing


def create_plan(storage, registry, actor, person_id: str, situation: str, mode: str) -> tuple[dict, str]:
    """Start a dialogue: a coach for a person they coach (``coaching``), an employee for themself
    (``self_reflection``). The plan, its history entry and the audit entry are one commit."""
    audit.require(actor, "employee")
    with translated():
        plan = rules.create_plan(storage, snapshotter(registry), actor, person_id, situation, mode,
                                 audit_entry=audit.entry(actor, "create", "plan", None))
    return plan, rules.relation(storage, actor, plan)


def change(storage, actor, plan_id: str, version: int | None, action: str,
           mutate: Callable[[dict, str], Iterable[str]], allow: Iterable[str] = EDITORS) -> tuple[dict, str]:
    """Apply ``mutate(plan, relation) -> changed field names`` (the :mod:`core.plans` setters) as
    ``action``: who may edit, the version, the limits and private items are checked by
    :func:`core.plans.change`; the plan and its history entry are one commit. Returns (plan, relation)."""
    audit.require(actor, "employee")
    with translated():
        plan = rules.change(storage, actor, plan_id, version, action, mutate, allow)
    return plan, rules.relation(storage, actor, plan)


def update(storage, registry, actor, plan_id: str, version: int | None, data: dict) -> tuple[dict, str]:
    """Change any of ``focus``, ``questions`` (ids of suggested ones), ``own_questions``,
    ``activities``, ``goals``, ``follow_up_date`` — what is left out stays as it is."""
    snap = snapshotter(registry)

    def mutate(plan, rel):
        fields_changed: list[str] = []
        if "focus" in data:
            fields_changed += rules.set_focus(plan, snap, data["focus"])
        if "questions" in data or "own_questions" in data:
            chosen = data.get("questions", [q["id"] for q in plan["questions"] if q["source"] != "own"])
            own = data.get("own_questions", [{"id": q["id"], "text": q["text"].get("_", ""), "competency": q["competency"]}
                                             for q in plan["questions"] if q["source"] == "own"])
            fields_changed += rules.set_questions(plan, snap, registry, chosen, own)
        if "activities" in data:
            fields_changed += rules.set_activities(plan, snap, registry, data["activities"], rules.person_name(storage, plan))
        if "goals" in data or "follow_up_date" in data:
            fields_changed += rules.set_goals(plan, data.get("goals", {}), data.get("follow_up_date", "unchanged"))
        return fields_changed

    return change(storage, actor, plan_id, version, "update", mutate)


def set_focus(storage, registry, actor, plan_id: str, version: int | None, competency_ids: list[str]) -> tuple[dict, str]:
    snap = snapshotter(registry)
    return change(storage, actor, plan_id, version, "update", lambda plan, rel: rules.set_focus(plan, snap, competency_ids))


def set_activities(storage, registry, actor, plan_id: str, version: int | None, items: list[dict]) -> tuple[dict, str]:
    """Replace the plan's activities (see :func:`core.plans.set_activities`); a new one is owned by the person."""
    return update(storage, registry, actor, plan_id, version, {"activities": items})


def set_note(storage, actor, plan_id: str, version: int | None, question_id: str, note: str,
             shared: bool | None = None) -> tuple[dict, str]:
    """A note for a question (autosave); in self-reflection the employee alone decides whether it is ``shared``."""
    return change(storage, actor, plan_id, version, "note",
                  lambda plan, rel: rules.set_note(plan, rel, question_id, note, shared))


def set_activity_status(storage, actor, plan_id: str, version: int | None, activity_id: str, status: str) -> tuple[dict, str]:
    """Progress on an activity: recorded without undoing the agreement."""
    return change(storage, actor, plan_id, version, "activity_status",
                  lambda plan, rel: rules.set_activity_status(plan, activity_id, status))


def agree(storage, actor, plan_id: str, version: int | None) -> tuple[dict, str]:
    """Confirm the plan for the actor's own role; a self-reflection by the employee alone."""
    return change(storage, actor, plan_id, version, "agree", lambda plan, rel: rules.agree(plan, rel))


def add_follow_up(storage, actor, plan_id: str, version: int | None, note: str, next_date: Any = None) -> tuple[dict, str]:
    """A follow-up talk held, and optionally the date of the next one."""
    return change(storage, actor, plan_id, version, "follow_up",
                  lambda plan, rel: rules.add_follow_up(plan, actor, note, next_date))
