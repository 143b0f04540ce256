"""Importing a framework file from the page or the API while KBP runs (issue 16, item 7).

A checked file is imported on confirmation, kept in the store, and in the catalogue of every app on
that store at its next request — no restart; refusals (invalid, clashing, licensed content) are the
same as for the import folders, with the messages; admin only; an audit entry per import.
"""
from __future__ import annotations

import io
import json
import re

import pytest

from tests.test_interop_files import (  # noqa: F401 - the fixtures are used by name
    LINDELOW,
    MOODLE_EXAMPLE,
    SAMPLE,
    WHAT_STANDARDS,
    _strip_case_marker,
    deep_world,
    export,
    licensed_app,
)

STANDARDS = "what-standards-could-be"


def framework_ids(client) -> set[str]:
    return {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}


def imported(app) -> list[dict]:
    return app.extensions["kbp"].storage.collection("framework_imports").all()


def audit_entries(client) -> list[tuple[str, str, str]]:
    return [(e["action"], e["subject_type"], e["subject_id"]) for e in client.get("/api/v1/audit").get_json()]


def test_a_checked_file_is_imported_from_the_page_without_a_restart(make_app):
    from tests.helpers import csrf_token

    app = make_app()
    client = app.test_client()
    token = csrf_token(client, "/admin/framework-import")
    r = client.post("/admin/framework-import?lang=en",
                    data={"csrf_token": token, "file": (io.BytesIO(WHAT_STANDARDS.read_bytes()), "standards.json")},
                    content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "This file can be imported." in page
    assert STANDARDS not in framework_ids(client)  # checking imports nothing
    upload = re.search(r'name="upload" value="([^"]+)"', page).group(1)
    assert '<button type="submit">Import What Standards Could Be</button>' in page

    r = client.post("/admin/framework-import?lang=en", data={"csrf_token": token, "action": "import", "upload": upload})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/frameworks/{STANDARDS}")
    page = client.get(r.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "The framework &#39;What Standards Could Be&#39; is imported: it is in use on every server now." in page
    assert '<span class="code">CCSS.Math.Content.6.RP.A.3</span> Use ratio and rate reasoning' in page
    detail = client.get(f"/api/v1/frameworks/{STANDARDS}").get_json()
    assert detail["plugin"] == "import_case"
    assert [len(g["competencies"]) for g in detail["groups"]] == [7, 7]
    assert ("import", "framework", STANDARDS) in audit_entries(client)
    [record] = imported(app)
    assert (record["id"], record["filename"], record["format"]) == (STANDARDS, "standards.json", "case")
    # the checked file is used once: confirming again says what to do
    again = client.post("/admin/framework-import?lang=en", data={"csrf_token": token, "action": "import", "upload": upload})
    assert again.status_code == 404
    assert "The checked file is no longer waiting to be imported" in again.get_data(as_text=True)
    # and it is kept: a restart still has it, with its competencies usable in plans
    restarted = make_app().test_client()
    assert STANDARDS in framework_ids(restarted)
    comp = restarted.get(f"/api/v1/frameworks/{STANDARDS}/competencies/acc5bce4-435f-47b3-b5aa-2ebb459061b0").get_json()
    assert comp["path"][0]["code"] == "CCSS.Math.Content.6.RP.A.3"


def test_an_import_on_one_server_is_seen_on_the_other_without_a_restart(make_app):
    """Two apps on one store (one data folder, or one PostgreSQL schema): two servers behind a load balancer."""
    first, second = make_app().test_client(), make_app().test_client()
    assert STANDARDS not in framework_ids(second) | framework_ids(first)
    r = first.post("/api/v1/framework-imports", data={"file": (io.BytesIO(WHAT_STANDARDS.read_bytes()), "s.json")},
                   content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["framework"]["competencies"] == 14
    assert STANDARDS in framework_ids(second)
    before = second.get(f"/api/v1/frameworks/{STANDARDS}?lang=en")
    assert before.get_json()["name"] == "What Standards Could Be"
    # the Moodle file, checked on the second and confirmed on the first (the upload is in the store too)
    preview = second.post("/api/v1/framework-imports/preview?filename=oecd.csv", data=MOODLE_EXAMPLE.read_bytes())
    assert preview.status_code == 200 and preview.get_json()["ok"] is True
    r = first.post("/api/v1/framework-imports", json={"upload": preview.get_json()["upload"]})
    assert r.status_code == 201, r.get_json()
    assert {"oecd-core", STANDARDS} <= framework_ids(second)
    # importing the same framework id again replaces it, on every server, cached documents included
    package = json.loads(WHAT_STANDARDS.read_text(encoding="utf-8"))
    package["CFDocument"]["title"] = "What Standards Could Be"
    package["CFItems"][0]["fullStatement"] = "A changed statement."
    preview = first.post("/api/v1/framework-imports/preview?filename=v2.json", data=json.dumps(package).encode()).get_json()
    assert preview["ok"] is True
    assert preview["notices"][-1] == (f"v2.json: replaces the framework '{STANDARDS}' imported from 's.json' (same id)")
    assert first.post("/api/v1/framework-imports", json={"upload": preview["upload"]}).status_code == 201
    after = second.get(f"/api/v1/frameworks/{STANDARDS}?lang=en", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert "A changed statement." in json.dumps(after.get_json())
    assert "A changed statement." not in json.dumps(before.get_json())


def test_a_file_with_problems_is_refused_and_nothing_is_written(licensed_app, tmp_path):
    client = licensed_app(DATA_DIR=str(tmp_path / "data")).test_client()
    app = client.application
    # an unmarked copy of the licensed framework: refused naming it, as in the import folders
    copy = json.dumps(_strip_case_marker(json.loads(export(client, LINDELOW, "case", "sv")))).encode()
    r = client.post("/api/v1/framework-imports?filename=kopia.json", data=copy, headers={"Accept-Language": "en"})
    assert r.status_code == 422 and r.get_json()["code"] == "validation_error"
    [problem] = r.get_json()["errors"]["file"]
    assert problem.startswith("kopia.json: 34 of its definitions are the text of the licensed framework 'Malin Lindelöw")
    assert problem.endswith("a licensed framework cannot be imported as a framework of its own — install its licence "
                            "instead")
    assert r.get_json()["message"] == f"'kopia.json' cannot be imported: {problem}"
    # the marked export itself
    r = client.post("/api/v1/framework-imports?filename=marked.csv", data=export(client, LINDELOW, "moodle-csv", "sv"))
    assert r.status_code == 422
    assert r.get_json()["errors"]["file"][0].startswith(
        "marked.csv: row 2, column 'ID number': this file is an export of the licensed framework 'malin-lindelow'")
    # a built-in's id
    r = client.post("/api/v1/framework-imports?filename=s.csv", data=export(client, SAMPLE, "moodle-csv", "en"))
    assert r.status_code == 422 and r.get_json()["errors"]["file"] == [
        "s.csv: the framework id 'kbp-sample' is already provided by plugin 'sample_framework' "
        "(give the file another title or id number)"]
    # not a file KBP reads, and no file at all
    r = client.post("/api/v1/framework-imports?filename=plan.docx", data=b"PK", headers={"Accept-Language": "sv"})
    assert r.status_code == 422 and r.get_json()["message"] == (
        "'plan.docx' är varken ett CASE-paket (.json) eller en kompetens-CSV från Moodle (.csv).")
    r = client.post("/api/v1/framework-imports", headers={"Accept-Language": "en"})
    assert r.status_code == 422 and r.get_json()["errors"] == {"file": [""]}
    r = client.post("/api/v1/framework-imports", json={"upload": "no-such-upload"}, headers={"Accept-Language": "en"})
    assert r.status_code == 404 and r.get_json()["message"].startswith("The checked file is no longer waiting")
    assert imported(app) == []
    assert not [e for e in audit_entries(client) if e[0] == "import"]


def test_a_refused_file_cannot_be_confirmed_from_the_page(make_app):
    from tests.helpers import csrf_token

    client = make_app().test_client()
    token = csrf_token(client, "/admin/framework-import")
    r = client.post("/admin/framework-import?lang=en",
                    data={"csrf_token": token, "file": (io.BytesIO(export(client, SAMPLE, "moodle-csv", "en")), "s.csv")},
                    content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "This file would be skipped:" in page
    assert 'name="upload"' not in page and 'value="import"' not in page


def test_only_administrators_import(make_app):
    from tests.helpers import csrf_token, make_person, signed_in_client

    app = make_app()
    coach = signed_in_client(app, "coach", make_person(app, "Karin Coach"))
    coach.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(coach)
    r = coach.post("/api/v1/framework-imports?filename=s.json", data=WHAT_STANDARDS.read_bytes())
    assert r.status_code == 403
    assert imported(app) == []


@pytest.mark.parametrize("change", ["licence", "plugin"])
def test_a_stored_import_that_a_later_start_would_refuse_is_left_out_with_a_problem(make_app, change):
    """Stored imports get the folder checks at every start: a framework id a plugin now provides wins."""
    app = make_app()
    storage = app.extensions["kbp"].storage
    record = {"id": "kbp-sample", "filename": "old.json", "format": "case", "plugin": "import_case",
              "imported_by": "cli", "imported_at": 1.0,
              "framework": {"id": "kbp-sample", "name": "Copy", "description": "", "version": "1",
                            "source_language": "en", "domain": "case_import",
                            "groups": [{"id": "g", "name": "G", "description": "", "competencies": [
                                {"id": "c", "name": "C", "definition": "A definition."}]}]}}
    if change == "licence":
        record["id"] = record["framework"]["id"] = LINDELOW
    storage.collection("framework_imports").insert(record)
    client = make_app().test_client()
    row = {p["name"]: p for p in client.get("/api/v1/plugins").get_json()}["import_case"]
    if change == "licence":
        assert row["problems"] == [
            "old.json (imported through the page): its framework id 'malin-lindelow' is the id of the licensed "
            "framework 'Malin Lindelöws kompetensmodell' (malin-lindelow); a licensed framework cannot be imported "
            "as a framework of its own — install its licence instead. Left out."]
    else:
        assert row["problems"] == ["old.json (imported through the page): the framework id 'kbp-sample' is now provided "
                                   "by plugin 'sample_framework'; left out"]
        assert client.get("/api/v1/frameworks/kbp-sample").get_json()["plugin"] == "sample_framework"


# ----------------------------------------------------------------------------- a competency's path


def test_a_deep_competency_is_named_with_its_path_on_plan_pages_exports_and_search(deep_world):
    """framework › group › … › competency wherever a focus competency of a deep framework is named;
    a two-level framework's competency looks as before (its framework's name only)."""
    from jsonschema import Draft202012Validator

    from core import testing
    from tests.test_interop_files import COMPONENT_3A, STANDARD_3
    from tests.test_plan_exports import text_of

    app, coach, emp = deep_world
    detail = coach.get(f"/api/v1/frameworks/{STANDARDS}?lang=en").get_json()
    group = detail["groups"][0]
    names = {c["id"]: c["name"] for c in group["competencies"]}
    trail = f"What Standards Could Be › {group['name']} › {names[STANDARD_3]}"
    sample = coach.get(f"/api/v1/frameworks/{SAMPLE}?lang=en").get_json()
    sample_comp = sample["groups"][0]["competencies"][0]
    leaf = f"{STANDARDS}:{COMPONENT_3A}"
    plan = coach.post("/api/v1/plans", json={"person_id": emp["id"], "situation": "new_role"}).get_json()
    r = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"],
                                                          "focus": [leaf, sample_comp["global_id"]]})
    assert r.status_code == 200, r.get_json()
    stored = app.extensions["kbp"].storage.collection("plans").get(plan["id"])
    assert stored["focus"][0]["path"]["en"] == trail.split(" › ")  # kept with the plan's snapshot
    assert "path" not in stored["focus"][1]

    page = coach.get(f"/plans/{plan['id']}?lang=en").get_data(as_text=True)
    assert f"<h3>{names[COMPONENT_3A]} <span class=\"meta\">({trail})</span></h3>" in page
    assert f"<h3>{sample_comp['name']} <span class=\"meta\">({sample['name']})</span></h3>" in page  # as before
    listing = coach.get("/plans?lang=en").get_data(as_text=True)
    assert f"{trail} › {names[COMPONENT_3A]}, {sample_comp['name']}</td>" in listing

    for exporter in ("plan-md", "plan-pdf", "plan-docx", "guide-pdf", "guide-docx"):
        data = coach.get(f"/api/v1/plans/{plan['id']}/export/{exporter}?lang=en").get_data()
        text = " ".join(text_of(exporter, data).split())
        assert trail in text, exporter
    markdown = coach.get(f"/api/v1/plans/{plan['id']}/export/plan-md?lang=en").get_data(as_text=True)
    assert f"*{sample['name']}*" in markdown  # a two-level framework: its name, as before
    exported = json.loads(coach.get(f"/api/v1/plans/{plan['id']}/export/plan-json?lang=en").get_data())
    assert exported["focus"][0]["path"] == trail.split(" › ") and "path" not in exported["focus"][1]
    with app.test_request_context():
        from core import plans

        document = plans.plan_document(app.extensions["kbp"].storage, stored, "coach", "en")
    assert not list(Draft202012Validator(testing.document_schema("plan")).iter_errors(document))

    # search results name the competencies an activity is for with their path
    app.extensions["kbp"].registry.activity_sources["inhouse"].create(
        {"id": "ratio-practice", "source_language": "en", "title": {"en": "Practise ratios"},
         "description": {"en": "Work through ratio tables."}, "competencies": [leaf], "kind": "training",
         "effort": "hours"})
    found = coach.get("/activities?lang=en&q=ratios").get_data(as_text=True)
    assert f'<span class="tag">{trail} › {names[COMPONENT_3A]}</span>' in found


def test_a_catalogue_rebuilt_for_a_plugin_change_keeps_the_imported_frameworks(make_app, app_store):
    from tests.test_plugins import set_enabled

    client = make_app().test_client()
    r = client.post("/api/v1/framework-imports?filename=s.json", data=WHAT_STANDARDS.read_bytes())
    assert r.status_code == 201, r.get_json()
    set_enabled(app_store, "sample_framework", False)  # another process changes the plugin state
    ids = framework_ids(client)
    assert SAMPLE not in ids and STANDARDS in ids
    assert client.get(f"/api/v1/frameworks/{STANDARDS}").status_code == 200


def test_the_command_line_imports_with_the_same_checks(make_app, data_dir, tmp_path):
    from click.testing import CliRunner

    from core.cli import main

    def kbp(*args):
        return CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], catch_exceptions=False)

    app = make_app()
    client = app.test_client()
    checked = kbp("frameworks", "import", "--dry-run", str(WHAT_STANDARDS))
    assert checked.exit_code == 0, checked.output
    assert ("Checked, nothing imported (dry run): What Standards Could Be (id what-standards-could-be), 2 groups, "
            "14 competencies, 3 levels.") in checked.output
    assert imported(app) == [] and app.extensions["kbp"].storage.collection("framework_uploads").all() == []
    done = kbp("frameworks", "import", str(WHAT_STANDARDS))
    assert done.exit_code == 0, done.output
    assert "Imported: What Standards Could Be (id what-standards-could-be)" in done.output
    assert STANDARDS in framework_ids(client)  # the running app, without a restart
    assert ("import", "framework", STANDARDS) in audit_entries(client)
    clash = tmp_path / "sample.csv"
    clash.write_bytes(export(client, SAMPLE, "moodle-csv", "en"))
    refused = kbp("frameworks", "import", str(clash))
    assert refused.exit_code == 1
    assert ("Error: 'sample.csv' cannot be imported: sample.csv: the framework id 'kbp-sample' is already provided by "
            "plugin 'sample_framework' (give the file another title or id number)") in refused.output
