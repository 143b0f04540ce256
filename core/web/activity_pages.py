"""Pages: search across every activity source, and editing the activities of writable sources (admin)."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from marshmallow import ValidationError

from core import activities, audit, model
from core.access import require_role
from core.activity_search import searcher
from core.api.activities import run_import
from core.context import accepts_large_body, kbp
from core.i18n import available_locales, locale_name
from core.i18n import gettext as _
from core.validation_i18n import translate_errors
from core.present import Presenter

bp = Blueprint("activity_web", __name__)


def presenter() -> Presenter:
    return Presenter(kbp().registry, str(get_locale()))


def writable_source(source_id: str) -> model.WritableActivitySource:
    source = kbp().registry.activity_sources.get(source_id)
    if source is None or not source.writable:
        abort(404)
    return source


def competency_choices() -> list[dict]:
    """Frameworks with their competencies, for pickers (only frameworks that may be served)."""
    reg = kbp().registry
    p = presenter()
    return [
        {"id": fw.id, "name": p.tr(fw.name, fw.text),
         "competencies": [(c.global_id, p.tr(c.name, c.text)) for c in fw.competencies()]}
        for fw in reg.frameworks.values() if reg.is_available(fw.id)
    ]


@bp.route("/activities")
def search_page():
    args = request.args
    p = presenter()
    q = args.get("q", "").strip()[:200]
    chosen = {
        "competency": [c for c in args.getlist("competency") if c in kbp().registry.competencies],
        "kind": [k for k in args.getlist("kind") if k in model.ACTIVITY_KINDS],
        "effort": [e for e in args.getlist("effort") if e in model.EFFORTS],
        "situation": [s for s in args.getlist("situation") if s in model.SITUATIONS],
        "source": [s for s in args.getlist("source") if s in kbp().registry.activity_sources],
    }
    searched = bool(q or any(chosen.values()))
    results, total = [], 0
    if searched:
        hits, total = searcher(current_app).search(
            q, locale=p.locale, competencies=chosen["competency"], kinds=chosen["kind"], efforts=chosen["effort"],
            situations=chosen["situation"], sources=chosen["source"], limit=50)
        results = [p.activity(a) for _hit, a in hits]
    reg = kbp().registry
    names = {c.global_id: p.tr(c.name, c.text) for c in reg.competencies.values()}
    sources = {s.id: p.source_title(s) for s in reg.activity_sources.values() if reg.source_available(s.id)}
    return render_template("activity_search.html", q=q, chosen=chosen, results=results, total=total, searched=searched,
                           frameworks=competency_choices(), names=names, sources=sources)


@bp.route("/admin/sources/<source_id>/activities")
def admin_list(source_id):
    require_role("admin")
    source = writable_source(source_id)
    show_archived = request.args.get("archived") == "1"
    records = sorted(source.records(include_archived=show_archived), key=lambda r: (r.get("archived", False), _title(r).lower()))
    names = {c.global_id: presenter().tr(c.name, c.text) for c in kbp().registry.competencies.values()}
    return render_template("activities_admin.html", source=source, source_title=presenter().source_title(source),
                           records=records, title_of=_title, names=names, show_archived=show_archived)


def _title(record: dict) -> str:
    locale = str(get_locale())
    return record["title"].get(locale) or record["title"].get(record.get("source_language", "sv"), record["id"])


def _form_record(form) -> dict:
    locales = available_locales()
    return {
        "source_language": form.get("source_language") or current_app.config["DEFAULT_LOCALE"],
        "title": {loc: form.get(f"title_{loc}", "") for loc in locales},
        "description": {loc: form.get(f"description_{loc}", "") for loc in locales},
        "competencies": form.getlist("competencies"),
        "kind": form.get("kind", ""),
        "effort": form.get("effort", ""),
        "duration": form.get("duration", ""),
        "cost": form.get("cost", ""),
        "provider": form.get("provider", ""),
        "url": form.get("url", ""),
        "tags": [t for t in (s.strip() for s in form.get("tags", "").split(",")) if t],
        "situations": form.getlist("situations"),
        "owner": form.get("owner", ""),
    }


def _render_form(source, record, errors, status=200):
    source_language = record.get("source_language") or current_app.config["DEFAULT_LOCALE"]
    locales = sorted(((c, locale_name(c)) for c in available_locales()), key=lambda item: item[0] != source_language)
    return render_template(
        "activity_form.html", source=source, record=record, errors=form_errors(errors, source_language),
        frameworks=competency_choices(), locales=locales, kinds=model.ACTIVITY_KINDS, efforts=model.EFFORTS,
        situations=model.SITUATIONS,
    ), status


def form_errors(errors: dict, source_language: str) -> dict[str, dict]:
    """The validation errors of the activity form by field id, in form order, each with the field's
    label in the reader's language and its messages: ``{"title_sv": {"label": "Titel (svenska)",
    "messages": [...]}}`` (the page lists them all at the top and marks each field)."""
    labels = {"source_language": _("Written in")}
    for code in sorted(available_locales(), key=lambda c: c != source_language):  # the form's order
        labels[f"title_{code}"] = _("Title (%(language)s)", language=locale_name(code))
        labels[f"description_{code}"] = _("Description (%(language)s)", language=locale_name(code))
    labels.update({"competencies": _("Competencies"), "kind": _("Kind"), "effort": _("Effort"),
                   "situations": _("Suits especially"), "duration": _("Duration"), "cost": _("Cost"),
                   "provider": _("Provider"), "url": _("Link"), "owner": _("Contact person"),
                   "tags": _("Tags (separated by commas)")})
    missing = {"title": _("Write the title in %(language)s, the language the activity is written in."),
               "description": _("Write the description in %(language)s, the language the activity is written in.")}

    def messages(value) -> list[str]:
        if isinstance(value, dict):
            return [m for v in value.values() for m in messages(v)]
        if isinstance(value, (list, tuple)):
            return [m for v in value for m in messages(v)]
        return [str(value)]

    found: dict[str, list[str]] = {}
    for name, value in (errors or {}).items():
        if name in missing:  # per language; "_schema" (or a plain list): missing in the source language
            for code, inner in (value.items() if isinstance(value, dict) else [("_schema", value)]):
                if code == "_schema":
                    found.setdefault(f"{name}_{source_language}", []).append(
                        missing[name] % {"language": locale_name(source_language)})
                else:
                    found.setdefault(f"{name}_{code}", []).extend(messages(inner))
        else:
            found.setdefault(name, []).extend(messages(value))
    order = list(labels)
    return {name: {"label": labels.get(name, name), "messages": found[name]}
            for name in sorted(found, key=lambda n: order.index(n) if n in order else len(order))}


def _validated(source, data: dict, current: dict | None):
    errors = {}
    try:
        record = activities.merge(current, data) if current else activities.ActivityRecordSchema().load(data)
    except ValidationError as exc:
        record, errors = data, translate_errors(exc.messages)
        if isinstance(errors.get("competencies"), list):  # none ticked, or too many: say it as the form asks
            errors["competencies"] = [_("Choose at least one competency, at most 20.")]
    unknown = activities.unknown_competencies(record, kbp().registry.competencies) if "competencies" not in errors else []
    if unknown:  # reported together with every other error
        errors["competencies"] = [_("Unknown competency: %(id)s", id=c) for c in unknown]
    return (None, errors) if errors else (record, None)


@bp.route("/admin/sources/<source_id>/activities/new", methods=["GET", "POST"])
def admin_new(source_id):
    require_role("admin")
    source = writable_source(source_id)
    if request.method == "GET":
        return _render_form(source, {"source_language": current_app.config["DEFAULT_LOCALE"], "title": {}, "description": {}}, {})
    data = _form_record(request.form)
    record, errors = _validated(source, data, None)
    if errors:
        return _render_form(source, data, errors, 422)
    created = source.create(record)
    audit.record(kbp().storage, "create", "activity", created["id"])
    flash(_("The activity was saved."))
    return redirect(url_for("activity_web.admin_list", source_id=source_id))


@bp.route("/admin/sources/<source_id>/activities/<activity_id>", methods=["GET", "POST"])
def admin_edit(source_id, activity_id):
    require_role("admin")
    source = writable_source(source_id)
    current = source.get(activity_id)
    if current is None:
        abort(404)
    if request.method == "GET":
        return _render_form(source, current, {})
    data = _form_record(request.form)
    record, errors = _validated(source, data, current)
    if errors:
        return _render_form(source, {**data, "id": activity_id, "version": current["version"]}, errors, 422)
    record.pop("id", None)
    try:
        version = int(request.form.get("version", "0"))
    except ValueError:
        abort(400)
    try:
        source.update(activity_id, record, version)
    except model.ConflictError:
        flash(_("Someone else changed this activity after you opened it. Your changes were not saved: here is the current version."))
        return _render_form(source, source.get(activity_id), {}, 409)
    audit.record(kbp().storage, "update", "activity", activity_id)
    flash(_("The activity was saved."))
    return redirect(url_for("activity_web.admin_list", source_id=source_id))


@bp.route("/admin/sources/<source_id>/activities/<activity_id>/archive", methods=["POST"])
def admin_archive(source_id, activity_id):
    require_role("admin")
    source = writable_source(source_id)
    if source.get(activity_id) is None:
        abort(404)
    archived = request.form.get("archived") == "1"
    source.update(activity_id, {"archived": archived})
    audit.record(kbp().storage, "update", "activity", activity_id)
    flash(_("The activity was archived.") if archived else _("The activity was restored."))
    return redirect(url_for("activity_web.admin_list", source_id=source_id, archived="1" if not archived else None))


@bp.route("/admin/sources/<source_id>/import", methods=["GET", "POST"])
@accepts_large_body
def admin_import(source_id):
    require_role("admin")
    source = writable_source(source_id)
    if request.method == "GET":
        return render_template("activities_import.html", source=source, result=None)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a CSV or JSON file."))
        return render_template("activities_import.html", source=source, result=None), 400
    fmt = "json" if upload.filename.lower().endswith(".json") else "csv"
    dry_run = request.form.get("apply") != "1"
    result = run_import(source, upload.read(), fmt, dry_run)
    result["problems"] = [(p["row"], p["column"], p["reason"]) for p in result["problems"]]
    if result["ok"] and not dry_run:
        audit.record(kbp().storage, "import", "activities", source_id)
    return render_template("activities_import.html", source=source, result=result), (200 if result["ok"] else 422)


@bp.route("/admin/sources/<source_id>/export.<fmt>")
def admin_export(source_id, fmt):
    require_role("admin")
    source = writable_source(source_id)
    if fmt not in ("csv", "json"):
        abort(404)
    records = source.records(include_archived=True)
    audit.record(kbp().storage, "export", "activities", source_id)
    body = activities.to_json(records) if fmt == "json" else activities.to_csv(records, available_locales())
    return Response(body, mimetype="application/json" if fmt == "json" else "text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{source_id}-activities.{fmt}"'})
