"""Every endpoint and page × every role: the status each role gets, checked on the server.

Roles: anonymous; the employee the data is about; that employee's coach; a coach of someone else;
an admin. The matrix must list every (endpoint, method) of the app: adding a route without an
entry here fails :func:`test_matrix_covers_every_endpoint`.
"""
from __future__ import annotations

import pytest

from core import auth, create_app
from tests.helpers import csrf_token, make_account, make_person, sign_in

ROLES = ("anonymous", "employee", "coach", "other_coach", "admin")
LOGIN = 302  # a page redirects an anonymous visitor to the sign-in page
OPEN_PAGE = {r: 200 for r in ROLES}
SIGNED_IN_PAGE = {"anonymous": LOGIN, "employee": 200, "coach": 200, "other_coach": 200, "admin": 200}
ADMIN_PAGE = {"anonymous": LOGIN, "employee": 403, "coach": 403, "other_coach": 403, "admin": 200}
SIGNED_IN_API = {"anonymous": 401, "employee": 200, "coach": 200, "other_coach": 200, "admin": 200}
ADMIN_API = {"anonymous": 401, "employee": 403, "coach": 403, "other_coach": 403, "admin": 200}


PLAN_PAGE = {"anonymous": LOGIN, "employee": 200, "coach": 200, "other_coach": 404, "admin": 200}
PLAN_FORM = {"anonymous": LOGIN, "employee": 302, "coach": 302, "other_coach": 404, "admin": 403}
PLAN_API = {"anonymous": 401, "employee": 200, "coach": 200, "other_coach": 404, "admin": 200}
PLAN_API_EDIT = {"anonymous": 401, "employee": 200, "coach": 200, "other_coach": 404, "admin": 403}
RECRUITMENT_FORM = {"anonymous": LOGIN, "employee": 403, "coach": 302, "other_coach": 404, "admin": 302}


def admin_api(status: int) -> dict:
    return {**ADMIN_API, "admin": status}


CSV = "name,email,coach_email\nNy Person,ny.person@example.test,\n"
ACTIVITY = {"title": {"sv": "Skuggning"}, "description": {"sv": "En dag."}, "competencies": ["kbp-sample:active-listening"],
            "kind": "learning_from_others", "effort": "days"}
ACTIVITY_FORM = {"source_language": "sv", "title_sv": "Skuggning", "description_sv": "En dag.",
                 "competencies": "kbp-sample:active-listening", "kind": "learning_from_others", "effort": "days"}

#: (endpoint, method[, form action]) -> (url template, request kwargs, {role: status})
MATRIX = {
    ("static", "GET"): ("/static/kbp.css", {}, OPEN_PAGE),
    ("web.health", "GET"): ("/healthz", {}, OPEN_PAGE),
    ("web.login", "GET"): ("/login", {}, OPEN_PAGE),
    ("web.login", "POST"): ("/login", {"form": {"username": "nobody@example.test", "password": "wrong password"}},
                            {r: 401 for r in ROLES}),
    ("web.logout", "POST"): ("/logout", {"form": {}}, {r: 302 for r in ROLES}),
    # single sign-on: to the provider, and an answer this browser did not ask for (the state is unknown)
    ("sso_web.start", "GET"): ("/login/sso/unit", {}, {r: 302 for r in ROLES}),
    ("sso_web.callback", "GET"): ("/login/sso/unit/callback?code=c&state=not-this-browsers", {}, {r: 400 for r in ROLES}),
    ("apidocs.reference", "GET"): ("/api/v1/docs", {}, OPEN_PAGE),
    ("api-docs.openapi_json", "GET"): ("/api/v1/openapi.json", {}, OPEN_PAGE),
    ("web.home", "GET"): ("/", {}, SIGNED_IN_PAGE),
    ("web.start", "GET"): ("/start", {}, SIGNED_IN_PAGE),
    ("web.framework", "GET"): ("/frameworks/kbp-sample", {}, SIGNED_IN_PAGE),
    ("web.competency", "GET"): ("/frameworks/kbp-sample/active-listening", {}, SIGNED_IN_PAGE),
    ("web.plugins", "GET"): ("/plugins", {}, ADMIN_PAGE),
    # removing a framework: the sample is a plugin's, so even an admin is refused (409, with what to do)
    ("web.framework_remove", "GET"): ("/admin/frameworks/kbp-sample/remove", {}, {**ADMIN_PAGE, "admin": 409}),
    ("web.framework_remove", "POST"): ("/admin/frameworks/kbp-sample/remove", {"form": {}}, {**ADMIN_PAGE, "admin": 409}),
    ("web.framework_import", "GET"): ("/admin/framework-import", {}, ADMIN_PAGE),
    ("web.framework_import", "POST"): ("/admin/framework-import", {"form": {}}, {**ADMIN_PAGE, "admin": 400}),
    ("web.framework_import", "POST", "import"): ("/admin/framework-import", {"form": {"action": "import", "upload": "gone"}},
                                                 {**ADMIN_PAGE, "admin": 404}),
    ("people_web.people_list", "GET"): ("/people", {}, SIGNED_IN_PAGE),
    ("people_web.person_view", "GET"): ("/people/{person}", {},
                                        {"anonymous": LOGIN, "employee": 200, "coach": 200, "other_coach": 404, "admin": 200}),
    ("people_web.person_new", "GET"): ("/people/new", {}, ADMIN_PAGE),
    ("people_web.person_new", "POST"): ("/people/new", {"form": {"name": "Ny", "email": "ny@example.test"}},
                                        {**ADMIN_PAGE, "admin": 302}),
    ("people_web.person_edit", "GET"): ("/people/{person}/edit", {}, ADMIN_PAGE),
    ("people_web.person_edit", "POST"): ("/people/{person}/edit", {"form": {"name": "Ändrad", "email": "andrad@example.test"}},
                                         {**ADMIN_PAGE, "admin": 302}),
    ("people_web.person_export", "GET"): ("/people/{person}/export", {}, ADMIN_PAGE),
    ("people_web.person_erase", "GET"): ("/people/{person}/erase", {}, ADMIN_PAGE),
    ("people_web.person_erase", "POST"): ("/people/{person}/erase", {"form": {"confirm": "{person_email}"}},
                                          {**ADMIN_PAGE, "admin": 302}),
    ("people_web.people_import", "GET"): ("/people/import", {}, ADMIN_PAGE),
    ("people_web.people_import", "POST"): ("/people/import", {"upload": CSV}, ADMIN_PAGE),
    ("people_web.accounts", "GET"): ("/admin/accounts", {}, ADMIN_PAGE),
    ("people_web.accounts", "POST"): ("/admin/accounts", {"form": {"username": "new@example.test", "password": "long enough pw",
                                                                    "role": "employee"}}, {**ADMIN_PAGE, "admin": 302}),
    ("people_web.audit_page", "GET"): ("/admin/audit", {}, ADMIN_PAGE),
    ("people_web.me", "GET"): ("/me", {}, SIGNED_IN_PAGE),
    ("people_web.me_export", "GET"): ("/me/export", {}, SIGNED_IN_PAGE),
    ("people_web.me", "POST"): ("/me", {"form": {"action": "create_token", "name": "t"}}, SIGNED_IN_PAGE),
    ("people_web.me", "POST", "change_password"): ("/me", {"form": {"action": "change_password", "current_password": "correct horse battery",
                                                                   "new_password": "a brand new passphrase",
                                                                   "new_password_again": "a brand new passphrase"}},
                                                  {**SIGNED_IN_PAGE, "employee": 302, "coach": 302, "other_coach": 302, "admin": 302}),
    ("people_web.me", "POST", "sign_out_everywhere"): ("/me", {"form": {"action": "sign_out_everywhere"}},
                                                      {**SIGNED_IN_PAGE, "employee": 302, "coach": 302, "other_coach": 302, "admin": 302}),
    ("catalogue.list_plugins", "GET"): ("/api/v1/plugins", {}, ADMIN_API),
    ("catalogue.preview_framework_import", "POST"): (
        "/api/v1/framework-imports/preview?filename=f.csv", {"data": CSV}, ADMIN_API),
    ("catalogue.import_framework", "POST"): ("/api/v1/framework-imports?filename=f.csv", {"data": CSV}, admin_api(422)),
    ("catalogue.list_frameworks", "GET"): ("/api/v1/frameworks", {}, SIGNED_IN_API),
    ("catalogue.remove_framework", "DELETE"): ("/api/v1/frameworks/kbp-sample", {}, admin_api(409)),
    ("catalogue.get_framework", "GET"): ("/api/v1/frameworks/kbp-sample", {}, SIGNED_IN_API),
    ("catalogue.get_competency", "GET"): ("/api/v1/frameworks/kbp-sample/competencies/active-listening", {}, SIGNED_IN_API),
    ("catalogue.list_exporters", "GET"): ("/api/v1/exporters", {}, SIGNED_IN_API),
    ("catalogue.export_framework", "GET"): ("/api/v1/frameworks/kbp-sample/export/case", {}, SIGNED_IN_API),
    ("people.list_people", "GET"): ("/api/v1/people", {}, SIGNED_IN_API),
    ("people.create_person", "POST"): ("/api/v1/people", {"json": {"name": "Ny", "email": "ny@example.test"}}, admin_api(201)),
    ("people.get_person", "GET"): ("/api/v1/people/{person}", {},
                                   {"anonymous": 401, "employee": 200, "coach": 200, "other_coach": 404, "admin": 200}),
    ("people.patch_person", "PATCH"): ("/api/v1/people/{person}", {"json": {"job_title": "Chef"}}, ADMIN_API),
    ("people.erase_person", "DELETE"): ("/api/v1/people/{person}", {}, ADMIN_API),
    ("people.export_person", "GET"): ("/api/v1/people/{person}/export", {}, ADMIN_API),
    ("people.import_people", "POST"): ("/api/v1/people/import?dry_run=true", {"data": CSV, "content_type": "text/csv"}, ADMIN_API),
    ("people.me", "GET"): ("/api/v1/me", {}, SIGNED_IN_API),
    ("people.export_me", "GET"): ("/api/v1/me/export", {}, SIGNED_IN_API),  # each role: their own data only
    ("people.list_tokens", "GET"): ("/api/v1/me/tokens", {}, SIGNED_IN_API),
    ("people.change_password", "POST"): ("/api/v1/me/password",
                                         {"json": {"current_password": "correct horse battery", "new_password": "a brand new passphrase"}},
                                         {"anonymous": 401, "employee": 204, "coach": 204, "other_coach": 204, "admin": 204}),
    ("people.sign_out_everywhere", "POST"): ("/api/v1/me/sessions/sign-out-everywhere", {},
                                             {"anonymous": 401, "employee": 204, "coach": 204, "other_coach": 204, "admin": 204}),
    ("people.create_token", "POST"): ("/api/v1/me/tokens", {"json": {"name": "ci"}},
                                      {"anonymous": 401, "employee": 201, "coach": 201, "other_coach": 201, "admin": 201}),
    ("people.revoke_token", "DELETE"): ("/api/v1/me/tokens/{token}", {},
                                        {"anonymous": 401, "employee": 204, "coach": 404, "other_coach": 404, "admin": 404}),
    ("people.list_accounts", "GET"): ("/api/v1/accounts", {}, ADMIN_API),
    ("people.create_account", "POST"): ("/api/v1/accounts", {"json": {"username": "x@example.test", "password": "long enough pw",
                                                                       "role": "employee"}}, admin_api(201)),
    ("people.patch_account", "PATCH"): ("/api/v1/accounts/{account}", {"json": {"role": "coach"}}, ADMIN_API),
    ("people.delete_account", "DELETE"): ("/api/v1/accounts/{account}", {}, admin_api(204)),
    ("people.audit_log", "GET"): ("/api/v1/audit", {}, ADMIN_API),
    # activities: organisation content, readable by every signed-in role, written by admins
    ("activities.list_sources", "GET"): ("/api/v1/activity-sources", {}, SIGNED_IN_API),
    ("activities.list_records", "GET"): ("/api/v1/activity-sources/inhouse/activities", {}, SIGNED_IN_API),
    ("activities.get_record", "GET"): ("/api/v1/activity-sources/inhouse/activities/{activity}", {}, SIGNED_IN_API),
    ("activities.create_record", "POST"): ("/api/v1/activity-sources/inhouse/activities", {"json": ACTIVITY}, admin_api(201)),
    ("activities.patch_record", "PATCH"): ("/api/v1/activity-sources/inhouse/activities/{activity}", {"json": {"cost": "1 kr"}}, ADMIN_API),
    ("activities.archive_record", "POST"): ("/api/v1/activity-sources/inhouse/activities/{activity}/archive", {}, ADMIN_API),
    ("activities.restore_record", "POST"): ("/api/v1/activity-sources/inhouse/activities/{activity}/restore", {}, ADMIN_API),
    ("activities.export_records", "GET"): ("/api/v1/activity-sources/inhouse/export?format=json", {}, ADMIN_API),
    ("activities.import_records", "POST"): ("/api/v1/activity-sources/inhouse/import?format=json",
                                            {"data": '{"activities": []}', "content_type": "application/json"}, ADMIN_API),
    ("activities.search", "GET"): ("/api/v1/activities/search?q=mentor", {}, SIGNED_IN_API),
    ("activity_web.search_page", "GET"): ("/activities?q=mentor", {}, SIGNED_IN_PAGE),
    ("activity_web.admin_list", "GET"): ("/admin/sources/inhouse/activities", {}, ADMIN_PAGE),
    ("activity_web.admin_new", "GET"): ("/admin/sources/inhouse/activities/new", {}, ADMIN_PAGE),
    ("activity_web.admin_new", "POST"): ("/admin/sources/inhouse/activities/new", {"form": ACTIVITY_FORM}, {**ADMIN_PAGE, "admin": 302}),
    ("activity_web.admin_edit", "GET"): ("/admin/sources/inhouse/activities/{activity}", {}, ADMIN_PAGE),
    ("activity_web.admin_edit", "POST"): ("/admin/sources/inhouse/activities/{activity}", {"form": {**ACTIVITY_FORM, "version": "1"}},
                                          {**ADMIN_PAGE, "admin": 302}),
    ("activity_web.admin_archive", "POST"): ("/admin/sources/inhouse/activities/{activity}/archive", {"form": {"archived": "1"}},
                                             {**ADMIN_PAGE, "admin": 302}),
    ("activity_web.admin_import", "GET"): ("/admin/sources/inhouse/import", {}, ADMIN_PAGE),
    ("activity_web.admin_import", "POST"): ("/admin/sources/inhouse/import", {"upload": "id,title_sv,description_sv,competencies,kind,effort\n"}, ADMIN_PAGE),
    ("activity_web.admin_export", "GET"): ("/admin/sources/inhouse/export.csv", {}, ADMIN_PAGE),
    # plans: the employee and their coach; admins read; a coach of someone else learns nothing
    ("plan_web.plan_list", "GET"): ("/plans", {}, SIGNED_IN_PAGE),
    ("plan_web.plan_new", "GET"): ("/plans/new", {}, SIGNED_IN_PAGE),
    # the person has an open plan: the coach is asked first (200, the question), then starts another
    ("plan_web.plan_new", "POST"): ("/plans/new", {"form": {"person_id": "{person}", "situation": "new_role"}},
                                    {"anonymous": LOGIN, "employee": 302, "coach": 200, "other_coach": 404, "admin": 404}),
    ("plan_web.plan_new", "POST", "confirmed"): ("/plans/new", {"form": {"person_id": "{person}", "situation": "new_role",
                                                                        "confirm_another": "1"}},
                                                 {"anonymous": LOGIN, "employee": 302, "coach": 302, "other_coach": 404, "admin": 404}),
    ("plan_web.plan_focus", "GET"): ("/plans/{plan}/focus", {}, PLAN_PAGE),
    ("plan_web.plan_focus", "POST"): ("/plans/{plan}/focus", {"form": {"focus": "kbp-sample:active-listening", "version": "{version}"}}, PLAN_FORM),
    ("plan_web.plan_questions", "GET"): ("/plans/{plan}/questions", {}, PLAN_PAGE),
    ("plan_web.plan_questions", "POST"): ("/plans/{plan}/questions", {"form": {"version": "{version}", "own_new": "Fråga?"}}, PLAN_FORM),
    ("plan_web.plan_activities", "GET"): ("/plans/{plan}/activities", {}, PLAN_PAGE),
    ("plan_web.plan_activities", "POST"): ("/plans/{plan}/activities", {"form": {"version": "{version}", "new_title": "Ny"}}, PLAN_FORM),
    ("plan_web.plan_view", "GET"): ("/plans/{plan}", {}, PLAN_PAGE),
    ("plan_web.plan_view", "POST"): ("/plans/{plan}", {"form": {"version": "{version}", "follow_up_date": "2030-01-01"}}, PLAN_FORM),
    ("plan_web.plan_agree", "POST"): ("/plans/{plan}/agree", {"form": {"version": "{version}"}}, PLAN_FORM),
    ("plan_web.plan_follow_up", "POST"): ("/plans/{plan}/follow-up", {"form": {"version": "{version}", "note": "Bra."}}, PLAN_FORM),
    ("plan_web.plan_guide", "GET"): ("/plans/{plan}/guide", {}, PLAN_PAGE),
    ("plans.list_plans", "GET"): ("/api/v1/plans", {}, SIGNED_IN_API),
    ("plans.create_plan", "POST"): ("/api/v1/plans", {"json": {"person_id": "{person}", "situation": "new_role"}},
                                    {"anonymous": 401, "employee": 403, "coach": 201, "other_coach": 404, "admin": 404}),
    ("plans.get_plan", "GET"): ("/api/v1/plans/{plan}", {}, PLAN_API),
    ("plans.patch_plan", "PATCH"): ("/api/v1/plans/{plan}", {"json": {"version": "{version}", "goals": {}}}, PLAN_API_EDIT),
    ("plans.get_suggestions", "GET"): ("/api/v1/plans/{plan}/suggestions", {}, PLAN_API),
    ("plans.put_note", "PUT"): ("/api/v1/plans/{plan}/questions/{question}/note", {"json": {"version": "{version}", "note": "x"}}, PLAN_API_EDIT),
    ("plans.put_activity_status", "PUT"): ("/api/v1/plans/{plan}/activities/{plan_activity}/status",
                                           {"json": {"version": "{version}", "status": "done"}}, PLAN_API_EDIT),
    ("plans.agree", "POST"): ("/api/v1/plans/{plan}/agree", {"json": {"version": "{version}"}}, PLAN_API_EDIT),
    ("plans.add_follow_up", "POST"): ("/api/v1/plans/{plan}/follow-ups", {"json": {"version": "{version}", "note": "Bra."}}, PLAN_API_EDIT),
    ("plans.get_history", "GET"): ("/api/v1/plans/{plan}/history", {}, PLAN_API),
    ("plans.export_plan", "GET"): ("/api/v1/plans/{plan}/export/no-such-exporter", {},
                                   {"anonymous": 401, "employee": 404, "coach": 404, "other_coach": 404, "admin": 404}),
    # reminders, notifications and the calendar feed (issue 19): your own; the feed's secret is its credential
    ("reminder_web.notifications", "GET"): ("/notifications", {}, SIGNED_IN_PAGE),
    ("reminder_web.notifications", "POST"): ("/notifications", {"form": {"action": "read_all"}}, {r: 302 for r in ROLES}),
    ("reminder_web.settings", "GET"): ("/me/reminders", {}, SIGNED_IN_PAGE),
    ("reminder_web.settings", "POST"): ("/me/reminders", {"form": {"action": "preferences", "digest": "daily"}},
                                        {r: 302 for r in ROLES}),
    ("reminders.list_notifications", "GET"): ("/api/v1/me/notifications", {}, SIGNED_IN_API),
    ("reminders.read_notifications", "POST"): ("/api/v1/me/notifications/read", {"json": {}}, SIGNED_IN_API),
    ("reminders.get_settings", "GET"): ("/api/v1/me/reminder-settings", {}, SIGNED_IN_API),
    ("reminders.put_settings", "PUT"): ("/api/v1/me/reminder-settings", {"json": {"digest": "weekly", "opt_out": ["changes"]}},
                                        SIGNED_IN_API),
    ("reminder_web.calendar", "GET"): ("/calendar/abc123_not-the-secret.ics", {}, {r: 404 for r in ROLES}),
    # the HR overview: administrators (and accounts granted it with `kbp overview grant`)
    ("overview_web.overview_page", "GET"): ("/overview", {}, ADMIN_PAGE),
    ("overview_web.overview_csv", "GET"): ("/overview.csv", {}, ADMIN_PAGE),
    ("overview.get_overview", "GET"): ("/api/v1/overview", {}, ADMIN_API),
    # from recruitment to development (issue 17): the record follows the person's current coach and
    # admins; the employee reads (needs only), never writes; a coach of someone else learns nothing.
    # Roles run in order, so a delete by the coach leaves the admin nothing to delete (404).
    ("recruitment_web.record_page", "GET"): ("/people/{person}/recruitment", {}, PLAN_PAGE),
    ("recruitment_web.record_page", "POST"): ("/people/{person}/recruitment", {"form": {"action": "save", "role_title": "Analytiker"}},
                                              RECRUITMENT_FORM),
    ("recruitment_web.record_page", "POST", "choose"): (
        "/people/{person}/recruitment", {"form": {"action": "choose", "competency": "kbp-sample:planning-own-work"}}, RECRUITMENT_FORM),
    ("recruitment_web.record_page", "POST", "delete"): ("/people/{person}/recruitment", {"form": {"action": "delete"}},
                                                        {**RECRUITMENT_FORM, "admin": 404}),
    ("recruitment_web.start_plan", "POST"): ("/people/{person}/recruitment/plan", {"form": {}},
                                             {"anonymous": LOGIN, "employee": 302, "coach": 302, "other_coach": 404, "admin": 403}),
    ("recruitment_web.prepare", "GET"): ("/plans/{plan}/prepare", {}, PLAN_PAGE),
    ("recruitment_web.prepare", "POST"): ("/plans/{plan}/prepare", {"form": {"answer_x": ""}},
                                          {"anonymous": LOGIN, "employee": 302, "coach": 403, "other_coach": 404, "admin": 403}),
    ("recruitment.get_recruitment", "GET"): ("/api/v1/people/{person}/recruitment", {}, PLAN_API),
    ("recruitment.put_recruitment", "PUT"): ("/api/v1/people/{person}/recruitment", {"json": {"role_title": "Analytiker"}},
                                             {"anonymous": 401, "employee": 403, "coach": 200, "other_coach": 404, "admin": 200}),
    ("recruitment.delete_recruitment", "DELETE"): ("/api/v1/people/{person}/recruitment", {},
                                                   {"anonymous": 401, "employee": 403, "coach": 204, "other_coach": 404, "admin": 404}),
    ("recruitment.start_recruitment_plan", "POST"): ("/api/v1/people/{person}/recruitment/plan", {},
                                                     {"anonymous": 401, "employee": 201, "coach": 201, "other_coach": 404, "admin": 403}),
    ("recruitment.get_preparation", "GET"): ("/api/v1/plans/{plan}/preparation", {}, PLAN_API),
    ("recruitment.put_preparation", "PUT"): ("/api/v1/plans/{plan}/preparation", {"json": {"answers": []}},
                                             {"anonymous": 401, "employee": 200, "coach": 403, "other_coach": 404, "admin": 403}),
}


def routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method


def test_matrix_covers_every_endpoint(tmp_path):
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path)})
    covered = {key[:2] for key in MATRIX}  # a third item names one of several actions of a form
    missing = sorted(set(routes(app)) - covered)
    assert not missing, f"add these routes to the role matrix in {__file__}: {missing}"
    stale = sorted(covered - set(routes(app)))
    assert not stale, f"the matrix lists routes that no longer exist: {stale}"


def world(tmp_path):
    """A fresh app with an admin, a coach and the employee they coach, and a coach of someone else;
    a single sign-on provider (tests/oidc_fake.py) keeps roles in KBP, so either way of signing in
    gives each account the same role."""
    import json

    from tests import oidc_fake

    provider = oidc_fake.provider_settings(groups_claim=None)
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "OIDC_PROVIDERS": json.dumps([provider])})
    oidc_fake.preset_metadata(app)
    coach_p = make_person(app, "Coach Carin")
    employee_p = make_person(app, "Employee Erik", coach_id=coach_p["id"])
    other_p = make_person(app, "Other Olle")
    make_person(app, "Someone Else", coach_id=other_p["id"])
    accounts = {
        "employee": make_account(app, "employee", employee_p),
        "coach": make_account(app, "coach", coach_p),
        "other_coach": make_account(app, "coach", other_p),
        "admin": make_account(app, "admin"),
    }
    storage = app.extensions["kbp"].storage
    token, _ = auth.create_token(storage, accounts["employee"], "matrix")
    activity = app.extensions["kbp"].registry.activity_sources["inhouse"].create(
        {**ACTIVITY, "source_language": "sv", "id": "matrix-activity"})
    ids = {"person": employee_p["id"], "person_email": employee_p["email"], "account": accounts["employee"]["id"],
           "token": token["id"], "activity": activity["id"]}
    ids.update(make_plan(app, accounts["coach"], employee_p))
    make_recruitment_record(app, accounts["coach"], employee_p)
    return app, accounts, ids


def make_recruitment_record(app, coach_account, person) -> dict:
    """The recruitment record of ``person``, kept by their coach."""
    from core import plans
    from core.auth import Account
    from core.services import recruitment

    storage = app.extensions["kbp"].storage
    with app.test_request_context():
        snap = plans.Snapshotter(app.extensions["kbp"].registry, ["sv", "en"])
        account = Account(coach_account["id"], coach_account["username"], "coach", coach_account["person_id"])
        return recruitment.save_record(storage, snap, account, person["id"], {"competencies": [
            {"competency": "kbp-sample:active-listening", "rating": 2, "notes": "Avbröt ofta.", "need": "Sammanfatta innan svar."}]})


def make_plan(app, coach_account, person) -> dict:
    """A coaching plan for ``person`` with one focus competency, question and activity."""
    from core import plans
    from core.auth import Account

    storage = app.extensions["kbp"].storage
    registry = app.extensions["kbp"].registry
    with app.test_request_context():
        snap = plans.Snapshotter(registry, ["sv", "en"])
        account = Account(coach_account["id"], coach_account["username"], "coach", coach_account["person_id"])
        plan = plans.create_plan(storage, snap, account, person["id"], "new_role", "coaching")
        qid = registry.questions_for("kbp-sample:active-listening", "coaching")[0][1].id

        def fill(p, rel):
            plans.set_focus(p, snap, ["kbp-sample:active-listening"])
            plans.set_questions(p, snap, registry, [qid], [])
            plans.set_activities(p, snap, registry, [{"title": "Öva", "description": "Öva."}])
            return ["focus"]

        plan = plans.change(storage, account, plan["id"], None, "update", fill)
    return {"plan": plan["id"], "question": qid, "plan_activity": plan["activities"][0]["id"]}


def current_version(app, plan_id: str) -> str:
    return str(app.extensions["kbp"].storage.collection("plans").get(plan_id)["version"])


def fill_version(app, ids, value):
    if isinstance(value, dict):
        return {k: fill_version(app, ids, v) for k, v in value.items()}
    if value == "{version}":
        return int(current_version(app, ids["plan"]))
    return value


def call(app, account, method, url, kwargs, ids=None, signin="password"):
    """One request as ``account``, signed in with a password session or through single sign-on."""
    client = app.test_client()
    if ids is not None:
        kwargs = dict(kwargs)
        if "json" in kwargs:
            kwargs["json"] = fill_version(app, ids, kwargs["json"])
        if "form" in kwargs:
            kwargs["form"] = {k: (current_version(app, ids["plan"]) if v == "{version}" else v) for k, v in kwargs["form"].items()}
    if account is not None and signin == "sso":
        from tests import oidc_fake

        assert "HTTP_AUTHORIZATION" not in client.environ_base
        assert oidc_fake.sso_sign_in(client, account["username"]).status_code == 302
    elif account is not None:
        sign_in(client, account)
    token = csrf_token(client)
    kwargs = dict(kwargs)
    headers = {"X-CSRFToken": token}
    if "form" in kwargs:
        kwargs["data"] = {**kwargs.pop("form"), "csrf_token": token}
    if "upload" in kwargs:
        import io

        kwargs["data"] = {"file": (io.BytesIO(kwargs.pop("upload").encode()), "people.csv"), "csrf_token": token}
        kwargs["content_type"] = "multipart/form-data"
    return client.open(url, method=method, headers=headers, **kwargs)


@pytest.mark.parametrize("signin", ["password", "sso"])
@pytest.mark.parametrize("key", sorted(MATRIX), ids="-".join)
def test_role_matrix(tmp_path, key, signin):
    endpoint, method = key[:2]
    url_t, kwargs, expected = MATRIX[key]
    app, accounts, ids = world(tmp_path)
    url = url_t.format(**ids)
    if "form" in kwargs:
        kwargs = {**kwargs, "form": {k: v if v == "{version}" else v.format(**ids) for k, v in kwargs["form"].items()}}
    if "json" in kwargs:
        kwargs = {**kwargs, "json": {k: v.format(**ids) if isinstance(v, str) and v != "{version}" else v
                                     for k, v in kwargs["json"].items()}}
    got = {}
    for role in ROLES:  # admin last: its writes (erase, delete) must not change what the others see
        response = call(app, accounts.get(role), method, url, kwargs, ids, signin)
        got[role] = response.status_code
        if endpoint.startswith(("catalogue.", "people.")) or url.startswith("/api/"):
            if response.status_code >= 400:
                assert response.is_json and response.get_json()["message"], (role, endpoint)
        if role == "anonymous" and response.status_code == LOGIN and not url.startswith("/api") and endpoint != "sso_web.start":
            assert "/login" in response.headers["Location"]
    assert got == expected, f"{method} {url_t}"


# ----------------------------------------------------------------------------- no leaks


def names_in(response) -> str:
    return response.get_data(as_text=True)


def test_lists_show_only_what_each_role_may_see(tmp_path):
    app, accounts, ids = world(tmp_path)

    def people_api(role):
        c = sign_in(app.test_client(), accounts[role])
        return {p["name"] for p in c.get("/api/v1/people").get_json()}

    for role, account in accounts.items():  # a self-service export is about the caller, never someone else
        for url in ("/api/v1/me/export", "/me/export"):
            export = sign_in(app.test_client(), account).get(url).get_json()
            assert export["person_id"] == account["person_id"] and export["private_notes"] == "included", (role, url)
            assert [p["id"] for p in export["records"]["people"]] == [account["person_id"]], (role, url)
    assert ids["plan"] not in str(sign_in(app.test_client(), accounts["admin"]).get("/api/v1/me/export").get_json())
    assert people_api("employee") == {"Employee Erik"}
    assert people_api("coach") == {"Employee Erik", "Coach Carin"}
    assert people_api("other_coach") == {"Other Olle", "Someone Else"}
    assert len(people_api("admin")) == 5
    page = sign_in(app.test_client(), accounts["other_coach"]).get("/people").get_data(as_text=True)
    assert "Employee Erik" not in page and "Someone Else" in page
    page = sign_in(app.test_client(), accounts["employee"]).get("/people").get_data(as_text=True)
    assert "Coach Carin" not in page or "Coach Carin" in page.split("Employee Erik", 1)[1]  # only as their coach


def test_forbidden_and_missing_people_look_the_same(tmp_path):
    app, accounts, ids = world(tmp_path)
    client = sign_in(app.test_client(), accounts["other_coach"])
    hidden = client.get(f"/api/v1/people/{ids['person']}")
    missing = client.get("/api/v1/people/0123456789abcdef0123456789abcdef")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json() == missing.get_json()
    assert client.get(f"/people/{ids['person']}").get_data() == client.get("/people/0123456789abcdef").get_data()


def test_start_page_shows_each_role_only_its_own_due_items(tmp_path):
    """/start per role: the plan waiting for agreement appears for its employee and their coach only;
    the way to the HR overview for the admin only."""
    app, accounts, ids = world(tmp_path)
    plan_link = f'href="/plans/{ids["plan"]}"'
    pages = {role: sign_in(app.test_client(), account).get("/start?lang=en").get_data(as_text=True)
             for role, account in accounts.items()}
    assert plan_link in pages["employee"] and plan_link in pages["coach"]
    assert plan_link not in pages["other_coach"] and plan_link not in pages["admin"]
    assert "Development dialogues to hold" in pages["coach"] and "Development dialogues to hold" not in pages["employee"]
    assert "Someone Else" in pages["other_coach"] and "Someone Else" not in pages["coach"]  # their own coachee
    assert [role for role, body in pages.items() if 'href="/overview"' in body.split('<main id="main">', 1)[1]] == ["admin"]
