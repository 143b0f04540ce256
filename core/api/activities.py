"""Activity sources, editable (in-house) activities with import/export, and search across all sources."""
from __future__ import annotations

from flask import Response, current_app, request
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate

from core import activities, audit, auth, model, schemas
from core.access import require_role
from core.activity_search import searcher
from core.api.catalogue import reader_locale
from core.context import accepts_large_body, kbp
from core.i18n import available_locales
from core.i18n import gettext as _
from core.i18n import ngettext
from core.present import Presenter

blp = Blueprint("activities", __name__, description="Activity sources, in-house activities and search.")


class SourceOut(Schema):
    id = fields.String()
    title = fields.String()
    writable = fields.Boolean()
    plugin = fields.String()
    available = fields.Boolean()


class ListQuery(Schema):
    include_archived = fields.Boolean(load_default=False)


class FileQuery(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv", "json")))


class ImportQuery(FileQuery):
    dry_run = fields.Boolean(load_default=True)


class ActivityImportOut(Schema):
    ok = fields.Boolean()
    dry_run = fields.Boolean()
    rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    problems = fields.List(fields.Dict(), metadata={"description": "{row, column, reason}"})
    code = fields.String(metadata={"description": "'validation_error' when any row has a problem (like every API error)."})
    status = fields.Integer(metadata={"description": "422 when any row has a problem (like every API error)."})
    message = fields.String(metadata={"description": "What went wrong, when any row has a problem."})


class SearchQuery(Schema):
    q = fields.String(load_default="", validate=validate.Length(max=200))
    competency = fields.List(fields.String(validate=schemas.global_id), load_default=list)
    kind = fields.List(fields.String(validate=validate.OneOf(model.ACTIVITY_KINDS)), load_default=list)
    effort = fields.List(fields.String(validate=validate.OneOf(model.EFFORTS)), load_default=list)
    situation = fields.List(fields.String(validate=validate.OneOf(model.SITUATIONS)), load_default=list)
    source = fields.List(fields.String(validate=schemas.slug), load_default=list)
    include_archived = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100000))
    lang = fields.String(validate=schemas.locale_code)


class SearchHitOut(schemas.ActivityOut):
    score = fields.Float()
    competency_matches = fields.Integer()
    source_title = fields.String()


class SearchOut(Schema):
    total = fields.Integer()
    results = fields.List(fields.Nested(SearchHitOut))


def source_or_404(source_id: str, writable: bool = False) -> model.ActivitySource:
    source = kbp().registry.activity_sources.get(source_id)
    if source is None or not kbp().registry.source_available(source_id):
        abort(404, message=_("There is no activity source '%(id)s'.", id=source_id))
    if writable and not source.writable:
        abort(405, message=_("The activity source '%(id)s' cannot be edited in KBP.", id=source_id))
    return source


def record_or_404(source, activity_id: str) -> dict:
    record = source.get(activity_id)
    if record is None:
        abort(404, message=_("There is no activity '%(id)s'.", id=activity_id))
    return record


def check_competencies(record: dict) -> None:
    unknown = activities.unknown_competencies(record, kbp().registry.competencies)
    if unknown:
        abort(422, message=_("Unknown competencies: %(ids)s.", ids=", ".join(unknown)),
              errors={"competencies": [_("Unknown competency: %(id)s", id=c) for c in unknown]})


@blp.route("/activity-sources")
@blp.response(200, SourceOut(many=True))
def list_sources():
    """Every activity source, and whether it can be edited in KBP."""
    reg = kbp().registry
    p = Presenter(reg, reader_locale())
    return [{"id": s.id, "title": p.source_title(s), "writable": s.writable, "plugin": reg.owner.get(("activity source", s.id), ""),
             "available": reg.source_available(s.id)} for s in reg.activity_sources.values()]


@blp.route("/activity-sources/<source_id>/activities")
@blp.arguments(ListQuery, location="query")
@blp.response(200, activities.ActivityRecordSchema(many=True))
def list_records(query, source_id):
    """The editable records of a writable source (archived ones with ``include_archived=true``, admins only;
    the ``owner`` only for admins)."""
    source = source_or_404(source_id, writable=True)
    if query["include_archived"]:
        require_role("admin")
    account = auth.current_account()
    return [shown for shown in (activities.for_viewer(r, account) for r in source.records(include_archived=query["include_archived"]))
            if shown is not None]


@blp.route("/activity-sources/<source_id>/activities", methods=["POST"])
@blp.arguments(activities.ActivityRecordSchema)
@blp.response(201, activities.ActivityRecordSchema)
def create_record(record, source_id):
    """Create an activity (admin). ``id`` is made from the title when left out."""
    require_role("admin")
    source = source_or_404(source_id, writable=True)
    check_competencies(record)
    try:
        created = source.create(record)
    except model.ConflictError:
        abort(409, message=_("An activity with the id '%(id)s' exists already.", id=record.get("id")))
    audit.record(kbp().storage, "create", "activity", created["id"])
    return created


@blp.route("/activity-sources/<source_id>/activities/<activity_id>")
@blp.response(200, activities.ActivityRecordSchema)
def get_record(source_id, activity_id):
    """One editable activity with its text in every language and its ``version`` (archived ones and
    the ``owner`` only for admins)."""
    shown = activities.for_viewer(record_or_404(source_or_404(source_id, writable=True), activity_id), auth.current_account())
    if shown is None:
        abort(404, message=_("There is no activity '%(id)s'.", id=activity_id))
    return shown


def _expected_version():
    header = request.headers.get("If-Match")
    if header is None:
        return None
    try:
        return int(header.strip('"W/ '))
    except ValueError:
        abort(400, message=_("If-Match must be the record's version number."))


@blp.route("/activity-sources/<source_id>/activities/<activity_id>", methods=["PATCH"])
@blp.arguments(activities.ActivityPatchSchema)
@blp.response(200, activities.ActivityRecordSchema)
def patch_record(changes, source_id, activity_id):
    """Change an activity (admin). Send ``If-Match: <version>`` to be told (409) when someone else saved first."""
    require_role("admin")
    source = source_or_404(source_id, writable=True)
    current = record_or_404(source, activity_id)
    changes.pop("id", None)
    try:
        merged = activities.merge(current, changes)
    except ValidationError as exc:
        abort(422, message=_("Some fields are invalid; see 'errors' for what to correct."), errors=exc.messages)
    check_competencies(merged)
    merged.pop("id", None)
    try:
        updated = source.update(activity_id, merged, _expected_version())
    except model.ConflictError:
        abort(409, message=_("Someone else changed this activity after you opened it. Reload it and make your change again."),
              code="version_conflict")
    audit.record(kbp().storage, "update", "activity", activity_id)
    return updated


def _set_archived(source_id, activity_id, archived: bool):
    require_role("admin")
    source = source_or_404(source_id, writable=True)
    record_or_404(source, activity_id)
    updated = source.update(activity_id, {"archived": archived})
    audit.record(kbp().storage, "update", "activity", activity_id)
    return updated


@blp.route("/activity-sources/<source_id>/activities/<activity_id>/archive", methods=["POST"])
@blp.response(200, activities.ActivityRecordSchema)
def archive_record(source_id, activity_id):
    """Archive (admin): hidden from suggestions and search, kept for plans that used it. Never deletes."""
    return _set_archived(source_id, activity_id, True)


@blp.route("/activity-sources/<source_id>/activities/<activity_id>/restore", methods=["POST"])
@blp.response(200, activities.ActivityRecordSchema)
def restore_record(source_id, activity_id):
    """Restore an archived activity (admin)."""
    return _set_archived(source_id, activity_id, False)


@blp.route("/activity-sources/<source_id>/export")
@blp.arguments(FileQuery, location="query")
@blp.response(200, description="A CSV or JSON file.")
def export_records(query, source_id):
    """Export every record, archived ones included, as CSV or JSON (admin); import it back unchanged."""
    require_role("admin")
    source = source_or_404(source_id, writable=True)
    records = source.records(include_archived=True)
    audit.record(kbp().storage, "export", "activities", source_id)
    if query["format"] == "json":
        body, mimetype = activities.to_json(records), "application/json"
    else:
        body, mimetype = activities.to_csv(records, available_locales()), "text/csv"
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{source_id}-activities.{query["format"]}"'})


def run_import(source, data: bytes, fmt: str, dry_run: bool) -> dict:
    report = activities.from_json(data) if fmt == "json" else activities.from_csv(data)
    known = kbp().registry.competencies
    if report.ok:
        for number, record in zip(report.rows, report.records):
            for c in activities.unknown_competencies(record, known):
                report.problems.append((number, "competencies", _("Unknown competency: %(id)s", id=c)))
    existing = {r["id"] for r in source.records(include_archived=True)}
    created = sum(1 for r in report.records if r.get("id") not in existing)
    result = {"ok": report.ok, "dry_run": dry_run, "rows": len(report.records) + len({p[0] for p in report.problems}),
              "created": 0, "updated": 0,
              "problems": [{"row": r, "column": c, "reason": m} for r, c, m in report.problems]}
    if report.ok:
        result["created"], result["updated"] = created, len(report.records) - created
        if not dry_run:
            result["created"], result["updated"] = source.import_records(report.records)
    else:  # an error like every other: {code, message}, plus the rows to correct
        result["code"], result["status"] = "validation_error", 422
        result["message"] = ngettext("%(num)d problem; nothing was imported.", "%(num)d problems; nothing was imported.",
                                     len(report.problems))
    return result


@blp.route("/activity-sources/<source_id>/import", methods=["POST"])
@blp.arguments(ImportQuery, location="query")
@blp.response(200, ActivityImportOut)
@blp.alt_response(422, schema=ActivityImportOut)
@blp.doc(requestBody={"required": True, "description": "The file: CSV (``format=csv``, columns as the CSV export) or "
                      "JSON (``format=json``, as the JSON export).",
                      "content": {"text/csv": {"schema": {"type": "string"}},
                                  "application/json": {"schema": {"type": "object"}}}})
@accepts_large_body
def import_records(query, source_id):
    """Import CSV or JSON (admin). ``dry_run=true`` (default) reports every problem by row and column;
    ``dry_run=false`` applies all rows in one transaction, or none when any row has a problem."""
    require_role("admin")
    source = source_or_404(source_id, writable=True)
    data = request.get_data(cache=False)
    if not data:
        abort(400, message=_("Send the file as the request body."))
    result = run_import(source, data, query["format"], query["dry_run"])
    if result["ok"] and not query["dry_run"]:
        audit.record(kbp().storage, "import", "activities", source_id)
    return result, (200 if result["ok"] else 422)


@blp.route("/activities/search")
@blp.arguments(SearchQuery, location="query")
@blp.response(200, SearchOut)
def search(query):
    """Search activities of every source: by competency (repeat ``competency=``), free text (any
    language, diacritics and small typos forgiven), kind, effort, situation and source. Ranked by how
    many of the requested competencies an activity has, then by text relevance. A query that names a
    competency (in any language) finds that competency's activities too, ranked first."""
    locale = reader_locale()
    if query["include_archived"]:
        require_role("admin")
    hits, total = searcher(current_app).search(
        query["q"], locale=locale, competencies=query["competency"], kinds=query["kind"], efforts=query["effort"],
        situations=query["situation"], sources=query["source"], include_archived=query["include_archived"],
        limit=query["limit"], offset=query["offset"])
    p = Presenter(kbp().registry, locale)
    sources = kbp().registry.activity_sources
    results = []
    for hit, activity in hits:
        item = p.activity(activity)
        item.update(score=round(hit.score, 4), competency_matches=hit.competency_matches,
                    source_title=p.source_title(sources[activity.source]) if activity.source in sources else activity.source)
        results.append(item)
    return {"total": total, "results": results}
