"""Who may do what — checked on the server, before every request and again in every view.

Secure by default: every endpoint needs a signed-in account unless it is listed in
:data:`PUBLIC_ENDPOINTS` (sign-in, static files, the API description). Views then call
:func:`require_role` and, for personal data, :func:`core.people.visible_ids`: a person someone may
not see answers 404, exactly like a person who does not exist, so existence does not leak.

API requests authenticated by session cookie must carry the CSRF token (``X-CSRFToken``) on
unsafe methods; requests with an API token (``Authorization: Bearer kbp_…``) carry no ambient
credentials and need none.
"""
from __future__ import annotations

from flask import Flask, abort, g, redirect, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect

from core import auth, oidc
from core.http_errors import error_page, error_response, is_api_request, register_error_handlers
from core.i18n import gettext as _

PUBLIC_ENDPOINTS = {"web.login", "sso_web.start", "sso_web.callback", "static", "apidocs.reference", "api-docs.openapi_json", "web.health",
                    "reminder_web.calendar"}  # the secret in the feed's address is its credential
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

csrf = CSRFProtect()


def is_api() -> bool:
    return is_api_request()


def gate():
    auth.load_user()
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None
    if g.account is None:
        if is_api():
            if getattr(g, "token_state", None) == "expired":
                return error_response(401, _("The API token has expired. Create a new one on your account page."))
            if getattr(g, "auth_failed", False):
                return error_response(401, _("The API token is invalid or has been revoked."))
            return error_response(401, _("Sign in or send an API token (Authorization: Bearer …)."))
        return redirect(url_for("web.login", next=request.full_path if request.query_string else request.path))
    if is_api() and not g.account.via_token and request.method not in SAFE_METHODS:
        csrf.protect()
    return None


def require_role(role: str) -> None:
    account = auth.current_account()
    if account is None:
        abort(401)
    if not account.at_least(role):
        abort(403)


def init_access(app: Flask) -> None:
    for key, value in auth.settings_defaults().items():
        app.config.setdefault(key, value)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # tied to the session instead
    auth.configure_session_security(app)
    oidc.init_app(app)  # single sign-on providers and KBP_LOCAL_LOGIN, checked at start
    auth.trust_proxies(app)
    csrf.init_app(app)
    app.before_request_funcs.setdefault(None, []).insert(0, gate)
    register_error_handlers(app)  # the services' domain errors, mapped once to JSON and to pages

    from core.storage import LockTimeoutError
    from core.store import UnavailableError

    @app.errorhandler(UnavailableError)
    @app.errorhandler(LockTimeoutError)
    def store_unavailable(error):
        """The database is away (or the data is locked too long): 503, and the next request retries."""
        message = _("The database cannot be reached just now. Nothing was changed; try again in a moment.")
        if is_api():
            return error_response(503, message, "database_unavailable", headers={"Retry-After": "5"})
        return error_page(503, message, _("Temporarily unavailable"), {"Retry-After": "5"})

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        if is_api():
            return error_response(400, _("The CSRF token is missing or invalid. Reload the page and try again."), "csrf_failed")
        return error_page(400, _("The form has expired or did not come from this site. Reload the page and try again."),
                          _("Bad request"))
