"""Domain errors: what a service raises, whoever called it. :mod:`core.http_errors` maps them to
HTTP once (JSON ``{code, status, message, errors}`` for the API, an error page or a form message
for the pages); the CLI prints the message and exits non-zero.

The message is translated already; ``errors`` maps a field to its messages.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if code:  # a more precise machine-readable code than the class's (``version_conflict``)
            self.code = code


class Invalid(ServiceError):
    """Input a person can correct (422); ``errors`` names the fields."""

    status = 422
    code = "validation_error"


class NotFound(ServiceError):
    """No such thing — also what someone gets for a thing they may not see (existence does not leak)."""

    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Unauthenticated(ServiceError):
    """Not signed in, or the sign-in failed."""

    status = 401
    code = "unauthorized"


class Conflict(ServiceError):
    """The action conflicts with what is stored (a duplicate, one's own account …)."""

    status = 409
    code = "conflict"


class NotEditable(ServiceError):
    """The thing exists but cannot be changed in KBP (an activity source that is read-only)."""

    status = 405
    code = "method_not_allowed"


class ExportFailed(ServiceError):
    """A plugin's exporter failed (its plugin is named; the reason is on /plugins for administrators)."""

    status = 500
    code = "exporter_failed"


class TooManyAttempts(ServiceError):
    """Throttled: try again after ``retry_after`` seconds."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int, errors: dict[str, list[str]] | None = None):
        super().__init__(message, errors)
        self.retry_after = retry_after


_BY_STATUS: dict[int, type[ServiceError]] = {
    401: Unauthenticated, 403: Forbidden, 404: NotFound, 409: Conflict, 422: Invalid,
}


def from_status(status: int, message: str, errors: dict | None = None, retry_after: int | None = None,
                code: str | None = None) -> ServiceError:
    """The domain error for a rule module's ``status`` (``core.auth.AuthError``, ``core.people.PeopleError``,
    ``core.plans.PlanError``)."""
    if status == 429:
        return TooManyAttempts(message, retry_after or 1, errors)
    return _BY_STATUS.get(status, Invalid)(message, errors, code)


@contextmanager
def translated() -> Iterator[None]:
    """Turn the rule modules' own errors into domain errors."""
    from core.auth import AuthError
    from core.people import PeopleError
    from core.plans import PlanError

    try:
        yield
    except AuthError as exc:
        raise from_status(exc.status, str(exc), exc.errors, exc.retry_after) from None
    except PeopleError as exc:
        raise from_status(exc.status, str(exc), exc.errors) from None
    except PlanError as exc:
        raise from_status(exc.status, str(exc), exc.errors, code=exc.code) from None
