"""In-house activities (API, pages, CLI, import/export), activity files, and search across sources."""
from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from core import create_app
from core.cli import main
from tests.helpers import csrf_token, signed_in_client

API = "/api/v1/activity-sources/inhouse"
COMP = "kbp-sample:active-listening"
COMP2 = "kbp-sample:sharing-knowledge"


def record(**overrides):
    base = {
        "source_language": "sv",
        "title": {"sv": "Mentorprogrammet för nya chefer", "en": "The mentoring programme for new managers"},
        "description": {"sv": "Ett halvår med en erfaren mentor. Följ upp med din chef varannan månad.",
                        "en": "Six months with an experienced mentor. Follow up with your manager every other month."},
        "competencies": [COMP],
        "kind": "learning_from_others",
        "effort": "months",
        "duration": "6 månader",
        "cost": "0 kr",
        "provider": "HR",
        "url": "https://intra.example/mentor",
        "tags": ["mentor", "nya chefer"],
        "situations": ["new_role"],
        "owner": "hr@example.test",
    }
    base.update(overrides)
    return base


@pytest.fixture
def app(tmp_path):
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def admin(app):
    client = signed_in_client(app, "admin")
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(client)
    return client


# ----------------------------------------------------------------------------- API CRUD


def test_crud_through_the_api(app, admin):
    created = admin.post(f"{API}/activities", json=record())
    assert created.status_code == 201, created.get_json()
    item = created.get_json()
    assert item["id"] == "mentorprogrammet-for-nya-chefer" and item["version"] == 1
    aid = item["id"]
    assert admin.get(f"{API}/activities/{aid}").get_json()["title"]["en"].startswith("The mentoring")
    patched = admin.patch(f"{API}/activities/{aid}", json={"cost": "5 000 kr"}, headers={"If-Match": "1"})
    assert patched.status_code == 200 and patched.get_json()["version"] == 2 and patched.get_json()["cost"] == "5 000 kr"
    stale = admin.patch(f"{API}/activities/{aid}", json={"cost": "1 kr"}, headers={"If-Match": "1"})
    assert stale.status_code == 409 and stale.get_json()["code"] == "version_conflict"
    assert admin.get(f"{API}/activities/{aid}").get_json()["cost"] == "5 000 kr"  # nothing lost
    assert admin.post(f"{API}/activities/{aid}/archive").get_json()["archived"] is True
    assert [r["id"] for r in admin.get(f"{API}/activities").get_json()] == []
    assert [r["id"] for r in admin.get(f"{API}/activities?include_archived=true").get_json()] == [aid]
    assert admin.post(f"{API}/activities/{aid}/restore").get_json()["archived"] is False
    # the competency page shows it, in the requested language
    comp = admin.get(f"/api/v1/frameworks/kbp-sample/competencies/active-listening?lang=en").get_json()
    assert "The mentoring programme for new managers" in [a["title"] for a in comp["activities"]]
    comp_sv = admin.get(f"/api/v1/frameworks/kbp-sample/competencies/active-listening?lang=sv").get_json()
    assert "Mentorprogrammet för nya chefer" in [a["title"] for a in comp_sv["activities"]]


def test_api_validation(admin):
    bad = admin.post(f"{API}/activities", json=record(competencies=["kbp-sample:nope"]))
    assert bad.status_code == 422 and "kbp-sample:nope" in bad.get_json()["message"]
    no_source_text = admin.post(f"{API}/activities", json=record(title={"en": "Only English"}))
    assert no_source_text.status_code == 422 and "title" in no_source_text.get_json()["errors"]
    assert admin.post(f"{API}/activities", json=record(url="javascript:alert(1)")).status_code == 422
    assert admin.post(f"{API}/activities", json=record(kind="napping")).status_code == 422
    assert admin.get(f"{API}/activities/nope").status_code == 404
    assert admin.get("/api/v1/activity-sources/nope/activities").status_code == 404
    assert admin.patch(f"{API}/activities/nope", json={"cost": "x"}).status_code == 404
    assert admin.post(f"{API}/activities", json=record(id="dup")).status_code == 201
    assert admin.post(f"{API}/activities", json=record(id="dup")).status_code == 409


def test_only_admins_write(app):
    coach = signed_in_client(app, "coach")
    coach.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(coach)
    assert coach.post(f"{API}/activities", json=record()).status_code == 403
    assert coach.get(f"{API}/activities").status_code == 200


# ----------------------------------------------------------------------------- web form


def test_crud_through_the_web_form(app):
    client = signed_in_client(app, "admin")
    form = {"source_language": "sv", "title_sv": "Bokcirkel om ledarskap", "title_en": "Leadership book circle",
            "description_sv": "Läs en bok i taget och träffas en gång i månaden.", "description_en": "Read one book at a time; meet monthly.",
            "competencies": [COMP, COMP2], "kind": "training", "effort": "months", "tags": "bok, cirkel"}
    assert client.post("/admin/sources/inhouse/activities/new", data=form).status_code == 400  # CSRF missing
    r = client.post("/admin/sources/inhouse/activities/new", data={**form, "csrf_token": csrf_token(client)})
    assert r.status_code == 302
    listing = client.get("/admin/sources/inhouse/activities?lang=sv").get_data(as_text=True)
    assert "Bokcirkel om ledarskap" in listing
    aid = [a for a in re.findall(r'/admin/sources/inhouse/activities/([a-z0-9-]+)"', listing) if a != "new"][0]
    page = client.get(f"/admin/sources/inhouse/activities/{aid}").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    r = client.post(f"/admin/sources/inhouse/activities/{aid}", data={**form, "title_sv": "Bokcirkel", "version": version,
                                                                    "csrf_token": csrf_token(client)})
    assert r.status_code == 302
    # a second tab still holding the old version is told, and nothing is overwritten
    r = client.post(f"/admin/sources/inhouse/activities/{aid}", data={**form, "title_sv": "Gammal flik", "version": version,
                                                                    "csrf_token": csrf_token(client)})
    assert r.status_code == 409
    assert app.extensions["kbp"].registry.activity_sources["inhouse"].get(aid)["title"]["sv"] == "Bokcirkel"
    r = client.post(f"/admin/sources/inhouse/activities/{aid}/archive", data={"archived": "1", "csrf_token": csrf_token(client)})
    assert r.status_code == 302
    assert app.extensions["kbp"].registry.activity_sources["inhouse"].get(aid)["archived"] is True
    bad = client.post("/admin/sources/inhouse/activities/new", data={**form, "title_sv": "", "csrf_token": csrf_token(client)})
    assert bad.status_code == 422


def test_script_is_escaped_everywhere(app, admin):
    evil = "<script>alert(1)</script>"
    r = admin.post(f"{API}/activities", json=record(title={"sv": evil, "en": evil}, description={"sv": evil, "en": evil}, tags=[evil]))
    assert r.status_code == 201
    aid = r.get_json()["id"]
    pages = ["/frameworks/kbp-sample/active-listening", "/admin/sources/inhouse/activities", f"/admin/sources/inhouse/activities/{aid}",
             "/activities?q=alert", f"/activities?competency={COMP}"]
    for url in pages:
        body = admin.get(url).get_data(as_text=True)
        assert evil not in body, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, url


# ----------------------------------------------------------------------------- import / export


def csv_rows(n: int, bad_row: int | None = None) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["id", "source_language", "title_sv", "title_en", "description_sv", "description_en", "competencies", "kind", "effort", "tags"])
    for i in range(n):
        comp = "kbp-sample:nope" if i + 2 == bad_row else COMP
        w.writerow([f"akt-{i}", "sv", f"Aktivitet {i} – övning", f"Activity {i}", f"Gör övning {i} och följ upp.", f"Do exercise {i}.",
                    comp, "on_the_job", "weeks", "a;b"])
    return out.getvalue()


def test_csv_with_one_bad_row_imports_nothing_and_reports_the_row(app, admin):
    body = csv_rows(20, bad_row=7)
    r = admin.post(f"{API}/import?format=csv&dry_run=false", data=body, content_type="text/csv")
    assert r.status_code == 422
    problems = r.get_json()["problems"]
    assert [(p["row"], p["column"]) for p in problems] == [(7, "competencies")]
    assert admin.get(f"{API}/activities").get_json() == []
    dry = admin.post(f"{API}/import?format=csv", data=csv_rows(5), content_type="text/csv").get_json()
    assert dry["ok"] and dry["created"] == 5 and admin.get(f"{API}/activities").get_json() == []


@pytest.mark.embedded_only  # counts snapshot writes; on PostgreSQL a unit of work is one database transaction
def test_thousand_rows_import_in_one_transaction(app, admin, monkeypatch):
    replaced = []
    real_replace = os.replace

    def counting_replace(src, dst, *a, **kw):
        if str(dst).endswith("inhouse_activities.json"):
            replaced.append(dst)
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", counting_replace)
    r = admin.post(f"{API}/import?format=csv&dry_run=false", data=csv_rows(1000), content_type="text/csv")
    assert r.status_code == 200 and r.get_json()["created"] == 1000
    assert len(replaced) == 1
    listed = admin.get(f"{API}/activities?limit=500")
    assert len(listed.get_json()) == 500 and listed.headers["X-Total-Count"] == "1000"  # paged: at most 500 a page
    assert 'rel="next"' in listed.headers["Link"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_import_round_trips_identically(tmp_path, admin, fmt):
    admin.post(f"{API}/activities", json=record())
    admin.post(f"{API}/activities", json=record(id="rotation", title={"sv": "Rotation till kundcenter", "en": "Rotation to the customer centre"},
                                                 description={"sv": "Två veckor; \"citat\", komma, och radbrytning\nhär."},
                                                 kind="on_the_job", effort="weeks", tags=[], situations=[], competencies=[COMP, COMP2]))
    admin.post(f"{API}/activities/rotation/archive")
    first = admin.get(f"{API}/export?format={fmt}")
    assert first.status_code == 200 and "attachment" in first.headers["Content-Disposition"]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(first.get_data(as_text=True))))
        assert len(rows) == 2 and {r["archived"] for r in rows} == {"true", "false"}
    else:
        assert json.loads(first.get_data())["format"] == "kbp-activities/1"
    other = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "other")})
    client = signed_in_client(other, "admin")
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(client)
    r = client.post(f"{API}/import?format={fmt}&dry_run=false", data=first.get_data(),
                    content_type="text/csv" if fmt == "csv" else "application/json")
    assert r.status_code == 200, r.get_json()
    second = client.get(f"{API}/export?format={fmt}")
    assert second.get_data() == first.get_data()


def test_cli_import_export(tmp_path, app):
    data = app.config["DATA_DIR"]
    f = tmp_path / "a.csv"
    f.write_text(csv_rows(3, bad_row=3), encoding="utf-8")
    r = CliRunner().invoke(main, ["--data-dir", data, "activities", "import", str(f)])
    assert r.exit_code != 0 and "row 3, column competencies" in r.output
    f.write_text(csv_rows(3), encoding="utf-8")
    assert CliRunner().invoke(main, ["--data-dir", data, "activities", "import", str(f), "--dry-run"]).exit_code == 0
    assert CliRunner().invoke(main, ["--data-dir", data, "activities", "list"]).output == ""
    r = CliRunner().invoke(main, ["--data-dir", data, "activities", "import", str(f)])
    assert r.exit_code == 0, r.output
    listing = CliRunner().invoke(main, ["--data-dir", data, "activities", "list"]).output
    assert listing.count("\n") == 3 and "Aktivitet 0" in listing
    out = tmp_path / "out.json"
    r = CliRunner().invoke(main, ["--data-dir", data, "activities", "export", "--format", "json", "--out", str(out)])
    assert r.exit_code == 0 and len(json.loads(out.read_text())["activities"]) == 3


# ----------------------------------------------------------------------------- activity files


def test_activity_files_source_loads_and_reloads(tmp_path):
    folder = tmp_path / "acts"
    folder.mkdir()
    (folder / "mentor.yaml").write_text(
        "id: filmentor\nsource_language: sv\ntitle: {sv: Filmentorn, en: The file mentor}\n"
        "description: {sv: Beskrivning., en: Description.}\ncompetencies: [kbp-sample:active-listening]\n"
        "kind: learning_from_others\neffort: weeks\n", encoding="utf-8")
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "d"), "ACTIVITY_FILES_DIR": str(folder)})
    client = signed_in_client(app)
    titles = lambda: [a["title"] for a in client.get("/api/v1/frameworks/kbp-sample/competencies/active-listening?lang=en").get_json()["activities"]]
    assert "The file mentor" in titles()
    source = app.extensions["kbp"].registry.activity_sources["files"]
    source.check_interval = 0
    (folder / "more.json").write_text(json.dumps({"activities": [{
        "id": "filrotation", "source_language": "en", "title": {"en": "Rotate roles"}, "description": {"en": "Swap for a week."},
        "competencies": ["kbp-sample:active-listening"], "kind": "on_the_job", "effort": "weeks"}]}), encoding="utf-8")
    assert "Rotate roles" in titles()
    (folder / "more.json").write_text("{ broken", encoding="utf-8")
    assert "Rotate roles" in titles()  # the last good version stays
    assert source.problems and "more.json" in source.problems[0]


def test_broken_activity_file_at_start_fails_the_plugin_by_name(tmp_path):
    folder = tmp_path / "acts"
    folder.mkdir()
    (folder / "bad.yaml").write_text("id: x\ntitle: {sv: T}\n", encoding="utf-8")
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "d"), "ACTIVITY_FILES_DIR": str(folder)})
    plugins = {p["name"]: p for p in signed_in_client(app).get("/api/v1/plugins").get_json()}
    assert plugins["activities_files"]["state"] == "failed" and "bad.yaml" in plugins["activities_files"]["reason"]


# ----------------------------------------------------------------------------- search


def test_search_spans_sources_ranked_in_the_requested_language(app, admin):
    admin.post(f"{API}/activities", json=record(id="lyssna", title={"sv": "Lyssnande i självständighet", "en": "Listening independently"},
                                                 description={"sv": "Öva självständighet i samtal.", "en": "Practise independence in talks."},
                                                 competencies=[COMP, COMP2]))
    admin.post(f"{API}/activities", json=record(id="annat", competencies=[COMP2]))
    r = admin.get(f"/api/v1/activities/search?competency={COMP}&competency={COMP2}&lang=en").get_json()
    sources = {x["source"] for x in r["results"]}
    assert {"inhouse", "kbp-sample"} <= sources
    assert r["results"][0]["id"] == "lyssna" and r["results"][0]["competency_matches"] == 2  # exact competency match first
    assert r["results"][0]["title"] == "Listening independently"
    assert all(x["source_title"] for x in r["results"])
    sv = admin.get("/api/v1/activities/search?q=sjalvstandighet&lang=sv").get_json()
    assert [x["id"] for x in sv["results"]] == ["lyssna"] and sv["results"][0]["title"].startswith("Lyssnande")
    typo = admin.get("/api/v1/activities/search?q=mentorprogramet&lang=sv").get_json()
    assert {x["id"] for x in typo["results"]} == {"annat"}
    framework = admin.get("/api/v1/activities/search?q=summarise&lang=en").get_json()
    assert any(x["source"] == "kbp-sample" for x in framework["results"])
    assert admin.get("/api/v1/activities/search?kind=napping").status_code == 422


def test_text_in_one_language_falls_back_to_it_in_the_other(app, admin):
    """An in-house activity written only in Swedish reads in Swedish on English pages, API answers and
    search - never as an empty title."""
    created = admin.post(f"{API}/activities", json=record(id="bara-svenska", title={"sv": "Skuggning av en erfaren kollega"},
                                                           description={"sv": "Två dagar bredvid en kollega."}))
    assert created.status_code == 201, created.get_json()
    comp = admin.get("/api/v1/frameworks/kbp-sample/competencies/active-listening?lang=en").get_json()
    mine = [a for a in comp["activities"] if a["id"] == "bara-svenska"]
    assert mine and mine[0]["title"] == "Skuggning av en erfaren kollega"
    assert mine[0]["description"] == "Två dagar bredvid en kollega."
    hits = admin.get(f"/api/v1/activities/search?competency={COMP}&lang=en").get_json()["results"]
    assert [h["title"] for h in hits if h["id"] == "bara-svenska"] == ["Skuggning av en erfaren kollega"]
    page = admin.get("/frameworks/kbp-sample/active-listening?lang=en").get_data(as_text=True)
    assert "Skuggning av en erfaren kollega" in page


def test_archived_hidden_from_search_and_suggestions(app, admin):
    admin.post(f"{API}/activities", json=record(id="gammal", title={"sv": "Gammal kurs i presentationsteknik"}, description={"sv": "Utgår."}))
    found = lambda: [x["id"] for x in admin.get("/api/v1/activities/search?q=presentationsteknik").get_json()["results"]]
    assert found() == ["gammal"]
    admin.post(f"{API}/activities/gammal/archive")
    assert found() == []
    assert "gammal" not in [a["id"] for a in admin.get("/api/v1/frameworks/kbp-sample/competencies/active-listening").get_json()["activities"]]
    assert [x["id"] for x in admin.get("/api/v1/activities/search?q=presentationsteknik&include_archived=true").get_json()["results"]] == ["gammal"]


def test_search_sees_writes_from_another_process(tmp_path):
    data = tmp_path / "data"
    a = create_app({"TESTING": True, "DATA_DIR": str(data)})
    b = create_app({"TESTING": True, "DATA_DIR": str(data)})
    ca, cb = signed_in_client(a), signed_in_client(b)
    assert cb.get("/api/v1/activities/search?q=Vattenfall").get_json()["total"] == 0
    ca.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(ca)
    ca.post(f"{API}/activities", json=record(id="vatten", title={"sv": "Studiebesök på vattenverket"}, description={"sv": "En dag."}))
    assert cb.get("/api/v1/activities/search?q=vattenverket").get_json()["total"] == 1


def test_search_page(app, admin):
    admin.post(f"{API}/activities", json=record())
    body = admin.get("/activities?q=mentor&lang=sv").get_data(as_text=True)
    assert "Mentorprogrammet för nya chefer" in body and 'role="search"' in body


def test_an_edit_reconverts_only_the_changed_activity(app, admin):
    for i in range(3):
        admin.post(f"{API}/activities", json=record(id=f"a{i}", title={"sv": f"Aktivitet {i}"}, description={"sv": "Gör."}))
    source = app.extensions["kbp"].registry.activity_sources["inhouse"]
    before = {a.id: a for a in source.loaded()}
    admin.patch(f"{API}/activities/a1", json={"cost": "100 kr"})
    after = {a.id: a for a in source.loaded()}
    if not source.lean:  # the embedded store: the worker keeps the objects and reuses the unchanged ones
        assert after["a0"] is before["a0"] and after["a2"] is before["a2"]  # reused
        assert after["a1"] is not before["a1"]
    assert after["a1"].cost == "100 kr"
    assert [x["id"] for x in admin.get("/api/v1/activities/search?q=aktivitet").get_json()["results"]] == ["a0", "a1", "a2"]


def test_a_postgresql_worker_keeps_no_activities_yet_lists_and_finds_them(app, admin):
    """PostgreSQL: the worker holds no Activity objects (search index only); search hits, the
    competency page and the plan suggestions read the activities they show from the database.
    The same answers on the embedded store, which keeps them."""
    for i in range(40):
        admin.post(f"{API}/activities", json=record(id=f"akt-{i:02d}", title={"sv": f"Aktivitet {i}"},
                                                    description={"sv": "Gör något nytt."}))
    admin.patch(f"{API}/activities/akt-07", json={"archived": True})
    source = app.extensions["kbp"].registry.activity_sources["inhouse"]
    search = admin.get("/api/v1/activities/search?q=aktivitet&limit=5&lang=sv").get_json()
    assert search["total"] == 39 and [r["id"] for r in search["results"]] == ["akt-00", "akt-01", "akt-02", "akt-03", "akt-04"]
    assert search["results"][0]["title"] == "Aktivitet 0"
    comp = admin.get("/api/v1/frameworks/kbp-sample/competencies/active-listening?activity_limit=100&lang=sv").get_json()
    inhouse = [a["id"] for a in comp["activities"] if a["source"] == "inhouse"]
    assert inhouse == [f"akt-{i:02d}" for i in range(40) if i != 7]  # key order, the archived one left out
    assert comp["activity_total"] == len(comp["activities"])
    few = admin.get("/api/v1/frameworks/kbp-sample/competencies/active-listening?activity_limit=3&lang=sv").get_json()
    assert few["activity_total"] == comp["activity_total"] and len(few["activities"]) == 3
    assert source.for_competencies(["kbp-sample:active-listening"])[7].archived  # the source itself lists every one
    from core.activity_search import searcher

    kept = searcher(app).by_key
    if source.lean:
        assert source._by_id == {} and source._cache == []
        assert not [k for k in kept if k[0] == "inhouse"] and not [k for k in searcher(app)._doc_cache if k[0] == "inhouse"]
    else:
        assert ("inhouse", "akt-00") in kept
