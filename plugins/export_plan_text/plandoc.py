"""Reading a plan document (:func:`core.plans.plan_document`) in the reader's language.

Shared by every plan exporter of KBP (``export_plan_text``, ``export_plan_pdf``,
``export_plan_docx``, ``export_plan_json``, ``export_plan_ical``). It lives in this plugin because
this plugin needs nothing but the standard library; the other exporters import it like any module.

* :func:`localized` — the ``_()`` to use inside ``export(document, locale)``: UI strings in
  ``locale``, whatever language the request (if any) was made in;
* :class:`PlanView` — a document with its labels (situation, mode, status, kind …) translated,
  dates formatted for the reader, questions and activities grouped by focus competency.

An exporter never reaches the registry, storage or request: everything comes from the document,
which already left out private notes for anyone but the employee.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterator

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_format_date
from flask import current_app, has_app_context

from core import i18n

Translate = Callable[..., str]

#: the visible demo marking that is the same in every language (next to the translated sentence)
DEMO_MARK = "DEMO"


def N_(message: str) -> str:
    """Mark a UI string for extraction (``kbp i18n extract``); it is translated when exported."""
    return message


def _catalog_gettext(locale: str) -> Translate:
    """UI strings in ``locale`` straight from the core catalogs (no Flask-Babel context needed)."""

    def gettext(message: str, /, **variables: Any) -> str:
        text = i18n.content(message, i18n.UI_SOURCE_LANGUAGE, i18n.CORE_DOMAIN, locale, {})
        return text % variables if variables else text

    return gettext


@contextmanager
def localized(locale: str) -> Iterator[Translate]:
    """``with localized(locale) as _:`` — translate UI strings into ``locale``.

    Inside the app (a request or an app context) this is Flask-Babel's ``gettext`` under
    ``flask_babel.force_locale(locale)``: the app's ``LOCALES_DIR`` and its catalog cache are used,
    and the request's own language is left alone afterwards. Outside the app (a script, the
    benchmark, a unit test calling ``export()`` directly) the core catalogs are read directly.
    """
    if has_app_context() and "babel" in current_app.extensions:
        from flask_babel import force_locale
        from flask_babel import gettext as flask_gettext

        with force_locale(locale):
            yield flask_gettext
    else:
        yield _catalog_gettext(locale)


def babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return Locale.parse(i18n.UI_SOURCE_LANGUAGE)


def language_tag(locale: str) -> str:
    """A BCP 47 tag with a region for word processors' spelling (``sv`` → ``sv-SE``, ``en`` → ``en-US``)."""
    loc = babel_locale(locale)
    if loc.territory:
        return f"{loc.language}-{loc.territory}"
    from babel.core import get_global

    likely = get_global("likely_subtags").get(loc.language, "")
    region = next((part for part in likely.split("_")[1:] if len(part) == 2 and part.isupper()), "")
    return f"{loc.language}-{region}" if region else loc.language


def parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def iso_datetime(timestamp: float | int | None) -> str | None:
    """A stored timestamp (seconds since the epoch) as ISO 8601 UTC, or None."""
    if timestamp in (None, ""):
        return None
    return datetime.fromtimestamp(float(timestamp), tz=timezone.utc).isoformat(timespec="seconds")


@dataclass
class Group:
    """A focus competency (``focus`` None: the plan's own questions) with its questions and activities."""

    focus: dict[str, Any] | None
    questions: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)


class PlanView:
    """A plan document with everything an exporter prints, in the reader's language.

    ``_`` is the translate function from :func:`localized` (so it must be used inside that block).
    """

    def __init__(self, document: dict[str, Any], locale: str, _: Translate):
        self.doc = document
        self.locale = locale
        self._ = _
        self._babel = babel_locale(locale)

    # -- labels -------------------------------------------------------------------------------

    def _label(self, table: dict[str, str], key: str | None) -> str:
        if not key:
            return ""
        return self._(table[key]) if key in table else key

    def situation(self) -> str:
        from core.web import SITUATION_LABELS

        return self._label(SITUATION_LABELS, self.doc.get("situation"))

    def mode(self) -> str:
        from core.web.plan_pages import MODE_LABELS

        return self._label(MODE_LABELS, self.doc.get("mode"))

    def plan_status(self) -> str:
        from core.web.plan_pages import PLAN_STATUS_LABELS

        return self._label(PLAN_STATUS_LABELS, self.doc.get("status"))

    def kind(self, value: str | None) -> str:
        from core.web import KIND_LABELS

        return self._label(KIND_LABELS, value)

    def effort(self, value: str | None) -> str:
        from core.web import EFFORT_LABELS

        return self._label(EFFORT_LABELS, value)

    def activity_status(self, value: str | None) -> str:
        from core.web.plan_pages import ACTIVITY_STATUS_LABELS

        return self._label(ACTIVITY_STATUS_LABELS, value)

    # -- people and dates -----------------------------------------------------------------------

    @property
    def demo(self) -> bool:
        return bool((self.doc.get("meta") or {}).get("demo"))

    def demo_notice(self) -> str:
        return self._("Demo licence — demo data, for trying KBP out. Not for real people's data.")

    def person_name(self) -> str:
        return (self.doc.get("person") or {}).get("name", "")

    def person_line(self) -> str:
        person = self.doc.get("person") or {}
        return ", ".join(part for part in (person.get("name", ""), person.get("job_title", "")) if part)

    def coach_name(self) -> str:
        coach = self.doc.get("coach")
        return coach["name"] if coach else self._("No coach")

    def title(self) -> str:
        return self._("Development plan for %(name)s", name=self.person_name())

    def date(self, value: str | None) -> str:
        """An ISO date for the reader (``2030-09-01`` → ``1 sep. 2030`` / ``Sep 1, 2030``); '' when unset."""
        parsed = parse_date(value)
        if parsed is None:
            return str(value or "")
        return _babel_format_date(parsed, format="medium", locale=self._babel)

    def timestamp(self, value: float | int | None) -> str:
        if value in (None, ""):
            return ""
        day = datetime.fromtimestamp(float(value), tz=timezone.utc).date()
        return _babel_format_date(day, format="medium", locale=self._babel)

    def follow_up_date(self) -> str:
        return self.date(self.doc.get("follow_up_date"))

    def agreement(self) -> list[str]:
        """``["Employee: <date or not yet confirmed>", "Coach: …"]`` (the coach line only in a coaching dialogue)."""
        agreed = self.doc.get("agreed") or {}

        def state(role: str) -> str:
            return self.timestamp(agreed[role]) if agreed.get(role) else self._("not yet confirmed")

        lines = [self._("Employee: %(state)s", state=state("employee"))]
        if self.doc.get("mode") != "self_reflection":
            lines.append(self._("Coach: %(state)s", state=state("coach")))
        return lines

    # -- content --------------------------------------------------------------------------------

    @property
    def focus(self) -> list[dict[str, Any]]:
        return list(self.doc.get("focus") or [])

    @property
    def activities(self) -> list[dict[str, Any]]:
        return list(self.doc.get("activities") or [])

    @property
    def questions(self) -> list[dict[str, Any]]:
        return list(self.doc.get("questions") or [])

    @property
    def follow_ups(self) -> list[dict[str, Any]]:
        return list(self.doc.get("follow_ups") or [])

    def trail(self, focus: dict[str, Any]) -> str:
        """Where a focus competency comes from, printed under its name: the framework's name, or in a
        framework deeper than groups → competencies its path ("Framework › Group › …")."""
        return " › ".join(focus.get("path") or []) or focus.get("framework", "")

    def competency_name(self, gid: str) -> str:
        for f in self.focus:
            if f["competency"] == gid:
                return f["name"]
        return gid

    def groups(self) -> list[Group]:
        """One group per focus competency (in the plan's order), then one for the plan's own
        questions and anything whose competency is no longer in focus (``focus`` None, left out when empty)."""
        by_gid = {f["competency"]: Group(f) for f in self.focus}
        rest = Group(None)
        for q in self.questions:
            target = by_gid.get(q.get("competency", "")) if q.get("kind") != "own" else None
            (target or rest).questions.append(q)
        for a in self.activities:
            (by_gid.get(a.get("competency", "")) or rest).activities.append(a)
        groups = list(by_gid.values())
        if rest.questions or rest.activities:
            groups.append(rest)
        return groups

    def private_marker(self) -> str:
        """``(private note)``: shown under a note the employee has not shared (in their own export)."""
        return "(" + self._("private note") + ")"

    def note_is_private(self, question: dict[str, Any]) -> bool:
        """A self-reflection note the employee has not shared (only ever in the employee's own export)."""
        return bool(question.get("note")) and not question.get("shared", True)
