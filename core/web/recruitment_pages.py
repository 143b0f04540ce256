"""Pages from recruitment to development: a person's recruitment record (interview assessment and
agreed development needs per competency, with the ``interview`` questions), the plan started from
it, the employee's preparation sheet before the medarbetarsamtal, and the pieces the plan pages
include (the record beside the dialogue, shared preparation answers, follow-up questions).

Every view parses the form, calls :mod:`core.services.recruitment` or
:mod:`core.services.preparation` — which check permissions and audit — and renders.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale

from core import auth, plans
from core.context import kbp
from core.i18n import available_locales
from core.i18n import gettext as _
from core.present import Presenter
from core.services import preparation, recruitment
from core.services.errors import Conflict, Invalid, NotFound
from core.services.people import get_person, person_with_coach

bp = Blueprint("recruitment_web", __name__)

RATING_LABELS = {1: "Not shown", 2: "Partly shown", 3: "As the requirement profile asks", 4: "Clearly stronger than required"}


def _mark_for_extraction() -> None:
    _("Not shown"), _("Partly shown"), _("As the requirement profile asks"), _("Clearly stronger than required")


def storage():
    return kbp().storage


def actor():
    return auth.current_account()


def presenter() -> Presenter:
    return Presenter(kbp().registry, str(get_locale()))


def snapshotter() -> plans.Snapshotter:
    return plans.Snapshotter(kbp().registry, available_locales())


def follow_up_questions(plan: dict) -> list[dict]:
    """Per focus competency, the ``follow_up`` questions of the content for the follow-up meeting;
    a competency whose framework has none gets the three questions every follow-up asks."""
    registry, p = kbp().registry, presenter()
    generic = [_("What has happened since we last talked about %(name)s?"),
               _("What have you learned, and what surprised you?"),
               _("What will you do next, and what support do you need?")]
    result = []
    for f in plan["focus"]:
        name = plans.pick(f["name"], str(get_locale()), f)
        found = [p.question(qs, q)["text"] for qs, q in registry.questions_for(f["competency"], "follow_up")]
        result.append({"competency": f["competency"], "name": name,
                       "questions": found or [generic[0] % {"name": name}, *generic[1:]]})
    return result


@bp.app_context_processor
def recruitment_helpers():
    """What the plan pages include: the recruitment record beside a dialogue in *recruited with a
    development need* (interview notes for the coach and admins only), the shared preparation
    answers, the follow-up questions."""

    def recruitment_for_plan(plan):
        record, rel = recruitment.for_plan(storage(), actor(), plan)
        return {"record": record, "rel": rel} if record else None

    def preparation_for_plan(plan):
        return preparation.shared_for_plan(storage(), actor(), plan)

    def recruitment_link(person_id):
        """Whether the person page links to the recruitment record (one to see, or to keep)."""
        record, rel = recruitment.find_record(storage(), actor(), person_id)
        return record is not None or rel in ("coach", "admin")

    return {"recruitment_for_plan": recruitment_for_plan, "recruitment_link": recruitment_link, "preparation_for_plan": preparation_for_plan,
            "follow_up_questions": follow_up_questions, "RATING_LABELS": RATING_LABELS}


# ----------------------------------------------------------------------------- the recruitment record


def _frameworks():
    reg = kbp().registry
    p = presenter()
    return [p.framework_detail(fw) for fw in reg.frameworks.values() if reg.is_available(fw.id)]


def _render(person, record, rel, *, choose=False, errors=None, status=200):
    gids = [c["competency"] for c in (record or {}).get("competencies", [])]
    questions = recruitment.interview_questions(kbp().registry, presenter(), gids)
    return render_template("recruitment.html", person=person, record=record, rel=rel, choose=choose or record is None,
                           frameworks=_frameworks() if (choose or record is None) else [], chosen=gids,
                           questions=questions, errors=errors or {},
                           can_write=rel in ("coach", "admin"), limits=recruitment.LIMITS), status


@bp.route("/people/<person_id>/recruitment", methods=["GET", "POST"])
def record_page(person_id):
    person, _coach = person_with_coach(storage(), actor(), person_id)
    record, rel = recruitment.find_record(storage(), actor(), person_id)
    if request.method == "GET":
        if record is None and not recruitment.can_write(storage(), actor(), person_id):
            raise NotFound(_("No recruitment record has been kept for this person."))
        return _render(person, record, rel, choose=request.args.get("choose") == "1")
    form = request.form
    action = form.get("action", "save")
    if action == "delete":
        recruitment.delete_record(storage(), actor(), person_id)
        flash(_("The recruitment record was removed."))
        return redirect(url_for("people_web.person_view", person_id=person_id))
    version = int(form["version"]) if form.get("version", "").isdigit() else None
    if action == "choose":
        data = {"competencies": [{"competency": gid} for gid in form.getlist("competency")]}
    else:
        data = {"role_title": form.get("role_title", ""),
                "competencies": [{"competency": c["competency"], "rating": form.get(f"rating_{c['competency']}") or None,
                                  "notes": form.get(f"notes_{c['competency']}", ""), "need": form.get(f"need_{c['competency']}", "")}
                                 for c in (record or {}).get("competencies", [])]}
    try:
        recruitment.save_record(storage(), snapshotter(), actor(), person_id, data, version)
    except (Invalid, Conflict) as exc:
        flash(exc.message, "error")
        return _render(person, record, rel, choose=action == "choose", errors=exc.errors, status=exc.status)
    flash(_("The recruitment record was saved."))
    return redirect(url_for("recruitment_web.record_page", person_id=person_id))


@bp.route("/people/<person_id>/recruitment/plan", methods=["POST"])
def start_plan(person_id):
    plan = recruitment.start_plan(storage(), snapshotter(), actor(), person_id)
    flash(_("The plan was started from the recruitment record: check the focus competencies, then continue."))
    return redirect(url_for("plan_web.plan_focus", plan_id=plan["id"]))


def offer(person_id: str, situation: str):
    """For the new-dialogue page: when the person has a recruitment record and the situation is
    *recruited with a development need*, the page offering to start from it (else None)."""
    if request.form.get("from_recruitment") is not None:
        return None
    if not recruitment.offers_plan(storage(), actor(), person_id, situation):
        return None
    record, rel = recruitment.get_record(storage(), actor(), person_id)
    person = get_person(storage(), actor(), person_id)
    return render_template("recruitment_offer.html", person=person, record=record, rel=rel, situation=situation)


# ----------------------------------------------------------------------------- the preparation sheet


@bp.route("/plans/<plan_id>/prepare", methods=["GET", "POST"])
def prepare(plan_id):
    plan, sheet, rel = preparation.get_sheet(storage(), actor(), plan_id)
    registry = kbp().registry
    if request.method == "POST":
        form = request.form
        answers = [{"question": q.id, "note": form.get(f"answer_{q.id}", ""), "shared": form.get(f"shared_{q.id}") == "1"}
                   for _qs, q in preparation.questions(registry, plan) if f"answer_{q.id}" in form]
        version = int(form["version"]) if form.get("version", "").isdigit() else None
        try:
            preparation.save_sheet(storage(), snapshotter(), registry, actor(), plan_id, answers, version)
        except (Invalid, Conflict) as exc:
            flash(exc.message, "error")
            return redirect(request.path)
        flash(_("Your preparation was saved."))
        return redirect(request.path)
    p = presenter()
    answers = {a["question"]: a for a in sheet["answers"]}
    blocks = [{"focus": f, "entries": [(p.question(qs, q), answers.get(q.id)) for qs, q in preparation.questions(registry, plan)
                                       if q.competency == f["competency"]]} for f in plan["focus"]]
    person = get_person(storage(), actor(), plan["person_id"])
    return render_template("preparation.html", plan=plan, sheet=sheet, rel=rel, blocks=blocks, person=person,
                           note_limit=plans.LIMITS["note"])
