"""Pages: search across every activity source, and editing the activities of writable sources (admin)."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale

from core import auth, model
from core.access import require_role
from core.activity_search import searcher
from core.context import accepts_large_body, kbp
from core.i18n import available_locales, locale_name
from core.i18n import gettext as _
from core.present import Presenter
from core.services import activities as service
from core.services.errors import Conflict, Invalid, NotEditable

bp = Blueprint("activity_web", __name__)


def presenter() -> Presenter:
    return Presenter(kbp().registry, str(get_locale()))


def writable_source(source_id: str) -> model.WritableActivitySource:
    try:
        return service.source(kbp().registry, source_id, writable=True)
    except NotEditable:
        abort(404)


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
    shown = {gid for a in results for gid in a["competencies"]}  # named with their path in a deep framework
    names = {gid: p.label(reg.competencies[gid]) for gid in shown if gid in reg.competencies}
    sources = {s.id: p.source_title(s) for s in reg.activity_sources.values() if reg.source_available(s.id)}
    return render_template("activity_search.html", q=q, chosen=chosen, results=results, total=total, searched=searched,
                           frameworks=competency_choices(), names=names, sources=sources)


@bp.route("/admin/sources/<source_id>/activities")
def admin_list(source_id):
    require_role("admin")
    source = writable_source(source_id)
    show_archived = request.args.get("archived") == "1"
    records = sorted(service.records(kbp().registry, auth.current_account(), source_id, show_archived), key=lambda r: (r.get("archived", False), _title(r).lower()))
    reg, p = kbp().registry, presenter()
    shown = {gid for r in records for gid in r.get("competencies", ())}  # named with their path in a deep framework
    names = {gid: p.label(reg.competencies[gid]) for gid in shown if gid in reg.competencies}
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
    frameworks = competency_choices()
    # links the record has to competencies not offered (a removed framework, or one without a valid licence):
    # shown ticked, so saving the form keeps them unless the admin unticks them
    offered = {gid for fw in frameworks for gid, _name in fw["competencies"]}
    reg = kbp().registry
    p = presenter()
    kept = [(gid, p.label(reg.competencies[gid]) if gid in reg.competencies else gid)
            for gid in record.get("competencies") or () if gid not in offered]
    return render_template(
        "activity_form.html", source=source, record=record, errors=form_errors(errors, source_language),
        frameworks=frameworks, kept=kept, locales=locales, kinds=model.ACTIVITY_KINDS, efforts=model.EFFORTS,
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


@bp.route("/admin/sources/<source_id>/activities/new", methods=["GET", "POST"])
def admin_new(source_id):
    require_role("admin")
    source = writable_source(source_id)
    if request.method == "GET":
        return _render_form(source, {"source_language": current_app.config["DEFAULT_LOCALE"], "title": {}, "description": {}}, {})
    data = _form_record(request.form)
    try:
        service.create(kbp().storage, kbp().registry, auth.current_account(), source_id, data)
    except (Invalid, Conflict) as exc:
        return _render_form(source, data, exc.errors, exc.status)
    flash(_("The activity was saved."))
    return redirect(url_for("activity_web.admin_list", source_id=source_id))


@bp.route("/admin/sources/<source_id>/activities/<activity_id>", methods=["GET", "POST"])
def admin_edit(source_id, activity_id):
    require_role("admin")
    source, current = service.editable_record(kbp().registry, auth.current_account(), source_id, activity_id)
    if request.method == "GET":
        return _render_form(source, current, {})
    data = _form_record(request.form)
    try:
        version = int(request.form.get("version", "0"))
    except ValueError:
        abort(400)
    try:
        service.update(kbp().storage, kbp().registry, auth.current_account(), source_id, activity_id, data, version)
    except Invalid as exc:
        return _render_form(source, {**data, "id": activity_id, "version": current["version"]}, exc.errors, 422)
    except Conflict:
        flash(_("Someone else changed this activity after you opened it. Your changes were not saved: here is the current version."))
        return _render_form(source, service.editable_record(kbp().registry, auth.current_account(), source_id, activity_id)[1], {}, 409)
    flash(_("The activity was saved."))
    return redirect(url_for("activity_web.admin_list", source_id=source_id))


@bp.route("/admin/sources/<source_id>/activities/<activity_id>/archive", methods=["POST"])
def admin_archive(source_id, activity_id):
    require_role("admin")
    writable_source(source_id)
    archived = request.form.get("archived") == "1"
    service.set_archived(kbp().storage, kbp().registry, auth.current_account(), source_id, activity_id, archived)
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
    result = service.import_file(kbp().storage, kbp().registry, auth.current_account(), source_id, upload.read(), fmt, dry_run)
    result["problems"] = [(p["row"], p["column"], p["reason"]) for p in result["problems"]]
    return render_template("activities_import.html", source=source, result=result), (200 if result["ok"] else 422)


@bp.route("/admin/sources/<source_id>/export.<fmt>")
def admin_export(source_id, fmt):
    require_role("admin")
    writable_source(source_id)
    if fmt not in ("csv", "json"):
        abort(404)
    body, mimetype, _count = service.export(kbp().storage, kbp().registry, auth.current_account(), source_id, fmt,
                                            available_locales())
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{source_id}-activities.{fmt}"'})
