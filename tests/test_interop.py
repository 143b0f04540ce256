"""Framework interchange: CASE 1.1 export, CASE 1.0/1.1 import, Moodle competency-framework CSV.

Every output is read back by an independent reader: CASE packages by ``jsonschema`` with the
official CASE 1.1 CFPackage schema and format checking on; CSV by Python's ``csv`` module. The
real files other systems wrote live in ``../shared/interop/`` (see its README) and are never edited.
"""
from __future__ import annotations

import copy
import csv
import html
import io
import json
import os
import re
import shutil
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from jsonschema import Draft201909Validator

import frameworks.malin_lindelow as lindelow
from core import schemas
from core.licensing import generate_keypair, issue_licence
from plugins import export_case, import_case
from plugins.import_case.reader import CaseImportError, read_package
from plugins.moodle_csv import csvformat
from plugins.moodle_csv import source as moodle_source
from tests.conftest import ROOT, anonymous_client

INTEROP = ROOT.parent / "shared" / "interop"
CASE_SCHEMA = INTEROP / "case" / "case-v1p1-cfpackage.schema.json"
OPENSALT = sorted((INTEROP / "case" / "opensalt-examples").glob("*.json"))
MOODLE_EXAMPLE = INTEROP / "moodle" / "example.csv"
SAMPLE = "kbp-sample"
LINDELOW = "malin-lindelow"

if not CASE_SCHEMA.is_file() and os.environ.get("CI"):  # under CI a missing fixture fails the run, never skips it
    pytest.fail(f"CI must provide the interop test data in {INTEROP} (../shared/interop).", pytrace=False)
pytestmark = pytest.mark.skipif(not CASE_SCHEMA.is_file(), reason=f"interop test data not found in {INTEROP}")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def case_validator():
    schema = json.loads(CASE_SCHEMA.read_text(encoding="utf-8"))
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema, format_checker=Draft201909Validator.FORMAT_CHECKER)


def assert_valid_case(validator, package: dict) -> None:
    errors = sorted(validator.iter_errors(package), key=lambda e: e.json_path)
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors[:5]]
    # the schema types every ``uri`` as a plain string; we promise real URIs
    for uri in _all_uris(package):
        assert Draft201909Validator.FORMAT_CHECKER.conforms(uri, "uri"), uri


def _all_uris(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uri" and isinstance(value, str):
                yield value
            else:
                yield from _all_uris(value)
    elif isinstance(node, list):
        for value in node:
            yield from _all_uris(value)


@pytest.fixture
def licence_for_tests(tmp_path, monkeypatch):
    """A test licensor key trusted instead of the shipped one; returns a valid licence for Lindelöw."""
    private, public = generate_keypair()
    keys_file = tmp_path / "trusted_keys.json"
    keys_file.write_text(json.dumps({"keys": [{"key_id": "interop-test-1", "public_key": public}]}))
    monkeypatch.setattr(lindelow, "TRUSTED_KEYS_FILE", keys_file)
    return issue_licence(private, key_id="interop-test-1", licensee="Interop test", product="malin_lindelow",
                         expires=date.today() + timedelta(days=30), issued=date.today() - timedelta(days=1))


@pytest.fixture
def licensed_app(make_app, licence_for_tests):
    app = make_app()
    registry = app.extensions["kbp"].registry
    assert registry.entitlements.install(registry.frameworks[LINDELOW], licence_for_tests).ok
    return app


def api_framework(client, framework_id: str, lang: str) -> dict:
    response = client.get(f"/api/v1/frameworks/{framework_id}?lang={lang}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def export(client, framework_id: str, exporter: str, lang: str):
    response = client.get(f"/api/v1/frameworks/{framework_id}/export/{exporter}?lang={lang}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def child_of(package: dict) -> dict[str, tuple[str, int]]:
    """origin identifier -> (destination identifier, sequenceNumber) of every isChildOf association."""
    return {a["originNodeURI"]["identifier"]: (a["destinationNodeURI"]["identifier"], a.get("sequenceNumber"))
            for a in package["CFAssociations"] if a["associationType"] == "isChildOf"}


def tree_from_case(package: dict) -> list[tuple[str, list[str]]]:
    """[(group fullStatement, [competency fullStatements])] read from the associations alone."""
    items = {i["identifier"]: i for i in package["CFItems"]}
    links = child_of(package)
    doc = package["CFDocument"]["identifier"]

    def kids(parent):
        return [i for _, i in sorted((links[i][1], i) for i in links if links[i][0] == parent)]

    return [(items[g]["fullStatement"], [items[c]["fullStatement"] for c in kids(g)]) for g in kids(doc)]


# ----------------------------------------------------------------------------- CASE export


def test_format_checking_is_really_on(case_validator):
    """uuid, date-time and uri formats are checked, not just annotated."""
    good = {"CFDocument": {"identifier": str(uuid.uuid4()), "uri": "urn:uuid:x", "creator": "KBP", "title": "T",
                           "lastChangeDateTime": "2026-01-31T12:00:00+00:00"}}
    assert not list(case_validator.iter_errors(good))
    bad_uuid = copy.deepcopy(good)
    bad_uuid["CFDocument"]["identifier"] = "not-a-uuid"
    errors = list(case_validator.iter_errors(bad_uuid))
    assert [(e.json_path, e.validator) for e in errors] == [("$.CFDocument.identifier", "format")]
    bad_time = copy.deepcopy(good)
    bad_time["CFDocument"]["lastChangeDateTime"] = "31 January 2026"
    assert [e.validator for e in case_validator.iter_errors(bad_time)] == ["format"]
    checker = Draft201909Validator.FORMAT_CHECKER
    assert "uri" in checker.checkers and checker.conforms("urn:uuid:" + str(uuid.uuid4()), "uri")
    assert not checker.conforms("no scheme here", "uri")


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_installed_framework_exports_a_valid_case_package(licensed_app, case_validator, lang):
    client = licensed_app.test_client()
    installed = [fw["id"] for fw in client.get("/api/v1/frameworks").get_json()]
    assert {SAMPLE, LINDELOW} <= set(installed)
    for framework_id in installed:
        response = export(client, framework_id, "case", lang)
        assert response.mimetype == "application/json"
        assert response.headers["Content-Disposition"] == f'attachment; filename="{framework_id}.json"'
        package = json.loads(response.get_data().decode("utf-8"))
        assert_valid_case(case_validator, package)

        detail = api_framework(client, framework_id, lang)
        doc = package["CFDocument"]
        assert (doc["title"], doc["creator"], doc["language"], doc["caseVersion"]) == (detail["name"], "KBP", lang, "1.1")
        # hierarchy and order, read back from the isChildOf associations and their sequenceNumbers
        assert tree_from_case(package) == [(g["name"], [c["name"] for c in g["competencies"]]) for g in detail["groups"]]
        items = {i["fullStatement"]: i for i in package["CFItems"]}
        for group in detail["groups"]:
            assert items[group["name"]]["CFItemType"] == "Competency Group"
            for comp in group["competencies"]:
                item = items[comp["name"]]
                assert item["CFItemType"] == "Competency" and item["notes"] == comp["definition"]
                assert item["language"] == lang
        assert len(package["CFItems"]) == len(detail["groups"]) + sum(len(g["competencies"]) for g in detail["groups"])
        assert "DEMO" not in doc.get("notes", "") and doc["extensions"]["kbp"]["demo"] is False


def test_a_licensed_framework_carries_its_licence_notice(licensed_app, case_validator):
    client = licensed_app.test_client()
    notice = api_framework(client, LINDELOW, "sv")["licence_notice"]
    assert "Malin Lindelöw" in notice
    package = export(client, LINDELOW, "case", "sv").get_json()
    doc = package["CFDocument"]
    assert notice in doc["notes"]
    licences = {lic["identifier"]: lic for lic in package["CFDefinitions"]["CFLicenses"]}
    # the notice, then the machine-readable marker importers refuse
    assert licences[doc["licenseURI"]["identifier"]]["licenseText"] == notice + "\n\nkbp-licensed:malin-lindelow"
    assert all(item["licenseURI"]["identifier"] == doc["licenseURI"]["identifier"] for item in package["CFItems"])
    assert doc["extensions"]["kbp"]["licensed"] is True


def test_the_licensed_framework_is_not_exported_without_a_licence(make_app):
    client = make_app().test_client()
    for exporter in ("case", "moodle-csv"):
        response = client.get(f"/api/v1/frameworks/{LINDELOW}/export/{exporter}")
        assert response.status_code == 403
        assert response.get_json()["code"] == "licence_required"
    assert export(client, SAMPLE, "case", "en").status_code == 200
    assert anonymous_client(client.application).get(f"/api/v1/frameworks/{SAMPLE}/export/case").status_code == 401


def test_identifiers_are_stable_across_exports_languages_and_restarts(make_app):
    def identifiers(package):
        return (
            package["CFDocument"]["identifier"],
            [(i["identifier"], i["extensions"]["kbp"]["id"]) for i in package["CFItems"]],
            [(a["identifier"], a["originNodeURI"]["identifier"], a["destinationNodeURI"]["identifier"])
             for a in package["CFAssociations"]],
        )

    client = make_app().test_client()
    first = export(client, SAMPLE, "case", "en").get_json()
    again = export(client, SAMPLE, "case", "en").get_json()
    swedish = export(client, SAMPLE, "case", "sv").get_json()
    restarted = export(make_app().test_client(), SAMPLE, "case", "en").get_json()
    assert identifiers(first) == identifiers(again) == identifiers(swedish) == identifiers(restarted)
    ids = [i for i, _ in identifiers(first)[1]]
    assert len(set(ids)) == len(ids)
    # derived from our ids in KBP's fixed namespace, so another installation gets the same ones
    listening = next(i for i in first["CFItems"] if i["extensions"]["kbp"]["id"] == "active-listening")
    assert listening["identifier"] == str(uuid.uuid5(export_case.KBP_NAMESPACE, "competency:kbp-sample:active-listening"))
    assert listening["uri"] == f"urn:uuid:{listening['identifier']}"


def test_demo_exports_say_so(make_app, case_validator):
    client = make_app(DEMO=True).test_client()
    package = export(client, SAMPLE, "case", "sv").get_json()
    assert_valid_case(case_validator, package)
    assert package["CFDocument"]["notes"].startswith("DEMO")
    assert package["CFDocument"]["extensions"]["kbp"]["demo"] is True
    rows = list(csv.reader(io.StringIO(export(client, SAMPLE, "moodle-csv", "sv").get_data(as_text=True))))
    assert "DEMO" in rows[1][csvformat.DESCRIPTION]


def test_a_published_uri_base_is_used_and_a_bad_one_fails_the_plugin(make_app, case_validator):
    client = make_app(CASE_URI_BASE="https://kbp.example.org/case/").test_client()
    package = export(client, SAMPLE, "case", "en").get_json()
    assert_valid_case(case_validator, package)
    doc = package["CFDocument"]
    assert doc["uri"] == f"https://kbp.example.org/case/CFDocuments/{doc['identifier']}"
    assert all(i["uri"].startswith("https://kbp.example.org/case/CFItems/") for i in package["CFItems"])

    broken = make_app(CASE_URI_BASE="kbp.example.org").test_client()
    plugins = {p["name"]: p for p in broken.get("/api/v1/plugins").get_json()}
    assert plugins["export_case"]["state"] == "failed" and "CASE_URI_BASE" in plugins["export_case"]["reason"]
    assert plugins["moodle_csv"]["state"] == "active"


def test_exporters_are_listed_with_media_type_and_extension(client):
    listed = {e["id"]: e for e in client.get("/api/v1/exporters").get_json()}
    assert (listed["case"]["subject"], listed["case"]["media_type"], listed["case"]["extension"]) == (
        "framework", "application/json", "json")
    assert (listed["moodle-csv"]["subject"], listed["moodle-csv"]["media_type"], listed["moodle-csv"]["extension"]) == (
        "framework", "text/csv", "csv")


# ----------------------------------------------------------------------------- CASE import


def _natural(text):
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text or "")]


def expected_tree(package: dict) -> dict[str, tuple[str | None, int]]:
    """identifier -> (parent identifier or None for the document, 1-based position), from the raw JSON.

    Order: sequenceNumber; without one, after the numbered siblings in the natural order of the
    human coding scheme, then in file order.
    """
    doc = package["CFDocument"]["identifier"]
    items = {i["identifier"]: i for i in package["CFItems"]}
    parent, key = {}, {}
    for index, assoc in enumerate(package["CFAssociations"]):
        origin = assoc["originNodeURI"]["identifier"]
        if assoc["associationType"] != "isChildOf" or origin not in items or origin in parent:
            continue
        dest = assoc["destinationNodeURI"]["identifier"]
        parent[origin] = None if dest == doc else dest
        seq = assoc.get("sequenceNumber")
        code = items[origin].get("listEnumeration") or items[origin].get("humanCodingScheme") or ""
        key[origin] = (0, seq, [], index) if seq is not None else (1, 0, _natural(code), index)
    result = {}
    for p in set(parent.values()):
        siblings = sorted((i for i in parent if parent[i] == p), key=lambda i: key[i])
        for position, ident in enumerate(siblings, start=1):
            result[ident] = (p, position)
    assert set(result) == set(items), "every example item has a parent in its package"
    return result


def depth_first(tree: dict[str, tuple[str | None, int]], root: str | None) -> list[str]:
    kids = sorted((i for i in tree if tree[i][0] == root), key=lambda i: tree[i][1])
    out = []
    for kid in kids:
        out.append(kid)
        out.extend(depth_first(tree, kid))
    return out


def test_there_are_opensalt_examples_to_import():
    assert len(OPENSALT) >= 7 and any(p.name == "Ordering.json" for p in OPENSALT)


@pytest.mark.parametrize("path", OPENSALT, ids=[p.stem for p in OPENSALT])
def test_every_opensalt_example_imports_with_hierarchy_order_and_text(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    items = {i["identifier"]: i for i in raw["CFItems"]}
    imported = read_package(path)
    framework = imported.framework
    schemas.FrameworkSchema().load(framework)  # what the core accepts from kbp_frameworks

    tree = expected_tree(raw)
    assert {ident: (item.parent, item.position) for ident, item in imported.items.items()} == tree
    assert imported.case_version == ("1.0" if path.name == "Ordering.json" else "1.1")

    # two levels: top-level items with children are groups, their descendants depth-first the competencies
    top = sorted((i for i in tree if tree[i][0] is None), key=lambda i: tree[i][1])
    expected_groups = []
    loose = []
    for ident in top:
        below = depth_first(tree, ident)
        if below:
            expected_groups.append((ident, below))
        else:
            if not loose:
                expected_groups.append((None, loose))
            loose.append(ident)
    assert len(framework["groups"]) == len(expected_groups)
    for group, (group_item, members) in zip(framework["groups"], expected_groups):
        if group_item is None:
            assert group["name"] == raw["CFDocument"]["title"]
        else:
            assert group["id"] == group_item.lower()
            assert group["name"] in (items[group_item].get("abbreviatedStatement"), items[group_item]["fullStatement"])
        assert [c["id"] for c in group["competencies"]] == [m.lower() for m in members]
        for comp, ident in zip(group["competencies"], members):
            item = items[ident]
            # text exactly as written: the name is the abbreviated or the full statement, and the full
            # statement is kept (as the name or the definition)
            assert comp["name"] == (item.get("abbreviatedStatement") or item["fullStatement"])
            assert item["fullStatement"] in (comp["name"], comp["definition"])
    assert framework["name"] == raw["CFDocument"]["title"]


def test_opensalt_specifics():
    utf8 = read_package(INTEROP / "case" / "opensalt-examples" / "Utf8TestFramework.json").framework
    assert utf8["name"] == "UTF8 \U0001d451 Test" and utf8["id"] == "utf8-d-test"
    assert utf8["groups"][0]["competencies"][0]["name"] == "Item \U0001d451 1"

    sequence = read_package(INTEROP / "case" / "opensalt-examples" / "SequenceNumberFramework.json").framework
    assert [c["name"] for c in sequence["groups"][0]["competencies"]] == [
        "Second added item, but should be first", "First Added Item"]

    smart = read_package(INTEROP / "case" / "opensalt-examples" / "SmartLevelFramework.json").framework
    assert [(g["name"], [c["name"] for c in g["competencies"]]) for g in smart["groups"]] == [
        ("Item 1", [f"Item 1.{n}" for n in range(1, 11)]), ("Item 2", ["Item 2.1", "Item 2.2"])]

    ordering = read_package(INTEROP / "case" / "opensalt-examples" / "Ordering.json")
    level1 = next(i for i in ordering.items.values() if i.data.get("humanCodingScheme") == "H.A.MATH.GM.PF.2DFP.L1")
    codes = [ordering.items[c].data["humanCodingScheme"].rsplit(".", 1)[1] for c in level1.children]
    assert codes == sorted(codes, key=int) and codes[:3] == ["1", "2", "3"] and codes[-1] == "24"
    assert max(i.depth for i in ordering.items.values()) == 5
    markdown = read_package(INTEROP / "case" / "opensalt-examples" / "MarkdownFramework.json").framework
    table = next(c for c in markdown["groups"][0]["competencies"] if "_table_" in c["name"])
    assert "| Column 1 | Column 2 |\r\n| --- | --- |" in table["name"]


def _broken(tmp_path, name, change) -> Path:
    package = json.loads((INTEROP / "case" / "opensalt-examples" / name).read_text(encoding="utf-8"))
    change(package)
    target = tmp_path / f"broken-{name}"
    target.write_text(json.dumps(package), encoding="utf-8")
    return target


@pytest.mark.parametrize("name, change, where, what", [
    ("SequenceNumberFramework.json", lambda p: p["CFAssociations"][0].update(sequenceNumber="two"),
     "$.CFAssociations[0].sequenceNumber", "is not of type 'integer'"),
    ("SmartLevelFramework.json", lambda p: p["CFDocument"].pop("title"), "$.CFDocument", "'title' is a required property"),
    ("SmartLevelFramework.json", lambda p: p["CFItems"][2].update(identifier="item-three"),
     "$.CFItems[2].identifier", "is not a 'uuid'"),
    ("Utf8TestFramework.json", lambda p: p["CFAssociations"][0].update(associationType="childOf"),
     "$.CFAssociations[0].associationType", "childOf"),
    ("Ordering.json", lambda p: p["CFItems"][3].update(fullStatement=5), "$.CFItems[3].fullStatement",
     "is not of type 'string'"),
    ("Ordering.json", lambda p: p["CFAssociations"][1].pop("originNodeURI"), "$.CFAssociations[1]",
     "'originNodeURI' is a required property"),
])
def test_an_invalid_package_is_refused_with_the_json_path(tmp_path, name, change, where, what):
    broken = _broken(tmp_path, name, change)
    with pytest.raises(CaseImportError) as refused:
        read_package(broken)
    message = str(refused.value)
    assert message.startswith(f"{broken.name}: {where}: "), message
    assert what in message


def test_a_cycle_and_bad_json_are_refused(tmp_path):
    def cycle(p):  # Item 1 becomes a child of its own child Item 1.1
        p["CFAssociations"][0]["destinationNodeURI"] = dict(p["CFAssociations"][2]["originNodeURI"])

    with pytest.raises(CaseImportError, match=r"\$\.CFItems\[\d+\]: .*cycle"):
        read_package(_broken(tmp_path, "SmartLevelFramework.json", cycle))
    with pytest.raises(CaseImportError, match=r"^package: not valid JSON: .*line 1"):
        read_package(b'{"CFDocument": ')


def test_a_folder_of_packages_becomes_frameworks_and_a_bad_file_is_skipped(make_app, tmp_path, app_works):
    folder = tmp_path / "case-packages"
    folder.mkdir()
    for path in OPENSALT:
        shutil.copy(path, folder / path.name)
    shutil.copy(_broken(tmp_path, "SequenceNumberFramework.json",
                        lambda p: p["CFAssociations"][0].update(sequenceNumber="two")), folder / "zz-broken.json")
    client = make_app(CASE_IMPORT_DIR=str(folder)).test_client()
    app_works(client)
    listed = {fw["id"]: fw for fw in client.get("/api/v1/frameworks").get_json()}
    assert {"utf8-d-test", "smartlevel-test", "act-holistic-framework-math", "sequence-number-test"} <= set(listed)
    for lang in ("sv", "en"):  # no catalogs: shown exactly as written in every language
        utf8 = api_framework(client, "utf8-d-test", lang)
        assert utf8["name"] == "UTF8 \U0001d451 Test"
        assert utf8["groups"][0]["competencies"][0]["name"] == "Item \U0001d451 1"
    comp = api_framework(client, "act-holistic-framework-math", "en")["groups"][0]["competencies"][0]
    detail = client.get(f"/api/v1/frameworks/act-holistic-framework-math/competencies/{comp['id']}").get_json()
    assert detail["name"] == "Plane Figures"
    assert "zz-broken" not in " ".join(listed)
    assert len(import_case.problems()) == 1
    assert import_case.problems()[0].startswith("zz-broken.json: $.CFAssociations[0].sequenceNumber: ")
    plugins = {p["name"]: p for p in client.get("/api/v1/plugins").get_json()}
    assert plugins["import_case"]["state"] == "active"


def test_an_imported_case_framework_exports_with_its_own_identifiers(make_app, tmp_path, case_validator):
    folder = tmp_path / "case-packages"
    folder.mkdir()
    original = INTEROP / "case" / "opensalt-examples" / "SmartLevelFramework.json"
    shutil.copy(original, folder)
    client = make_app(CASE_IMPORT_DIR=str(folder)).test_client()
    package = export(client, "smartlevel-test", "case", "en").get_json()
    assert_valid_case(case_validator, package)
    raw = json.loads(original.read_text(encoding="utf-8"))
    assert {i["identifier"] for i in package["CFItems"]} == {i["identifier"] for i in raw["CFItems"]}
    assert tree_from_case(package) == [("Item 1", [f"Item 1.{n}" for n in range(1, 11)]), ("Item 2", ["Item 2.1", "Item 2.2"])]


def test_the_default_folder_and_a_missing_configured_folder(make_app, data_dir, tmp_path):
    (data_dir / "case-packages").mkdir(parents=True)
    shutil.copy(INTEROP / "case" / "opensalt-examples" / "Utf8TestFramework.json", data_dir / "case-packages")
    client = make_app().test_client()
    assert "utf8-d-test" in {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}
    broken = make_app(CASE_IMPORT_DIR=str(tmp_path / "nowhere")).test_client()
    plugin = {p["name"]: p for p in broken.get("/api/v1/plugins").get_json()}["import_case"]
    assert plugin["state"] == "failed" and "CASE_IMPORT_DIR" in plugin["reason"]


@pytest.mark.parametrize("framework_id, lang", [(SAMPLE, "en"), (SAMPLE, "sv"), (LINDELOW, "sv"), (LINDELOW, "en")])
def test_an_exported_framework_reimports_with_the_same_names_and_order(licensed_app, framework_id, lang):
    client = licensed_app.test_client()
    detail = api_framework(client, framework_id, lang)
    data = export(client, framework_id, "case", lang).get_data()
    if framework_id == LINDELOW:  # a licensed framework's export is refused as a free copy ...
        with pytest.raises(import_case.CaseImportError, match="licensed framework 'malin-lindelow'"):
            import_case.import_package(data, name=f"{framework_id}.json")
        package = json.loads(data)  # ... while its structure still round-trips (the core refuses this copy)
        package["CFDocument"]["extensions"]["kbp"]["licensed"] = False
        for licence in package["CFDefinitions"]["CFLicenses"]:
            licence["licenseText"] = licence["licenseText"].replace("\n\nkbp-licensed:malin-lindelow", "")
        package["CFDocument"]["notes"] = package["CFDocument"]["notes"].replace("kbp-licensed:", "")
        data = json.dumps(package).encode()
    again = import_case.import_package(data, name=f"{framework_id}.json")
    schemas.FrameworkSchema().load(again)
    assert again["name"] == detail["name"] and again["description"] == detail["description"]
    assert again["source_language"] == lang and again["licence_notice"] == detail["licence_notice"]
    assert [(g["id"], g["name"], g["description"]) for g in again["groups"]] == [
        (g["id"], g["name"], g["description"]) for g in detail["groups"]]
    assert [[(c["id"], c["name"], c["definition"]) for c in g["competencies"]] for g in again["groups"]] == [
        [(c["id"], c["name"], c["definition"]) for c in g["competencies"]] for g in detail["groups"]]


# ----------------------------------------------------------------------------- Moodle CSV


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_moodle_example_imports_as_one_framework_with_64_competencies_and_their_parents():
    raw = MOODLE_EXAMPLE.read_bytes()
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    frameworks = [r for r in rows if r["Is framework"] == "1"]
    competencies = [r for r in rows if r["Is framework"] != "1"]
    assert len(frameworks) == 1 and len(competencies) == 64

    parsed = csvformat.read_moodle_csv(raw, "example.csv")
    assert (parsed.idnumber, parsed.shortname) == ("OECD-CORE", "OECD")
    assert parsed.scale_values == "Not yet competent,Competent" and len(parsed.taxonomies) == 4
    assert len(parsed.competencies) == 64
    assert {r["Id number"]: r["Parent id number"] for r in competencies} == {
        c.idnumber: c.parent for c in parsed.competencies.values()}
    assert parsed.competencies["DR-AT1"].parent == "analytical-thinking"
    assert parsed.competencies["analytical-thinking"].parent == "delivery"
    assert parsed.competencies["delivery"].parent == "competencies"
    assert parsed.competencies["level-3"].parent == "levels"
    assert parsed.competencies["levels"].parent == ""
    level1 = next(r for r in competencies if r["Id number"] == "level-1")
    assert parsed.competencies["level-1"].related == level1["Cross referenced competency id numbers"].split(",")

    framework = csvformat.import_moodle_csv(raw, "example.csv")
    schemas.FrameworkSchema().load(framework)
    assert (framework["id"], framework["name"]) == ("oecd-core", "OECD")
    assert framework["description"].startswith("The Core Competencies summarise")
    # Moodle's top-level competencies with children are KBP's groups, the rest depth-first below them
    assert [g["name"] for g in framework["groups"]] == ["Levels", "Competencies"]
    kbp_items = [g["id"] for g in framework["groups"]] + [c["id"] for g in framework["groups"] for c in g["competencies"]]
    assert len(kbp_items) == len(set(kbp_items)) == 64
    by_id = {r["Id number"].lower(): r for r in competencies}
    parent_of = {r["Id number"]: r["Parent id number"] for r in competencies}

    def root(idnumber):
        while parent_of[idnumber]:
            idnumber = parent_of[idnumber]
        return idnumber

    for group in framework["groups"]:
        for comp in group["competencies"]:
            row = by_id[comp["id"]]
            assert comp["name"] == row["Shortname"].strip()  # id numbers and short names are trimmed
            assert root(row["Id number"]).lower() == group["id"]
    order = [c["id"] for c in framework["groups"][1]["competencies"]]
    assert order[:4] == ["delivery", "analytical-thinking", "dr-at1", "dr-at-2"]
    analytical = next(c for c in framework["groups"][1]["competencies"] if c["id"] == "analytical-thinking")
    assert analytical["definition"] == ("Analytical Thinking is the ability to identify patterns across situations that "
                                        "are not obviously related, and to identify key or underlying issues in complex "
                                        "situations.")


def test_moodle_export_header_is_moodles_exactly(client):
    ours = export(client, SAMPLE, "moodle-csv", "en")
    assert ours.mimetype == "text/csv"
    assert ours.headers["Content-Disposition"] == f'attachment; filename="{SAMPLE}.csv"'
    theirs = MOODLE_EXAMPLE.read_bytes()
    assert read_csv(ours.get_data())[0] == read_csv(theirs)[0]
    assert ours.get_data().split(b"\n")[0] == theirs.split(b"\n")[0]  # even the quoting


@pytest.mark.parametrize("framework_id, lang", [(SAMPLE, "sv"), (LINDELOW, "en")])
def test_moodle_export_follows_moodles_column_rules(licensed_app, framework_id, lang):
    client = licensed_app.test_client()
    detail = api_framework(client, framework_id, lang)
    rows = read_csv(export(client, framework_id, "moodle-csv", lang).get_data())
    header, framework_row, *competency_rows = rows
    assert all(len(r) == 14 for r in rows)
    col = {name: i for i, name in enumerate(header)}
    assert framework_row[col["Is framework"]] == "1" and framework_row[col["Parent id number"]] == ""
    # a licensed framework's id number is the marker importers refuse
    idnumber = f"kbp-licensed:{framework_id}" if framework_id == LINDELOW else framework_id
    assert (framework_row[col["Id number"]], framework_row[col["Shortname"]]) == (idnumber, detail["name"])
    assert framework_row[col["Scale values"]].split(",") == ["Not yet competent", "Competent"]
    scale = json.loads(framework_row[col["Scale configuration"]])
    assert "scaleid" in scale[0] and scale[1]["proficient"] == 1
    taxonomy = framework_row[col["Taxonomy"]].split(",")
    assert len(taxonomy) == 2 and set(taxonomy) <= set(csvformat.TAXONOMY_TERMS)
    if detail["licence_notice"]:
        assert html.escape(detail["licence_notice"], quote=False) in framework_row[col["Description"]]

    expected = []
    for group in detail["groups"]:
        expected.append(("", group["id"], group["name"], group["description"]))
        expected.extend((group["id"], c["id"], c["name"], c["definition"]) for c in group["competencies"])
    got = [(r[col["Parent id number"]], r[col["Id number"]], r[col["Shortname"]], r[col["Description"]])
           for r in competency_rows]
    assert got == [(p, i, n, f"<p>{html.escape(d, quote=False)}</p>" if d else "") for p, i, n, d in expected]
    for r in competency_rows:
        assert r[col["Is framework"]] == "" and r[col["Description format"]] == "1"
        assert r[col["Rule config (optional)"]] == "null" and r[col["Taxonomy"]] == ""
    assert [int(r[col["Exported id (optional)"]]) for r in competency_rows] == list(range(1, len(competency_rows) + 1))


def test_cross_references_escape_commas_in_id_numbers():
    assert csvformat.related_field(["A,1", "B", "C,2,3"]) == "A%2C1,B,C%2C2%2C3"
    assert csvformat.parse_related("A%2C1,B,C%2C2%2C3") == ["A,1", "B", "C,2,3"]
    rows = [list(csvformat.HEADER),
            ["", "FW", "Framework", "", "1", "A,B", '[{"scaleid":"1"}]', "", "", "", "", "", "1", "competency"],
            ["", "x,1", "X", "<p>Ett &amp; två</p>", "1", "", "", "", "0", "null", "y", "1", "", ""],
            ["", "y", "Y", "", "1", "", "", "", "0", "null", csvformat.related_field(["x,1"]), "2", "", ""]]
    data = csvformat.write_csv(rows)
    assert read_csv(data) == [[str(v) for v in r] for r in rows]
    parsed = csvformat.read_moodle_csv(data, "related.csv")
    assert parsed.competencies["y"].related == ["x,1"] and parsed.competencies["x,1"].text == "Ett & två"


@pytest.mark.parametrize("framework_id, lang", [(SAMPLE, "en"), (SAMPLE, "sv"), (LINDELOW, "sv")])
def test_moodle_export_import_round_trip(licensed_app, framework_id, lang):
    client = licensed_app.test_client()
    detail = api_framework(client, framework_id, lang)
    data = export(client, framework_id, "moodle-csv", lang).get_data()
    if framework_id == LINDELOW:  # refused by its marker; the structure still round-trips without it
        with pytest.raises(csvformat.MoodleCsvError, match="licensed framework 'malin-lindelow'"):
            csvformat.read_moodle_csv(data, f"{framework_id}.csv")
        data = data.replace(b"kbp-licensed:", b"")
    parsed = csvformat.read_moodle_csv(data, f"{framework_id}.csv")
    again = csvformat.import_moodle_csv(data, f"{framework_id}.csv", source_language=lang)
    schemas.FrameworkSchema().load(again)
    assert (again["id"], again["name"]) == (framework_id, detail["name"])
    # parents: every competency row hangs under its group's row
    for group in detail["groups"]:
        assert parsed.competencies[group["id"]].parent == ""
        assert parsed.competencies[group["id"]].children == [c["id"] for c in group["competencies"]]
    assert [(g["id"], g["name"], g["description"]) for g in again["groups"]] == [
        (g["id"], g["name"], g["description"]) for g in detail["groups"]]
    assert [[(c["id"], c["name"], c["definition"]) for c in g["competencies"]] for g in again["groups"]] == [
        [(c["id"], c["name"], c["definition"]) for c in g["competencies"]] for g in detail["groups"]]


def test_moodle_text_conversion_round_trips():
    text = "Första stycket med <taggar> & tecken.\nEn ny rad.\n\nAndra stycket."
    markup = csvformat.text_to_html(text)
    assert markup == "<p>Första stycket med &lt;taggar&gt; &amp; tecken.<br>En ny rad.</p><p>Andra stycket.</p>"
    assert csvformat.html_to_text(markup) == text


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows[0].__delitem__(13), r"^bad\.csv: row 1: the header lacks Moodle's column\(s\) Taxonomy; a Moodle framework CSV has all 14"),
    (lambda rows: rows[3].__setitem__(0, "no-such-parent"),
     r"^bad\.csv: row \d+, column 'Parent ID number': no competency has the id number 'no-such-parent'"),
    (lambda rows: rows[4].__setitem__(1, "levels"), r"^bad\.csv: row \d+, column 'ID number': 'levels' is also"),
    (lambda rows: rows[1].__setitem__(12, ""), r"^bad\.csv: no framework row"),
    (lambda rows: rows[2].__setitem__(0, "level-1"), r"^bad\.csv: row \d+, column 'Parent ID number': .*cycle"),
])
def test_an_invalid_moodle_csv_is_refused_with_row_and_column(change, message):
    rows = read_csv(MOODLE_EXAMPLE.read_bytes())
    change(rows)
    with pytest.raises(csvformat.MoodleCsvError, match=message):
        csvformat.read_moodle_csv(csvformat.write_csv(rows), "bad.csv")


def test_a_folder_of_moodle_files_becomes_frameworks(make_app, tmp_path, app_works):
    folder = tmp_path / "moodle"
    folder.mkdir()
    shutil.copy(MOODLE_EXAMPLE, folder / "oecd.csv")
    (folder / "broken.csv").write_text("not,a,moodle,file\n", encoding="utf-8")
    client = make_app(MOODLE_IMPORT_DIR=str(folder)).test_client()
    app_works(client)
    oecd = api_framework(client, "oecd-core", "sv")
    assert oecd["name"] == "OECD" and oecd["plugin"] == "moodle_csv_import"
    assert len(oecd["groups"]) + sum(len(g["competencies"]) for g in oecd["groups"]) == 64
    assert moodle_source.problems() == [moodle_source.problems()[0]]
    assert moodle_source.problems()[0].startswith("broken.csv: row 1: the header must be")
    # the exporter is a plugin of its own and keeps working
    assert export(client, "oecd-core", "moodle-csv", "en").status_code == 200


def test_export_of_a_licensed_framework_cannot_be_imported_as_a_free_copy(tmp_path):
    import json as _json

    from plugins.import_case.reader import CaseImportError, import_package

    package = _json.loads((Path(__file__).resolve().parent.parent.parent / "shared/interop/case/opensalt-examples/Utf8TestFramework.json").read_text())
    package["CFDocument"]["extensions"] = {"kbp": {"licensed": True}}
    with pytest.raises(CaseImportError, match="licensed"):
        import_package(package, name="copy.json")
