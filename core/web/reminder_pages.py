"""Pages: the notification list, your reminder settings and calendar address, and the feed itself.

Thin: the rules live in :mod:`core.reminders` and :mod:`core.calendar_feed`.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale

from core import auth, calendar_feed, reminders
from core.context import kbp
from core.i18n import gettext as _

bp = Blueprint("reminder_web", __name__)


def storage():
    return kbp().storage


@bp.app_context_processor
def header_context():
    def unread_notifications() -> int:
        acct = auth.current_account()
        if acct is None or not acct.person_id:
            return 0
        return reminders.unread_count(storage(), acct.person_id)

    return {"unread_notifications": unread_notifications}


@bp.route("/notifications", methods=["GET", "POST"])
def notifications():
    acct = auth.current_account()
    if request.method == "POST":
        if request.form.get("action") != "read_all":
            abort(400)
        reminders.mark_read(storage(), acct)
        flash(_("All notifications are marked as read."))
        return redirect(url_for("reminder_web.notifications"))
    items = reminders.notifications_for(storage(), acct.person_id) if acct.person_id else []
    rows = [{"text": reminders.describe(n["kind"], n.get("date")), "link": n["link"], "unread": not n.get("read_at"),
             "at": n["created_at"]} for n in items]
    return render_template("notifications.html", rows=rows)


@bp.route("/me/reminders", methods=["GET", "POST"])
def settings():
    acct = auth.current_account()
    new_feed_url = None
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "preferences":
                wanted = request.form.getlist("wanted")
                reminders.set_preferences(storage(), acct, request.form.get("digest", "off"),
                                          [c for c in reminders.CATEGORIES if c not in wanted])
                flash(_("Your reminder settings were saved."))
                return redirect(url_for("reminder_web.settings"))
            if action == "create_feed":
                token = calendar_feed.create_feed(storage(), acct)
                base = kbp().config.get("BASE_URL")  # the address people use (behind a proxy), else this request's
                path = url_for("reminder_web.calendar", token=token)
                new_feed_url = str(base).rstrip("/") + path if base else url_for("reminder_web.calendar", token=token,
                                                                                    _external=True)
            elif action == "revoke_feed":
                calendar_feed.revoke_feed(storage(), acct)
                flash(_("The calendar address was revoked; calendars that used it stop updating."))
                return redirect(url_for("reminder_web.settings"))
            else:
                abort(400)
        except reminders.ReminderError as exc:
            flash(str(exc))
            return redirect(url_for("reminder_web.settings"))
    prefs = reminders.preferences(storage(), acct.person_id) if acct.person_id else {"digest": "off", "opt_out": []}
    feed = calendar_feed.feed_of(storage(), acct.person_id) if acct.person_id else None
    return render_template("me_reminders.html", prefs=prefs, categories=reminders.category_labels(), feed=feed,
                           new_feed_url=new_feed_url, has_person=bool(acct.person_id))


@bp.route("/calendar/<token>.ics")
def calendar(token: str):
    """Public by address: the secret in the URL is the credential (calendar programs cannot sign in)."""
    person = calendar_feed.person_of_feed(storage(), token)
    if person is None:
        abort(404)
    person_id = person["id"]
    locale = person.get("locale") or kbp().config.get("DEFAULT_LOCALE") or str(get_locale())
    with force_locale(locale):
        body = calendar_feed.build_feed(storage(), person_id, locale)
    return Response(body, mimetype="text/calendar", headers={"Cache-Control": "private, no-store",
                                                             "Referrer-Policy": "no-referrer"})
