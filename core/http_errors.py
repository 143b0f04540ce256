"""Errors over HTTP, in one place: the JSON error of the API, the error page of the web, and the
mapping of the services' domain errors (:mod:`core.services.errors`) to both.

Every API error is JSON ``{"code", "status", "message"}`` plus ``errors`` for field problems; a page
gets ``error.html`` with the message. :func:`register_error_handlers` (called by
:func:`core.access.init_access`) installs the mapping once for the whole app. This module imports
nothing from :mod:`core.access`, :mod:`core.api` or :mod:`core.web`: they all import it.
"""
from __future__ import annotations

from flask import Flask, g, jsonify, render_template, request

from core.i18n import gettext as _
from core.services.errors import ServiceError, TooManyAttempts

API_PREFIX = "/api/v1"

#: stable machine-readable codes for HTTP statuses
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
}


def is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def default_message(status: int) -> str:
    messages = {
        400: _("The request could not be understood. Check the parameters and try again."),
        401: _("Sign in to continue."),
        403: _("You do not have permission to do this."),
        404: _("Nothing was found at this address. Check the address and try again."),
        405: _("This method is not allowed here. See the API reference at /api/v1/docs."),
        409: _("The request conflicts with the current state. Reload and try again."),
        413: _("The upload is too large."),
        415: _("Send the request body as JSON (Content-Type: application/json)."),
        422: _("Some fields are invalid; see 'errors' for what to correct."),
        429: _("Too many requests. Wait a moment and try again."),
        500: _("Something went wrong on our side. The error has been logged; try again later."),
    }
    return messages.get(status, _("The request failed."))


def error_response(status: int, message: str | None = None, code: str | None = None, errors=None, headers=None):
    payload = {
        "code": code or STATUS_CODES.get(status, "error"),
        "status": status,
        "message": message or default_message(status),
    }
    if errors:
        payload["errors"] = errors
    response = jsonify(payload)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error_title(status: int) -> str:
    titles = {
        404: _("Page not found"),
        405: _("Not allowed"),
        403: _("Access denied"),
        400: _("Bad request"),
        413: _("Too large"),
        500: _("Something went wrong"),
    }
    return titles.get(status, _("Error"))


def error_page(status: int, message: str | None = None, title: str | None = None, headers=None):
    """The HTML error page: (body, status[, headers])."""
    g.kbp_error_page = True  # its language switch leads home: the page asked for may not exist (and says nothing)
    body = render_template("error.html", status=status, title=title or error_title(status),
                           message=message or default_message(status))
    return (body, status, headers) if headers else (body, status)


def html_error(error):
    """The error page for a werkzeug ``HTTPException``."""
    return error_page(error.code or 500)


def service_error_headers(error: ServiceError) -> dict[str, str]:
    return {"Retry-After": str(error.retry_after)} if isinstance(error, TooManyAttempts) else {}


def service_error_response(error: ServiceError):
    """A domain error as the API's JSON error or as an error page: the one mapping."""
    headers = service_error_headers(error)
    if is_api_request():
        return error_response(error.status, error.message, error.code, error.errors or None, headers)
    message = error.message if error.status not in (403, 404) else None  # pages keep their plain wording
    return error_page(error.status, message, headers=headers or None)


_NOT_UTF8 = "kbp.query_string_not_utf8"


class Utf8QueryString:
    """WSGI middleware: a query string that is not UTF-8 — raw bytes that a browser would have
    percent-encoded, such as Latin-1 ``ö`` — would make werkzeug raise ``UnicodeDecodeError`` when
    ``request.args`` is first read (by the language choice, before any handler), so the request
    would end as an unhandled 500 with the bytes in the traceback. Such a query string is set aside
    here and :func:`_refuse_non_utf8_query` answers 400 through the usual error handlers."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        query = environ.get("QUERY_STRING", "")
        if not query.isascii():  # WSGI gives the raw bytes as Latin-1 characters
            try:
                query.encode("latin-1").decode("utf-8")
            except UnicodeError:
                environ[_NOT_UTF8] = True
                environ["QUERY_STRING"] = ""
        return self.wsgi_app(environ, start_response)


def _refuse_non_utf8_query():
    if request.environ.get(_NOT_UTF8):
        message = _("The address could not be read: its query string is not UTF-8. Percent-encode the parameters.")
        raise ServiceError(message, {"query": [message]})


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ServiceError, service_error_response)
    app.wsgi_app = Utf8QueryString(app.wsgi_app)
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_non_utf8_query)
