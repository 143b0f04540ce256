"""HTML pages: a plain, accessible shell over the catalogue (the full UI grows on it)."""
from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, Flask, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale

from core import i18n
from core.activity_search import searcher
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
        """A stored time (seconds since the epoch, UTC) as the reader's language writes it, in the
        organisation's time zone (``KBP_TIMEZONE``): the one way every page shows a time."""
        from datetime import datetime, timezone

        return format_datetime(datetime.fromtimestamp(ts, timezone.utc), "short")  # Babel converts to TIMEZONE

    def licence_warnings():
        """Licences ending within 30 days with no renewal waiting (shown to administrators)."""
        registry = kbp().registry
        frameworks = [fw for fw in registry.frameworks.values() if fw.licence is not None]
        return [w for w in (registry.entitlements.expiry_warning(fw) for fw in frameworks) if w]

    def writable_sources():
        p = presenter()
        return [(s.id, p.source_title(s)) for s in kbp().registry.activity_sources.values() if s.writable]

    from flask_babel import format_date

    def person_name(person_id) -> str:
        """The name of a person the reader may see (whom a dialogue is with); '–' otherwise."""
        from core.services import people as people_service
        from core.services.errors import ServiceError

        try:
            return people_service.get_person(kbp().storage, current_account(), person_id).get("name") or "–"
        except ServiceError:
            return "–"

    return {
        "person_name": person_name,
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
    return render_template("framework.html", fw=detail, exporters=exporters, levels=levels, level=level,
                           removable=fw.id in reg.stored_imports)


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
        comp=p.competency_detail(comp, activity_limit=COMPETENCY_PAGE_ACTIVITIES,
                                 listing=searcher(current_app).for_competencies),
    )


@bp.route("/admin/framework-import", methods=["GET", "POST"])
def framework_import():
    """Check a CASE package or Moodle CSV, then import it without a restart (admin)."""
    from core.access import require_role
    from core.auth import current_account
    from core.services import framework_imports
    from core.services.errors import ServiceError

    require_role("admin")
    imported = framework_imports.listing(kbp(), current_account())
    if request.method == "GET":
        return render_template("framework_import.html", report=None, imported=imported)
    if request.form.get("action") == "import":
        try:
            report = framework_imports.confirm(kbp(), current_account(), upload_id=request.form.get("upload", ""))
        except ServiceError as exc:
            flash(exc.message)
            return render_template("framework_import.html", report=None, problems=exc.errors.get("file", []),
                                   imported=imported), exc.status
        flash(_("The framework '%(name)s' is imported: it is in use on every server now.",
                name=report["framework"]["name"]))
        return redirect(url_for("web.framework", framework_id=report["framework"]["id"]))
    upload = request.files.get("file")
    data = upload.read() if upload is not None and upload.filename else b""
    if not data:
        flash(_("Choose a CASE package (.json) or a Moodle competency CSV (.csv)."))
        return render_template("framework_import.html", report=None, imported=imported), 400
    try:
        report = framework_imports.preview(kbp(), current_account(), upload.filename, data)
    except ServiceError as exc:
        flash(exc.message)
        return render_template("framework_import.html", report=None, imported=imported), 400
    return render_template("framework_import.html", report=report, filename=upload.filename, imported=imported), (
        200 if report["ok"] else 422)


@bp.route("/admin/frameworks/<framework_id>/remove", methods=["GET", "POST"])
def framework_remove(framework_id: str):
    """Remove a framework imported in KBP (admin): a page saying what uses it, then POST to remove."""
    from core.access import require_role
    from core.auth import current_account
    from core.services import framework_imports

    require_role("admin")
    # a plugin's framework (409) or an unknown id (404) becomes the error page with the service's message
    found = framework_imports.removal(kbp(), current_account(), framework_id)
    if request.method == "GET":
        return render_template("framework_remove.html", found=found, uses=framework_imports.usage_sentence(found))
    framework_imports.remove(kbp(), current_account(), framework_id, confirmed=True)
    flash(_("The framework '%(name)s' is removed: it is gone from every server now. Plans that used it keep "
            "their copies of its names.", name=found["name"]))
    return redirect(url_for("web.framework_import"))


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


from core.web.signin import login_context, safe_next as _safe_next  # noqa: E402


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
                return render_template("login.html", error=error, username=request.form.get("username", ""),
                                       **login_context()), status, headers
        else:
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error, username=request.form.get("username", ""), **login_context()), status


@bp.route("/logout", methods=["POST"])
def logout():
    from core import auth
    from core.services import sso

    provider_logout = sso.sign_out(kbp().storage, auth.current_account(),
                                   post_logout_redirect_uri=url_for("web.login", _external=True), locale=str(get_locale()))
    if provider_logout:  # the provider ends its session too, then sends the browser back to /login
        return redirect(provider_logout)
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
    headers = response.headers
    present = {name.lower() for name, _value in headers.items()}  # a missing name costs werkzeug an exception
    if request.endpoint not in CACHEABLE_ENDPOINTS and "cache-control" not in present:
        headers["Cache-Control"] = "no-store"
    for name, value in _FIXED_HEADERS:  # set unless the view set its own
        if name.lower() not in present:
            headers[name] = value
    if "content-security-policy" not in present:
        from core.services.sso import form_action_origins

        # the sign-out form may end at a single sign-on provider's logout page (RP-initiated logout)
        headers["Content-Security-Policy"] = _content_security_policy(tuple(form_action_origins(current_app)))
    return response


_FIXED_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin"))


@lru_cache(maxsize=16)
def _content_security_policy(form_action_origins: tuple[str, ...]) -> str:
    """The page policy for these logout origins (built once, not for every response)."""
    form_action = " ".join(["'self'", *form_action_origins])
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
            f"base-uri 'self'; form-action {form_action}")


def register_web(app: Flask) -> None:
    from core.web import (activity_pages, overview_pages, people_pages, plan_pages, recruitment_pages,
                          reminder_pages, sso_pages)

    app.register_blueprint(bp)
    app.register_blueprint(sso_pages.bp)
    app.register_blueprint(people_pages.bp)
    app.register_blueprint(activity_pages.bp)
    app.register_blueprint(plan_pages.bp)
    app.register_blueprint(reminder_pages.bp)
    app.register_blueprint(overview_pages.bp)
    app.register_blueprint(recruitment_pages.bp)

    @app.template_filter("todate")
    def todate(value):
        from datetime import date

        return date.fromisoformat(value) if isinstance(value, str) else value

    @app.template_filter("field_label")
    def field_label(value):
        return label(FIELD_LABELS, value)
