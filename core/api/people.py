"""People, accounts, API tokens and the audit log (``/api/v1``)."""
from __future__ import annotations

from flask import Response, current_app, json, request
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from core import audit, auth, people
from core.access import require_role
from core.context import accepts_large_body, kbp
from core.i18n import gettext as _
from core.i18n import ngettext

blp = Blueprint("people", __name__, description="People, accounts, API tokens and the audit log.")


class PersonOut(Schema):
    id = fields.String()
    name = fields.String()
    email = fields.String()
    job_title = fields.String()
    unit = fields.String()
    coach_id = fields.String(allow_none=True)
    locale = fields.String(allow_none=True)
    status = fields.String()


class PeopleQuery(Schema):
    status = fields.String(validate=validate.OneOf(people.STATUSES))


class PeopleImportQuery(Schema):
    dry_run = fields.Boolean(load_default=True, metadata={"description": "Only validate (default). false applies."})


class PeopleImportOut(Schema):
    ok = fields.Boolean()
    dry_run = fields.Boolean()
    rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    problems = fields.List(fields.Dict(), metadata={"description": "{row, column, reason}"})
    code = fields.String(metadata={"description": "'validation_error' when any row has a problem (like every API error)."})
    status = fields.Integer(metadata={"description": "422 when any row has a problem (like every API error)."})
    message = fields.String(metadata={"description": "What went wrong, when any row has a problem."})


PASSWORD_RULES = (f"At least {auth.MIN_PASSWORD_LENGTH} characters; not a common password, a repetition or a run; "
                  "not containing the sign-in name.")


class AccountIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=auth.MAX_PASSWORD_LENGTH),
                             metadata={"description": PASSWORD_RULES})
    role = fields.String(required=True, validate=validate.OneOf(auth.ROLES))
    person_id = fields.String(load_default=None, allow_none=True)


class AccountPatch(Schema):
    role = fields.String(validate=validate.OneOf(auth.ROLES))
    active = fields.Boolean()
    password = fields.String(load_only=True, validate=validate.Length(max=auth.MAX_PASSWORD_LENGTH),
                             metadata={"description": "A new password (a reset): ends the account's sessions and revokes "
                                       "all its API tokens. " + PASSWORD_RULES})


class AccountOut(Schema):
    id = fields.String()
    username = fields.String()
    role = fields.String()
    person_id = fields.String(allow_none=True)
    active = fields.Boolean()
    created_at = fields.Float()


class MeOut(Schema):
    account = fields.Nested(AccountOut)
    person = fields.Nested(PersonOut, allow_none=True)


class TokenIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(validate=validate.OneOf(auth.ROLES))
    expires_in_days = fields.Integer(
        load_default=auth.TOKEN_DEFAULT_DAYS, validate=validate.Range(min=1, max=auth.TOKEN_MAX_DAYS),
        metadata={"description": f"Days until the token expires (default {auth.TOKEN_DEFAULT_DAYS}, "
                                 f"at most {auth.TOKEN_MAX_DAYS})."})


class PasswordChangeIn(Schema):
    current_password = fields.String(required=True, load_only=True, validate=validate.Length(max=auth.MAX_PASSWORD_LENGTH))
    new_password = fields.String(required=True, load_only=True, validate=validate.Length(max=auth.MAX_PASSWORD_LENGTH),
                                 metadata={"description": PASSWORD_RULES})


class TokenOut(Schema):
    id = fields.String()
    name = fields.String()
    role = fields.String()
    created_at = fields.Float()
    expires_at = fields.Float(allow_none=True, metadata={"description": "Unix time after which the token no longer works."})
    revoked = fields.Boolean()
    token = fields.String(metadata={"description": "Only in the response that creates the token."})


class AuditOut(Schema):
    id = fields.String()
    at = fields.Float()
    actor = fields.String()
    action = fields.String()
    subject_type = fields.String()
    subject_id = fields.String(allow_none=True)


class EraseOut(Schema):
    erased = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "Records deleted per collection."})


class PersonExportOut(Schema):
    format = fields.String()
    person_id = fields.String(allow_none=True, metadata={"description": "null for an account without a person."})
    exported_at = fields.Float()
    private_notes = fields.String(metadata={"description": "'included' or 'excluded': whether private self-reflection notes are in it."})
    records = fields.Dict(metadata={"description": "Every stored record about the person, by collection."})


class AuditQuery(Schema):
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=5000))


def storage():
    return kbp().storage


def visible_person(person_id: str) -> dict:
    """The person if the caller may see them; 404 otherwise (also when they exist)."""
    record = people.visible_person(storage(), auth.current_account(), person_id)
    if record is None:
        abort(404, message=_("No such person."))
    return record


def people_error(exc: people.PeopleError):
    abort(exc.status, message=str(exc), errors=exc.errors or None)


# ----------------------------------------------------------------------------- people


@blp.route("/people")
@blp.arguments(PeopleQuery, location="query")
@blp.response(200, PersonOut(many=True))
def list_people(query):
    """People the caller may see: an admin everyone, a coach the people they coach and themself, an employee themself."""
    allowed = people.visible_ids(storage(), auth.current_account())
    records = storage().collection(people.PEOPLE).all()
    return [p for p in records if (allowed is None or p["id"] in allowed)
            and ("status" not in query or p.get("status") == query["status"])]


@blp.route("/people", methods=["POST"])
@blp.arguments(people.PersonIn)
@blp.response(201, PersonOut)
def create_person(data):
    """Add a person (admin)."""
    require_role("admin")
    try:
        person = people.create_person(storage(), data)
    except people.PeopleError as exc:
        people_error(exc)
    audit.record(storage(), "create", "person", person["id"])
    return person


@blp.route("/people/<person_id>")
@blp.response(200, PersonOut)
def get_person(person_id):
    """One person, if the caller may see them."""
    return visible_person(person_id)


@blp.route("/people/<person_id>", methods=["PATCH"])
@blp.arguments(people.PersonPatch)
@blp.response(200, PersonOut)
def patch_person(changes, person_id):
    """Change a person (admin)."""
    require_role("admin")
    visible_person(person_id)
    try:
        person = people.update_person(storage(), person_id, changes)
    except people.PeopleError as exc:
        people_error(exc)
    audit.record(storage(), "update", "person", person_id)
    return person


@blp.route("/people/<person_id>", methods=["DELETE"])
@blp.response(200, EraseOut)
def erase_person(person_id):
    """Erase a person: their record, account, tokens and everything else stored about them (admin).
    Every collection is then rewritten, so no file in the data folder keeps anything of them."""
    require_role("admin")
    visible_person(person_id)
    counts = people.erase(storage(), person_id, current_app.config["SECRET_KEY"])
    return {"erased": counts}


@blp.route("/people/<person_id>/export")
@blp.response(200, PersonExportOut)
def export_person(person_id):
    """Everything stored about a person, as JSON (admin). Private self-reflection notes are left out
    (``private_notes: excluded``) unless the setting ``ADMIN_EXPORT_PRIVATE_NOTES`` is on; the person
    gets them in their own export, ``GET /api/v1/me/export``."""
    require_role("admin")
    visible_person(person_id)
    return _export(person_id)


def _export(person_id: str) -> Response:
    try:
        data = people.export_for(storage(), auth.current_account(), person_id,
                                 admin_includes_private=bool(current_app.config.get("ADMIN_EXPORT_PRIVATE_NOTES")))
    except people.PeopleError as exc:
        people_error(exc)
    return _response(data, person_id, "person")


def _response(data: dict, subject_id: str, subject_type: str) -> Response:
    audit.record(storage(), "export", subject_type, subject_id)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{subject_type}-{subject_id}.json"'},
    )


@blp.route("/people/import", methods=["POST"])
@blp.arguments(PeopleImportQuery, location="query")
@blp.response(200, PeopleImportOut)
@blp.alt_response(422, schema=PeopleImportOut)
@blp.doc(requestBody={"required": True, "description": "The CSV file (UTF-8; comma, semicolon or tab); header "
                      "name,email and any of job_title, unit, coach_email, locale, status.",
                      "content": {"text/csv": {"schema": {"type": "string"},
                                               "example": "name,email,coach_email\nEva Ek,eva.ek@example.org,\n"}}})
@accepts_large_body
def import_people(query):
    """Import people from CSV (body ``text/csv``; columns name, email, job_title, unit, coach_email, locale, status).

    ``dry_run=true`` (the default) validates every row and reports row, column and reason;
    ``dry_run=false`` applies all rows in one transaction, or none when any row has a problem.
    """
    require_role("admin")
    body = request.get_data(cache=False)
    if not body:
        abort(400, message=_("Send the CSV file as the request body (Content-Type: text/csv)."))
    report = people.run_import(storage(), body, dry_run=query["dry_run"])
    if report.ok and not query["dry_run"]:
        audit.record(storage(), "import", "people", None)
    payload = {
        "ok": report.ok, "dry_run": query["dry_run"], "rows": report.rows, "created": report.created,
        "updated": report.updated,
        "problems": [{"row": r, "column": c, "reason": m} for r, c, m in report.problems],
    }
    if not report.ok:  # an error like every other: {code, message}, plus the rows to correct
        payload["code"], payload["status"] = "validation_error", 422
        payload["message"] = ngettext(
            "%(num)d problem; nothing was imported.", "%(num)d problems; nothing was imported.", len(report.problems)
        )
    return payload, (200 if report.ok else 422)


# ----------------------------------------------------------------------------- me and tokens


@blp.route("/me")
@blp.response(200, MeOut)
def me():
    """The signed-in account and its person."""
    acct = auth.current_account()
    record = storage().collection(auth.ACCOUNTS).get(acct.id)
    person = storage().collection(people.PEOPLE).get(acct.person_id) if acct.person_id else None
    return {"account": auth.public_account(record), "person": person}


@blp.route("/me/export")
@blp.response(200, PersonExportOut)
def export_me():
    """Everything stored about you, as JSON — your private self-reflection notes included
    (``private_notes: included``). An account without a person gets its account data."""
    acct = auth.current_account()
    return _response(people.export_self(storage(), acct), acct.person_id or acct.id, "person" if acct.person_id else "account")

def auth_error(exc: auth.AuthError):
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    abort(exc.status, message=str(exc), errors=exc.errors or None, headers=headers)


@blp.route("/me/password", methods=["POST"])
@blp.arguments(PasswordChangeIn)
@blp.response(204)
@blp.alt_response(422, description="The current password is wrong or the new one is refused (see `errors`).")
@blp.alt_response(429, description="Too many wrong current passwords: wait `Retry-After` seconds.")
def change_password(data):
    """Change your own password (signed in, not with a token). Your other sessions end; this one goes on."""
    try:
        auth.change_own_password(storage(), auth.current_account(), data["current_password"], data["new_password"],
                                 keep_session=auth.current_session_secret())
    except auth.AuthError as exc:
        auth_error(exc)


@blp.route("/me/sessions/sign-out-everywhere", methods=["POST"])
@blp.response(204)
def sign_out_everywhere():
    """End every session of your account, this one included (signed in, not with a token)."""
    try:
        auth.sign_out_everywhere(storage(), auth.current_account())
    except auth.AuthError as exc:
        auth_error(exc)


@blp.route("/me/tokens")
@blp.response(200, TokenOut(many=True))
def list_tokens():
    """Your API tokens (never their secrets)."""
    return auth.tokens_of(storage(), auth.current_account())


@blp.route("/me/tokens", methods=["POST"])
@blp.arguments(TokenIn)
@blp.response(201, TokenOut)
def create_token(data):
    """Create an API token (signed in, not with another token); the token text is shown once, in this response."""
    try:
        token, text = auth.issue_token(storage(), auth.current_account(), data["name"], data.get("role"),
                                       data["expires_in_days"])
    except auth.AuthError as exc:
        auth_error(exc)
    return {**auth.public_token(token), "token": text}


@blp.route("/me/tokens/<token_id>", methods=["DELETE"])
@blp.response(204)
def revoke_token(token_id):
    """Revoke one of your API tokens."""
    try:
        auth.revoke_token(storage(), auth.current_account(), token_id)
    except auth.AuthError as exc:
        auth_error(exc)


# ----------------------------------------------------------------------------- accounts (admin)


@blp.route("/accounts")
@blp.response(200, AccountOut(many=True))
def list_accounts():
    """Every account (admin)."""
    require_role("admin")
    return [auth.public_account(a) for a in storage().collection(auth.ACCOUNTS).all()]


@blp.route("/accounts", methods=["POST"])
@blp.arguments(AccountIn)
@blp.response(201, AccountOut)
def create_account(data):
    """Create an account (admin)."""
    require_role("admin")
    if data.get("person_id") and storage().collection(people.PEOPLE).get(data["person_id"]) is None:
        abort(422, message=_("No such person."), errors={"person_id": [_("No person with this id.")]})
    try:
        record = auth.create_account(storage(), **data)
    except auth.AuthError as exc:
        auth_error(exc)
    audit.record(storage(), "create", "account", record["id"])
    return auth.public_account(record)


@blp.route("/accounts/<account_id>", methods=["PATCH"])
@blp.arguments(AccountPatch)
@blp.response(200, AccountOut)
def patch_account(changes, account_id):
    """Change role, deactivate, or reset the password (admin). Ends the account's sessions; a reset also revokes its tokens."""
    require_role("admin")
    try:
        return auth.update_account(storage(), auth.current_account(), account_id, changes)
    except auth.AuthError as exc:
        auth_error(exc)


@blp.route("/accounts/<account_id>", methods=["DELETE"])
@blp.response(204)
def delete_account(account_id):
    """Delete an account, its tokens and sessions (admin); the person stays."""
    require_role("admin")
    try:
        auth.delete_account(storage(), auth.current_account(), account_id)
    except auth.AuthError as exc:
        auth_error(exc)


@blp.route("/audit")
@blp.arguments(AuditQuery, location="query")
@blp.response(200, AuditOut(many=True))
def audit_log(query):
    """The newest audit entries (admin): who did what to which id, and when. No content."""
    require_role("admin")
    entries = storage().collection(audit.AUDIT).all()
    return sorted(entries, key=lambda e: e["at"], reverse=True)[: query["limit"]]
