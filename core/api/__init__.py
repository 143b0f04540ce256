"""The REST API, ``/api/v1``: flask-smorest blueprints documented from the marshmallow schemas.

Every error is JSON ``{"code", "status", "message"}`` (plus ``errors`` for field problems) with a
4xx/5xx status; never an HTML page or a traceback. The OpenAPI document is served at
``/api/v1/openapi.json`` and a browsable reference at ``/api/v1/docs``.
"""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api
from werkzeug.exceptions import HTTPException


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


def register_api(app: Flask) -> None:
    api = KbpApi(
        app,
        spec_kwargs={
            "info": {
                "description": "KBP — competency-based people development. Content is returned in the language "
                "asked for with `?lang=` or `Accept-Language`.",
            }
        },
    )
    from core.access import csrf
    from core.api import activities, catalogue, docs, overview, people, plans, reminders

    for blp in (catalogue.blp, people.blp, activities.blp, plans.blp, overview.blp, reminders.blp):
        csrf.exempt(blp)  # checked in core.access.gate for cookie sessions; tokens need none
        api.register_blueprint(blp, url_prefix=API_PREFIX)
    app.register_blueprint(docs.bp, url_prefix=API_PREFIX)
    app.extensions["kbp_api"] = api
