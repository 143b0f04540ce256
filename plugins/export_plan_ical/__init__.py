"""Plan exporter to iCalendar (``plan-ics``): the plan's dates in any calendar or task list.

``GET /api/v1/plans/<id>/export/plan-ics?lang=sv|en`` returns ``text/calendar`` (RFC 5545),
written with the ``icalendar`` package:

* one **VTODO** per activity that has a due date: ``SUMMARY`` the activity's title in the reader's
  language, ``DUE`` the date, ``STATUS`` from the activity's status (done → ``COMPLETED``,
  in_progress → ``IN-PROCESS``, planned → ``NEEDS-ACTION``, dropped → ``CANCELLED``),
  ``CATEGORIES`` the competency, ``DESCRIPTION`` competency, owner and description;
* one all-day **VEVENT** for the next follow-up date.

**Stable UIDs**: ``kbp-plan-<plan id>-activity-<activity id>@kbp`` and
``kbp-plan-<plan id>-follow-up@kbp`` never change for the same plan and activity, and
``SEQUENCE`` is the plan's version (it grows with every change). Importing a newer export into
the same calendar therefore updates the to-dos and moves the follow-up instead of adding copies.
An activity without a due date has no entry. In demo mode the calendar's name and every
description carry the demo marking.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from icalendar import Calendar, Event, Todo

from core import __version__ as kbp_version
from core import hookimpl
from core.model import Exporter
from plugins.export_plan_text.plandoc import DEMO_MARK, N_, PlanView, localized, parse_date

__version__ = "1.0.0"

STATUS = {"done": "COMPLETED", "in_progress": "IN-PROCESS", "planned": "NEEDS-ACTION", "dropped": "CANCELLED"}


def activity_uid(plan_id: str, activity_id: str) -> str:
    return f"kbp-plan-{plan_id}-activity-{activity_id}@kbp"


def follow_up_uid(plan_id: str) -> str:
    return f"kbp-plan-{plan_id}-follow-up@kbp"


def _utc(timestamp: float | int | str | None) -> datetime:
    if isinstance(timestamp, (int, float)):
        return datetime.fromtimestamp(float(timestamp), tz=timezone.utc).replace(microsecond=0)
    if isinstance(timestamp, str) and timestamp:
        try:
            parsed = datetime.fromisoformat(timestamp)
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        except ValueError:
            pass
    return datetime.now(timezone.utc).replace(microsecond=0)


class PlanICal(Exporter):
    id = "plan-ics"
    title = N_("Development plan dates (iCalendar)")
    subject = "plan"
    media_type = "text/calendar"
    extension = "ics"
    domain = "messages"

    def export(self, document: dict, locale: str) -> bytes:
        with localized(locale) as _:
            return build_calendar(PlanView(document, locale, _)).to_ical()


def build_calendar(v: PlanView) -> Calendar:
    _ = v._
    doc = v.doc
    stamp = _utc((doc.get("meta") or {}).get("exported_at"))
    modified = _utc(doc.get("updated_at"))
    demo_line = f"{DEMO_MARK}: {v.demo_notice()}" if v.demo else ""
    name = (f"{DEMO_MARK} – " if v.demo else "") + v.title()

    cal = Calendar()
    cal.add("prodid", f"-//KBP//KBP {kbp_version}//{v.locale.upper()}")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("name", name)

    def describe(*parts: str) -> str:
        return "\n".join(p for p in (demo_line, *parts) if p)

    def common(component: Any, uid: str, summary: str, description: str) -> None:
        component.add("uid", uid)
        component.add("dtstamp", stamp)
        component.add("last-modified", modified)
        component.add("sequence", int(doc.get("version") or 0))
        component.add("summary", summary)
        if description:
            component.add("description", description)

    for a in v.activities:
        due = parse_date(a.get("due"))
        if due is None:
            continue
        todo = Todo()
        competency = v.competency_name(a.get("competency", ""))
        facts = describe(
            f"{_('Competency')}: {competency}" if competency else "",
            f"{_('Owner')}: {a['owner']}" if a.get("owner") else "",
            f"{_('Kind')}: {v.kind(a.get('kind'))}",
            f"{_('Status')}: {v.activity_status(a.get('status'))}",
        )
        text = (a.get("description") or "").strip()
        common(todo, activity_uid(doc["id"], a["id"]), a["title"], f"{facts}\n\n{text}" if text else facts)
        todo.add("due", due)
        todo.add("status", STATUS.get(a.get("status"), "NEEDS-ACTION"))
        if a.get("status") == "done":
            todo.add("percent-complete", 100)
        if competency:
            todo.add("categories", [competency])
        cal.add_component(todo)

    follow_up = parse_date(doc.get("follow_up_date"))
    if follow_up is not None:
        event = Event()
        focus = ", ".join(f["name"] for f in v.focus)
        common(event, follow_up_uid(doc["id"]), _("Follow-up of the development plan for %(name)s", name=v.person_name()),
               describe(f"{_('Coach')}: {v.coach_name()}", f"{_('Focus competencies')}: {focus}" if focus else ""))
        event.add("dtstart", follow_up)
        event.add("dtend", follow_up + timedelta(days=1))
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return cal


@hookimpl
def kbp_exporters():
    return [PlanICal()]
