"""HTML pages: a plain, accessible shell over the catalogue (the full UI grows on it)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale

from core import i18n
from core.context import kbp
from core.http_errors import html_error  # noqa: F401 - re-exported for older imports
from core.i18n import gettext as _
from core.present import Presenter

bp = Blueprint("web", __name__)

from core.web.labels import (  # noqa: E402,F401 - the pages use them through this package too
    SITUATION_LABELS,
    KIND_LABELS,
    EFFORT_LABELS,
    DIRECTION_LABELS,
    QUESTION_KIND_LABELS,
    COMPETENCY_PAGE_ACTIVITIES,
    HISTORY_LABELS,
    FIELD_LABELS,
    ROLE_LABELS,
    STATE_LABELS,
    label,
)


def presenter() -> Presenter:
    return Presenter(kbp().registry, str(get_locale()))


@bp.app_context_processor
def shell_context():
    current = str(get_locale()) if request else i18n.UI_SOURCE_LANGUAGE
    offered = i18n.offered_locales()
    args = {k: v for k, v in (request.view_args or {}).items()} if request else {}

    def switch_url(code: str) -> str:
        """The same page in another language (with its query), or home when the page is only a form's answer."""
        rule = request.url_rule if request else None
        if rule is None or "GET" not in (rule.methods or ()) or request.endpoint == "static" or g.get("kbp_error_page"):
            return url_for("web.home", lang=code)
        query = {k: v for k, v in request.args.to_dict(flat=False).items() if k != "lang"}
        return url_for(request.endpoint, **args, **query, lang=code)

    from core.auth import current_account

    from flask_babel import format_datetime

    def format_datetime_ts(ts):
        from datetime import datetime, timezone

        return format_datetime(datetime.fromtimestamp(ts, timezone.utc), "short")

    def licence_warnings():
        """Licences ending within 30 days with no renewal waiting (shown to administrators)."""
        registry = kbp().registry
        frameworks = [fw for fw in registry.frameworks.values() if fw.licence is not None]
        return [w for w in (registry.entitlements.expiry_warning(fw) for fw in frameworks) if w]

    def writable_sources():
        p = presenter()
        return [(s.id, p.source_title(s)) for s in kbp().registry.activity_sources.values() if s.writable]

    from flask_babel import format_date

    return {
        "format_date": format_date,
        "HISTORY_LABELS": HISTORY_LABELS,
        "writable_sources": writable_sources,
        "licence_warnings": licence_warnings,
        "account": current_account() if request else None,
        "role_label": lambda role: label(ROLE_LABELS, role),
        "format_datetime_ts": format_datetime_ts,
        "current_locale": current,
        # languages translated enough to offer (and the one being read, e.g. a translator's ?lang=)
        "languages": [(code, i18n.locale_name(code)) for code in i18n.available_locales()
                      if code in offered or code == current],
        "switch_url": switch_url,
        "demo": bool(kbp().config.get("DEMO")),
        "label": label,
        "SITUATION_LABELS": SITUATION_LABELS,
        "KIND_LABELS": KIND_LABELS,
        "EFFORT_LABELS": EFFORT_LABELS,
        "DIRECTION_LABELS": DIRECTION_LABELS,
        "QUESTION_KIND_LABELS": QUESTION_KIND_LABELS,
        "STATE_LABELS": STATE_LABELS,
    }


@bp.route("/")
def home():
    p = presenter()
    reg = kbp().registry
    frameworks = [
        p.framework_detail(fw) if reg.is_available(fw.id) else p.framework_summary(fw) for fw in reg.frameworks.values()
    ]
    return render_template("home.html", frameworks=frameworks)


@bp.route("/start")
def start():
    """What is due for the signed-in person, per role (the page after sign-in)."""
    from core import auth, overview
    from core.services import start as start_service

    account = auth.current_account()
    data = start_service.start_page(kbp().storage, account, can_view_overview=overview.may_view(kbp().storage, account))
    return render_template("start.html", start=data)


def licence_page(fw):
    """The page shown instead of a licensed framework's content while it has no valid licence."""
    check = kbp().registry.entitlements.check(fw)
    p = presenter()
    return (
        render_template("unlicensed.html", fw=p.framework_summary(fw), reason=check.message if check else ""),
        403,
    )


@bp.route("/frameworks/<framework_id>")
def framework(framework_id: str):
    reg = kbp().registry
    fw = reg.framework(framework_id)
    if fw is None:
        abort(404)
    if not reg.is_available(fw.id):
        return licence_page(fw)
    p = presenter()
    exporters = [p.exporter(e, "") for e in reg.exporters_for("framework")]
    detail = p.framework_detail(fw)
    levels = sorted({lv for g in detail["groups"] for c in g["competencies"] for lv in c["levels"]})
    level = request.args.get("level", "")
    if level in levels:  # the education-level filter: matching competencies and what they sit under
        for group in detail["groups"]:
            by_id = {c["id"]: c for c in group["competencies"]}
            keep = set()
            for comp in group["competencies"]:
                if level in comp["levels"]:
                    node = comp
                    while node is not None and node["id"] not in keep:
                        keep.add(node["id"])
                        node = by_id.get(node["parent"])
            group["competencies"] = [c for c in group["competencies"] if c["id"] in keep]
        detail["groups"] = [g for g in detail["groups"] if g["competencies"]]
    else:
        level = ""
    for group in detail["groups"]:  # deeper frameworks are shown as a tree: competencies by parent
        group["children"] = {}
        for comp in group["competencies"]:
            group["children"].setdefault(comp["parent"], []).append(comp)
        group["nested"] = len(group["children"]) > 1
    return render_template("framework.html", fw=detail, exporters=exporters, levels=levels, level=level)


@bp.route("/frameworks/<framework_id>/<competency_id>")
def competency(framework_id: str, competency_id: str):
    reg = kbp().registry
    comp = reg.competency(f"{framework_id}:{competency_id}")
    if comp is None:
        abort(404)
    if not reg.is_available(framework_id):
        return licence_page(reg.frameworks[framework_id])
    p = presenter()
    return render_template(
        "competency.html",
        fw=p.framework_summary(reg.frameworks[framework_id]),
        comp=p.competency_detail(comp, activity_limit=COMPETENCY_PAGE_ACTIVITIES),
    )


@bp.route("/admin/framework-import", methods=["GET", "POST"])
def framework_import():
    """Check a CASE package or Moodle CSV before putting it in the import folder (admin)."""
    from core import import_preview
    from core.access import require_role

    require_role("admin")
    if request.method == "GET":
        return render_template("framework_import.html", report=None)
    upload = request.files.get("file")
    data = upload.read() if upload is not None and upload.filename else b""
    if not data:
        flash(_("Choose a CASE package (.json) or a Moodle competency CSV (.csv)."))
        return render_template("framework_import.html", report=None), 400
    state = kbp()
    report = import_preview.preview_file(state.registry, state.plugins, upload.filename, data)
    if report["format"] is None:
        flash(_("'%(name)s' is neither a CASE package (.json) nor a Moodle competency CSV (.csv).", name=upload.filename))
        return render_template("framework_import.html", report=None), 400
    return render_template("framework_import.html", report=report, filename=upload.filename), (
        200 if report["ok"] else 422)


@bp.route("/plugins")
def plugins():
    from core.access import require_role

    require_role("admin")
    return render_template("plugins.html", plugins=kbp().plugin_listing())


@bp.route("/healthz")
def health():
    """For load balancers: the storage backend and whether it answers (503 when it does not)."""
    from core.services.health import health as check

    return check(kbp().storage)


def _safe_next(target: str | None) -> str:
    """Only a local path: an open redirect after sign-in would help phishing. Without one, the start page."""
    if not target:
        return url_for("web.start")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    from core.services import accounts as accounts_service
    from core.services.errors import ServiceError, TooManyAttempts

    error = None
    status = 200
    if request.method == "POST":
        try:
            accounts_service.sign_in(kbp().storage, request.form.get("username", ""), request.form.get("password", ""))
        except ServiceError as exc:
            error, status = exc.message, exc.status
            if isinstance(exc, TooManyAttempts):
                headers = {"Retry-After": str(exc.retry_after)}
                return render_template("login.html", error=error, username=request.form.get("username", "")), status, headers
        else:
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error, username=request.form.get("username", "")), status


@bp.route("/logout", methods=["POST"])
def logout():
    from core import auth
    from core.services import accounts as accounts_service

    accounts_service.sign_out(kbp().storage, auth.current_account())
    flash(_("You are signed out."))
    return redirect(url_for("web.login"))


#: responses that carry no personal data and may be cached; every other response is ``no-store``
CACHEABLE_ENDPOINTS = {"static", "api-docs.openapi_json", "apidocs.reference"}


@bp.before_app_request
def refuse_control_characters_in_forms():
    """The text rule (:func:`core.schemas.text_problem`) for every form a page posts: a page naming
    the field instead of storing text a document cannot hold. API bodies are checked in core.api."""
    from core.api import is_api_request
    from core.schemas import text_errors

    if request.endpoint is None or request.method in ("GET", "HEAD", "OPTIONS") or is_api_request() or not request.form:
        return None
    errors = text_errors(request.form.to_dict(flat=False))
    if not errors:
        return None
    names = ", ".join(sorted(errors))
    message = _("These fields contain control characters or invalid text: %(fields)s. Remove them and send the form again.",
                fields=names)
    return render_template("error.html", status=422, title=_("The form could not be saved"), message=message), 422


@bp.after_app_request
def security_headers(response):
    # personal data must not stay in browser or proxy caches; a view that carries none may say otherwise
    # itself (framework documents: "private, no-cache" with an ETag)
    if request.endpoint not in CACHEABLE_ENDPOINTS and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'",
    )
    return response


def register_web(app: Flask) -> None:
    from core.web import activity_pages, people_pages, plan_pages, overview_pages, reminder_pages

    app.register_blueprint(bp)
    app.register_blueprint(people_pages.bp)
    app.register_blueprint(activity_pages.bp)
    app.register_blueprint(plan_pages.bp)
    app.register_blueprint(reminder_pages.bp)
    app.register_blueprint(overview_pages.bp)

    @app.template_filter("todate")
    def todate(value):
        from datetime import date

        return date.fromisoformat(value) if isinstance(value, str) else value

    @app.template_filter("field_label")
    def field_label(value):
        return label(FIELD_LABELS, value)
