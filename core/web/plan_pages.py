"""Pages for the dialogue flow and development plans.

The flow is five plain pages that work without JavaScript — person and situation → focus
competencies → questions (with notes) → activities → the plan — and ``static/kbp.js`` adds
autosave of notes on top. Every POST carries the plan's ``version``: when someone else saved in
between, the page says so and shows the latest version instead of overwriting it — with what the
person typed still in the fields (:mod:`core.services.plan_edits`), so nothing typed is lost.
"""
from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale

from core import auth, model, plans
from core.context import kbp
from core.services import plan_edits
from core.services import start as start_service
from core.i18n import gettext as _
from core.present import Presenter
from core.services import activities as activity_service
from core.services import plans as service
from core.services.errors import Conflict, ServiceError
from core.web.labels import PLAN_SUGGESTIONS_SHOWN

bp = Blueprint("plan_web", __name__)

ACTIVITY_STATUS_LABELS = {"planned": "Planned", "in_progress": "In progress", "done": "Done", "dropped": "Dropped"}
PLAN_STATUS_LABELS = {"draft": "Draft", "agreed": "Agreed"}
MODE_LABELS = {"coaching": "Coaching dialogue", "self_reflection": "Self-reflection"}


def _mark_for_extraction() -> None:
    _("Planned"), _("In progress"), _("Done"), _("Dropped"), _("Draft"), _("Agreed")
    _("Coaching dialogue"), _("Self-reflection")


@bp.app_context_processor
def plan_labels():
    return {"ACTIVITY_STATUS_LABELS": ACTIVITY_STATUS_LABELS, "PLAN_STATUS_LABELS": PLAN_STATUS_LABELS,
            "MODE_LABELS": MODE_LABELS, "pick": plans.pick, "PLAN_LIMITS": plans.LIMITS, "today_iso": date.today().isoformat(),
            "focus_trail": plans.focus_trail, "focus_label": plans.focus_label}


def storage():
    return kbp().storage


def locale() -> str:
    return str(get_locale())


def snapshotter() -> plans.Snapshotter:
    return service.snapshotter(kbp().registry)


def load(plan_id: str) -> tuple[dict, str]:
    return service.get_plan(storage(), auth.current_account(), plan_id)


def people_for_new_plan() -> list[dict]:
    """People the signed-in account may start a dialogue with: their coachees and themself."""
    return service.people_for_new_plan(storage(), auth.current_account())


def after_save(next_url: str) -> str:
    """Where a saved form goes: a step or language link the person clicked with unsaved input
    (``goto``, a local path only), else ``next_url`` — back on the same page at the field the person
    was in (``return_to``), so a save does not throw them to the top."""
    goto = request.form.get("goto", "")
    if re.fullmatch(r"/(?![/\\])[^\s\\]{0,2000}", goto):  # a path on this site, never another site
        return goto
    anchor = request.form.get("return_to", "")
    if next_url == request.path:  # the same page, as it was shown (e.g. with more suggestions: ?shown=60)
        next_url = request.full_path.rstrip("?")
        if anchor and re.fullmatch(r"[A-Za-z0-9_:.-]{1,100}", anchor):
            return f"{next_url}#{anchor}"
    return next_url


def refused(exc: ServiceError) -> str:
    """The message of a page shown again after a refused save (its text is kept on the page, so the
    API's "reload and make your change again" does not fit a version conflict there)."""
    if isinstance(exc, Conflict):
        return _("Someone else saved this plan after you opened it, so your changes are not saved yet.")
    return exc.message


def apply(plan_id: str, action: str, mutate, next_url: str, on_error=None):
    """Run a change from a form; on a version conflict or a problem, say so and show the latest plan
    (``on_error(exc)`` shows it with what the person typed still in the fields)."""
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        abort(400)
    try:
        service.change(storage(), auth.current_account(), plan_id, version, action, mutate)
    except ServiceError as exc:
        if exc.status in (401, 403, 404):
            raise
        if on_error is not None:
            return on_error(exc), None
        flash(exc.message, "error")
        return redirect(request.path), None
    return redirect(after_save(next_url)), True


# ----------------------------------------------------------------------------- list and overview


@bp.route("/plans")
def plan_list():
    account = auth.current_account()
    args = request.args
    status = args.get("status") if args.get("status") in plans.STATUSES else None
    competency = args.get("competency") if args.get("competency") in kbp().registry.competencies else None
    person = args.get("person") or None
    found = service.list_plans(storage(), account, person_id=person, status=status, overdue_only=args.get("overdue") == "1",
                               competency=competency)
    names = service.person_names(storage(), account, found)
    rows = [{"plan": plan, "rel": rel, "person": names[plan["person_id"]],
             "progress": plans.progress(plan), "overdue": plans.overdue(plan), "follow_up": plans.needs_follow_up(plan)}
            for plan, rel in found]
    coaching = [r for r in rows if r["rel"] == "coach"]
    follow_up = [r for r in coaching if r["follow_up"] or r["overdue"]]
    p = Presenter(kbp().registry, locale())
    competencies = sorted({(f["competency"], plans.pick(f["name"], locale(), f)) for r in rows for f in r["plan"]["focus"]}, key=lambda c: c[1])
    return render_template("plans.html", rows=rows, follow_up=follow_up, status=status, competency=competency,
                           overdue=args.get("overdue") == "1", competencies=competencies, can_start=bool(people_for_new_plan()),
                           presenter=p)


# ----------------------------------------------------------------------------- the flow


@bp.route("/plans/new", methods=["GET", "POST"])
def plan_new():
    account = auth.current_account()
    candidates = people_for_new_plan()
    if request.method == "POST":
        person_id = request.form.get("person_id", "")
        mode = "self_reflection" if person_id == account.person_id else "coaching"
        existing = start_service.open_plans(storage(), account, person_id) if mode == "coaching" else []
        if existing and request.form.get("confirm_another") != "1":  # ask before a second open dialogue
            return render_template("plan_new.html", candidates=candidates, chosen=request.form, existing=existing)
        from core.web.recruitment_pages import offer  # recruited with a need: offer the recruitment record
        offered = offer(person_id, request.form.get("situation", ""))
        if offered is not None:
            return offered
        try:
            plan, _rel = service.create_plan(storage(), kbp().registry, account, person_id, request.form.get("situation", ""), mode)
        except ServiceError as exc:
            flash(exc.message, "error")
            return render_template("plan_new.html", candidates=candidates, chosen=request.form), exc.status
        return redirect(url_for("plan_web.plan_focus", plan_id=plan["id"]))
    return render_template("plan_new.html", candidates=candidates, chosen={"person_id": request.args.get("person", "")})


@bp.route("/plans/<plan_id>/focus", methods=["GET", "POST"])
def plan_focus(plan_id):
    plan, rel = load(plan_id)
    if request.method == "POST":  # plans.change checks who may edit
        snap = snapshotter()
        chosen = plan_edits.focus_choice(request.form)

        def keep_choice(exc):  # the latest plan, with the person's choice still ticked
            latest, latest_rel = load(plan_id)
            return _focus_page(latest, latest_rel, chosen, error=refused(exc), status=exc.status)

        response, _ok = apply(plan_id, "update", lambda p, r: plans.set_focus(p, snap, chosen),
                              url_for("plan_web.plan_questions", plan_id=plan_id), on_error=keep_choice)
        return response
    return _focus_page(plan, rel, [f["competency"] for f in plan["focus"]])


def _focus_page(plan, rel, chosen, error=None, status=200):
    reg = kbp().registry
    p = Presenter(reg, locale())
    frameworks = [p.framework_detail(fw) for fw in reg.frameworks.values() if reg.is_available(fw.id)]
    return render_template("plan_focus.html", plan=plan, rel=rel, frameworks=frameworks,
                           chosen=chosen, step=2, error=error), status


@bp.route("/plans/<plan_id>/questions", methods=["GET", "POST"])
def plan_questions(plan_id):
    plan, rel = load(plan_id)
    if request.method == "POST":  # plans.change checks who may edit
        snap = snapshotter()
        registry = kbp().registry
        form = request.form

        def mutate(p, r):
            changed = plans.set_questions(p, snap, registry, plan_edits.chosen_questions(form),
                                          [{"id": qid, "text": form.get(f"own_text_{qid}", "")} for qid in form.getlist("own_id")]
                                          + [{"text": t} for t in form.getlist("own_new") if t.strip()])
            for q in p["questions"]:
                note = form.get(f"note_{q['id']}")
                if note is not None and (r == "employee" or q.get("shared", True)):
                    plans.set_note(p, r, q["id"], note, (form.get(f"shared_{q['id']}") == "1") if r == "employee" and p["mode"] == "self_reflection" else None)
            return changed

        def keep_typed(exc):  # the latest plan with the person's ticks, notes and own questions still there
            latest, latest_rel = load(plan_id)
            typed = {"ticked": set(plan_edits.chosen_questions(form)), "own_new": " ".join(form.getlist("own_new")),
                     "texts": {k: v for k, v in form.items() if k.startswith(("note_", "own_text_"))}}
            message = refused(exc)
            return _questions_page(latest, latest_rel, typed=typed, error=message, status=exc.status)

        target = url_for("plan_web.plan_activities", plan_id=plan_id) if form.get("next") else request.path
        response, _ok = apply(plan_id, "update", mutate, target, on_error=keep_typed)
        return response
    return _questions_page(plan, rel)


def _questions_page(plan, rel, typed=None, error=None, status=200):
    questions, _acts = plans.suggestions(kbp().registry, plan)
    p = Presenter(kbp().registry, locale())
    chosen = {q["id"]: q for q in plans.for_viewer(plan, rel)["questions"]}
    by_competency = []
    for f in plan["focus"]:
        items = [(p.question(qs, q), chosen.get(q.id)) for qs, q in questions if q.competency == f["competency"]]
        by_competency.append({"focus": f, "entries": items})
    own = [q for q in chosen.values() if q["source"] == "own"]
    return render_template("plan_questions.html", plan=plan, rel=rel, by_competency=by_competency, own=own, step=3,
                           typed=typed, error=error), status


@bp.route("/plans/<plan_id>/activities", methods=["GET", "POST"])
def plan_activities(plan_id):
    plan, rel = load(plan_id)
    if request.method == "POST":  # plans.change checks who may edit
        snap = snapshotter()
        registry = kbp().registry
        form = request.form
        items = []
        for key in form.getlist("pick"):
            source, _sep, aid = key.partition(":")
            items.append({"ref": {"source": source, "id": aid}})
        for aid in form.getlist("keep"):
            items.append({"id": aid, "title": form.get(f"title_{aid}", ""), "description": form.get(f"description_{aid}", ""),
                          "locale": locale()})
        new_title = form.get("new_title", "").strip()
        if new_title:
            items.append({"title": new_title, "description": form.get("new_description", ""), "kind": form.get("new_kind", "on_the_job"),
                          "competency": form.get("new_competency", "")})
        save_inhouse = new_title and form.get("new_save_inhouse") == "1"
        owner = names_of(plan)

        def keep_typed(exc):  # the latest plan with the person's picks and written activity still there
            latest, latest_rel = load(plan_id)
            typed = {"picks": set(form.getlist("pick")), "keep": set(form.getlist("keep")),
                     "texts": {k: v for k, v in form.items() if k.startswith(("title_", "description_", "new_"))}}
            return _activities_page(latest, latest_rel, typed=typed, error=refused(exc), status=exc.status)

        response, ok = apply(plan_id, "update", lambda p, r: plans.set_activities(p, snap, registry, items, owner),
                             url_for("plan_web.plan_view", plan_id=plan_id) if form.get("next") else request.path,
                             on_error=keep_typed)
        if ok and save_inhouse:
            _save_inhouse(new_title, form)
        return response
    return _activities_page(plan, rel)


def shown_suggestions() -> int:
    """How many suggested activities the activity step shows: ``?shown=`` (a "show more" link adds
    :data:`PLAN_SUGGESTIONS_SHOWN` each time), at least that many; anything else is the default."""
    asked = request.args.get("shown", "")
    number = int(asked) if asked.isdigit() and len(asked) < 7 else 0
    return max(PLAN_SUGGESTIONS_SHOWN, number)


def _activities_page(plan, rel, typed=None, error=None, status=200):
    _questions, acts = plans.suggestions(kbp().registry, plan)
    p = Presenter(kbp().registry, locale())
    in_plan = {(a.get("ref") or {}).get("source", "") + ":" + (a.get("ref") or {}).get("id", "") for a in plan["activities"]}
    open_ = [a for a in acts if f"{a.source}:{a.id}" not in in_plan]
    shown = shown_suggestions()
    suggested = [p.activity(a) for a in open_[:shown]]  # thousands at organisation scale: a page at a time
    kinds = {k: 0 for k in model.ACTIVITY_KINDS}
    for a in plan["activities"]:
        kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
    total = sum(kinds.values()) or 1
    mix = [(k, kinds[k], round(100 * kinds[k] / total)) for k in model.ACTIVITY_KINDS]
    sources = {s.id: p.source_title(s) for s in kbp().registry.activity_sources.values()}
    writable = activity_service.writable_sources(kbp().registry)
    return render_template("plan_activities.html", plan=plan, rel=rel, suggested=suggested, mix=mix, sources=sources, step=4,
                           suggestion_total=len(open_), more=min(PLAN_SUGGESTIONS_SHOWN, len(open_) - len(suggested)),
                           can_save_inhouse=bool(writable) and auth.current_account().role == "admin",
                           typed=typed, error=error), status


def names_of(plan: dict) -> str:
    """The name of the person whose plan it is (the owner of activities added on the page)."""
    return service.person_names(storage(), auth.current_account(), [(plan, None)])[plan["person_id"]]


def _save_inhouse(title: str, form) -> None:
    """An activity written in the talk, kept as an in-house activity too (admins), through the
    writable-source capability."""
    if auth.current_account().role != "admin":
        return
    try:
        created = activity_service.save_from_plan(
            storage(), kbp().registry, auth.current_account(), title=title, description=form.get("new_description", ""),
            kind=form.get("new_kind", "on_the_job"), competency=form.get("new_competency", ""), locale=locale())
    except ServiceError:  # the plan is saved either way; the in-house copy is a convenience
        flash(_("The activity was added to the plan but could not be saved as an in-house activity."), "error")
        return
    if created is not None:
        flash(_("The activity was also saved as an in-house activity."))


@bp.route("/plans/<plan_id>", methods=["GET", "POST"])
def plan_view(plan_id):
    plan, rel = load(plan_id)
    if request.method == "POST":  # plans.change checks who may edit
        form = request.form
        snap = snapshotter()
        registry = kbp().registry
        account = auth.current_account()
        note_written = bool((form.get("note") or "").strip())

        def mutate(p, r):  # one save covers everything typed on the page, the follow-up note included
            typed = plan_edits.typed_fields(p, form)
            goals = {f["competency"]: typed[f"goal_{f['competency']}"] for f in p["focus"]}
            changed = plans.set_goals(p, goals, typed["follow_up_date"])
            items = [{"id": a["id"], "owner": typed[f"owner_{a['id']}"], "due": typed[f"due_{a['id']}"]} for a in p["activities"]]
            before = [(a["owner"], a.get("due")) for a in p["activities"]]
            plans.set_activities(p, snap, registry, items)
            if before != [(a["owner"], a.get("due")) for a in p["activities"]]:
                changed.append("activities")
            for a in p["activities"]:  # progress alone does not undo an agreement
                changed += plans.set_activity_status(p, a["id"], typed[f"status_{a['id']}"])
            if note_written:
                changed += plans.add_follow_up(p, account, form.get("note", ""))
            return changed

        def keep_typed(exc):  # the latest plan with the person's text kept, and what changed meanwhile
            latest, latest_rel = load(plan_id)
            values, conflicts = plan_edits.merge(latest, form)
            return _plan_page(latest, latest_rel, values=values, conflicts=conflicts, error=refused(exc),
                              conflict=isinstance(exc, Conflict), status=exc.status)

        response, ok = apply(plan_id, "update", mutate, request.path, on_error=keep_typed)
        if ok:
            flash(_("The plan was saved."))
        return response
    return _plan_page(plan, rel)


def _plan_page(plan, rel, values=None, conflicts=None, error=None, conflict=False, status=200):
    details = service.details(storage(), auth.current_account(), plan["id"])
    person, coach, history, names = details["person"], details["coach"], details["history"], details["names"]
    exporters = [(e.id, Presenter(kbp().registry, locale()).exporter(e, "")["title"], e.extension, e.subject)
                 for e in kbp().registry.exporters.values() if e.subject in ("plan", "dialogue_guide")]
    shown = plans.for_viewer(plan, rel)
    stored = plan_edits.plan_fields(shown)
    return render_template("plan.html", plan=shown, rel=rel, person=person, coach=coach, history=history,
                           names=names, progress=plans.progress(plan), overdue={a["id"] for a in plans.overdue(plan)},
                           exporters=exporters, step=5, stored=stored, values={**stored, **(values or {})},
                           conflicts=conflicts or {}, error=error, conflict=conflict,
                           owner_choices=plan_edits.owner_choices(storage(), plan)), status


@bp.route("/plans/<plan_id>/agree", methods=["POST"])
def plan_agree(plan_id):
    plan, rel = load(plan_id)
    if "was_follow_up_date" in request.form and plan_edits.unsaved(plan, request.form):  # pressed in the plan's form
        message = _("You have changes that are not saved yet. Save the plan first, then confirm it, "
                    "so that you agree to what is stored.")
        values, conflicts = plan_edits.merge(plan, request.form)  # the person's text, and what changed meanwhile
        return _plan_page(plan, rel, values=values, conflicts=conflicts, error=message, status=422)
    response, ok = apply(plan_id, "agree", lambda p, r: plans.agree(p, r), url_for("plan_web.plan_view", plan_id=plan_id))
    if ok:
        flash(_("You have confirmed the plan."))
    return response


@bp.route("/plans/<plan_id>/follow-up", methods=["POST"])
def plan_follow_up(plan_id):
    load(plan_id)
    account = auth.current_account()
    response, ok = apply(plan_id, "follow_up",
                         lambda p, r: plans.add_follow_up(p, account, request.form.get("note", ""), request.form.get("next_date")),
                         url_for("plan_web.plan_view", plan_id=plan_id))
    if ok:
        flash(_("The follow-up was saved."))
    return response


@bp.route("/plans/<plan_id>/guide")
def plan_guide(plan_id):
    """The printable conversation guide: the chosen questions with room for notes."""
    plan, document = service.document(storage(), auth.current_account(), plan_id, locale(), bool(current_app.config.get("DEMO")))
    return render_template("plan_guide.html", doc=document, plan=plan)
