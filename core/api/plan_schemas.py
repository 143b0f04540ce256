"""What ``/api/v1/plans`` answers: a plan and its parts as named schemas, so a generated client gets
a type for each (``PlanFocusOut``, ``PlanQuestionOut``, ``PlanActivityOut``, ``FollowUpOut``,
``AgreementOut``) instead of open dictionaries.

Texts in a plan are :data:`core.schemas.LocalizedText` objects (locale → text), not a string: a plan
keeps a snapshot of each competency, question and activity in every language KBP speaks, so the
employee and the coach each read it in their own language even after the content changes. Text
written in the dialogue itself is stored once under the key ``"_"``. Content read from the catalogue
(``/suggestions``, search, competencies) is a string in the reader's language instead — there the
reader asks for one language.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from core import model, plans, schemas


class ActivityRefOut(Schema):
    """Where a plan activity came from: a suggested activity of an activity source."""

    source = fields.String(metadata={"description": "The activity source's id."})
    id = fields.String(metadata={"description": "The activity's id within its source."})


class PlanFocusOut(Schema):
    competency = fields.String(metadata={"description": "Global competency id 'framework:competency'."})
    framework = schemas.localized("The framework's name.")
    name = schemas.localized("The competency's name.")
    definition = schemas.localized("The competency's definition.")
    goal = fields.String(metadata={"description": "The goal written for this competency ('' until written)."})


class PlanQuestionOut(Schema):
    id = fields.String()
    competency = fields.String(metadata={"description": "The competency the question is about ('' for an own question "
                                                        "without one)."})
    kind = fields.String(validate=validate.OneOf((*model.QUESTION_KINDS, "own")), metadata={
        "description": "The question set's kind, or 'own' for a question written in the dialogue."})
    source = fields.String(metadata={"description": "The question set's id, or 'own'."})
    text = schemas.localized("The question.")
    note = fields.String(metadata={"description": "The note written for it ('' when none, or when it is private to "
                                                  "the employee and you are not the employee)."})
    shared = fields.Boolean(metadata={"description": "false: a self-reflection note the employee keeps to themself."})
    private = fields.Boolean(metadata={"x-optional": True, "description": "Present (true) when the note is private to "
                                                                           "the employee and left out for you."})


class PlanActivityOut(Schema):
    id = fields.String()
    ref = fields.Nested(ActivityRefOut, allow_none=True, metadata={
        "description": "The suggested activity it came from; null for one written in the dialogue."})
    kind = fields.String(validate=validate.OneOf(model.ACTIVITY_KINDS))
    effort = fields.String(validate=validate.OneOf(model.EFFORTS))
    title = schemas.localized("The activity's title.")
    description = schemas.localized("What the activity is.")
    competency = fields.String(metadata={"description": "The focus competency it serves."})
    owner = fields.String(metadata={"description": "Who is responsible for it."})
    due = schemas.date("When it should be done.", allow_none=True)
    status = fields.String(validate=validate.OneOf(plans.ACTIVITY_STATUSES))


class FollowUpOut(Schema):
    at = schemas.timestamp("When the follow-up was recorded.")
    by = fields.String(metadata={"description": "The account that recorded it."})
    note = fields.String()


class AgreementOut(Schema):
    employee = schemas.timestamp("When the employee confirmed the plan; null until then.", allow_none=True)
    coach = schemas.timestamp("When the coach confirmed the plan; null until then (always null for a "
                              "self-reflection).", allow_none=True)


class PlanOut(Schema):
    id = fields.String()
    person_id = fields.String()
    coach_id = fields.String(allow_none=True)
    mode = fields.String(validate=validate.OneOf(plans.MODES))
    situation = fields.String(validate=validate.OneOf(model.SITUATIONS))
    status = fields.String(validate=validate.OneOf(plans.STATUSES))
    version = fields.Integer(metadata={"description": "Send it back with every change; 409 `version_conflict` when "
                                                      "someone saved in between."})
    focus = fields.List(fields.Nested(PlanFocusOut))
    questions = fields.List(fields.Nested(PlanQuestionOut))
    activities = fields.List(fields.Nested(PlanActivityOut))
    follow_up_date = schemas.date("The date of the next follow-up talk.", allow_none=True)
    follow_ups = fields.List(fields.Nested(FollowUpOut))
    agreed = fields.Nested(AgreementOut)
    progress = fields.Integer(metadata={"description": "Per cent of the activities (not dropped) that are done."})
    overdue = fields.Integer(metadata={"description": "How many activities are past their due date."})
    your_role = fields.String(validate=validate.OneOf(("employee", "coach", "admin")), metadata={
        "x-enum": "PlanRelation", "description": "employee, coach or admin: how you relate to the plan."})
    created_at = schemas.timestamp()
    updated_at = schemas.timestamp()


#: how many suggested activities there are of each kind
KindCountsOut = Schema.from_dict({kind: fields.Integer() for kind in model.ACTIVITY_KINDS}, name="KindCountsOut")
