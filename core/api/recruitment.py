"""From recruitment to development (``/api/v1``): a person's recruitment record, the plan started
from it, and the employee's preparation sheet before the medarbetarsamtal. The handlers parse,
call :mod:`core.services.recruitment` / :mod:`core.services.preparation` and render; the rules
(who may read interview notes, what is private) live there."""
from __future__ import annotations

from core.api.fastdump import Blueprint
from marshmallow import Schema, fields, validate

from core import auth, plans
from core.api.catalogue import reader_locale
from core.api.plans import PlanOut, out
from core.context import kbp
from core.i18n import available_locales
from core.present import Presenter
from core.services import preparation, recruitment

blp = Blueprint("recruitment", __name__, description="Recruitment records, plans started from them, preparation sheets.")


class AssessmentIn(Schema):
    competency = fields.String(required=True, metadata={"description": "Global id, e.g. malin-lindelow:ledarskap."})
    rating = fields.Integer(allow_none=True, validate=validate.OneOf(recruitment.RATINGS),
                            metadata={"description": "The interview assessment against the requirement profile: "
                                      "1 not shown, 2 partly shown, 3 as required, 4 clearly stronger; null: not assessed."})
    notes = fields.String(metadata={"maxLength": recruitment.LIMITS["notes"], "description": "Interview notes (coach and admin only)."})
    need = fields.String(metadata={"maxLength": recruitment.LIMITS["need"], "description": "The development need agreed with the person."})


class RecordIn(Schema):
    version = fields.Integer(metadata={"description": "The version you edited (409 if someone saved in between); leave out to create."})
    role_title = fields.String(metadata={"maxLength": recruitment.LIMITS["role_title"]})
    competencies = fields.List(fields.Nested(AssessmentIn), metadata={"maxItems": recruitment.LIMITS["competencies"]})


class RecordOut(Schema):
    class Meta:
        unknown = "include"

    id = fields.String()
    person_id = fields.String()
    role_title = fields.String()
    competencies = fields.List(fields.Dict(), metadata={
        "description": "{competency, name, framework, need} and, for the coach and admins, rating and notes."})
    interview_notes = fields.String(metadata={"description": "'included' (coach, admin) or 'excluded' (the employee)."})
    plans = fields.List(fields.String())
    version = fields.Integer()
    created_at = fields.Float()
    updated_at = fields.Float()


class AnswerIn(Schema):
    question = fields.String(required=True)
    note = fields.String(metadata={"maxLength": plans.LIMITS["note"]})
    shared = fields.Boolean(metadata={"description": "Share this answer with the coach (private until then)."})


class PreparationIn(Schema):
    version = fields.Integer(metadata={"description": "The version you edited (409 if it changed in between)."})
    answers = fields.List(fields.Nested(AnswerIn), required=True)


class PreparationOut(Schema):
    class Meta:
        unknown = "include"

    plan_id = fields.String()
    person_id = fields.String()
    version = fields.Integer()
    answers = fields.List(fields.Dict(), metadata={"description": "The employee's answers; others see shared ones only."})
    questions = fields.List(fields.Dict(), metadata={"description": "The sheet's questions, in your language."})


def storage():
    return kbp().storage


def snapshotter() -> plans.Snapshotter:
    return plans.Snapshotter(kbp().registry, available_locales())


@blp.route("/people/<person_id>/recruitment")
@blp.response(200, RecordOut)
def get_recruitment(person_id):
    """The person's recruitment record: for their coach and admins with ratings and interview notes,
    for the person themself the competencies and agreed development needs only."""
    record, _rel = recruitment.get_record(storage(), auth.current_account(), person_id)
    return record


@blp.route("/people/<person_id>/recruitment", methods=["PUT"])
@blp.arguments(RecordIn)
@blp.response(200, RecordOut)
def put_recruitment(data, person_id):
    """Create or change the recruitment record (the person's coach or an admin)."""
    version = data.pop("version", None)
    return recruitment.save_record(storage(), snapshotter(), auth.current_account(), person_id, data, version)


@blp.route("/people/<person_id>/recruitment", methods=["DELETE"])
@blp.response(204)
def delete_recruitment(person_id):
    """Remove the recruitment record (the person's coach or an admin); plans started from it stay."""
    recruitment.delete_record(storage(), auth.current_account(), person_id)


@blp.route("/people/<person_id>/recruitment/plan", methods=["POST"])
@blp.response(201, PlanOut)
def start_recruitment_plan(person_id):
    """Start the development plan from the record (situation ``recruited_need``): focus competencies
    and goals pre-filled from the agreed development needs."""
    account = auth.current_account()
    plan = recruitment.start_plan(storage(), snapshotter(), account, person_id)
    return out(plan, plans.relation(storage(), account, plan))


def _sheet_out(plan: dict, sheet: dict) -> dict:
    p = Presenter(kbp().registry, reader_locale())
    return {**sheet, "questions": [{**p.question(qs, q), "competency": q.competency}
                                   for qs, q in preparation.questions(kbp().registry, plan)]}


@blp.route("/plans/<plan_id>/preparation")
@blp.response(200, PreparationOut)
def get_preparation(plan_id):
    """The preparation sheet of a coaching plan: the employee's answers (the coach and admins: the
    shared ones) and its questions."""
    plan, sheet, _rel = preparation.get_sheet(storage(), auth.current_account(), plan_id)
    return _sheet_out(plan, sheet)


@blp.route("/plans/<plan_id>/preparation", methods=["PUT"])
@blp.arguments(PreparationIn)
@blp.response(200, PreparationOut)
def put_preparation(data, plan_id):
    """Save answers (the employee); ``shared`` decides whether the coach sees an answer."""
    account = auth.current_account()
    preparation.save_sheet(storage(), snapshotter(), kbp().registry, account, plan_id, data["answers"], data.get("version"))
    plan, sheet, _rel = preparation.get_sheet(storage(), account, plan_id)
    return _sheet_out(plan, sheet)
