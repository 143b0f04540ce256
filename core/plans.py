"""Development dialogues and development plans: the main job.

A *plan* is one development dialogue and what came out of it, stored in the collection ``plans``:

    person_id, coach_id          whose plan it is, and their coach (kept equal to the person's
                                 current coach by :func:`follow_coach`; access never relies on it)
    mode                         ``coaching`` (a coach with the employee) or ``self_reflection``
    situation                    role_changes | new_role | recruited_need | grow_further
    focus                        1–5 focus competencies, each with a snapshot of its name and
                                 definition in every language, and the agreed ``goal``
    questions                    the questions chosen for the talk (snapshot of their text), with
                                 a ``note`` and, in self-reflection, ``shared`` (private until the
                                 employee shares it)
    activities                   chosen or written activities (snapshot of title/description),
                                 each with owner, due date and status
    follow_up_date, follow_ups   the next follow-up, and notes from follow-ups held
    status, agreed               draft → agreed when both employee and coach have confirmed
    version                      increments on every change; an edit based on an older version
                                 is refused (:class:`PlanConflict`) instead of silently winning

**Snapshots.** A plan copies the text of every competency, question and activity it uses, in
every available language. It stays readable when the content changes, an activity is archived
or the framework's licence lapses.

**Who may do what** (checked here, on the server, for every operation): the employee and their
*current* coach (the ``coach_id`` of the person record, read at every request) see and edit the
plan; an admin may read it (privacy export and erasure); nobody else learns that it exists.
Private self-reflection items (a note not shared, and an own question not shared) are the
employee's alone: they are removed from what anyone else receives, and :func:`change` puts them
back unchanged whatever anyone else's edit did to them. Agreement is recorded for the caller's own
role only; a self-reflection is agreed by the employee alone. Every change is written to
``plan_history`` (who, when, what — field names, not content); a change only to private items is
marked ``private`` and shown to the employee only.
"""
from __future__ import annotations

import copy
import time
import uuid
from datetime import date
from typing import Any, Callable, Iterable

from flask import current_app, has_app_context

from core import i18n, model
from core.i18n import gettext as _
from core.schemas import sanitised, text_problem
from core.present import Presenter
from core.registry import Registry

PLANS = "plans"
HISTORY = "plan_history"
MODES = ("coaching", "self_reflection")
STATUSES = ("draft", "agreed")
ACTIVITY_STATUSES = ("planned", "in_progress", "done", "dropped")
#: The limits of a plan, checked here for the API, the pages and the CLI alike (the API schemas
#: reuse the numbers so the OpenAPI document shows them). They keep every export of the largest
#: allowed plan well within a second (``benchmarks/bench_limits.py``).
LIMITS: dict[str, int] = {
    "focus": 5,                      # focus competencies
    "questions": 40,                 # suggested questions chosen for the talk
    "own_questions": 20,             # questions written in the talk
    "activities": 30,                # activities in the plan
    "follow_ups": 50,                # follow-up notes
    "question_text": 500,            # characters of an own question
    "note": 4000,                    # characters of a note on a question
    "goal": 1000,                    # characters of the goal of a focus competency
    "activity_title": 200,           # characters of an activity title
    "activity_description": 2000,    # characters of an activity description
    "owner": 100,                    # characters of an activity's owner
    "follow_up_note": 2000,          # characters of a follow-up note
    "plan_text": 60000,              # characters written into one plan, all fields together
}
MAX_FOCUS = LIMITS["focus"]


class PlanError(Exception):
    def __init__(self, message: str, status: int = 422, errors: dict | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.errors = errors or {}
        self.code = code


class PlanConflict(PlanError):
    def __init__(self):
        super().__init__(
            _("This plan was changed by someone else (or in another tab) after you opened it. "
              "Reload the plan to see the latest version, then make your change again."),
            409, code="version_conflict")


def _text(value: Any, field: str, limit: str, what: str | None = None, current: str | None = None) -> str:
    """``value`` as text, checked against the text rule and ``LIMITS[limit]`` (PlanError naming ``field``).
    Text stored before the limits (``current``, unchanged) is kept as it is, so old plans stay editable."""
    text = "" if value is None else str(value)
    if current is not None and text == current:
        return text
    problem = text_problem(text)
    if problem is None and len(text) > LIMITS[limit]:
        problem = _("At most %(num)d characters (this text has %(len)d).", num=LIMITS[limit], len=len(text))
    if problem:
        raise PlanError(problem if what is None else f"{what}: {problem}", errors={field: [problem]})
    return text


def _count(items: list, field: str, message: str, current: int = 0) -> None:
    """At most ``LIMITS[field]`` items; a plan stored with more before the limits may keep, not add."""
    if len(items) > LIMITS[field] and len(items) > current:
        raise PlanError(message, errors={field: [message]})


def written_length(plan: dict) -> int:
    """Characters written into the plan by people (notes, goals, own questions, activities, follow-ups)."""
    total = sum(len(f.get("goal", "")) for f in plan["focus"])
    for q in plan["questions"]:
        total += len(q.get("note", "")) + (len(q["text"].get("_", "")) if q.get("source") == "own" else 0)
    for a in plan["activities"]:
        total += len(a.get("owner", "")) + sum(len(t) for t in a["title"].values()) + sum(len(t) for t in a["description"].values())
    return total + sum(len(f.get("note", "")) for f in plan["follow_ups"])


def _today() -> date:
    return date.today()


# ----------------------------------------------------------------------------- snapshots


def pick(texts: dict[str, str] | None, locale: str, origin: dict | None = None) -> str:
    """A snapshot's text in ``locale`` (never empty when the snapshot has some text).

    A plan made before ``locale`` existed has no snapshot in it. Then ``origin`` — the focus,
    question or activity entry the texts belong to — says where the text came from, and the reader
    gets the live translation of its source-language text, else that source-language text. Without
    an origin (or when its source is gone) any text the snapshot has is used.
    """
    if not texts:
        return ""
    if texts.get(locale):
        return texts[locale]
    found = _origin_domain(origin) if origin is not None else None
    if found is not None:
        domain, locale_dirs = found
        source_text = texts.get(domain.source_language)
        if source_text:
            return i18n.content(source_text, domain.source_language, domain.domain, locale, locale_dirs) or source_text
    return next((t for t in texts.values() if t), "")


def focus_path(focus: dict, locale: str) -> list[str]:
    """What a focus competency of a deep framework sits in, outermost first (framework, group, the
    competencies above it), in ``locale``; ``[]`` for a two-level framework. The plan's snapshot when
    it has one, else the live catalogue's (plans made before paths were kept)."""
    paths = focus.get("path")
    if isinstance(paths, dict) and paths:
        return list(paths.get(locale) or next((p for p in paths.values() if p), []))
    if not has_app_context() or "kbp" not in current_app.extensions:
        return []
    registry = current_app.extensions["kbp"].registry
    comp = registry.competency(focus.get("competency", ""))
    return Presenter(registry, locale).trail(comp) if comp is not None else []


def focus_trail(focus: dict, locale: str) -> str:
    """Where a focus competency comes from, as pages and exports print it next to its name: the
    framework's name, or for a deep framework "Framework › Group › …" down to the competency above it."""
    return " › ".join(focus_path(focus, locale)) or pick(focus.get("framework"), locale, focus)


def focus_label(focus: dict, locale: str) -> str:
    """A focus competency's name as lists print it: "Framework › Group › … › Name" in a deep
    framework, the name alone in a two-level one."""
    return " › ".join([*focus_path(focus, locale), pick(focus.get("name"), locale, focus)])


def _origin_domain(origin: dict) -> tuple[model.TextDomain, dict[str, str]] | None:
    """Where a snapshot entry's text is translated, from the live registry (None outside an app)."""
    if not has_app_context() or "kbp" not in current_app.extensions:
        return None
    registry = current_app.extensions["kbp"].registry
    domain = None
    if "ref" in origin:  # an activity
        source = registry.activity_sources.get((origin.get("ref") or {}).get("source"))
        if source is not None:
            domain = model.TextDomain(source.domain, source.source_language)
    elif "text" in origin and "source" in origin:  # a question
        qs = registry.question_sets.get(origin["source"])
        domain = qs.text if qs is not None else None
    elif "competency" in origin:  # a focus competency
        comp = registry.competency(origin["competency"])
        domain = comp.text if comp is not None else None
    return (domain, registry.locale_dirs) if domain is not None else None


class Snapshotter:
    def __init__(self, registry: Registry, locales: Iterable[str]):
        self.registry = registry
        self.locales = list(locales)
        self._p = {loc: Presenter(registry, loc) for loc in self.locales}

    def competency(self, gid: str) -> dict[str, Any]:
        comp = self.registry.competency(gid)
        if comp is None or not self.registry.is_available(comp.framework_id):
            raise PlanError(_("Unknown competency: %(id)s", id=gid), errors={"focus": [gid]})
        if not comp.selectable:
            raise PlanError(_("%(id)s is a heading, not a competency: choose one of the competencies under it.",
                              id=gid), errors={"focus": [gid]})
        fw = self.registry.frameworks[comp.framework_id]
        entry = {
            "competency": gid,
            "framework": {loc: p.tr(fw.name, fw.text) for loc, p in self._p.items()},
            "name": {loc: p.tr(comp.name, comp.text) for loc, p in self._p.items()},
            "definition": {loc: p.tr(comp.definition, comp.text) for loc, p in self._p.items()},
            "goal": "",
        }
        paths = {loc: p.trail(comp) for loc, p in self._p.items()}
        if any(paths.values()):  # a deep framework: framework › group › … above the competency
            entry["path"] = paths
        return entry

    def question(self, qs: model.QuestionSet, q: model.Question, shared: bool) -> dict[str, Any]:
        return {"id": q.id, "competency": q.competency, "kind": q.kind, "source": qs.id,
                "text": {loc: p.tr(q.text, qs.text) for loc, p in self._p.items()}, "note": "", "shared": shared}

    def activity(self, a: model.Activity) -> dict[str, Any]:
        texts = {loc: p.activity_text(a, loc) for loc, p in self._p.items()}
        return {"ref": {"source": a.source, "id": a.id}, "kind": a.kind, "effort": a.effort,
                "title": {loc: t[0] for loc, t in texts.items()}, "description": {loc: t[1] for loc, t in texts.items()}}


# ----------------------------------------------------------------------------- permissions


def relation(storage, account, plan: dict) -> str | None:
    """How ``account`` relates to ``plan``: ``employee``, ``coach``, ``admin`` or None (no access)."""
    if account is None:
        return None
    if account.person_id and account.person_id == plan["person_id"]:
        return "employee"
    if account.person_id and account.role in ("coach", "admin") and is_current_coach(storage, account.person_id, plan["person_id"]):
        return "coach"
    if account.role == "admin":
        return "admin"
    return None


def is_current_coach(storage, coach_person_id: str, person_id: str) -> bool:
    """Whether ``coach_person_id`` is ``person_id``'s coach *now* (the person record decides, never
    the ``coach_id`` a plan recorded when it was started)."""
    person = storage.collection("people").get(person_id)
    return bool(person and coach_person_id and person.get("coach_id") == coach_person_id)


def visible_plan(storage, account, plan_id: str) -> tuple[dict, str]:
    plan = storage.collection(PLANS).get(plan_id)
    rel = relation(storage, account, plan) if plan else None
    if plan is None or rel is None:
        raise PlanError(_("No such plan."), 404)
    return plan, rel


def is_private(question: dict) -> bool:
    """A question whose note the employee has not shared (self-reflection)."""
    return not question.get("shared", True)


def for_viewer(plan: dict, rel: str) -> dict:
    """The plan as ``rel`` may see it: private items only for the employee. Anyone else sees a
    private question from the content as a question without a note, and not at all a private
    question the employee wrote themself (its text is theirs)."""
    if rel == "employee":
        return plan
    plan = dict(plan)
    plan["questions"] = [q if not is_private(q) else {**q, "note": "", "private": True}
                         for q in plan["questions"] if not (is_private(q) and q.get("source") == "own")]
    return plan


def keep_private_items(before: dict, after: dict) -> None:
    """Put the employee's private questions of ``before`` back into ``after`` exactly as they were
    (same content, same place): nobody but the employee can change or remove them."""
    private = {q["id"]: q for q in before["questions"] if is_private(q)}
    if not private:
        return
    result = [private.get(q["id"], q) for q in after["questions"]]
    present = {q["id"] for q in result}
    for index, q in enumerate(before["questions"]):
        if q["id"] in private and q["id"] not in present:
            result.insert(min(index, len(result)), copy.deepcopy(q))
    after["questions"] = result


def _others_view(plan: dict) -> dict:
    shown = for_viewer(plan, "coach")
    return {k: v for k, v in shown.items() if k not in ("version", "updated_at")}


# ----------------------------------------------------------------------------- changes


def _history_entry(plan_id: str, account_id: str, action: str, fields: Iterable[str] = (), private: bool = False) -> dict:
    """A ``plan_history`` record, written in the same unit of work as the change it describes."""
    entry = {"plan_id": plan_id, "at": time.time(), "by": account_id, "action": action, "fields": sorted(set(fields))}
    if private:
        entry["private"] = True
    return entry


def change(storage, account, plan_id: str, expected_version: int | None, action: str,
           mutate: Callable[[dict, str], Iterable[str]], allow: Iterable[str] = ("employee", "coach")) -> dict:
    """Apply ``mutate(plan, relation) -> changed field names``, checking the version: the plan and its
    history entry are one unit of work (both are written, or neither)."""
    with storage.unit_of_work(PLANS, HISTORY) as uow:
        tx = uow[PLANS]
        plan = tx.get(plan_id)
        rel = relation(storage, account, plan) if plan else None
        if plan is None or rel is None:
            raise PlanError(_("No such plan."), 404)
        if rel not in allow:
            raise PlanError(_("Only the employee and their coach can change a plan."), 403)
        if expected_version is not None and expected_version != plan["version"]:
            raise PlanConflict()
        before = copy.deepcopy(plan)
        changed = set(mutate(plan, rel) or ())
        if rel != "employee":
            keep_private_items(before, plan)
        if not changed:
            return plan
        after = written_length(plan)
        if after > LIMITS["plan_text"] and after > written_length(before):  # a plan stored over the limit may shrink, not grow
            message = _("The plan would hold more than %(num)d characters of text. Shorten notes or descriptions, "
                        "or start a new plan for the next period.", num=LIMITS["plan_text"])
            raise PlanError(message, errors={name: [message] for name in sorted(changed)})
        # a change to private items only is invisible to everyone but the employee: no new
        # "updated" time, no agreement undone, a history entry only the employee is shown
        private = plan != before and _others_view(plan) == _others_view(before)
        content_fields = {"focus", "goals", "activities", "questions"}
        if (plan["status"] == "agreed" and changed & content_fields and action not in ("note", "follow_up")
                and not private):
            plan["status"], plan["agreed"] = "draft", {"employee": None, "coach": None}
            changed.add("status")
        plan["version"] += 1
        if not private:
            plan["updated_at"] = time.time()
        stored = tx.upsert(plan)
        uow[HISTORY].insert(_history_entry(plan_id, account.id, action, changed, private=private))
    return stored


def follow_coach(storage, person_id: str, coach_id: str | None, by: str) -> int:
    """A person's coach changed: their plans record the new coach (access follows the person
    record anyway). A coaching plan not yet agreed loses the former coach's pending confirmation —
    the new coach confirms for themself; an agreed plan stays agreed. The history keeps who agreed
    what, and gets a ``coach_change`` entry. Returns how many plans changed."""
    moved = []
    with storage.unit_of_work(PLANS, HISTORY) as uow:
        tx = uow[PLANS]
        for plan in tx.find(person_id=person_id):
            if plan.get("coach_id") == coach_id:
                continue
            changes: dict[str, Any] = {"coach_id": coach_id, "version": plan["version"] + 1, "updated_at": time.time()}
            if plan["status"] != "agreed" and plan["agreed"].get("coach"):
                changes["agreed"] = {**plan["agreed"], "coach": None}
            tx.update(plan["id"], changes)
            uow[HISTORY].insert(_history_entry(plan["id"], by, "coach_change", ["coach_id"]))
            moved.append(plan["id"])
    return len(moved)


def may_start(account, person: dict) -> bool:
    """Whether ``account`` may start a dialogue with ``person``: a self-reflection for themself, a
    coaching dialogue with someone they coach now."""
    if account is None or not account.person_id:
        return False
    return account.person_id == person["id"] or (person.get("coach_id") == account.person_id
                                                and account.role in ("coach", "admin"))


def create_plan(storage, snap: Snapshotter, account, person_id: str, situation: str, mode: str,
                audit_entry: dict | None = None) -> dict:
    """Start a plan: the plan, its first history entry and ``audit_entry`` (about the new plan) are
    one unit of work."""
    if situation not in model.SITUATIONS:
        raise PlanError(_("Choose one of the four situations."), errors={"situation": [situation]})
    if mode not in MODES:
        raise PlanError(_("Choose coaching or self-reflection."), errors={"mode": [mode]})
    person = storage.collection("people").get(person_id)
    own = account.person_id == person_id
    if person is None or not may_start(account, person):
        raise PlanError(_("No such person."), 404)
    if mode == "self_reflection" and not own:
        raise PlanError(_("Self-reflection is done by the employee themself."), 403)
    if mode == "coaching" and own:
        raise PlanError(_("A coaching dialogue is started by the employee's coach; choose self-reflection for your own."), 403)
    now = time.time()
    with storage.unit_of_work(PLANS, HISTORY, *(("audit",) if audit_entry else ())) as uow:
        plan = uow[PLANS].insert({
            "person_id": person_id,
            "coach_id": person.get("coach_id"),
            "created_by": account.id,
            "mode": mode,
            "situation": situation,
            "focus": [],
            "questions": [],
            "activities": [],
            "follow_up_date": None,
            "follow_ups": [],
            "status": "draft",
            "agreed": {"employee": None, "coach": None},
            "version": 1,
            "created_at": now,
            "updated_at": now,
        })
        uow[HISTORY].insert(_history_entry(plan["id"], account.id, "create"))
        if audit_entry:
            uow["audit"].insert({**audit_entry, "subject_id": plan["id"]})
    return plan


def set_focus(plan: dict, snap: Snapshotter, gids: list[str]) -> list[str]:
    gids = list(dict.fromkeys(gids))
    if not 1 <= len(gids) <= MAX_FOCUS:
        raise PlanError(_("Choose between 1 and %(num)d focus competencies.", num=MAX_FOCUS), errors={"focus": gids})
    old = {f["competency"]: f for f in plan["focus"]}
    plan["focus"] = [old.get(g) or snap.competency(g) for g in gids]
    # questions and activities of competencies no longer in focus are dropped with them
    plan["questions"] = [q for q in plan["questions"] if q["competency"] in gids or q["source"] == "own"]
    return ["focus"]


def suggestions(registry: Registry, plan: dict) -> tuple[list, list]:
    """Questions (of the plan's kind) and activities for the focus competencies; the situation's first."""
    kind = "self_reflection" if plan["mode"] == "self_reflection" else "coaching"
    gids = [f["competency"] for f in plan["focus"]]
    questions = [(qs, q) for g in gids for qs, q in registry.questions_for(g, kind)]
    acts = registry.activities_for(gids)
    situation = plan["situation"]
    questions.sort(key=lambda item: situation not in item[1].situations)
    acts.sort(key=lambda a: (situation not in a.situations, -len(set(a.competencies) & set(gids))))
    return questions, acts


def set_questions(plan: dict, snap: Snapshotter, registry: Registry, chosen_ids: list[str], own: list[dict]) -> list[str]:
    """Keep the chosen suggested questions (with their notes) and the plan's own questions."""
    available = {q.id: (qs, q) for qs, q in suggestions(registry, plan)[0]}
    existing = {q["id"]: q for q in plan["questions"]}
    shared_default = plan["mode"] == "coaching"
    result = []
    chosen_ids = list(dict.fromkeys(chosen_ids))
    _count(chosen_ids, "questions", _("Choose at most %(num)d questions for one dialogue.", num=LIMITS["questions"]),
           sum(1 for q in plan["questions"] if q["source"] != "own"))
    own = [item for item in own if (item.get("text") or "").strip()]
    _count(own, "own_questions", _("A plan can have at most %(num)d own questions.", num=LIMITS["own_questions"]),
           sum(1 for q in plan["questions"] if q["source"] == "own"))
    for qid in chosen_ids:
        if qid in existing and existing[qid]["source"] != "own":
            result.append(existing[qid])
        elif qid in available:
            result.append(snap.question(*available[qid], shared=shared_default))
        else:
            raise PlanError(_("Unknown question: %(id)s", id=qid), errors={"questions": [qid]})
    for item in own:
        qid = item.get("id") or f"own-{uuid.uuid4().hex[:10]}"
        previous = existing.get(qid, {})
        text = _text((item.get("text") or "").strip(), "own_questions", "question_text", _("Own question"),
                     (previous.get("text") or {}).get("_"))
        result.append({"id": qid, "competency": item.get("competency") or "", "kind": "own", "source": "own",
                       "text": {"_": text}, "note": previous.get("note", ""), "shared": previous.get("shared", shared_default)})
    plan["questions"] = result
    return ["questions"]


def set_note(plan: dict, rel: str, qid: str, note: str, shared: bool | None) -> list[str]:
    for q in plan["questions"]:
        if q["id"] == qid:
            if rel != "employee" and not q.get("shared", True):
                raise PlanError(_("This note is private to the employee."), 403)
            q["note"] = _text(note, "note", "note", _("Note"), q.get("note"))
            if shared is not None:
                if rel != "employee" and shared != q.get("shared", True):
                    raise PlanError(_("Only the employee decides whether a note is shared."), 403)
                q["shared"] = shared
            return ["questions"]
    raise PlanError(_("Unknown question: %(id)s", id=qid), 404)


def _parse_date(value: Any, field: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise PlanError(_("Write dates as YYYY-MM-DD."), errors={field: [str(value)]}) from None


def set_activities(plan: dict, snap: Snapshotter, registry: Registry, items: list[dict], default_owner: str = "") -> list[str]:
    """Replace the plan's activities. Each item refers to a suggested activity (``ref``) and/or
    carries its own ``title``/``description`` (written or edited in the talk), plus owner, due, status."""
    by_ref = {(a.source, a.id): a for a in registry.activities_for([f["competency"] for f in plan["focus"]])}
    existing = {a["id"]: a for a in plan["activities"]}
    _count(items, "activities", _("A plan can have at most %(num)d activities.", num=LIMITS["activities"]), len(existing))
    result = []
    for item in items:
        current = existing.get(item.get("id") or "")
        ref = item.get("ref")
        if current is not None:
            entry = dict(current)
        elif ref:
            activity = by_ref.get((ref.get("source"), ref.get("id")))
            if activity is None:
                wanted = "%s:%s" % (ref.get("source"), ref.get("id"))
                raise PlanError(_("Unknown activity: %(id)s", id=wanted))
            entry = {"id": uuid.uuid4().hex[:12], **snap.activity(activity), "status": "planned", "owner": default_owner, "due": None}
            # filed under the focus competency the activity serves (the first one in focus order)
            entry["competency"] = next((f["competency"] for f in plan["focus"] if f["competency"] in activity.competencies), "")
        else:
            entry = {"id": uuid.uuid4().hex[:12], "ref": None, "kind": item.get("kind") or "on_the_job",
                     "effort": item.get("effort") or "weeks", "title": {}, "description": {}, "status": "planned",
                     "owner": default_owner, "due": None}
        for field in ("title", "description"):
            text = _text((item.get(field) or "").strip(), "activities", f"activity_{field}",
                         _("Activity title") if field == "title" else _("Activity description"),
                         pick(entry[field], item.get("locale", "")))
            if text and text != pick(entry[field], item.get("locale", "")):
                entry[field] = {"_": text}  # written in the talk: one text, shown in every language
        if not pick(entry["title"], "sv"):
            raise PlanError(_("Every activity needs a title."), errors={"activities": [entry["id"]]})
        if "kind" in item and item["kind"] in model.ACTIVITY_KINDS:
            entry["kind"] = item["kind"]
        if "effort" in item and item["effort"] in model.EFFORTS:
            entry["effort"] = item["effort"]
        if "owner" in item:
            entry["owner"] = _text(item["owner"] or "", "activities", "owner", _("Owner"), entry.get("owner"))
        if "due" in item:
            entry["due"] = _parse_date(item["due"], "due")
        if "status" in item:
            if item["status"] not in ACTIVITY_STATUSES:
                raise PlanError(_("Unknown status: %(id)s", id=item["status"]))
            entry["status"] = item["status"]
        focus_ids = [f["competency"] for f in plan["focus"]]
        asked = item.get("competency")
        entry["competency"] = (asked if asked in focus_ids else "") or entry.get("competency") or (focus_ids[0] if focus_ids else "")
        result.append(entry)
    plan["activities"] = result
    return ["activities"]


def set_activity_status(plan: dict, activity_id: str, status: str) -> list[str]:
    """Progress on an activity: recorded without undoing the agreement."""
    if status not in ACTIVITY_STATUSES:
        raise PlanError(_("Unknown status: %(id)s", id=status))
    for a in plan["activities"]:
        if a["id"] == activity_id:
            if a["status"] == status:
                return []
            a["status"] = status
            return ["activity_status"]
    raise PlanError(_("Unknown activity: %(id)s", id=activity_id), 404)


def set_goals(plan: dict, goals: dict[str, str], follow_up_date: Any = "unchanged") -> list[str]:
    changed = []
    for f in plan["focus"]:
        if f["competency"] in goals:
            goal = _text((goals[f["competency"]] or "").strip(), "goals", "goal", _("Goal"), f.get("goal", ""))
            if goal != f.get("goal", ""):
                f["goal"] = goal
                changed.append("goals")
    if follow_up_date != "unchanged":
        new = _parse_date(follow_up_date, "follow_up_date")
        if new != plan.get("follow_up_date"):
            plan["follow_up_date"] = new
            changed.append("follow_up_date")
    return changed


def agree(plan: dict, rel: str) -> list[str]:
    """Record the caller's own confirmation (``rel``), never someone else's."""
    if rel not in ("employee", "coach"):
        raise PlanError(_("Only the employee and their coach can confirm a plan."), 403)
    if plan["mode"] == "self_reflection" and rel != "employee":
        raise PlanError(_("A self-reflection is confirmed by the employee alone."), 403)
    if not plan["focus"] or not plan["activities"]:
        raise PlanError(_("A plan needs at least one focus competency and one activity before it can be agreed."))
    if plan["mode"] == "self_reflection":
        plan["agreed"] = {"employee": time.time(), "coach": None}
        plan["status"] = "agreed"
        return ["agreed", "status"]
    plan["agreed"][rel] = time.time()
    if plan["agreed"].get("employee") and plan["agreed"].get("coach"):
        plan["status"] = "agreed"
    return ["agreed", "status"]


def add_follow_up(plan: dict, account, note: str, next_date: Any = None) -> list[str]:
    note = _text((note or "").strip(), "note", "follow_up_note", _("Follow-up note"))
    if not note:
        raise PlanError(_("Write what you talked about at the follow-up."), errors={"note": [""]})
    if len(plan["follow_ups"]) >= LIMITS["follow_ups"]:
        message = _("A plan can have at most %(num)d follow-up notes; start a new plan for the next period.", num=LIMITS["follow_ups"])
        raise PlanError(message, errors={"follow_ups": [message]})
    plan["follow_ups"].append({"at": time.time(), "by": account.id, "note": note})
    changed = ["follow_ups"]
    if next_date not in (None, ""):
        plan["follow_up_date"] = _parse_date(next_date, "follow_up_date")
        changed.append("follow_up_date")
    return changed


# ----------------------------------------------------------------------------- lists and overview


def overdue(plan: dict, today: date | None = None) -> list[dict]:
    today = today or _today()
    return [a for a in plan["activities"] if a.get("due") and a["status"] in ("planned", "in_progress")
            and date.fromisoformat(a["due"]) < today]


def needs_follow_up(plan: dict, today: date | None = None, within_days: int = 14) -> bool:
    today = today or _today()
    if not plan.get("follow_up_date"):
        return plan["status"] == "agreed"
    return (date.fromisoformat(plan["follow_up_date"]) - today).days <= within_days


def progress(plan: dict) -> int:
    active = [a for a in plan["activities"] if a["status"] != "dropped"]
    if not active:
        return 0
    return round(100 * sum(1 for a in active if a["status"] == "done") / len(active))


def _candidate_plans(storage, account) -> list[tuple[dict, str]]:
    """(plan, relation) for the plans ``account`` may see, found through the storage's indexes
    instead of a scan; the same rules as :func:`relation`."""
    plans = storage.collection(PLANS)
    if account is None:
        return []
    if account.role == "admin":
        return [(p, relation(storage, account, p)) for p in plans.all()]
    found: dict[str, tuple[dict, str]] = {}
    me = account.person_id
    if not me:
        return []
    coached: set[str] = set()
    if account.role == "coach":  # the people the account coaches now, not the plans' recorded coach
        coached = {person["id"] for person in storage.collection("people").find(coach_id=me)}
    # one indexed query for the coachees' plans and the account's own (not one per coachee)
    for p in plans.find_any("person_id", [*sorted(coached), me]):
        found[p["id"]] = (p, "employee" if p["person_id"] == me else "coach")
    return list(found.values())


def visible_plans(storage, account, *, person_id: str | None = None, status: str | None = None,
                  overdue_only: bool = False, competency: str | None = None, page=None) -> list[tuple[dict, str]]:
    """(plan, relation) of the plans ``account`` may see, newest change first; one ``page``
    (:class:`core.services.paging.Page`) of them when given (a :class:`~core.services.paging.Paged` list)."""
    from core.services.paging import paginate

    result = []
    for plan, rel in _candidate_plans(storage, account):
        if rel is None:
            continue
        if person_id and plan["person_id"] != person_id:
            continue
        if status and plan["status"] != status:
            continue
        if overdue_only and not overdue(plan):
            continue
        if competency and competency not in [f["competency"] for f in plan["focus"]]:
            continue
        result.append((plan, rel))
    result.sort(key=lambda item: item[0]["updated_at"], reverse=True)
    return paginate(result, page)


def person_name(storage, plan: dict) -> str:
    person = storage.collection("people").get(plan["person_id"])
    return person["name"] if person else ""


def history(storage, plan_id: str, rel: str | None = None) -> list[dict]:
    """The plan's history as ``rel`` may see it: changes to private items only for the employee
    (``rel=None``: everything, for the employee's own export and for erasure)."""
    entries = storage.collection(HISTORY).find(plan_id=plan_id)
    if rel not in (None, "employee"):
        entries = [h for h in entries if not h.get("private")]
    return sorted(entries, key=lambda h: h["at"])


def plan_document(storage, plan: dict, rel: str, locale: str, demo: bool = False) -> dict[str, Any]:
    """The plan for exporters and the printable guide: text in ``locale`` from the snapshots."""
    return sanitised(_plan_document(storage, plan, rel, locale, demo))  # stored text may predate the text rule


def _plan_document(storage, plan: dict, rel: str, locale: str, demo: bool) -> dict[str, Any]:
    from core.exports import meta

    plan = for_viewer(plan, rel)
    people = storage.collection("people")
    person = people.get(plan["person_id"]) or {}
    coach = people.get(plan["coach_id"]) if plan.get("coach_id") else None
    return {
        "id": plan["id"],
        "version": plan["version"],
        "language": locale,
        "person": {"id": plan["person_id"], "name": person.get("name", ""), "job_title": person.get("job_title", "")},
        "coach": {"id": coach["id"], "name": coach["name"]} if coach else None,
        "mode": plan["mode"],
        "situation": plan["situation"],
        "status": plan["status"],
        "agreed": plan["agreed"],
        "follow_up_date": plan.get("follow_up_date"),
        "focus": [{"competency": f["competency"], "framework": pick(f["framework"], locale, f), "name": pick(f["name"], locale, f),
                   "definition": pick(f["definition"], locale, f), "goal": f.get("goal", ""),
                   "path": focus_path(f, locale)} for f in plan["focus"]],
        "questions": [{"id": q["id"], "competency": q["competency"], "kind": q["kind"], "text": pick(q["text"], locale, q),
                       "note": q.get("note", ""), "shared": q.get("shared", True)} for q in plan["questions"]],
        "activities": [{"id": a["id"], "competency": a.get("competency", ""), "title": pick(a["title"], locale, a),
                        "description": pick(a["description"], locale, a), "kind": a["kind"], "effort": a.get("effort", ""),
                        "owner": a.get("owner", ""), "due": a.get("due"), "status": a["status"],
                        "source": (a.get("ref") or {}).get("source", "")} for a in plan["activities"]],
        "follow_ups": [{"at": f["at"], "note": f["note"]} for f in plan["follow_ups"]],
        "created_at": plan["created_at"],
        "updated_at": plan["updated_at"],
        "meta": meta(demo),
    }
