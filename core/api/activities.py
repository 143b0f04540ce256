"""Activity sources, editable (in-house) activities with import/export, and search across all sources."""
from __future__ import annotations

from flask import Response, current_app, request
from flask_smorest import abort

from core.api.fastdump import Blueprint
from marshmallow import EXCLUDE, Schema, fields, validate

from core import activities, auth, model, schemas
from core.access import require_role
from core.activity_search import searcher
from core.api.catalogue import reader_locale
from core.api.paging import paged
from core.context import accepts_large_body, kbp
from core.i18n import available_locales
from core.i18n import gettext as _
from core.present import Presenter
from core.services import activities as service

blp = Blueprint("activities", __name__, description="Activity sources, in-house activities and search.")


class ActivityRecordOut(Schema):
    """An in-house activity as stored: its texts in every language it was written in."""

    id = fields.String()
    source_language = fields.String(metadata={"description": "The language its text was first written in."})
    title = schemas.localized("The title in every language written.")
    description = schemas.localized("The description in every language written.")
    competencies = fields.List(fields.String())
    kind = fields.String(validate=validate.OneOf(model.ACTIVITY_KINDS))
    effort = fields.String(validate=validate.OneOf(model.EFFORTS))
    duration = fields.String(dump_default="")
    cost = fields.String(dump_default="")
    provider = fields.String(dump_default="")
    url = fields.String(dump_default="")
    tags = fields.List(fields.String(), dump_default=list)
    situations = fields.List(fields.String(validate=validate.OneOf(model.SITUATIONS)), dump_default=list)
    owner = fields.String(metadata={"x-optional": True, "description": "Who looks after it (shown to admins only)."})
    archived = fields.Boolean(dump_default=False)
    version = fields.Integer(metadata={"description": "Send it back in `version` with a change (PATCH)."})
    created_at = schemas.timestamp()
    updated_at = schemas.timestamp()


class SourceOut(Schema):
    id = fields.String()
    title = fields.String()
    writable = fields.Boolean()
    plugin = fields.String()
    available = fields.Boolean()


class ListQuery(Schema):
    class Meta:
        unknown = EXCLUDE  # read together with core.api.paging.PageQuery

    include_archived = fields.Boolean(load_default=False)


class FileQuery(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv", "json")))


class ImportQuery(FileQuery):
    dry_run = fields.Boolean(load_default=True)


ActivityImportOut = schemas.ImportReportOut  # the one import report of the API


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
@blp.response(200, ActivityRecordOut(many=True))
@paged(blp)
def list_records(query, source_id, page):
    """The editable records of a writable source (archived ones with ``include_archived=true``, admins only;
    the ``owner`` only for admins)."""
    return service.records(kbp().registry, auth.current_account(), source_id, query["include_archived"], page=page)


@blp.route("/activity-sources/<source_id>/activities", methods=["POST"])
@blp.arguments(activities.ActivityRecordSchema)
@blp.response(201, ActivityRecordOut)
def create_record(record, source_id):
    """Create an activity (admin). ``id`` is made from the title when left out."""
    return service.create(kbp().storage, kbp().registry, auth.current_account(), source_id, record)


@blp.route("/activity-sources/<source_id>/activities/<activity_id>")
@blp.response(200, ActivityRecordOut)
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
@blp.response(200, ActivityRecordOut)
def patch_record(changes, source_id, activity_id):
    """Change an activity (admin). Send the ``version`` you read to be told (409 ``version_conflict``) when
    someone else saved first — the same style as plans. (``If-Match: <version>`` is still read, for older
    clients; deprecated.)"""
    expected = changes.pop("version", None)
    return service.update(kbp().storage, kbp().registry, auth.current_account(), source_id, activity_id, changes,
                          expected if expected is not None else _expected_version())


def _set_archived(source_id, activity_id, archived: bool):
    return service.set_archived(kbp().storage, kbp().registry, auth.current_account(), source_id, activity_id, archived)


@blp.route("/activity-sources/<source_id>/activities/<activity_id>/archive", methods=["POST"])
@blp.response(200, ActivityRecordOut)
def archive_record(source_id, activity_id):
    """Archive (admin): hidden from suggestions and search, kept for plans that used it. Never deletes."""
    return _set_archived(source_id, activity_id, True)


@blp.route("/activity-sources/<source_id>/activities/<activity_id>/restore", methods=["POST"])
@blp.response(200, ActivityRecordOut)
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
