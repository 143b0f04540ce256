"""Activities: the sources, the editable (in-house) activities and their import and export — the
service the API, the pages and the CLI call.

The record shape, validation and the CSV/JSON formats stay in :mod:`core.activities`; storing is
the writable source's (:class:`core.model.WritableActivitySource`). This module adds who may do it
(reading: anyone signed in, archived records and ``owner`` for admins; writing: admins), the
domain errors, the audit entries and the units of work: when a source keeps its records in the
app's store (``collection_name``), a change or a whole import and its audit entry are ONE commit —
an import writes every row, or none.
"""
from __future__ import annotations

from typing import Any, Callable

from marshmallow import ValidationError

from core import activities as rules
from core import model
from core.i18n import gettext as _
from core.i18n import ngettext
from core.services import audit
from core.services.errors import Conflict, Invalid, NotEditable, NotFound

AUDIT = audit.AUDIT
FORMATS = ("csv", "json")


# ----------------------------------------------------------------------------- sources and records


def source(registry, source_id: str, *, writable: bool = False) -> model.ActivitySource:
    """An installed, available source; :class:`NotFound` otherwise, and with ``writable``
    :class:`NotEditable` for a read-only one."""
    found = registry.activity_sources.get(source_id)
    if found is None or not registry.source_available(source_id):
        raise NotFound(_("There is no activity source '%(id)s'.", id=source_id))
    if writable and not found.writable:
        raise NotEditable(_("The activity source '%(id)s' cannot be edited in KBP.", id=source_id))
    return found


def writable_sources(registry) -> list[model.WritableActivitySource]:
    """The sources people edit in KBP, available ones only, in registry order."""
    return [s for s in registry.activity_sources.values() if s.writable and registry.source_available(s.id)]


def records(registry, actor, source_id: str, include_archived: bool = False, page=None) -> list[dict]:
    """The records of a writable source as the actor may see them (archived ones: admins only); one
    ``page`` (:class:`core.services.paging.Page`) of them when given."""
    from core.services.paging import paginate

    audit.require(actor, "admin" if include_archived else "employee")
    found = source(registry, source_id, writable=True)
    return paginate([shown for shown in (rules.for_viewer(r, actor) for r in found.records(include_archived=include_archived))
                     if shown is not None], page)


def record(registry, actor, source_id: str, activity_id: str) -> dict:
    """One record as the actor may see it (an archived one and ``owner`` for admins only)."""
    audit.require(actor, "employee")
    shown = rules.for_viewer(source(registry, source_id, writable=True).get(activity_id), actor)
    if shown is None:
        raise NotFound(_("There is no activity '%(id)s'.", id=activity_id))
    return shown


def editable_record(registry, actor, source_id: str, activity_id: str) -> tuple[model.WritableActivitySource, dict]:
    """(source, record) for the edit form (admin)."""
    audit.require(actor, "admin")
    found = source(registry, source_id, writable=True)
    current = found.get(activity_id)
    if current is None:
        raise NotFound(_("There is no activity '%(id)s'.", id=activity_id))
    return found, current


# ----------------------------------------------------------------------------- writing


def _commit(storage, found, actor, action: str, subject: Callable[[Any], str], write_in, write):
    """Write through the source and record the audit entry: in one unit of work when the source
    keeps its records in the store, else one after the other."""
    name = getattr(found, "collection_name", "")
    if name:
        with storage.unit_of_work(name, AUDIT) as uow:
            result = write_in(uow[name])
            uow[AUDIT].insert(audit.entry(actor, action, *subject(result)))
        return result
    result = write()
    audit.record(storage, actor, action, *subject(result))
    return result


def _valid(registry, data: dict, current: dict | None = None) -> dict:
    """``data`` (a whole record, or changes to ``current``) checked as a whole; :class:`Invalid` naming the fields."""
    from core.validation_i18n import translate_errors

    errors: dict = {}
    try:
        checked = rules.merge(current, data) if current is not None else rules.ActivityRecordSchema().load(data)
    except ValidationError as exc:
        checked, errors = {**(current or {}), **data}, translate_errors(exc.messages)
        if isinstance(errors.get("competencies"), list):  # none ticked, or too many: say it as the form asks
            errors["competencies"] = [_("Choose at least one competency, at most 20.")]
    # unknown competencies are reported together with every other problem (all errors at once); a link the
    # record has already (its framework was removed since: core.services.framework_imports) may stay
    kept = set((current or {}).get("competencies") or ())
    unknown = [c for c in rules.unknown_competencies(checked, registry.competencies) if c not in kept] \
        if "competencies" not in errors else []
    if unknown:
        if not errors:
            raise Invalid(_("Unknown competencies: %(ids)s.", ids=", ".join(unknown)),
                          {"competencies": [_("Unknown competency: %(id)s", id=c) for c in unknown]})
        errors["competencies"] = [_("Unknown competency: %(id)s", id=c) for c in unknown]
    if errors:
        raise Invalid(_("Some fields are invalid; see 'errors' for what to correct."), errors)
    return checked


def create(storage, registry, actor, source_id: str, data: dict) -> dict:
    """Create an activity (admin); ``id`` is made from the title when left out (409 when taken)."""
    audit.require(actor, "admin")
    found = source(registry, source_id, writable=True)
    checked = _valid(registry, data)
    try:
        return _commit(storage, found, actor, "create", lambda created: ("activity", created["id"]),
                       lambda writer: found.create_in(writer, checked), lambda: found.create(checked))
    except model.ConflictError:
        raise Conflict(_("An activity with the id '%(id)s' exists already.", id=checked.get("id")),
                       {"id": [_("An activity with the id '%(id)s' exists already.", id=checked.get("id"))]}) from None


def update(storage, registry, actor, source_id: str, activity_id: str, changes: dict,
           expected_version: int | None = None) -> dict:
    """Change an activity (admin), checked as a whole; a change based on an older ``expected_version``
    is a :class:`Conflict` with code ``version_conflict``."""
    found, current = editable_record(registry, actor, source_id, activity_id)
    changes = {k: v for k, v in changes.items() if k != "id"}
    merged = _valid(registry, changes, current)
    merged.pop("id", None)
    try:
        return _commit(storage, found, actor, "update", lambda _updated: ("activity", activity_id),
                       lambda writer: found.update_in(writer, activity_id, merged, expected_version),
                       lambda: found.update(activity_id, merged, expected_version))
    except model.ConflictError:
        raise Conflict(_("Someone else changed this activity after you opened it. Reload it and make your change again."),
                       code="version_conflict") from None


def set_archived(storage, registry, actor, source_id: str, activity_id: str, archived: bool) -> dict:
    """Archive (hidden from suggestions and search, kept for the plans that used it; never deleted)
    or restore an activity (admin)."""
    found, _current = editable_record(registry, actor, source_id, activity_id)
    changes = {"archived": archived}
    return _commit(storage, found, actor, "update", lambda _updated: ("activity", activity_id),
                   lambda writer: found.update_in(writer, activity_id, changes),
                   lambda: found.update(activity_id, changes))


def save_from_plan(storage, registry, actor, *, title: str, description: str, kind: str, competency: str,
                   locale: str) -> dict | None:
    """Keep an activity written in a dialogue as an activity of the first writable source too
    (admin), through the writable-source capability. None when no source is writable or the
    competency is unknown; :class:`Invalid` when the text does not make a valid activity."""
    audit.require(actor, "admin")
    targets = writable_sources(registry)
    if not targets or competency not in registry.competencies:
        return None
    data = {"source_language": locale, "title": {locale: title}, "description": {locale: description or title},
            "competencies": [competency], "kind": kind or "on_the_job", "effort": "weeks"}
    return create(storage, registry, actor, targets[0].id, data)


# ----------------------------------------------------------------------------- files


def export(storage, registry, actor, source_id: str, fmt: str, locales: list[str]) -> tuple[str, str, int]:
    """Every record, archived ones included, as CSV or JSON (admin): (file text, media type, count).
    The file imports back unchanged. Audited."""
    audit.require(actor, "admin")
    if fmt not in FORMATS:
        message = _("Unknown format %(format)s; expected %(expected)s.", format=fmt, expected=" / ".join(FORMATS))
        raise Invalid(message, {"format": [message]})
    found = source(registry, source_id, writable=True)
    stored = found.records(include_archived=True)
    audit.record(storage, actor, "export", "activities", found.id)
    if fmt == "json":
        return rules.to_json(stored), "application/json", len(stored)
    return rules.to_csv(stored, locales), "text/csv", len(stored)


def import_file(storage, registry, actor, source_id: str, data: bytes | str, fmt: str, dry_run: bool) -> dict:
    """Check every row of a CSV or JSON file (admin). ``dry_run``: report only. Otherwise all rows and
    the audit entry are one commit, or nothing is written when any row has a problem.

    Returns ``{ok, dry_run, rows, created, updated, problems: [{row, column, reason}]}`` and, when any
    row has a problem, ``code``/``status``/``message`` like every error."""
    audit.require(actor, "admin")
    found = source(registry, source_id, writable=True)
    report = rules.from_json(data) if fmt == "json" else rules.from_csv(data)
    if report.ok:
        for number, item in zip(report.rows, report.records):
            for c in rules.unknown_competencies(item, registry.competencies):
                report.problems.append((number, "competencies", _("Unknown competency: %(id)s", id=c)))
    existing = {r["id"] for r in found.records(include_archived=True)}
    created = sum(1 for r in report.records if r.get("id") not in existing)
    result = {"ok": report.ok, "dry_run": dry_run, "rows": len(report.records) + len({p[0] for p in report.problems}),
              "created": 0, "updated": 0,
              "problems": [{"row": r, "column": c, "reason": m} for r, c, m in report.problems]}
    if report.ok:
        result["created"], result["updated"] = created, len(report.records) - created
        if not dry_run:
            result["created"], result["updated"] = _commit(
                storage, found, actor, "import", lambda _counts: ("activities", found.id),
                lambda writer: found.import_in(writer, report.records), lambda: found.import_records(report.records))
    else:  # an error like every other: {code, message}, plus the rows to correct
        result["code"], result["status"] = "validation_error", 422
        result["message"] = ngettext("%(num)d problem; nothing was imported.", "%(num)d problems; nothing was imported.",
                                     len(report.problems))
    return result
