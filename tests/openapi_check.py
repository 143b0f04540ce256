"""Every API response the test suite produces is checked against the live OpenAPI document.

``tests/conftest.py`` wraps :meth:`flask.testing.FlaskClient.open` (every client the tests use: the admin
client, signed-in and anonymous ones) with :func:`check`: a response to an ``/api/v1`` operation that the
document does not describe — an undocumented status, a body that breaks its schema, a missing
required header, an undeclared media type — fails the test that made the request, with the
contradiction named. Validated with openapi-core, an independent reader of OpenAPI 3.
"""
from __future__ import annotations

import hashlib
import json
import os
import weakref

API = "/api/v1"
#: not API operations: the document itself and its HTML reference
NOT_OPERATIONS = (f"{API}/openapi.json", f"{API}/docs")

#: ``KBP_TEST_OPENAPI_LOG=FILE``: write the contradictions to FILE instead of failing (to list them all at once)
LOG = os.environ.get("KBP_TEST_OPENAPI_LOG")
_by_text: dict[str, object] = {}
_by_app: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class ContradictsTheDocument(AssertionError):
    pass


def document_of(app):
    """The app's OpenAPI document as an openapi-core object (built once per distinct document)."""
    found = _by_app.get(app)
    if found is None:
        from openapi_core import OpenAPI

        spec = app.extensions["kbp_api"].spec.to_dict()
        text = json.dumps(spec, sort_keys=True, default=str)
        key = hashlib.sha256(text.encode()).hexdigest()
        found = _by_text.get(key)
        if found is None:
            found = _by_text[key] = OpenAPI.from_dict(json.loads(text))
        _by_app[app] = found
    return found


def check(app, response) -> None:
    """Raise :class:`ContradictsTheDocument` when ``response`` contradicts the document."""
    request = getattr(response, "request", None)
    if request is None or "kbp_api" not in app.extensions:
        return
    path = request.path
    if not (path == API or path.startswith(API + "/")) or path.startswith(NOT_OPERATIONS):
        return
    from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
    from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound

    class SentRequest(WerkzeugOpenAPIRequest):
        body = None  # the server has read the body; only the response is checked (tests send bad requests on purpose)

    openapi = document_of(app)
    try:
        openapi.validate_response(SentRequest(request), WerkzeugOpenAPIResponse(response))
    except (PathNotFound, OperationNotFound, ServerNotFound):
        # an unknown path or method answers 404/405, documented nowhere; openapi-core finds no operation for an
        # id of ".." (which the server takes as an id like any other)
        if response.status_code not in (404, 405) and ".." not in path.split("/"):
            report(f"{request.method} {path}: {response.status_code} from an operation the "
                                         "document does not describe")
    except Exception as exc:  # openapi-core's validation errors; the cause names the field
        causes = []
        seen = exc
        while seen is not None:
            causes.append(f"{type(seen).__name__}: {seen}")
            for detail in getattr(seen, "schema_errors", None) or ():
                causes.append(f"  {detail.message} at {list(detail.absolute_path)}")
            seen = seen.__cause__
        body = response.get_data(as_text=True)[:400] if response.mimetype == "application/json" else response.mimetype
        report(f"{request.method} {request.full_path} -> {response.status_code} contradicts "
                                     f"the OpenAPI document:\n" + "\n".join(causes) + f"\nbody: {body}")


def report(problem: str) -> None:
    if LOG:
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(problem.replace("\n", "\n    ") + "\n")
        return
    raise ContradictsTheDocument(problem)
