"""The finishing pass over the OpenAPI document of ``/api/v1``: what flask-smorest cannot derive from
the marshmallow schemas alone, done once when the app starts (never per request).

* **operationIds** — stable, readable names for generated clients (``listPlans``, ``updatePlan``);
  :data:`OPERATION_IDS` pins them, any other endpoint gets the camelCase of its view function.
* **Errors** — every status a client meets, per operation, all with the one error schema
  (:class:`core.schemas.ErrorOut`): 401 and 403 everywhere, 404 on every path with an id, 400/413/422
  where a body or query is read, 409 where a ``version`` is compared or a duplicate refused.
* **Named enums** — :data:`ENUMS` become components (``Situation``, ``ActivityKind`` …) referenced
  wherever a property or parameter allows exactly those values.
* **Required output fields** — in every response schema (``*Out``) each property is required, unless
  its field is declared with ``metadata={"x-optional": True}``. The API test suite checks every
  response against the document (``tests/conftest.py``), so a field that is sometimes missing
  cannot be declared required unnoticed.
* **Headers** — ``Location`` on every 201, ``X-Total-Count`` and ``Link`` on paged lists.
* **Security** — the two schemes, required by every operation.
"""
from __future__ import annotations

import json
import re

from core import auth, model, people, plans, reminders
from core.version import __version__

#: the security schemes of the OpenAPI document: every operation needs one of them
SECURITY_SCHEMES = {
    "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session",
                   "description": "The session cookie set by signing in at /login. Unsafe methods also need the "
                                  "CSRF token in the X-CSRFToken header. Scripts use a bearer token instead."},
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "An API token (Authorization: Bearer kbp_…), created on /me, with "
                                  "POST /api/v1/me/tokens, or by an administrator with `kbp tokens create --user NAME`. "
                                  "No CSRF token needed."},
}
SECURITY = [{"cookieAuth": []}, {"bearerAuth": []}]

#: named, reusable enumerations: a schema whose ``enum`` is exactly one of these sets (or whose
#: field says ``metadata={"x-enum": NAME}``) becomes a reference to the component NAME
ENUMS: dict[str, tuple[str, ...]] = {
    "Situation": model.SITUATIONS,
    "ActivityKind": model.ACTIVITY_KINDS,
    "Effort": model.EFFORTS,
    "PlanStatus": plans.STATUSES,
    "PlanMode": plans.MODES,
    "ActivityStatus": plans.ACTIVITY_STATUSES,
    "Role": auth.ROLES,
    "PersonStatus": people.STATUSES,
    "ExportSubject": model.EXPORT_SUBJECTS,
    "QuestionKind": model.QUESTION_KINDS,
    "ReminderDigest": reminders.DIGESTS,
    "ReminderCategory": reminders.CATEGORIES,
    "PlanRelation": ("employee", "coach", "admin"),
    "PluginState": ("active", "disabled", "failed", "unlicensed"),
}
#: sets that two enums share: the one a field gets unless it names the other with ``x-enum``
_DEFAULT_FOR_SET = {frozenset(auth.ROLES): "Role"}

#: endpoint -> operationId. Stable within v1: a generated client's method names come from these.
OPERATION_IDS = {
    "catalogue.list_plugins": "listPlugins",
    "catalogue.preview_framework_import": "previewFrameworkImport",
    "catalogue.list_frameworks": "listFrameworks",
    "catalogue.get_framework": "getFramework",
    "catalogue.remove_framework": "removeFramework",
    "catalogue.get_competency": "getCompetency",
    "catalogue.export_framework": "exportFramework",
    "catalogue.list_exporters": "listExporters",
    "people.list_people": "listPeople",
    "people.create_person": "createPerson",
    "people.get_person": "getPerson",
    "people.patch_person": "updatePerson",
    "people.erase_person": "erasePerson",
    "people.export_person": "exportPerson",
    "people.import_people": "importPeople",
    "people.me": "getMe",
    "people.export_me": "exportMe",
    "people.change_password": "changeMyPassword",
    "people.sign_out_everywhere": "signOutEverywhere",
    "people.list_tokens": "listMyTokens",
    "people.create_token": "createMyToken",
    "people.revoke_token": "revokeMyToken",
    "people.list_accounts": "listAccounts",
    "people.create_account": "createAccount",
    "people.patch_account": "updateAccount",
    "people.delete_account": "deleteAccount",
    "people.audit_log": "listAuditEntries",
    "activities.list_sources": "listActivitySources",
    "activities.list_records": "listSourceActivities",
    "activities.create_record": "createSourceActivity",
    "activities.get_record": "getSourceActivity",
    "activities.patch_record": "updateSourceActivity",
    "activities.archive_record": "archiveSourceActivity",
    "activities.restore_record": "restoreSourceActivity",
    "activities.export_records": "exportSourceActivities",
    "activities.import_records": "importSourceActivities",
    "activities.search": "searchActivities",
    "plans.list_plans": "listPlans",
    "plans.create_plan": "createPlan",
    "plans.get_plan": "getPlan",
    "plans.patch_plan": "updatePlan",
    "plans.get_suggestions": "getPlanSuggestions",
    "plans.put_note": "setQuestionNote",
    "plans.put_activity_status": "setActivityStatus",
    "plans.agree": "agreePlan",
    "plans.add_follow_up": "addFollowUp",
    "plans.get_history": "getPlanHistory",
    "plans.export_plan": "exportPlan",
    "overview.get_overview": "getOverview",
    "reminders.list_notifications": "listMyNotifications",
    "reminders.read_notifications": "markNotificationsRead",
    "reminders.get_settings": "getReminderSettings",
    "reminders.put_settings": "updateReminderSettings",
}

#: operations that compare a ``version`` or refuse a duplicate: they document 409
CONFLICTS = {
    "plans.patch_plan", "plans.put_note", "plans.put_activity_status", "plans.agree", "plans.add_follow_up",
    "activities.patch_record", "activities.create_record", "people.create_person", "people.patch_person",
    "people.create_account", "people.patch_account", "catalogue.remove_framework",
}
#: operations whose 403 includes ``licence_required`` (a framework installed without a valid licence)
LICENSED = {"catalogue.get_framework", "catalogue.get_competency", "catalogue.export_framework", "plans.create_plan",
            "plans.patch_plan"}
#: operations that run an exporter plugin: a failing exporter is a 500 ``exporter_failed``
EXPORTERS = {"catalogue.export_framework", "plans.export_plan"}
#: statuses beyond the rules of :func:`finish`: a 404 for an id in the body or query
ALSO = {"plans.create_plan": {"404"}, "overview.get_overview": {"404"},
        "catalogue.import_framework": {"404"}}  # a checked upload no longer waiting
#: operations that answer a file: endpoint -> the export subjects whose exporters' media types it may send
#: (from the installed exporter plugins), or fixed media types
FILES = {"plans.export_plan": ("plan", "dialogue_guide"), "catalogue.export_framework": ("framework",),
         "activities.export_records": ("text/csv", "application/json")}
#: operations that serve an ``ETag`` and answer ``If-None-Match`` with 304 (core.api.catalogue.cached_document)
REVALIDATED = {"catalogue.get_framework", "catalogue.get_competency"}
#: operations limited against guessing (429 with ``Retry-After``)
THROTTLED = {"people.change_password"}

ERROR_RESPONSES = {
    "400": ("BadRequest", "The request cannot be read: the body is not valid JSON or nested too deeply, an "
                          "unknown `lang` (`unknown_language`), or a required body is missing."),
    "401": ("Unauthorized", "Not signed in, or the API token is invalid, expired or revoked (`unauthorized`)."),
    "403": ("Forbidden", "Signed in, but your role or relation does not allow this (`forbidden`); for licensed "
                         "content also `licence_required`; for cookie sessions a missing CSRF token."),
    "404": ("NotFound", "Nothing with this id, or nothing you may see (`not_found`): the API does not tell "
                        "\"exists but hidden\" from \"does not exist\"."),
    "409": ("Conflict", "`version_conflict`: someone saved after the `version` you sent — read the resource "
                        "again and repeat your change; `conflict`: the id or name is taken."),
    "413": ("PayloadTooLarge", "The body is larger than the server accepts (`payload_too_large`)."),
    "422": ("UnprocessableEntity", "Some fields are invalid (`validation_error`); `errors` names each field."),
    "429": ("TooManyRequests", "Too many attempts (`too_many_requests`): wait `Retry-After` seconds."),
    "503": ("ServiceUnavailable", "The database cannot be reached just now (`database_unavailable`); nothing was "
                                  "changed — try again in a moment."),
    "500": ("InternalError", "An exporter plugin failed (`exporter_failed`; its plugin is named) or another "
                             "server error (`internal_error`)."),
}

PAGE_HEADERS = {
    "X-Total-Count": {"description": "How many items the whole list has (all pages).",
                      "schema": {"type": "integer", "minimum": 0}, "required": True},
    "Link": {"description": "`<URL>; rel=\"next\"` while there is a next page (RFC 8288); absent on the last page.",
             "schema": {"type": "string"}},
}
LOCATION = {"description": "The URL of the created resource.", "schema": {"type": "string"}, "required": True}

_METHODS = ("get", "put", "post", "delete", "patch")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def spec_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def _error(status: str) -> dict:
    return {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}


#: named components that properties refer to with ``metadata={"x-ref": NAME}``
NAMED = {
    "LocalizedText": {
        "type": "object", "additionalProperties": {"type": "string"},
        "description": "A text in every language KBP speaks: locale code (sv, en, …) -> text. Text a person wrote "
                       "in the dialogue is stored once, under the key `_`, and shown in every language. Stored "
                       "records (plans, in-house activities) carry texts like this; content read from the catalogue "
                       "(suggestions, search, competencies) is a plain string in the reader's language.",
        "example": {"sv": "Aktivt lyssnande", "en": "Active listening"},
    },
}


def _enum_ref(node: dict) -> dict | None:
    if "x-ref" in node:
        return {"$ref": "#/components/schemas/" + node.pop("x-ref")}
    name = node.pop("x-enum", None)
    values = node.get("enum")
    if name is None and values is not None:
        key = frozenset(values)
        name = _DEFAULT_FOR_SET.get(key) or next((n for n, v in ENUMS.items() if frozenset(v) == key), None)
    if name is None:
        return None
    rest = {k: v for k, v in node.items() if k not in ("type", "enum", "description")}
    ref = {"$ref": f"#/components/schemas/{name}"}
    if rest.get("nullable"):
        return None  # OpenAPI 3.0 cannot say "this enum or null" with a $ref; left inline
    return ref if not rest else None


def _named(node: dict) -> bool:
    return "x-ref" in node or (("enum" in node or "x-enum" in node) and node.get("type") == "string")


def _name_enums(node):
    """Replace inline enums (anywhere below ``node``) by references to the named components."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if isinstance(value, dict) and _named(value):
                ref = _enum_ref(value)
                if ref is not None:
                    node[key] = ref
                    continue
            _name_enums(value)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, dict) and _named(value):
                ref = _enum_ref(value)
                if ref is not None:
                    node[index] = ref
                    continue
            _name_enums(value)


def _require_outputs(schemas: dict) -> None:
    for name, schema in schemas.items():
        props = schema.get("properties") or {}
        optional = {key for key, prop in props.items() if prop.pop("x-optional", False)}
        if name.endswith("Out") and props:
            schema["required"] = sorted(set(props) - optional)


def _endpoints(app) -> dict[tuple[str, str], str]:
    """(spec path, method) -> endpoint, for the API's routes."""
    found = {}
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found[(spec_path(rule.rule), method.lower())] = rule.endpoint
    return found


def _body_properties(operation: dict, schemas: dict) -> dict:
    """The properties of an operation's JSON request body (a compared ``version`` means a possible 409)."""
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = schemas.get(schema["$ref"].rpartition("/")[2], {})
    return schema.get("properties") or {}


def _document_files(responses: dict, kinds: tuple[str, ...], app) -> None:
    media = [k for k in kinds if "/" in k]
    registry = app.extensions["kbp"].registry if "kbp" in app.extensions else None
    if registry is not None:
        media += [e.media_type for e in registry.exporters.values() if e.subject in kinds]
    ok = responses.setdefault("200", {"description": "The file."})
    ok["description"] = (ok.get("description") or "The file.") + " Sent with `Content-Disposition: attachment` and " \
        "the file's media type (for exports: the exporter's, listed by GET /api/v1/exporters)."
    # OpenAPI 3.1: a file is a media type without a schema (the body is the file's bytes; a JSON export too)
    ok["content"] = {m: {} for m in sorted(set(media))}
    ok.setdefault("headers", {})["Content-Disposition"] = {
        "description": "`attachment; filename=\"…\"`", "schema": {"type": "string"}, "required": True}


def finish(api, app) -> None:
    spec = api.spec
    components = spec.components
    for name, scheme in SECURITY_SCHEMES.items():
        components.security_scheme(name, scheme)
    for name, values in ENUMS.items():
        components.schemas[name] = {"type": "string", "enum": list(values)}
    components.schemas.update(NAMED)
    for status, (name, description) in ERROR_RESPONSES.items():
        components.responses[name] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
    components.responses.pop("UNPROCESSABLE_ENTITY", None)
    components.responses.pop("DEFAULT_ERROR", None)
    _require_outputs(components.schemas)
    for name, schema in components.schemas.items():
        if name not in ENUMS and name not in NAMED:
            _name_enums(schema)

    endpoints = _endpoints(app)
    for path, operations in spec._paths.items():  # apispec keeps no public accessor for registered paths
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            endpoint = endpoints.get((path, method), "")
            operation["operationId"] = OPERATION_IDS.get(endpoint) or camel(endpoint.rpartition(".")[2] or method)
            operation.setdefault("security", SECURITY)
            _name_enums(operation.get("parameters", []))
            _name_enums(operation.get("requestBody", {}))
            responses = operation.setdefault("responses", {})
            for response in responses.values():
                if isinstance(response, dict) and "$ref" not in response:
                    _name_enums(response.get("content", {}))
            statuses = {"400", "401", "403", "503"}  # 400: any request may bring an unknown ?lang= or unreadable JSON
            has_body = method in ("post", "put", "patch")
            has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
            if "{" in path:
                statuses.add("404")
            if has_body or has_query:
                statuses.add("422")
            if has_body:
                statuses.add("413")
            if endpoint in CONFLICTS or "version" in _body_properties(operation, components.schemas):
                statuses.add("409")
            if endpoint in EXPORTERS:
                statuses.add("500")
            statuses |= ALSO.get(endpoint, set())
            if endpoint in THROTTLED:
                statuses.add("429")
            for status in sorted(statuses):
                current = responses.get(status)
                if current is None or current == {"$ref": "#/components/responses/UNPROCESSABLE_ENTITY"}:
                    responses[status] = _error(status)
                elif "content" not in current:  # a description only: the body is still the one error schema
                    current["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
            responses.pop("default", None)
            if endpoint in LICENSED:
                responses["403"] = {**components.responses["Forbidden"], "description":
                                    ERROR_RESPONSES["403"][1] + " `licence_required`: a framework involved is installed "
                                    "but its licence is missing or invalid."}
            if endpoint in REVALIDATED:
                responses["200"].setdefault("headers", {})["ETag"] = {
                    "description": "Send it back in `If-None-Match` to be answered 304 while the document is unchanged.",
                    "schema": {"type": "string"}, "required": True}
                operation.setdefault("parameters", []).append({
                    "in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
                    "description": "The `ETag` of the copy you have."})
                responses["304"] = {"description": "Not Modified: the document is unchanged since the `ETag` you sent.",
                                    "headers": {"ETag": {"schema": {"type": "string"}, "required": True}}}
            if endpoint in FILES:
                _document_files(responses, FILES[endpoint], app)
            created = responses.get("201")
            if isinstance(created, dict):
                created.setdefault("headers", {})["Location"] = LOCATION
            if getattr(app.view_functions.get(endpoint), "kbp_paged", False):
                responses["200"].setdefault("headers", {}).update(PAGE_HEADERS)
    components.schemas.pop("PaginationMetadata", None)  # flask-smorest's own paging, not used: core.api.paging
    used = json.dumps(spec._paths)
    for name in [n for n in components.responses if f"#/components/responses/{n}\"" not in used]:
        del components.responses[name]
    spec.version = __version__  # info.version: KBP's own version (the path keeps the API's major version, v1)
