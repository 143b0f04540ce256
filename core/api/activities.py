"""Activity sources, editable (in-house) activities with import/export, and search across all sources."""
from __future__ import annotations

from flask import Response, current_app, request
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from core import activities, auth, model, schemas
from core.access import require_role
from core.activity_search import searcher
from core.api.catalogue import reader_locale
from core.context import accepts_large_body, kbp
from core.i18n import available_locales
from core.i18n import gettext as _
from core.present import Presenter
from core.services import activities as service

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
    return service.records(kbp().registry, auth.current_account(), source_id, query["include_archived"])


@blp.route("/activity-sources/<source_id>/activities", methods=["POST"])
@blp.arguments(activities.ActivityRecordSchema)
@blp.response(201, activities.ActivityRecordSchema)
def create_record(record, source_id):
    """Create an activity (admin). ``id`` is made from the title when left out."""
    return service.create(kbp().storage, kbp().registry, auth.current_account(), source_id, record)


@blp.route("/activity-sources/<source_id>/activities/<activity_id>")
@blp.response(200, activities.ActivityRecordSchema)
def get_record(source_id, activity_id):
    """One editable activity with its text in every language and its ``version`` (archived ones and
    the ``owner`` only for admins)."""
    return service.record(kbp().registry, auth.current_account(), source_id, activity_id)


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
    return service.update(kbp().storage, kbp().registry, auth.current_account(), source_id, activity_id, changes,
                          _expected_version())


def _set_archived(source_id, activity_id, archived: bool):
    return service.set_archived(kbp().storage, kbp().registry, auth.current_account(), source_id, activity_id, archived)


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
    body, mimetype, _count = service.export(kbp().storage, kbp().registry, auth.current_account(), source_id,
                                            query["format"], available_locales())
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{source_id}-activities.{query["format"]}"'})


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
    service.source(kbp().registry, source_id, writable=True)
    data = request.get_data(cache=False)
    if not data:
        abort(400, message=_("Send the file as the request body."))
    result = service.import_file(kbp().storage, kbp().registry, auth.current_account(), source_id, data, query["format"],
                                 query["dry_run"])
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
