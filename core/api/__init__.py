"""The REST API, ``/api/v1``: flask-smorest blueprints documented from the marshmallow schemas.

Every error is JSON ``{"code", "status", "message"}`` (plus ``errors`` for field problems) with a
4xx/5xx status; never an HTML page or a traceback. The OpenAPI document is served at
``/api/v1/openapi.json`` and a browsable reference at ``/api/v1/docs``.
"""
from __future__ import annotations

from flask import Flask, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from core import schemas
from core.http_errors import (  # noqa: F401 - re-exported for older imports
    API_PREFIX,
    STATUS_CODES,
    default_message,
    error_response,
    html_error,
    is_api_request,
)


class KbpApi(Api):
    """flask-smorest's Api with our error shape, and HTML errors for the web pages."""

    ERROR_SCHEMA = schemas.ErrorOut  # documents every error response as it is sent

    def handle_http_exception(self, error: HTTPException):
        # werkzeug's own headers (``Allow`` on a 405, ``Retry-After`` …), minus its HTML Content-Type
        protocol_headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        if not is_api_request():
            from flask import make_response

            response = make_response(html_error(error))
            response.headers.update(protocol_headers)
            return response
        data = getattr(error, "data", None) or {}
        errors = data.get("errors") or data.get("messages")
        if isinstance(errors, dict) and set(errors) <= {"json", "query", "form", "files", "headers", "view_args"}:
            errors = {k: v for k, v in errors.items()} if len(errors) > 1 else next(iter(errors.values()), errors)
        if errors:
            from core.validation_i18n import translate_errors

            errors = translate_errors(errors)
        message = data.get("message")
        if not message and error.code != 500 and error.description and error.description != type(error).description:
            message = error.description
        headers = {**protocol_headers, **(data.get("headers") or {})}
        return error_response(error.code or 500, message, data.get("code"), errors, headers)


def check_body():
    """Every JSON body the API receives is checked before any view parses it: valid JSON, at most
    :data:`core.schemas.MAX_JSON_DEPTH` deep, no huge integers, and the text rule for every string
    (400, or 422 naming the field). The body size is limited by ``MAX_CONTENT_LENGTH`` (413)."""
    if request.endpoint is None or not is_api_request() or request.method in ("GET", "HEAD", "OPTIONS") or not request.is_json:
        return None  # no route (404/405 answer first), or nothing to check
    from flask import current_app

    if getattr(current_app.view_functions.get(request.endpoint), "kbp_large_body", False):
        return None  # a file import reads its file itself and reports problems by row (core.schemas.load_json)
    body = request.get_data(cache=True)
    if not body:
        return None
    try:
        schemas.load_json(body)
    except schemas.InputError as exc:
        return error_response(exc.status, str(exc), errors=exc.errors or None)
    return None


#: the security schemes of the OpenAPI document: every operation needs one of them
SECURITY_SCHEMES = {
    "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session",
                   "description": "The session cookie set by signing in at /login. Unsafe methods also need the "
                                  "CSRF token in the X-CSRFToken header."},
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "An API token created at /me (Authorization: Bearer kbp_…); no CSRF token needed."},
}
SECURITY = [{"cookieAuth": []}, {"bearerAuth": []}]


def document_security(api: Api) -> None:
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    for operations in api.spec._paths.values():  # apispec keeps no public accessor for registered paths
        for method, operation in operations.items():
            if method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
                operation.setdefault("security", SECURITY)
                operation.setdefault("responses", {}).setdefault(
                    "401", {"description": "Not signed in, or the API token is invalid.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}})


def register_api(app: Flask) -> None:
    api = KbpApi(
        app,
        spec_kwargs={
            "info": {
                "description": "KBP — competency-based people development. Content is returned in the language "
                "asked for with `?lang=` or `Accept-Language`.",
            },
            "security": SECURITY,
        },
    )
    app.before_request(check_body)
    from core.access import csrf
    from core.api import activities, catalogue, docs, overview, people, plans, recruitment, reminders

    for blp in (catalogue.blp, people.blp, activities.blp, plans.blp, overview.blp, reminders.blp, recruitment.blp):
        csrf.exempt(blp)  # checked in core.access.gate for cookie sessions; tokens need none
        api.register_blueprint(blp, url_prefix=API_PREFIX)
    document_security(api)
    app.register_blueprint(docs.bp, url_prefix=API_PREFIX)
    app.extensions["kbp_api"] = api
