"""A private iCalendar feed per person: their activities' due dates and their follow-up meetings.

The feed's address carries a secret (``/calendar/<id>_<secret>.ics``); only a SHA-256 of the
secret is stored (collection ``calendar_feeds``, one per person). Creating a new address revokes
the old one; revoking it makes the address answer 404. Calendar programs poll the address, so
they follow every change of a plan without re-importing: the entries' UIDs are stable
(``kbp-plan-<plan>-activity-<activity>@kbp``, the same as the plan's iCalendar export) and
``SEQUENCE`` is the plan's version.

What the feed shows is what the person sees in KBP anyway: for their own plans the activities
(title in their language) and the follow-up; as a coach, the follow-ups of the people they coach
(with the person's name). Never notes or goals. Private self-reflection plans of others are left out.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import date, datetime, timedelta, timezone

from icalendar import Calendar, Event

from core import audit
from core import plans as plan_rules
from core.i18n import gettext as _

FEEDS = "calendar_feeds"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def feed_of(storage, person_id: str) -> dict | None:
    found = storage.collection(FEEDS).find(person_id=person_id)
    return found[0] if found else None


def create_feed(storage, account) -> str:
    """A new secret address for your own feed (the old one stops working); returns the token."""
    from core.reminders import ReminderError

    if account is None or not account.person_id:
        raise ReminderError(_("Only an account linked to a person has a calendar."), 403)
    secret = secrets.token_urlsafe(24)
    with storage.collection(FEEDS).transaction() as tx:
        for old in tx.find(person_id=account.person_id):
            tx.delete(old["id"])
        rec = tx.insert({"person_id": account.person_id, "secret_sha256": _digest(secret), "created_at": time.time()})
    audit.record(storage, "token_create", "calendar_feed", account.person_id, actor=account.id)
    return f"{rec['id']}_{secret}"


def revoke_feed(storage, account) -> bool:
    if account is None or not account.person_id:
        return False
    removed = False
    with storage.collection(FEEDS).transaction() as tx:
        for old in tx.find(person_id=account.person_id):
            removed = tx.delete(old["id"]) or removed
    if removed:
        audit.record(storage, "token_revoke", "calendar_feed", account.person_id, actor=account.id)
    return removed


def person_of_feed(storage, token: str) -> dict | None:
    """The person record whose feed ``token`` opens, or None (unknown, revoked, wrong secret, erased)."""
    person_id = person_for_token(storage, token)
    return storage.collection("people").get(person_id) if person_id else None


def person_for_token(storage, token: str) -> str | None:
    """The person whose feed ``token`` opens, or None (unknown, revoked or wrong secret)."""
    feed_id, _sep, secret = (token or "").partition("_")
    rec = storage.collection(FEEDS).get(feed_id) if feed_id.isalnum() else None
    expected = rec["secret_sha256"] if rec else _digest("-")
    if not hmac.compare_digest(expected, _digest(secret)) or rec is None:
        return None
    return rec["person_id"]


def _day(value: str) -> date:
    return date.fromisoformat(value)


def build_feed(storage, person_id: str, locale: str) -> bytes:
    """The calendar (RFC 5545) for ``person_id``; call inside ``force_locale(locale)``."""
    people = storage.collection("people")
    plans = storage.collection(plan_rules.PLANS)
    stamp = datetime.now(timezone.utc).replace(microsecond=0)
    cal = Calendar()
    cal.add("prodid", "-//KBP//KBP calendar feed//" + locale.upper())
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", _("KBP: my development plans"))
    cal.add("refresh-interval", timedelta(hours=6), parameters={"VALUE": "DURATION"})
    own = plans.find(person_id=person_id)
    coached = {p["id"]: p for p in people.find(coach_id=person_id)}
    theirs = [p for pid in coached for p in plans.find(person_id=pid) if p["mode"] == "coaching"]
    for plan in own:
        for a in plan["activities"]:
            if not a.get("due") or a["status"] not in ("planned", "in_progress"):
                continue  # done or dropped: it leaves the calendar
            ev = Event()
            ev.add("uid", f"kbp-plan-{plan['id']}-activity-{a['id']}@kbp")
            ev.add("summary", _("Due: %(title)s", title=plan_rules.pick(a["title"], locale)))
            ev.add("dtstart", _day(a["due"]))
            ev.add("dtend", _day(a["due"]) + timedelta(days=1))
            ev.add("dtstamp", stamp)
            ev.add("sequence", plan["version"])
            ev.add("transp", "TRANSPARENT")
            cal.add_component(ev)
    for plan in own + theirs:
        if not plan.get("follow_up_date"):
            continue
        ev = Event()
        ev.add("uid", f"kbp-plan-{plan['id']}-follow-up@kbp")
        if plan["person_id"] == person_id:
            ev.add("summary", _("Follow-up of my development plan"))
        else:
            name = (coached.get(plan["person_id"]) or {}).get("name", "")
            ev.add("summary", _("Follow-up of %(name)s's development plan", name=name))
        ev.add("dtstart", _day(plan["follow_up_date"]))
        ev.add("dtend", _day(plan["follow_up_date"]) + timedelta(days=1))
        ev.add("dtstamp", stamp)
        ev.add("sequence", plan["version"])
        cal.add_component(ev)
    return cal.to_ical()
