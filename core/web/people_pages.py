"""Pages for people, accounts, API tokens and the audit log. Every view checks permissions itself."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, json, redirect, render_template, request, session, url_for
from marshmallow import ValidationError

from core import audit, auth, people
from core.access import require_role
from core.context import accepts_large_body, kbp
from core.i18n import available_locales, locale_name
from core.i18n import gettext as _
from core.validation_i18n import translate_errors

bp = Blueprint("people_web", __name__)


def storage():
    return kbp().storage


def visible_person(person_id: str) -> dict:
    record = people.visible_person(storage(), auth.current_account(), person_id)
    if record is None:
        abort(404)
    return record


def _form_person(form) -> dict:
    data = {k: form.get(k, "").strip() for k in ("name", "email", "job_title", "unit")}
    data["coach_id"] = form.get("coach_id") or None
    data["locale"] = form.get("locale") or None
    data["status"] = form.get("status") or "active"
    return data


def _people_choices() -> list[dict]:
    return sorted(storage().collection(people.PEOPLE).all(), key=lambda p: p["name"].lower())


def _render_form(person, errors, status=200):
    return render_template(
        "person_form.html", person=person, errors=errors, coaches=_people_choices(),
        locales=[(c, locale_name(c)) for c in available_locales()],
    ), status


@bp.route("/people")
def people_list():
    allowed = people.visible_ids(storage(), auth.current_account())
    records = [p for p in storage().collection(people.PEOPLE).all() if allowed is None or p["id"] in allowed]
    names = {p["id"]: p["name"] for p in storage().collection(people.PEOPLE).all() if allowed is None or p["id"] in allowed}
    return render_template("people.html", people=sorted(records, key=lambda p: p["name"].lower()), names=names)


@bp.route("/people/new", methods=["GET", "POST"])
def person_new():
    require_role("admin")
    if request.method == "GET":
        return _render_form({}, {})
    data = _form_person(request.form)
    try:
        clean = people.PersonIn().load(data)
        record = people.create_person(storage(), clean)
    except ValidationError as exc:
        return _render_form(data, translate_errors(exc.messages), 422)
    except people.PeopleError as exc:
        return _render_form(data, exc.errors or {"": [str(exc)]}, 422)
    audit.record(storage(), "create", "person", record["id"])
    flash(_("%(name)s was added.", name=record["name"]))
    return redirect(url_for("people_web.person_view", person_id=record["id"]))


@bp.route("/people/<person_id>")
def person_view(person_id):
    person = visible_person(person_id)
    coach = storage().collection(people.PEOPLE).get(person["coach_id"]) if person.get("coach_id") else None
    if coach is not None:
        allowed = people.visible_ids(storage(), auth.current_account())
        if allowed is not None and coach["id"] not in allowed:
            coach = {"id": None, "name": coach["name"]}  # a name, not a link to a page they cannot open
    return render_template("person.html", person=person, coach=coach,
                           admin_export_private=bool(current_app.config.get("ADMIN_EXPORT_PRIVATE_NOTES")))


@bp.route("/people/<person_id>/edit", methods=["GET", "POST"])
def person_edit(person_id):
    require_role("admin")
    person = visible_person(person_id)
    if request.method == "GET":
        return _render_form(person, {})
    data = _form_person(request.form)
    try:
        clean = people.PersonIn().load(data)
        people.update_person(storage(), person_id, clean)
    except ValidationError as exc:
        return _render_form({**data, "id": person_id}, translate_errors(exc.messages), 422)
    except people.PeopleError as exc:
        return _render_form({**data, "id": person_id}, exc.errors or {"": [str(exc)]}, 422)
    audit.record(storage(), "update", "person", person_id)
    flash(_("The changes were saved."))
    return redirect(url_for("people_web.person_view", person_id=person_id))


@bp.route("/people/<person_id>/export")
def person_export(person_id):
    require_role("admin")
    visible_person(person_id)
    return _export(person_id)


@bp.route("/me/export")
def me_export():
    """Everything stored about the signed-in person, their private notes included."""
    acct = auth.current_account()
    return _response(people.export_self(storage(), acct), acct.person_id or acct.id, "person" if acct.person_id else "account")


def _export(person_id: str) -> Response:
    try:
        data = people.export_for(storage(), auth.current_account(), person_id,
                                 admin_includes_private=bool(current_app.config.get("ADMIN_EXPORT_PRIVATE_NOTES")))
    except people.PeopleError as exc:
        abort(exc.status)
    return _response(data, person_id, "person")


def _response(data: dict, subject_id: str, subject_type: str) -> Response:
    audit.record(storage(), "export", subject_type, subject_id)
    return Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{subject_type}-{subject_id}.json"'})


@bp.route("/people/<person_id>/erase", methods=["GET", "POST"])
def person_erase(person_id):
    require_role("admin")
    person = visible_person(person_id)
    if request.method == "GET":
        return render_template("person_erase.html", person=person)
    if request.form.get("confirm") != person["email"]:
        flash(_("Type the person's e-mail address to confirm."))
        return render_template("person_erase.html", person=person), 422
    people.erase(storage(), person_id, current_app.config["SECRET_KEY"])
    flash(_("Everything stored about the person was erased."))
    return redirect(url_for("people_web.people_list"))


@bp.route("/people/import", methods=["GET", "POST"])
@accepts_large_body
def people_import():
    require_role("admin")
    if request.method == "GET":
        return render_template("people_import.html", report=None)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a CSV file."))
        return render_template("people_import.html", report=None), 400
    dry_run = request.form.get("apply") != "1"
    report = people.run_import(storage(), upload.read(), dry_run=dry_run)
    if report.ok and not dry_run:
        audit.record(storage(), "import", "people", None)
    return render_template("people_import.html", report=report, dry_run=dry_run), (200 if report.ok else 422)


@bp.route("/admin/accounts", methods=["GET", "POST"])
def accounts():
    require_role("admin")
    error = None
    status = 200
    if request.method == "POST":
        try:
            record = auth.create_account(
                storage(), username=request.form.get("username", ""), password=request.form.get("password", ""),
                role=request.form.get("role", ""), person_id=request.form.get("person_id") or None,
            )
        except auth.AuthError as exc:
            error = str(exc)
            status = exc.status
        else:
            audit.record(storage(), "create", "account", record["id"])
            flash(_("The account %(name)s was created.", name=record["username"]))
            return redirect(url_for("people_web.accounts"))
    records = storage().collection(auth.ACCOUNTS).all()
    names = {p["id"]: p["name"] for p in storage().collection(people.PEOPLE).all()}
    return render_template("accounts.html", accounts=records, names=names, people=_people_choices(),
                           roles=auth.ROLES, error=error, min_password=auth.MIN_PASSWORD_LENGTH), status


@bp.route("/admin/audit")
def audit_page():
    require_role("admin")
    entries = sorted(storage().collection(audit.AUDIT).all(), key=lambda e: e["at"], reverse=True)[:500]
    return render_template("audit.html", entries=entries)


@bp.route("/me", methods=["GET", "POST"])
def me():
    acct = auth.current_account()
    new_token = None
    errors: dict = {}
    status = 200
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "create_token":
                days = request.form.get("expires_in_days", "").strip()
                _token, new_token = auth.issue_token(storage(), acct, request.form.get("name", ""),
                                                     request.form.get("role") or None,
                                                     int(days) if days.isdigit() else (None if not days else -1))
            elif action == "revoke_token":
                auth.revoke_token(storage(), acct, request.form.get("token_id", ""))
                flash(_("The token was revoked."))
            elif action == "change_password":
                if request.form.get("new_password", "") != request.form.get("new_password_again", ""):
                    message = _("The two new passwords do not match.")
                    raise auth.AuthError(message, errors={"new_password_again": [message]})
                auth.change_own_password(storage(), acct, request.form.get("current_password", ""),
                                         request.form.get("new_password", ""), keep_session=auth.current_session_secret())
                flash(_("Your password was changed. You were signed out on your other devices."))
                return redirect(url_for("people_web.me"))
            elif action == "sign_out_everywhere":
                auth.sign_out_everywhere(storage(), acct)
                session.clear()
                flash(_("You are signed out on every device."))
                return redirect(url_for("web.login"))
            elif action == "locale" and acct.person_id:
                code = request.form.get("locale") or None
                if code is not None and code not in available_locales():
                    abort(400)
                people.update_person(storage(), acct.person_id, {"locale": code})
                flash(_("Your language was saved."))
                return redirect(url_for("people_web.me", lang=code) if code else url_for("people_web.me"))
            else:
                abort(400)
        except auth.AuthError as exc:
            if exc.status in (403, 404):
                abort(exc.status)
            status = exc.status
            errors = exc.errors or {"form": [str(exc)]}
    tokens = [{**t, "state": auth.token_state(t)} for t in storage().collection(auth.TOKENS).find(account_id=acct.id)]
    person = storage().collection(people.PEOPLE).get(acct.person_id) if acct.person_id else None
    response = render_template("me.html", tokens=tokens, new_token=new_token, person=person, roles=auth.ROLES,
                               errors=errors, token_days=auth.TOKEN_DEFAULT_DAYS, token_max_days=auth.TOKEN_MAX_DAYS,
                               min_password=auth.MIN_PASSWORD_LENGTH,
                               locales=[(c, locale_name(c)) for c in available_locales()])
    return response, status
