"""Your notifications and reminder settings: ``/api/v1/me/notifications``, ``/api/v1/me/reminder-settings``.

Thin: the rules are in :mod:`core.reminders` (the same calls as the pages).
"""
from __future__ import annotations

from flask_smorest import abort

from core.api.fastdump import Blueprint
from marshmallow import Schema, fields, validate

from core import auth, reminders, schemas
from core.context import kbp

blp = Blueprint("reminders", __name__, description="Your notifications and reminder settings.")


class NotificationOut(Schema):
    id = fields.String()
    kind = fields.String(metadata={"description": "agreement_waiting, plan_agreed, plan_changed, follow_up_soon, "
                                                  "follow_up_today, activity_due, activity_overdue or note_shared"})
    text = fields.String(metadata={"description": "What happened, in the reader's language; never plan content."})
    link = fields.String()
    date = schemas.date("The date the notification is about (a due date, a follow-up).", allow_none=True)
    created_at = schemas.timestamp()
    read = fields.Boolean()


class NotificationsOut(Schema):
    unread = fields.Integer()
    items = fields.List(fields.Nested(NotificationOut))


class ReadIn(Schema):
    ids = fields.List(fields.String(validate=validate.Length(max=64)), load_default=None, validate=validate.Length(max=1000),
                      metadata={"description": "Which to mark read; absent: all."})


class ReadOut(Schema):
    marked = fields.Integer()


class SettingsIn(Schema):
    digest = fields.String(required=True, validate=validate.OneOf(reminders.DIGESTS))
    opt_out = fields.List(fields.String(validate=validate.OneOf(reminders.CATEGORIES)), load_default=list,
                          metadata={"description": "Kinds you do not want by e-mail: " + ", ".join(reminders.CATEGORIES)})


class SettingsOut(Schema):
    digest = fields.String(validate=validate.OneOf(reminders.DIGESTS))
    opt_out = fields.List(fields.String(validate=validate.OneOf(reminders.CATEGORIES)))


@blp.route("/me/notifications")
@blp.response(200, NotificationsOut)
def list_notifications():
    """Your notifications, newest first (the reminders run fills the list)."""
    acct = auth.current_account()
    items = reminders.notifications_for(kbp().storage, acct.person_id) if acct.person_id else []
    return {"unread": sum(1 for n in items if not n.get("read_at")),
            "items": [{**n, "text": reminders.describe(n["kind"], n.get("date")), "read": bool(n.get("read_at"))}
                      for n in items]}


@blp.route("/me/notifications/read", methods=["POST"])
@blp.arguments(ReadIn)
@blp.response(200, ReadOut)
def read_notifications(data):
    """Mark your notifications read (the given ones, or all)."""
    return {"marked": reminders.mark_read(kbp().storage, auth.current_account(), data.get("ids"))}


@blp.route("/me/reminder-settings")
@blp.response(200, SettingsOut)
def get_settings():
    """How you get reminders by e-mail."""
    acct = auth.current_account()
    return reminders.preferences(kbp().storage, acct.person_id) if acct.person_id else {"digest": "off", "opt_out": []}


@blp.route("/me/reminder-settings", methods=["PUT"])
@blp.arguments(SettingsIn)
@blp.response(200, SettingsOut)
def put_settings(data):
    """Choose one e-mail per reminder (``off``) or a ``daily``/``weekly`` digest, and the kinds you do not want."""
    try:
        return reminders.set_preferences(kbp().storage, auth.current_account(), data["digest"], data["opt_out"])
    except reminders.ReminderError as exc:
        abort(exc.status, message=str(exc), code=exc.code, errors=exc.errors or None)
