"""Catalogue endpoints: plugins, frameworks, competencies (with questions and activities), exporters."""
from __future__ import annotations

import marshmallow as ma
from flask import current_app, request, url_for
from flask_babel import get_locale
from flask_smorest import abort
from marshmallow import fields
from webargs.flaskparser import FlaskParser

from core import schemas
from core.activity_search import searcher
from core.api.fastdump import Blueprint
from core.context import accepts_large_body, kbp
from core.i18n import available_locales
from core.i18n import gettext as _
from core.present import Presenter

class QuickQueryParser(FlaskParser):
    """webargs' parser, except that a request with no query string at all gets the schema's
    defaults loaded once (per schema instance) instead of a full parse each time: the catalogue
    documents are mostly asked for without arguments, and the parse was a tenth of such a request."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._defaults: dict[int, tuple] = {}

    def parse(self, argmap, req=None, *, location=None, validate=None, **kwargs):
        if location != "query" or validate is not None or not isinstance(argmap, ma.Schema) or request.query_string:
            return super().parse(argmap, req, location=location, validate=validate, **kwargs)
        hit = self._defaults.get(id(argmap))
        if hit is None or hit[0] is not argmap:
            hit = self._defaults[id(argmap)] = (argmap, super().parse(argmap, req, location=location, **kwargs))
        return dict(hit[1])


blp = Blueprint("catalogue", __name__, description="Plugins, frameworks, competencies and exporters.")
blp.ARGUMENTS_PARSER = QuickQueryParser()  # before the views below are decorated


def reader_locale() -> str:
    """The response language; an unknown ``?lang=`` is a 400, not a silent fallback."""
    args = request.args
    asked = args.get("lang") if "lang" in args else None  # (a miss costs werkzeug an exception)
    if asked is not None and asked not in available_locales():
        abort(
            400,
            message=_(
                "Language '%(lang)s' is not available. Available languages: %(available)s.",
                lang=asked,
                available=", ".join(available_locales()),
            ),
            code="unknown_language",
        )
    return str(get_locale())


def presenter() -> Presenter:
    return Presenter(kbp().registry, reader_locale())


def find_framework(framework_id: str, content: bool = True):
    """The framework, or a 404; with ``content``, a 403 while its licence is missing or invalid."""
    from core.services import catalogue

    return catalogue.framework(kbp().registry, framework_id, content)


@blp.route("/plugins")
@blp.response(200, schemas.PluginOut(many=True))
def list_plugins():
    """Every plugin found: enabled or not, loaded or failed (with the reason), and its hooks (admin)."""
    from core.access import require_role

    require_role("admin")
    return kbp().plugin_listing()


def _uploaded_file() -> tuple[str, bytes]:
    """The file of a framework-import request: multipart field ``file``, or the body with ``?filename=``."""
    upload = request.files.get("file")
    filename = upload.filename if upload is not None else request.args.get("filename", "")
    data = upload.read() if upload is not None else request.get_data()
    return filename or "", data or b""


@blp.route("/framework-imports/preview", methods=["POST"])
@blp.response(200, schemas.ImportPreviewOut)
@accepts_large_body
def preview_framework_import():
    """What importing a CASE package (.json) or Moodle competency CSV (.csv) would give, without
    importing it (admin): the tree, counts, every problem with its JSON path or row/column, and what
    would be repaired or left out. Send the file as multipart field ``file``, or as the request body
    with ``?filename=NAME.json|.csv``. A file that can be imported is kept for a day: confirm it with
    ``POST /api/v1/framework-imports`` and ``{"upload": <upload>}``."""
    from core.auth import current_account
    from core.services import framework_imports

    filename, data = _uploaded_file()
    if not filename or not data:
        from core.services import audit

        audit.require(current_account(), "admin")  # who may ask comes before what is missing
        abort(400, code="file_required", message=_("Send a CASE package (.json) or a Moodle competency CSV (.csv) "
                                                   "as the form field 'file'."))
    try:
        return framework_imports.preview(kbp(), current_account(), filename, data)
    except framework_imports.Invalid as exc:
        abort(400, code="unsupported_file", message=exc.message, errors=exc.errors)


@blp.route("/framework-imports", methods=["POST"])
@blp.response(201, schemas.ImportPreviewOut)
@blp.alt_response(422, schema=schemas.ErrorOut)
@accepts_large_body
def import_framework():
    """Import a CASE package or Moodle competency CSV (admin), without a restart: the framework is in
    the catalogue of every server at its next request. Confirm a checked file with the JSON body
    ``{"upload": "<upload from the preview>"}``, or send the file itself as for the preview. The file is
    checked again; any problem (invalid, an id clash, licensed content) is a 422 listing the problems
    in ``errors.file`` and nothing is imported. Importing a framework id imported before replaces it."""
    from core.auth import current_account
    from core.services import framework_imports

    body = request.get_json(silent=True) if request.is_json else None
    upload_id = (body or {}).get("upload") if isinstance(body, dict) else None
    if upload_id is not None and not isinstance(upload_id, str):
        abort(422, code="validation_error", message=_("'upload' must be the text the preview returned."),
              errors={"upload": [str(upload_id)]})
    filename, data = (None, None) if upload_id else _uploaded_file()
    result = framework_imports.confirm(kbp(), current_account(), upload_id=upload_id, filename=filename or "",
                                       data=data or b"")
    return result, 201, {"Location": url_for("catalogue.get_framework", framework_id=result["framework"]["id"])}


@blp.route("/frameworks")
@blp.arguments(schemas.LangArgs, location="query", as_kwargs=True)
@blp.response(200, schemas.FrameworkSummaryOut(many=True))
def list_frameworks(**_args):
    """The installed competency frameworks."""
    p = presenter()
    return [p.framework_summary(fw) for fw in kbp().registry.frameworks.values()]


class RemoveFrameworkArgs(schemas.LangArgs):
    confirm = fields.Boolean(load_default=False, metadata={
        "description": "true: remove the framework even though plans, recruitment records or in-house activities use its "
                       "competencies "
                       "(without it such a removal answers 409 `framework_in_use` with the counts)."})


@blp.route("/frameworks/<framework_id>", methods=["DELETE"])
@blp.arguments(RemoveFrameworkArgs, location="query", as_kwargs=True)
@blp.response(204)
@blp.alt_response(409, schema=schemas.ErrorOut, description=(
    "`framework_in_use`: plans, recruitment records or in-house activities use its competencies — the message gives "
    "the counts; send "
    "`confirm=true` to remove it anyway. `framework_from_plugin`: the framework comes from a plugin or an import "
    "folder, not from an import in KBP — disable the plugin (or remove the file) instead."))
def remove_framework(framework_id: str, confirm: bool = False, **_args):
    """Remove a framework imported through KBP (the page, ``POST /api/v1/framework-imports`` or ``kbp frameworks
    import``) (admin): gone from every server's catalogue at its next request, without a restart. While plans,
    recruitment records or in-house activities use its competencies, only with ``confirm=true`` (409
    ``framework_in_use`` with the counts otherwise). Plans and recruitment records keep their copies of its names
    and stay readable (plans exportable); in-house activities keep
    their links (shown again if the framework is imported again). A plugin's framework is refused (409
    ``framework_from_plugin``). An audit entry (``delete`` / ``framework``)."""
    from core.auth import current_account
    from core.services import framework_imports

    framework_imports.remove(kbp(), current_account(), framework_id, confirmed=confirm)


@blp.route("/frameworks/<framework_id>")
@blp.arguments(schemas.LangArgs(), location="query", as_kwargs=True)  # one instance: not made per request
@blp.response(200, schemas.FrameworkOut)
@blp.alt_response(404, schema=schemas.ErrorOut)
def get_framework(framework_id: str, **_args):
    """One framework with its groups and competencies. Sent with an ``ETag``: a request with
    ``If-None-Match`` answers 304 while the document is unchanged."""
    fw = find_framework(framework_id)  # the licence is checked on every request, before any cache
    locale = reader_locale()
    return cached_document(("framework", fw.id, locale), content_state(fw),
                           lambda: schemas.FrameworkOut().dump(Presenter(kbp().registry, locale).framework_detail(fw)))


_MAX_DOCUMENTS = 4096  # cached documents per worker (frameworks x competencies x languages x limits)


def content_state(fw, with_sources: bool = False) -> tuple:
    """What a cached catalogue document depends on besides its key: the framework object (a new one
    when plugins reload), the stored imports' revision (a re-import; the framework's own licence is
    checked before the cache), and with ``with_sources`` which licensed frameworks are available now
    and every activity source's revision (in-house activities change while the server runs, in any
    process). A different state means the document is built again."""
    from core.activity_search import _revision

    registry = kbp().registry
    # stored_revision: frameworks imported at run time (a re-import replaces the framework)
    state: tuple = (id(registry), id(fw), getattr(registry, "stored_revision", None))
    if with_sources:  # which sources are served depends on every licensed framework's licence
        state += tuple(registry.is_available(f.id) for f in registry.frameworks.values() if f.licence is not None)
        state += tuple((s.id, _revision(s)) for s in registry.activity_sources.values())
    return state


def cached_document(key: tuple, state: tuple, build):
    """A JSON document serialised once per worker (or once in the master before the workers fork)
    and revalidated with its ETag (304 Not Modified) while ``state`` (see :func:`content_state`)
    is unchanged; built again when it changed."""
    import hashlib
    import json

    from flask import current_app

    cache = current_app.extensions.setdefault("kbp_documents", {})
    hit = cache.get(key)
    if hit is None or hit[0] != state:
        body = json.dumps(build(), ensure_ascii=False, separators=(",", ":")).encode()
        if len(cache) >= _MAX_DOCUMENTS:
            cache.clear()
        hit = cache[key] = (state, body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    _state, body, etag = hit
    if etag in (t.strip() for t in request.headers.get("If-None-Match", "").split(",")):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(body, mimetype="application/json")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "private, no-cache"  # may be kept, but asked again each time
    response.headers["Vary"] = "Accept-Language, Cookie, Authorization"
    return response


@blp.route("/frameworks/<framework_id>/competencies/<competency_id>")
@blp.arguments(schemas.CompetencyQuery(), location="query", as_kwargs=True)
@blp.response(200, schemas.CompetencyOut)
@blp.alt_response(404, schema=schemas.ErrorOut)
def get_competency(framework_id: str, competency_id: str, activity_limit: int = 100, **_args):
    """One competency with its definition, the questions of every question set and the activities of every source.
    Sent with an ``ETag``: a request with ``If-None-Match`` answers 304 while the document is unchanged
    (a change to an activity, a licence or the content changes it)."""
    from core.services import catalogue

    registry = kbp().registry
    comp = catalogue.competency(registry, framework_id, competency_id)  # the licence first, before any cache
    locale = reader_locale()
    return cached_document(("competency", comp.global_id, locale, activity_limit),
                           content_state(registry.framework(comp.framework_id), with_sources=True),
                           lambda: schemas.CompetencyOut().dump(Presenter(registry, locale).competency_detail(
                               comp, activity_limit, listing=searcher(current_app).for_competencies)))


@blp.route("/frameworks/<framework_id>/export/<exporter_id>")
@blp.arguments(schemas.LangArgs, location="query", as_kwargs=True)
@blp.response(200, description="The exported file, with the exporter's media type.")
@blp.alt_response(404, schema=schemas.ErrorOut)
def export_framework(framework_id: str, exporter_id: str, **_args):
    """Export a framework with an exporter whose subject is ``framework`` (e.g. CASE, Moodle CSV).
    A licensed framework can be exported only while its licence is valid; the file carries its
    licence notice."""
    from flask import Response, current_app

    from core import auth
    from core.services import catalogue

    locale = reader_locale()
    data, fw, exporter = catalogue.export_framework(kbp().storage, kbp().registry, auth.current_account(), framework_id,
                                                    exporter_id, locale, bool(current_app.config.get("DEMO")))
    return Response(data, mimetype=exporter.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{fw.id}.{exporter.extension}"'})


@blp.route("/exporters")
@blp.arguments(schemas.ExporterQuery, location="query", as_kwargs=True)
@blp.response(200, schemas.ExporterOut(many=True))
def list_exporters(subject=None, **_args):
    """Every exporter with what it exports (``subject``: plan, framework, dialogue_guide), its media
    type and file extension; ``?subject=plan`` lists one subject."""
    p = presenter()
    reg = kbp().registry
    return [p.exporter(e, reg.owner[("exporter", e.id)]) for e in reg.exporters.values() if subject in (None, e.subject)]


def export_or_abort(exporter, document: dict, locale: str) -> bytes:
    """Run an exporter; when it fails, answer a JSON error naming the exporter and its plugin."""
    from core.services import catalogue

    return catalogue.run_export(kbp().registry, exporter, document, locale)
