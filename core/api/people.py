"""People, accounts, API tokens and the audit log (``/api/v1``)."""
from __future__ import annotations

from flask import Response, current_app, json, request
from flask_smorest import abort

from core.api.fastdump import Blueprint
from marshmallow import EXCLUDE, Schema, fields, validate

from core import auth, people, schemas
from core.api.paging import paged
from core.context import accepts_large_body, kbp
from core.services import accounts as accounts_service
from core.services import audit as audit_service
from core.services import people as people_service
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
    status = fields.String(validate=validate.OneOf(people.STATUSES))


class PeopleQuery(Schema):
    class Meta:
        unknown = EXCLUDE  # read together with core.api.paging.PageQuery

    status = fields.String(validate=validate.OneOf(people.STATUSES))


class PeopleImportQuery(Schema):
    dry_run = fields.Boolean(load_default=True, metadata={"description": "Only validate (default). false applies."})


PeopleImportOut = schemas.ImportReportOut  # the one import report of the API


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
    role = fields.String(validate=validate.OneOf(auth.ROLES))
    person_id = fields.String(allow_none=True)
    active = fields.Boolean()
    created_at = schemas.timestamp()


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
    role = fields.String(validate=validate.OneOf(auth.ROLES))
    created_at = schemas.timestamp()
    expires_at = schemas.timestamp("After this the token no longer works; null: never.", allow_none=True)
    revoked = fields.Boolean()
    token = fields.String(metadata={"description": "Only in the response that creates the token.", "x-optional": True})


class AuditOut(Schema):
    id = fields.String()
    at = schemas.timestamp()
    actor = fields.String(metadata={"description": "The account id, or 'cli' for the server's console."})
    action = fields.String()
    subject_type = fields.String()
    subject_id = fields.String(allow_none=True)
    details = fields.Dict(keys=fields.String(), values=fields.String(),
                          metadata={"description": "How, in a few words (never content): a sign-in's method and provider, "
                                                   "a role change's from and to. Only on entries that have them.",
                                    "x-optional": True})


class EraseOut(Schema):
    erased = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "Records deleted per collection."})


class PersonExportOut(Schema):
    format = fields.String()
    person_id = fields.String(allow_none=True, metadata={"description": "null for an account without a person."})
    exported_at = schemas.timestamp()
    private_notes = fields.String(validate=validate.OneOf(("included", "excluded")), metadata={"description": "'included' or 'excluded': whether private self-reflection notes are in it."})
    records = fields.Dict(keys=fields.String(), values=fields.List(fields.Dict()), metadata={
        "description": "Every stored record about the person, by collection (an open document: its records keep "
                       "the fields they are stored with)."})


def storage():
    return kbp().storage


def actor():
    return auth.current_account()


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


# ----------------------------------------------------------------------------- people


@blp.route("/people")
@blp.arguments(PeopleQuery, location="query")
@blp.response(200, PersonOut(many=True))
@paged(blp)
def list_people(query, page):
    """People the caller may see: an admin everyone, a coach the people they coach and themself, an employee themself."""
    return people_service.list_people(storage(), actor(), query.get("status"), page=page)


@blp.route("/people", methods=["POST"])
@blp.arguments(people.PersonIn)
@blp.response(201, PersonOut)
def create_person(data):
    """Add a person (admin)."""
    return people_service.create_person(storage(), actor(), data)


@blp.route("/people/<person_id>")
@blp.response(200, PersonOut)
def get_person(person_id):
    """One person, if the caller may see them."""
    return people_service.get_person(storage(), actor(), person_id)


@blp.route("/people/<person_id>", methods=["PATCH"])
@blp.arguments(people.PersonPatch)
@blp.response(200, PersonOut)
def patch_person(changes, person_id):
    """Change a person (admin)."""
    return people_service.update_person(storage(), actor(), person_id, changes)


@blp.route("/people/<person_id>", methods=["DELETE"])
@blp.response(200, EraseOut)
def erase_person(person_id):
    """Erase a person: their record, account, tokens and everything else stored about them (admin),
    in one commit. Every collection is then rewritten, so no file in the data folder keeps anything of them."""
    return {"erased": people_service.erase(storage(), actor(), person_id, _secret())}


@blp.route("/people/<person_id>/export")
@blp.response(200, PersonExportOut)
def export_person(person_id):
    """Everything stored about a person, as JSON (admin). Private self-reflection notes are left out
    (``private_notes: excluded``) unless the setting ``ADMIN_EXPORT_PRIVATE_NOTES`` is on; the person
    gets them in their own export, ``GET /api/v1/me/export``."""
    data = people_service.export_person(storage(), actor(), person_id,
                                        admin_includes_private=bool(current_app.config.get("ADMIN_EXPORT_PRIVATE_NOTES")))
    return _response(data, person_id, "person")


def _response(data: dict, subject_id: str, subject_type: str) -> Response:
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
    people_service.import_form(actor())
    body = request.get_data(cache=False)
    if not body:
        abort(400, message=_("Send the CSV file as the request body (Content-Type: text/csv)."))
    report = people_service.import_csv(storage(), actor(), body, dry_run=query["dry_run"])
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
    return accounts_service.me(storage(), actor())


@blp.route("/me/export")
@blp.response(200, PersonExportOut)
def export_me():
    """Everything stored about you, as JSON — your private self-reflection notes included
    (``private_notes: included``). An account without a person gets its account data."""
    return _response(*people_service.export_self(storage(), actor()))


@blp.route("/me/password", methods=["POST"])
@blp.arguments(PasswordChangeIn)
@blp.response(204)
@blp.alt_response(422, description="The current password is wrong or the new one is refused (see `errors`).")
@blp.alt_response(429, description="Too many wrong current passwords: wait `Retry-After` seconds.")
def change_password(data):
    """Change your own password (signed in, not with a token). Your other sessions end; this one goes on."""
    accounts_service.change_own_password(storage(), actor(), data["current_password"], data["new_password"],
                                         keep_session=auth.current_session_secret())


@blp.route("/me/sessions/sign-out-everywhere", methods=["POST"])
@blp.response(204)
def sign_out_everywhere():
    """End every session of your account, this one included (signed in, not with a token)."""
    accounts_service.sign_out_everywhere(storage(), actor())


@blp.route("/me/tokens")
@blp.response(200, TokenOut(many=True))
def list_tokens():
    """Your API tokens (never their secrets)."""
    return accounts_service.tokens(storage(), actor())


@blp.route("/me/tokens", methods=["POST"])
@blp.arguments(TokenIn)
@blp.response(201, TokenOut)
def create_token(data):
    """Create an API token (signed in, not with another token); the token text is shown once, in this response."""
    token, text = accounts_service.issue_token(storage(), actor(), data["name"], data.get("role"), data["expires_in_days"])
    return {**token, "token": text}


@blp.route("/me/tokens/<token_id>", methods=["DELETE"])
@blp.response(204)
def revoke_token(token_id):
    """Revoke one of your API tokens."""
    accounts_service.revoke_token(storage(), actor(), token_id)


# ----------------------------------------------------------------------------- accounts (admin)


@blp.route("/accounts")
@blp.response(200, AccountOut(many=True))
@paged(blp)
def list_accounts(page):
    """Every account, oldest first (admin)."""
    return accounts_service.list_accounts(storage(), actor(), page=page)


@blp.route("/accounts", methods=["POST"])
@blp.arguments(AccountIn)
@blp.response(201, AccountOut)
def create_account(data):
    """Create an account (admin)."""
    return accounts_service.create_account(storage(), actor(), **data)


@blp.route("/accounts/<account_id>", methods=["PATCH"])
@blp.arguments(AccountPatch)
@blp.response(200, AccountOut)
def patch_account(changes, account_id):
    """Change role, deactivate, or reset the password (admin). Ends the account's sessions; a reset also
    revokes its tokens — in the same commit as the change."""
    return accounts_service.update_account(storage(), actor(), account_id, changes)


@blp.route("/accounts/<account_id>", methods=["DELETE"])
@blp.response(204)
def delete_account(account_id):
    """Delete an account, its tokens and sessions (admin); the person stays."""
    accounts_service.delete_account(storage(), actor(), account_id)


@blp.route("/audit")
@blp.response(200, AuditOut(many=True))
@paged(blp)
def audit_log(page):
    """The audit log, newest first (admin): who did what to which id, and when. No content. Follow the
    ``Link: rel="next"`` header to page back to the very first entry."""
    return audit_service.entries(storage(), actor(), page=page)
