"""Pages for people, accounts, API tokens and the audit log. Every view parses the form, calls a
service (:mod:`core.services`) — which checks permissions, audits and raises domain errors — and renders."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, json, redirect, render_template, request, session, url_for

from core import auth
from core.context import accepts_large_body, kbp
from core.i18n import available_locales, locale_name
from core.i18n import gettext as _
from core.services import accounts as accounts_service
from core.services import audit as audit_service
from core.services import people as people_service
from core.services.errors import Conflict, Invalid, TooManyAttempts

bp = Blueprint("people_web", __name__)

#: errors a form shows next to its fields (the rest become error pages, see core.http_errors)
FORM_ERRORS = (Invalid, Conflict, TooManyAttempts)


def storage():
    return kbp().storage


def actor():
    return auth.current_account()


def _form_person(form) -> dict:
    data = {k: form.get(k, "").strip() for k in ("name", "email", "job_title", "unit")}
    data["coach_id"] = form.get("coach_id") or None
    data["locale"] = form.get("locale") or None
    data["status"] = form.get("status") or "active"
    return data


def _render_form(person, errors, status=200):
    return render_template(
        "person_form.html", person=person, errors=errors, coaches=people_service.coach_choices(storage(), actor()),
        locales=[(c, locale_name(c)) for c in available_locales()],
    ), status


def _field_errors(exc) -> dict:
    return exc.errors or {"": [exc.message]}


@bp.route("/people")
def people_list():
    records = sorted(people_service.list_people(storage(), actor()), key=lambda p: p["name"].lower())
    names = {p["id"]: p["name"] for p in records}
    return render_template("people.html", people=records, names=names)


@bp.route("/people/new", methods=["GET", "POST"])
def person_new():
    if request.method == "GET":
        return _render_form({}, {})
    data = _form_person(request.form)
    try:
        record = people_service.create_person(storage(), actor(), data)
    except (Invalid, Conflict) as exc:
        return _render_form(data, _field_errors(exc), 422)
    flash(_("%(name)s was added.", name=record["name"]))
    return redirect(url_for("people_web.person_view", person_id=record["id"]))


@bp.route("/people/<person_id>")
def person_view(person_id):
    person, coach = people_service.person_with_coach(storage(), actor(), person_id)
    from core.plans import may_start

    can_start = person.get("status") == "active" and may_start(actor(), person)
    return render_template("person.html", person=person, coach=coach, can_start=can_start,
                           admin_export_private=bool(current_app.config.get("ADMIN_EXPORT_PRIVATE_NOTES")))


@bp.route("/people/<person_id>/edit", methods=["GET", "POST"])
def person_edit(person_id):
    person = people_service.editable_person(storage(), actor(), person_id)
    if request.method == "GET":
        return _render_form(person, {})
    data = _form_person(request.form)
    try:
        people_service.update_person(storage(), actor(), person_id, data, whole=True)
    except (Invalid, Conflict) as exc:
        return _render_form({**data, "id": person_id}, _field_errors(exc), 422)
    flash(_("The changes were saved."))
    return redirect(url_for("people_web.person_view", person_id=person_id))


@bp.route("/people/<person_id>/export")
def person_export(person_id):
    data = people_service.export_person(storage(), actor(), person_id,
                                        admin_includes_private=bool(current_app.config.get("ADMIN_EXPORT_PRIVATE_NOTES")))
    return _response(data, person_id, "person")


@bp.route("/me/export")
def me_export():
    """Everything stored about the signed-in person, their private notes included."""
    return _response(*people_service.export_self(storage(), actor()))


def _response(data: dict, subject_id: str, subject_type: str) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{subject_type}-{subject_id}.json"'})


@bp.route("/people/<person_id>/erase", methods=["GET", "POST"])
def person_erase(person_id):
    person = people_service.editable_person(storage(), actor(), person_id)
    if request.method == "GET":
        return render_template("person_erase.html", person=person)
    try:
        people_service.erase(storage(), actor(), person_id, current_app.config["SECRET_KEY"],
                             confirm=request.form.get("confirm", ""))
    except Invalid as exc:
        flash(exc.message)
        return render_template("person_erase.html", person=person), 422
    flash(_("Everything stored about the person was erased."))
    return redirect(url_for("people_web.people_list"))


@bp.route("/people/import", methods=["GET", "POST"])
@accepts_large_body
def people_import():
    people_service.import_form(actor())
    if request.method == "GET":
        return render_template("people_import.html", report=None)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a CSV file."))
        return render_template("people_import.html", report=None), 400
    dry_run = request.form.get("apply") != "1"
    report = people_service.import_csv(storage(), actor(), upload.read(), dry_run=dry_run)
    return render_template("people_import.html", report=report, dry_run=dry_run), (200 if report.ok else 422)


@bp.route("/admin/accounts", methods=["GET", "POST"])
def accounts():
    overview = accounts_service.accounts_overview(storage(), actor())
    error = None
    errors: dict = {}
    status = 200
    if request.method == "POST":
        try:
            record = accounts_service.create_account(
                storage(), actor(), username=request.form.get("username", ""), password=request.form.get("password", ""),
                role=request.form.get("role", ""), person_id=request.form.get("person_id") or None,
            )
        except FORM_ERRORS as exc:
            error, errors, status = exc.message, exc.errors, exc.status
        else:
            flash(_("The account %(name)s was created.", name=record["username"]))
            return redirect(url_for("people_web.accounts"))
    return render_template("accounts.html", accounts=overview["accounts"], names=overview["names"],
                           people=overview["people"], roles=auth.ROLES, error=error, errors=errors,
                           min_password=auth.MIN_PASSWORD_LENGTH), status


@bp.route("/admin/audit")
def audit_page():
    return render_template("audit.html", entries=audit_service.entries(storage(), actor(), 500))


@bp.route("/me", methods=["GET", "POST"])
def me():
    acct = actor()
    new_token = None
    errors: dict = {}
    status = 200
    headers: dict = {}
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "create_token":
                days = request.form.get("expires_in_days", "").strip()
                _token, new_token = accounts_service.issue_token(
                    storage(), acct, request.form.get("name", ""), request.form.get("role") or None,
                    int(days) if days.isdigit() else (None if not days else -1))
            elif action == "revoke_token":
                accounts_service.revoke_token(storage(), acct, request.form.get("token_id", ""))
                flash(_("The token was revoked."))
            elif action == "change_password":
                accounts_service.change_own_password(
                    storage(), acct, request.form.get("current_password", ""), request.form.get("new_password", ""),
                    keep_session=auth.current_session_secret(), again=request.form.get("new_password_again", ""))
                flash(_("Your password was changed. You were signed out on your other devices."))
                return redirect(url_for("people_web.me"))
            elif action == "sign_out_everywhere":
                accounts_service.sign_out_everywhere(storage(), acct)
                session.clear()
                flash(_("You are signed out on every device."))
                return redirect(url_for("web.login"))
            elif action == "locale" and acct.person_id:
                code = request.form.get("locale") or None
                people_service.set_own_locale(storage(), acct, code)
                flash(_("Your language was saved."))
                return redirect(url_for("people_web.me", lang=code) if code else url_for("people_web.me"))
            else:
                abort(400)
        except FORM_ERRORS as exc:
            status = exc.status
            errors = exc.errors or {"form": [exc.message]}
            if isinstance(exc, TooManyAttempts):
                headers["Retry-After"] = str(exc.retry_after)
    me_data = accounts_service.me(storage(), acct)
    response = render_template("me.html", tokens=accounts_service.tokens(storage(), acct), new_token=new_token,
                               person=me_data["person"], roles=auth.ROLES,
                               has_password=accounts_service.has_password(storage(), acct),
                               errors=errors, token_days=auth.TOKEN_DEFAULT_DAYS, token_max_days=auth.TOKEN_MAX_DAYS,
                               min_password=auth.MIN_PASSWORD_LENGTH,
                               locales=[(c, locale_name(c)) for c in available_locales()])
    return response, status, headers
