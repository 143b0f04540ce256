"""Development dialogues and plans (``/api/v1/plans``): every step of the dialogue flow by API."""
from __future__ import annotations

from flask import Response, current_app
from core.api.fastdump import Blueprint
from marshmallow import EXCLUDE, Schema, fields, validate

from core import auth, model, plans, schemas
from core.api.catalogue import reader_locale
from core.api.paging import paged
from core.api.plan_schemas import KindCountsOut, PlanOut  # noqa: F401 - what the plan endpoints answer
from core.context import kbp
from core.present import Presenter
from core.services import plans as service

blp = Blueprint("plans", __name__, description="Development dialogues and development plans.")


class PlanCreate(Schema):
    person_id = fields.String(required=True)
    situation = fields.String(required=True, validate=validate.OneOf(model.SITUATIONS))
    mode = fields.String(load_default="coaching", validate=validate.OneOf(plans.MODES))


class OwnQuestion(Schema):
    id = fields.String()
    text = fields.String(required=True, metadata={"maxLength": plans.LIMITS["question_text"]})
    competency = fields.String(load_default="")


class ActivityItem(Schema):
    id = fields.String(metadata={"description": "An activity already in the plan."})
    ref = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": "{source, id} of a suggested activity."})
    title = fields.String(metadata={"maxLength": plans.LIMITS["activity_title"]})
    description = fields.String(metadata={"maxLength": plans.LIMITS["activity_description"]})
    kind = fields.String(validate=validate.OneOf(model.ACTIVITY_KINDS))
    effort = fields.String(validate=validate.OneOf(model.EFFORTS))
    competency = fields.String()
    owner = fields.String(metadata={"maxLength": plans.LIMITS["owner"]})
    due = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(plans.ACTIVITY_STATUSES))


#: The limits (maxItems, maxLength) are documented here and enforced by the plan rules in
#: core.plans (LIMITS), the one place the pages and the CLI use too.


class PlanPatch(Schema):
    version = fields.Integer(required=True, metadata={"description": "The version you edited; 409 if someone saved in between."})
    focus = fields.List(fields.String(validate=schemas.global_id), validate=validate.Length(min=1, max=plans.MAX_FOCUS))
    questions = fields.List(fields.String(), metadata={"description": "Ids of the suggested questions to use.",
                                                       "maxItems": plans.LIMITS["questions"]})
    own_questions = fields.List(fields.Nested(OwnQuestion), metadata={"maxItems": plans.LIMITS["own_questions"]})
    activities = fields.List(fields.Nested(ActivityItem), metadata={"maxItems": plans.LIMITS["activities"]})
    goals = fields.Dict(keys=fields.String(), values=fields.String(metadata={"maxLength": plans.LIMITS["goal"]}))
    follow_up_date = fields.String(allow_none=True)


class NoteIn(Schema):
    version = fields.Integer(required=True)
    note = fields.String(required=True, metadata={"maxLength": plans.LIMITS["note"]})
    shared = fields.Boolean()


class StatusIn(Schema):
    version = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(plans.ACTIVITY_STATUSES))


class VersionIn(Schema):
    version = fields.Integer(required=True)


class FollowUpIn(Schema):
    version = fields.Integer(required=True)
    note = fields.String(required=True, validate=validate.Length(min=1), metadata={"maxLength": plans.LIMITS["follow_up_note"]})
    next_date = fields.String(allow_none=True)


class PlanListQuery(Schema):
    class Meta:
        unknown = EXCLUDE  # read together with core.api.paging.PageQuery

    person = fields.String()
    status = fields.String(validate=validate.OneOf(plans.STATUSES))
    overdue = fields.Boolean(load_default=False)
    competency = fields.String(validate=schemas.global_id)


class SuggestionsOut(Schema):
    questions = fields.List(fields.Nested(schemas.QuestionOut))
    activities = fields.List(fields.Nested(schemas.ActivityOut))
    activity_total = fields.Integer(metadata={"description": "How many activities are suggested; `activities` holds the "
                                                             "first `activity_limit`."})
    kinds = fields.Nested(KindCountsOut, metadata={"description": "Suggested activities per kind (all of them)."})


class HistoryOut(Schema):
    at = schemas.timestamp()
    by = fields.String()
    action = fields.String()
    fields_ = fields.List(fields.String(), attribute="fields", data_key="fields")


def storage():
    return kbp().storage


def out(plan: dict, rel: str) -> dict:
    shown = plans.for_viewer(plan, rel)
    return {**shown, "progress": plans.progress(plan), "overdue": len(plans.overdue(plan)), "your_role": rel}


def load(plan_id: str) -> tuple[dict, str]:
    return service.get_plan(storage(), auth.current_account(), plan_id)


@blp.route("/plans")
@blp.arguments(PlanListQuery, location="query")
@blp.response(200, PlanOut(many=True))
@paged(blp)
def list_plans(query, page):
    """Plans you may see: your own, the plans of the people you coach (admins: all), with filters."""
    found = service.list_plans(storage(), auth.current_account(), person_id=query.get("person"), status=query.get("status"),
                               overdue_only=query["overdue"], competency=query.get("competency"), page=page)
    return found.map(lambda found_plan: out(*found_plan))


@blp.route("/plans", methods=["POST"])
@blp.arguments(PlanCreate)
@blp.response(201, PlanOut)
def create_plan(data):
    """Start a dialogue: a coach for a person they coach (``coaching``), or an employee for themself (``self_reflection``)."""
    plan, rel = service.create_plan(storage(), kbp().registry, auth.current_account(), data["person_id"], data["situation"],
                                    data["mode"])
    return out(plan, rel)


@blp.route("/plans/<plan_id>")
@blp.response(200, PlanOut)
def get_plan(plan_id):
    """One plan, as you may see it (private self-reflection notes only for the employee)."""
    plan, rel = load(plan_id)
    return out(plan, rel)


@blp.route("/plans/<plan_id>", methods=["PATCH"])
@blp.arguments(PlanPatch)
@blp.response(200, PlanOut)
def patch_plan(data, plan_id):
    """Change focus competencies, chosen questions, activities, goals or the follow-up date."""
    return out(*service.update(storage(), kbp().registry, auth.current_account(), plan_id, data["version"], data))


@blp.route("/plans/<plan_id>/suggestions")
@blp.arguments(schemas.CompetencyQuery, location="query", as_kwargs=True)
@blp.response(200, SuggestionsOut)
def get_suggestions(plan_id, activity_limit: int = 100, **_args):
    """Questions (coaching or self-reflection, by the plan's mode) and activities from every source for
    the focus competencies; those tagged with the plan's situation first. At most ``activity_limit``
    activities (default 100; ``activity_total`` says how many there are: thousands at organisation scale)."""
    p = Presenter(kbp().registry, reader_locale())
    _plan, questions, acts = service.suggestions(storage(), kbp().registry, auth.current_account(), plan_id)
    kinds: dict[str, int] = {k: 0 for k in model.ACTIVITY_KINDS}
    for a in acts:
        kinds[a.kind] += 1
    return {"questions": [p.question(qs, q) for qs, q in questions], "kinds": kinds, "activity_total": len(acts),
            "activities": [p.activity(a) for a in acts[:activity_limit]]}


@blp.route("/plans/<plan_id>/questions/<question_id>/note", methods=["PUT"])
@blp.arguments(NoteIn)
@blp.response(200, PlanOut)
def put_note(data, plan_id, question_id):
    """Save a note for a question (autosave). In self-reflection the employee decides whether it is ``shared``."""
    return out(*service.set_note(storage(), auth.current_account(), plan_id, data["version"], question_id, data["note"],
                                 data.get("shared")))


@blp.route("/plans/<plan_id>/activities/<activity_id>/status", methods=["PUT"])
@blp.arguments(StatusIn)
@blp.response(200, PlanOut)
def put_activity_status(data, plan_id, activity_id):
    """Mark an activity planned, in progress, done or dropped."""
    return out(*service.set_activity_status(storage(), auth.current_account(), plan_id, data["version"], activity_id,
                                            data["status"]))


@blp.route("/plans/<plan_id>/agree", methods=["POST"])
@blp.arguments(VersionIn)
@blp.response(200, PlanOut)
def agree(data, plan_id):
    """Confirm the plan for your own role (employee or coach); it is agreed when both have. A
    self-reflection is confirmed by the employee alone (403 for the coach)."""
    return out(*service.agree(storage(), auth.current_account(), plan_id, data["version"]))


@blp.route("/plans/<plan_id>/follow-ups", methods=["POST"])
@blp.arguments(FollowUpIn)
@blp.response(200, PlanOut)
def add_follow_up(data, plan_id):
    """Record a follow-up talk and, optionally, the date of the next one."""
    return out(*service.add_follow_up(storage(), auth.current_account(), plan_id, data["version"], data["note"],
                                      data.get("next_date")))


@blp.route("/plans/<plan_id>/history")
@blp.response(200, HistoryOut(many=True))
def get_history(plan_id):
    """Who changed what in the plan, and when (field names, never content; changes to private
    self-reflection items are listed for the employee only)."""
    return service.history(storage(), auth.current_account(), plan_id)


@blp.route("/plans/<plan_id>/export/<exporter_id>")
@blp.arguments(schemas.LangArgs, location="query", as_kwargs=True)
@blp.response(200, description="The exported file.")
def export_plan(plan_id, exporter_id, **_args):
    """Export the plan (or its conversation guide) in your language with an exporter of subject
    ``plan`` or ``dialogue_guide``. Private notes are never included for anyone but the employee."""
    locale = reader_locale()
    data, exporter = service.export(storage(), kbp().registry, auth.current_account(), plan_id, exporter_id, locale,
                                    bool(current_app.config.get("DEMO")))
    return Response(data, mimetype=exporter.media_type,
                    headers={"Content-Disposition": f'attachment; filename="plan-{plan_id}.{exporter.extension}"'})
