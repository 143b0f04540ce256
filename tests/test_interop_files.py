"""Interchange with the files other systems really write (issue 16).

Real third-party files live in ``tests/fixtures/interop/`` (source, commit and licence in its
README) and ``../shared/interop/``; every broken, localised or re-encoded variant is derived here in
code. Covered: Moodle CSV as Moodle writes it (header sets, delimiters, encodings, HTML in short
names), CASE 1.0 detection and OpenSALT's repairs, licensed content that must not be laundered
through the import folders, one bad or clashing file failing only itself, and round trips
(import → export → import) that keep ids, order and texts.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from jsonschema import Draft201909Validator

import frameworks.malin_lindelow as lindelow
from core import imports
from core.licensing import generate_keypair, issue_licence
from plugins import import_case
from plugins.import_case.reader import CaseImportError, case_version, read_package
from plugins.moodle_csv import csvformat
from plugins.moodle_csv import source as moodle_source
from tests.conftest import ROOT

INTEROP = ROOT.parent / "shared" / "interop"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "interop"
CASE_SCHEMA = INTEROP / "case" / "case-v1p1-cfpackage.schema.json"
OPENSALT = sorted((INTEROP / "case" / "opensalt-examples").glob("*.json"))
WHAT_STANDARDS = FIXTURES / "case" / "WhatStandardsCouldBe.json"
EMPTY = FIXTURES / "case" / "EmptyExternalFramework.json"
COMMON_CORE = FIXTURES / "case" / "math_cfs_sample.json"
MOODLE_EXAMPLE = INTEROP / "moodle" / "example.csv"
LINDELOW = "malin-lindelow"
SAMPLE = "kbp-sample"

pytestmark = pytest.mark.skipif(not CASE_SCHEMA.is_file(), reason=f"interop test data not found in {INTEROP}")


@pytest.fixture(scope="module")
def case_validator():
    schema = json.loads(CASE_SCHEMA.read_text(encoding="utf-8"))
    return Draft201909Validator(schema, format_checker=Draft201909Validator.FORMAT_CHECKER)


@pytest.fixture
def licensed_app(make_app, tmp_path, monkeypatch):
    """An app factory whose Lindelöw framework has a valid (test) licence."""
    private, public = generate_keypair()
    keys_file = tmp_path / "trusted_keys.json"
    keys_file.write_text(json.dumps({"keys": [{"key_id": "interop-files-1", "public_key": public}]}))
    monkeypatch.setattr(lindelow, "TRUSTED_KEYS_FILE", keys_file)
    licence = issue_licence(private, key_id="interop-files-1", licensee="Interop test", product="malin_lindelow",
                            expires=date.today() + timedelta(days=30), issued=date.today() - timedelta(days=1))

    def factory(**config):
        app = make_app(**config)
        registry = app.extensions["kbp"].registry
        assert registry.entitlements.install(registry.frameworks[LINDELOW], licence).ok
        return app

    return factory


def export(client, framework_id: str, exporter: str, lang: str) -> bytes:
    response = client.get(f"/api/v1/frameworks/{framework_id}/export/{exporter}?lang={lang}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data()


def api_framework(client, framework_id: str, lang: str = "en") -> dict:
    response = client.get(f"/api/v1/frameworks/{framework_id}?lang={lang}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def outline(framework: dict) -> list:
    """Everything a round trip must keep: ids, order and texts of groups and competencies."""
    return [(g["id"], g["name"], g.get("description") or "",
             [(c["id"], c["name"], c["definition"]) for c in g["competencies"]]) for g in framework["groups"]]


def tree(framework: dict) -> list:
    """The nesting a round trip must keep: per group, each competency's parent and whether it is a heading."""
    return [(g["id"], [(c["id"], c.get("parent", ""), c.get("selectable", True), c.get("related", []),
                        c.get("levels", [])) for c in g["competencies"]]) for g in framework["groups"]]


def depth(framework: dict) -> int:
    """Levels below the document: the group, then competencies by their parents."""
    deepest = 0
    for g in framework["groups"]:
        level: dict[str, int] = {}
        for c in g["competencies"]:
            level[c["id"]] = level[c["parent"]] + 1 if c.get("parent") else 1
            deepest = max(deepest, 1 + level[c["id"]])
    return deepest


def codes(framework: dict) -> list:
    return [(g.get("code", ""), [c.get("code", "") for c in g["competencies"]]) for g in framework["groups"]]


def plugin_row(client, name: str) -> dict:
    return {p["name"]: p for p in client.get("/api/v1/plugins").get_json()}[name]


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def example_rows() -> list[list[str]]:
    return rows_of(MOODLE_EXAMPLE.read_bytes())


def to_csv(rows, delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


# ----------------------------------------------------------------------------- real CASE files


def test_opensalt_what_standards_could_be_imports_exactly():
    """A CASE 1.0 package as OpenSALT's server exported it in 2017 (bare CFPackageURI, string sequence numbers)."""
    imported = read_package(WHAT_STANDARDS)
    assert imported.case_version == "1.0"
    assert (len(imported.items), imported.depth) == (16, 3)
    framework = imported.framework
    assert (framework["id"], framework["name"]) == ("what-standards-could-be", "What Standards Could Be")
    assert [(g["id"], len(g["competencies"])) for g in framework["groups"]] == [
        ("edfce0e7-dbbf-40d5-af1a-baccabef85e9", 7), ("ddcf67a6-abf2-4df1-8d95-8752d65f0ec2", 7)]
    first = framework["groups"][0]["competencies"]
    assert first[0]["name"].startswith("Understand the concept of a ratio and use ratio language")
    # depth-first: the standard 6.RP.A.3 comes before its four components
    raw = {i["identifier"]: i for i in json.loads(WHAT_STANDARDS.read_text(encoding="utf-8"))["CFItems"]}
    codes = [raw[c["id"]]["humanCodingScheme"].replace("CCSS.Math.Content.", "") for c in first]
    assert codes == ["6.RP.A.1", "6.RP.A.2", "6.RP.A.3", "6.RP.A.3a", "6.RP.A.3b", "6.RP.A.3c", "6.RP.A.3d"]


def test_opensalt_common_core_mathematics_keeps_its_five_levels():
    """OpenSALT's Common Core State Standards for Mathematics (703 items): domain → cluster → standard → part."""
    imported = read_package(COMMON_CORE)
    assert (imported.case_version, len(imported.items), imported.depth) == ("1.0", 703, 5)
    framework = imported.framework
    assert (framework["id"], framework["name"]) == ("common-core-state-standards-for-mathematics",
                                                    "Common Core State Standards for Mathematics")
    # per domain (a group): competencies, and how many of them are headings (items with items under them)
    assert [(g["name"], len(g["competencies"]), sum(1 for c in g["competencies"] if not c["selectable"]))
            for g in framework["groups"]] == [
        ("Standards for Mathematical Practice", 8, 0), ("Counting and Cardinality", 13, 4),
        ("Operations and Algebraic Thinking", 51, 17), ("Number and Operations in Base Ten", 50, 14),
        ("Measurement and Data", 69, 24), ("Geometry", 57, 15), ("Number and Operations—Fractions", 43, 13),
        ("Ratios and Proportional Relationships", 16, 4), ("The Number System", 33, 9),
        ("Expressions and Equations", 39, 12), ("Statistics and Probability", 32, 9), ("Functions", 7, 2),
        ("High School — Number and Quantity", 45, 15), ("High School — Algebra", 49, 18),
        ("High School — Functions", 59, 19), ("High School — Geometry", 66, 22),
        ("High School — Statistics and Probability", 49, 15)]
    assert sum(len(g["competencies"]) for g in framework["groups"]) + len(framework["groups"]) == 703
    assert depth(framework) == 5
    # "Represent and interpret data." is five clusters (grades 1–5), no longer five look-alike entries of one
    # flat list: each a heading with its own code and education level and its own standards under it
    data = framework["groups"][4]["competencies"]
    clusters = [c for c in data if c["name"] == "Represent and interpret data."]
    assert [(c["code"], c["levels"], c["selectable"], sum(1 for x in data if x["parent"] == c["id"]))
            for c in clusters] == [("CCSS.Math.Content.1.MD.C", ["01"], False, 1),
                                   ("CCSS.Math.Content.2.MD.D", ["02"], False, 2),
                                   ("CCSS.Math.Content.3.MD.B", ["03"], False, 2),
                                   ("CCSS.Math.Content.4.MD.B", ["04"], False, 1),
                                   ("CCSS.Math.Content.5.MD.B", ["05"], False, 1)]
    assert imported.notices == [
        "math_cfs_sample.json: $.CFItems[*].CFItemType: ignored: the CFItemType of 697 items",
        "math_cfs_sample.json: $.CFItems[*].educationLevel: ignored: the education level of 17 top-level items "
        "that became groups"]


@pytest.mark.parametrize("name, groups, depth, version", [
    ("AdoptedTestFramework.json", [1], 1, "1.1"),
    ("ItemTypeTestFramework.json", [1], 1, "1.1"),
    ("MarkdownFramework.json", [2], 1, "1.1"),
    ("Ordering.json", [27], 5, "1.0"),
    ("SequenceNumberFramework.json", [2], 1, "1.1"),
    ("SmartLevelFramework.json", [10, 2], 2, "1.1"),
    ("Utf8TestFramework.json", [1], 1, "1.1"),
])
def test_every_shared_opensalt_file_has_its_exact_counts_and_depth(name, groups, depth, version):
    imported = read_package(INTEROP / "case" / "opensalt-examples" / name)
    assert [len(g["competencies"]) for g in imported.framework["groups"]] == groups
    assert (imported.depth, imported.case_version) == (depth, version)
    assert len(imported.items) == sum(groups) + sum(1 for _ in groups if depth > 1)


def test_the_import_reports_every_repair_and_what_it_ignored():
    notices = read_package(WHAT_STANDARDS).notices
    assert notices == [
        "WhatStandardsCouldBe.json: $.CFAssociations[15].sequenceNumber: repaired: the number was written as "
        "the text '1'; read as 1",
        "WhatStandardsCouldBe.json: $.CFAssociations[31].sequenceNumber: repaired: the number was written as "
        "the text '2'; read as 2",
        "WhatStandardsCouldBe.json: $.CFAssociations: ignored: associations other than isChildOf that do not "
        "link two competencies of the package (16 exactMatchOf, 2 exemplar, 2 isRelatedTo, 1 precedes)",
        "WhatStandardsCouldBe.json: $.CFItems[*].CFItemType: ignored: the CFItemType of 16 items",
        "WhatStandardsCouldBe.json: $.CFItems[*].educationLevel: ignored: the education level of 2 top-level items "
        "that became groups",
    ]


def test_every_other_case_refusal_names_the_file_and_json_path():
    """Derived from OpenSALT's 2017 package: a repeated identifier, an item that is its own parent,
    a file that is not UTF-8, and a cycle (the messages the import page and /plugins show)."""
    package = json.loads(WHAT_STANDARDS.read_text(encoding="utf-8"))
    twice = json.loads(json.dumps(package))
    twice["CFItems"][5]["identifier"] = twice["CFItems"][2]["identifier"]
    with pytest.raises(CaseImportError) as refused:
        read_package(twice, name="twice.json")
    assert str(refused.value) == (f"twice.json: $.CFItems[5].identifier: '{package['CFItems'][2]['identifier']}' "
                                  "is used by another item too")
    own = json.loads(json.dumps(package))
    index, link = next((i, a) for i, a in enumerate(own["CFAssociations"]) if a["associationType"] == "isChildOf"
                       and a["destinationNodeURI"]["identifier"] != own["CFDocument"]["identifier"])
    link["destinationNodeURI"] = dict(link["originNodeURI"])
    with pytest.raises(CaseImportError) as refused:
        read_package(own, name="own.json")
    assert str(refused.value) == (f"own.json: $.CFAssociations[{index}]: item "
                                  f"'{link['originNodeURI']['identifier']}' is its own parent")
    with pytest.raises(CaseImportError) as refused:
        read_package(WHAT_STANDARDS.read_text(encoding="utf-8").encode("utf-16"), name="utf16.json")
    assert str(refused.value) == "utf16.json: not UTF-8 text (invalid start byte at byte 0)"
    with pytest.raises(CaseImportError) as refused:
        read_package(b"\xef\xbb\xbf" + WHAT_STANDARDS.read_bytes()[:40], name="cut.json")
    assert str(refused.value).startswith("cut.json: not valid JSON: ")


def test_the_moodle_example_has_its_exact_counts_and_depth():
    """Moodle's OECD fixture: 64 competencies in 4 levels become 2 groups (Levels, Competencies)."""
    parsed = csvformat.read_moodle_csv(MOODLE_EXAMPLE.read_bytes(), "example.csv")
    assert (len(parsed.competencies), parsed.depth, len(parsed.top)) == (64, 4, 2)
    framework = csvformat.to_framework(parsed)
    assert [(g["name"], len(g["competencies"]), sum(1 for c in g["competencies"] if not c["selectable"]))
            for g in framework["groups"]] == [("Levels", 5, 0), ("Competencies", 57, 18)]  # checked with csv alone
    assert depth(framework) == 4


def test_a_package_without_items_is_refused():
    with pytest.raises(CaseImportError) as refused:
        read_package(EMPTY)
    assert str(refused.value) == ("EmptyExternalFramework.json: $.CFItems: the package has no items, "
                                  "so there is nothing to import")


@pytest.mark.parametrize("path", [WHAT_STANDARDS, INTEROP / "case" / "opensalt-examples" / "Ordering.json"],
                         ids=["what-standards", "ordering"])
def test_case_1_0_without_the_optional_package_uri_is_read_as_1_0(path):
    package = json.loads(path.read_text(encoding="utf-8"))
    package["CFDocument"].pop("CFPackageURI")
    assert case_version(package) == "1.0"  # CFDocumentURI on items is a 1.0-only field
    with_uri = read_package(path)
    without = read_package(package, name=path.name)
    assert without.case_version == "1.0"
    assert without.framework == with_uri.framework


def test_a_1_1_package_without_a_version_is_still_held_to_the_official_schema():
    package = json.loads((INTEROP / "case" / "opensalt-examples" / "SmartLevelFramework.json").read_text())
    package["CFItems"][2]["identifier"] = "item-three"
    with pytest.raises(CaseImportError, match=r"\$\.CFItems\[2\]\.identifier: 'item-three' is not a 'uuid'"):
        read_package(package, name="smart.json")


@pytest.mark.parametrize("source, expected", [("abbreviatedStatement", "Short one"), ("humanCodingScheme", "A.1")])
def test_a_missing_full_statement_is_repaired_with_a_warning(source, expected):
    package = json.loads((INTEROP / "case" / "opensalt-examples" / "SmartLevelFramework.json").read_text())
    item = package["CFItems"][3]
    item.pop("fullStatement")
    item.pop("abbreviatedStatement", None)
    item[source] = expected
    if source == "humanCodingScheme":
        item.pop("abbreviatedStatement", None)
    imported = read_package(package, name="smart.json")
    assert (f"smart.json: $.CFItems[3].fullStatement: repaired: missing, taken from {source} '{expected}'"
            in imported.notices)
    names = [c["name"] for g in imported.framework["groups"] for c in g["competencies"]]
    assert expected in names


def test_a_full_statement_that_cannot_be_repaired_is_refused():
    package = json.loads((INTEROP / "case" / "opensalt-examples" / "SmartLevelFramework.json").read_text())
    for key in ("fullStatement", "abbreviatedStatement", "humanCodingScheme"):
        package["CFItems"][3].pop(key, None)
    with pytest.raises(CaseImportError, match=r"^smart\.json: \$\.CFItems\[3\]: 'fullStatement' is a required property"):
        read_package(package, name="smart.json")


def test_a_sequence_number_that_is_not_a_number_is_still_refused():
    package = json.loads((INTEROP / "case" / "opensalt-examples" / "SequenceNumberFramework.json").read_text())
    package["CFAssociations"][0]["sequenceNumber"] = "two"
    with pytest.raises(CaseImportError, match=r"\$\.CFAssociations\[0\]\.sequenceNumber: 'two' is not of type 'integer'"):
        read_package(package, name="seq.json")


# ----------------------------------------------------------------------------- Moodle CSV as Moodle writes it


def test_the_current_english_header_is_recognised():
    rows = example_rows()
    rows[0] = list(csvformat.HEADER_CURRENT)
    parsed = csvformat.read_moodle_csv(to_csv(rows).encode(), "current.csv")
    assert parsed.header == "English (current Moodle)"
    assert len(parsed.competencies) == 64 and parsed.depth == 4
    assert not [n for n in parsed.notices if "header" in n]


@pytest.mark.parametrize("label, header", [
    ("Swedish", csvformat.HEADER_SWEDISH), ("French", csvformat.HEADER_FRENCH), ("German", csvformat.HEADER_GERMAN),
], ids=["sv", "fr", "de"])
def test_a_localised_header_is_recognised_by_its_names(label, header):
    rows = example_rows()
    rows[0] = list(header)
    parsed = csvformat.read_moodle_csv(to_csv(rows).encode(), "lokal.csv")
    assert parsed.header == label
    assert not [n for n in parsed.notices if "header" in n or "row 1" in n]
    reference = csvformat.import_moodle_csv(MOODLE_EXAMPLE.read_bytes(), "example.csv")
    assert csvformat.to_framework(parsed) == reference


def test_header_names_are_compared_without_case_remarks_or_punctuation():
    """Language packs change over the years: "(optional)" dropped, hyphens, capitals."""
    rows = example_rows()
    rows[0] = ["parent id-number", "ID NUMBER", "Short name", "description", "Description format", "Scale values",
               "Scale configuration", "Rule type", "Rule outcome", "Rule config", "Cross-referenced competency ID numbers",
               "Exported ID", "Is framework", "Taxonomy"]
    parsed = csvformat.read_moodle_csv(to_csv(rows).encode(), "varianter.csv")
    assert parsed.header == "English (current Moodle)" and len(parsed.competencies) == 64
    assert not [n for n in parsed.notices if "row 1" in n]


def test_columns_in_another_order_are_read_by_their_names():
    rows = example_rows()
    order = [2, 1, 0, *range(3, 14)]  # Short name first, as a spreadsheet user might move it
    moved = [[row[i] if i < len(row) else "" for i in order] for row in rows]
    moved[0] = [csvformat.HEADER_SWEDISH[i] for i in order]
    parsed = csvformat.read_moodle_csv(to_csv(moved).encode(), "flyttad.csv")
    assert parsed.header == "Swedish"
    assert parsed.notices[0] == "flyttad.csv: row 1: the columns are not in Moodle's order; read by their names"
    assert csvformat.to_framework(parsed) == csvformat.import_moodle_csv(MOODLE_EXAMPLE.read_bytes(), "example.csv")


def test_an_unknown_language_is_read_by_position_with_a_notice():
    rows = example_rows()
    header = ["Yläkompetenssin tunnus", "Tunnus", "Lyhyt nimi", *csvformat.HEADER_CURRENT[3:]]  # Finnish-like
    rows[0] = header
    parsed = csvformat.read_moodle_csv(to_csv(rows).encode(), "lokal.csv")
    assert parsed.header == "by position"
    assert parsed.notices[0] == (
        "lokal.csv: row 1: header not recognised (column 1 (Yläkompetenssin tunnus), 2 (Tunnus), 3 (Lyhyt nimi)); "
        f"read by Moodle's column order ({', '.join(csvformat.HEADER_CURRENT)}), as Moodle's own importer does")
    reference = csvformat.import_moodle_csv(MOODLE_EXAMPLE.read_bytes(), "example.csv")
    assert csvformat.to_framework(parsed) == reference


def test_a_recognised_header_with_a_column_twice_or_missing_is_refused():
    twice = list(csvformat.HEADER_FRENCH)
    twice[4] = "Nom abrégé"
    with pytest.raises(csvformat.MoodleCsvError) as refused:
        csvformat.read_moodle_csv(to_csv([twice]).encode(), "double.csv")
    assert str(refused.value) == ("double.csv: row 1: the columns 3 (Nom abrégé) and 5 (Nom abrégé) are both "
                                  "'Short name'; keep one of them")
    short = list(csvformat.HEADER_GERMAN[:13])
    with pytest.raises(csvformat.MoodleCsvError) as refused:
        csvformat.read_moodle_csv(to_csv([short]).encode(), "kurz.csv")
    assert str(refused.value).startswith("kurz.csv: row 1: the header lacks Moodle's column(s) Taxonomy; a Moodle "
                                         "framework CSV has all 14: Parent ID number, ")


def test_a_header_that_is_not_moodles_is_refused():
    with pytest.raises(csvformat.MoodleCsvError) as refused:
        csvformat.read_moodle_csv(b"name,email\nAda,ada@example.org\n", "people.csv")
    assert str(refused.value).startswith(
        "people.csv: row 1: the header must be Moodle's 14 columns (Parent ID number, ID number, Short name, ")
    assert str(refused.value).endswith("; in any language); found 2: name, email")


@pytest.mark.parametrize("delimiter, named", [(";", "semicolon"), ("\t", "tab"), (":", "colon")])
def test_the_delimiter_is_detected(delimiter, named):
    rows = example_rows()
    parsed = csvformat.read_moodle_csv(to_csv(rows, delimiter).encode(), "delim.csv")
    assert len(parsed.competencies) == 64
    assert f"delim.csv: the delimiter is a {named}" in parsed.notices
    assert csvformat.to_framework(parsed) == csvformat.import_moodle_csv(MOODLE_EXAMPLE.read_bytes(), "example.csv")


def test_utf8_with_a_byte_order_mark_is_read_without_a_notice():
    parsed = csvformat.read_moodle_csv(b"\xef\xbb\xbf" + MOODLE_EXAMPLE.read_bytes(), "bom.csv")
    assert parsed.header == "English (Moodle 3.1, 2016)" and len(parsed.competencies) == 64
    assert not [n for n in parsed.notices if "Windows-1252" in n or "header" in n]


def test_windows_1252_is_read_with_a_notice():
    rows = example_rows()
    rows[2][2] = "Analytiskt tänkande – “nyckelfrågor”"  # ä, en dash and curly quotes exist in cp1252
    data = to_csv(rows).encode("cp1252", errors="replace")
    parsed = csvformat.read_moodle_csv(data, "ansi.csv")
    assert parsed.competencies[rows[2][1]].shortname == "Analytiskt tänkande – “nyckelfrågor”"
    assert parsed.notices[0].startswith("ansi.csv: not UTF-8 (byte ")
    assert parsed.notices[0].endswith("); read as Windows-1252 — check accented letters, or save the file as UTF-8")


def test_a_file_that_is_neither_utf8_nor_windows_1252_is_refused():
    with pytest.raises(csvformat.MoodleCsvError) as refused:
        csvformat.read_moodle_csv(MOODLE_EXAMPLE.read_bytes() + b"\x81\x8d", "binary.csv")
    assert str(refused.value).startswith("binary.csv: not UTF-8 text (invalid start byte at byte ")
    assert str(refused.value).endswith(") and not Windows-1252 either; save the file as UTF-8")


def test_html_in_short_names_is_stripped_and_long_names_capped_as_moodle_does():
    rows = example_rows()
    rows[2][2] = "<b>Delivery</b> &amp; <i>results</i>"
    long_name = " ".join(["competency"] * 15)  # 164 characters
    rows[3][2] = long_name
    parsed = csvformat.read_moodle_csv(to_csv(rows).encode(), "names.csv")
    assert parsed.competencies[rows[2][1]].shortname == "Delivery & results"
    capped = parsed.competencies[rows[3][1]].shortname
    assert len(capped) <= 100 and capped.endswith("competency...") and capped == " ".join(["competency"] * 8) + "..."
    html_row, long_row = parsed.competencies[rows[2][1]].row, parsed.competencies[rows[3][1]].row
    assert f"names.csv: row {html_row}, column 'Short name': HTML removed, as Moodle does" in parsed.notices
    assert (f"names.csv: row {long_row}, column 'Short name': shortened to 100 characters, as Moodle does"
            in parsed.notices)


def test_the_moodle_import_lists_what_it_ignored():
    parsed = csvformat.read_moodle_csv(MOODLE_EXAMPLE.read_bytes(), "example.csv")
    assert parsed.notices == ["example.csv: ignored: the framework's scale, taxonomy terms (4)"]


def test_descriptions_keep_their_white_space_through_export_and_import():
    texts = ["Två  mellanslag och\ttabb.", "  Inledande och avslutande  ", "Rad ett\n\n\nefter två tomma rader",
             "Slutar med radbrytning\n", "10\u00a0000 kronor, hårt mellanslag", "Windows\r\nradslut"]
    document = {"id": "ws", "name": "Vitt", "description": "Ramverk  med\n\n\nluft", "groups": [
        {"id": "g", "name": "Grupp", "description": " inledande", "competencies": [
            {"id": f"c{i}", "name": f"K {i}", "definition": text} for i, text in enumerate(texts)]}]}
    again = csvformat.import_moodle_csv(csvformat.write_csv(csvformat.framework_rows(document)), "ws.csv")
    assert again["description"] == document["description"]
    assert again["groups"][0]["description"] == " inledande"
    assert [c["definition"] for c in again["groups"][0]["competencies"]] == texts


# ----------------------------------------------------------------------------- licensed content


def test_exports_of_the_licensed_framework_carry_the_notice_and_the_marker(licensed_app, case_validator):
    client = licensed_app().test_client()
    for lang in ("sv", "en"):
        notice = api_framework(client, LINDELOW, lang)["licence_notice"]
        package = json.loads(export(client, LINDELOW, "case", lang))
        assert not list(case_validator.iter_errors(package))
        licence = package["CFDefinitions"]["CFLicenses"][0]
        assert package["CFDocument"]["licenseURI"]["identifier"] == licence["identifier"]
        assert licence["licenseText"] == f"{notice}\n\nkbp-licensed:{LINDELOW}"
        rows = rows_of(export(client, LINDELOW, "moodle-csv", lang))
        assert rows[1][1] == f"kbp-licensed:{LINDELOW}"  # the framework's id number
        assert f"kbp-licensed:{LINDELOW}" in rows[1][3] and csvformat.text_to_html(notice) in rows[1][3]
    # an open framework carries no marker
    assert b"kbp-licensed" not in export(client, SAMPLE, "case", "en") + export(client, SAMPLE, "moodle-csv", "en")


def test_marked_files_are_refused_naming_the_licensed_framework(licensed_app):
    client = licensed_app().test_client()
    package = json.loads(export(client, LINDELOW, "case", "sv"))
    package["CFDocument"]["extensions"]["kbp"]["licensed"] = False  # the flag alone is not the protection
    with pytest.raises(CaseImportError) as refused:
        read_package(package, name="copy.json")
    assert str(refused.value) == (
        "copy.json: $.CFDefinitions.CFLicenses[0].licenseText: this file is an export of the licensed framework "
        "'malin-lindelow' (marked 'kbp-licensed:malin-lindelow'); a licensed framework cannot be imported as a "
        "framework of its own — install its licence instead")
    data = export(client, LINDELOW, "moodle-csv", "sv")
    with pytest.raises(csvformat.MoodleCsvError) as refused:
        csvformat.read_moodle_csv(data, "copy.csv")
    assert str(refused.value).startswith(
        "copy.csv: row 2, column 'ID number': this file is an export of the licensed framework 'malin-lindelow'")
    rows = rows_of(data)
    rows[1][1] = "fri-kopia"  # one cell changed: the description still carries the marker
    with pytest.raises(csvformat.MoodleCsvError) as refused:
        csvformat.read_moodle_csv(to_csv(rows).encode(), "copy.csv")
    assert str(refused.value).startswith(
        "copy.csv: row 2, column 'Description': this file is an export of the licensed framework 'malin-lindelow'")


def _strip_case_marker(package: dict) -> dict:
    doc = package["CFDocument"]
    doc.pop("licenseURI", None)
    doc.pop("notes", None)
    doc.pop("extensions", None)
    package["CFDefinitions"].pop("CFLicenses", None)
    for item in package["CFItems"]:
        item.pop("licenseURI", None)
        item.pop("extensions", None)
    return package


def _strip_moodle_marker(rows: list[list[str]], idnumber: str) -> list[list[str]]:
    rows[1][1] = idnumber
    rows[1][3] = rows[1][3].replace("kbp-licensed:malin-lindelow", "")
    return rows


def _copies(client, lang: str) -> dict[str, tuple[str, bytes]]:
    """Unmarked copies of the licensed framework, each disguised differently: name -> (folder, bytes)."""
    case = _strip_case_marker(json.loads(export(client, LINDELOW, "case", lang)))
    renamed = json.loads(json.dumps(case))
    renamed["CFDocument"]["title"] = "Vår egen modell"  # a new framework id; the definitions stay
    moodle = rows_of(export(client, LINDELOW, "moodle-csv", lang))
    same_ids = _strip_moodle_marker([list(r) for r in moodle], "var-modell")  # one cell changed
    new_ids = _strip_moodle_marker([list(r) for r in moodle], "helt-ny")
    for row in new_ids[2:]:
        row[1] = "x-" + row[1]
        row[0] = "x-" + row[0] if row[0] else ""
    id_only = [list(csvformat.HEADER), ["", LINDELOW, "Egen", "", "1", "", "", "", "", "", "", "", "1", ""],
               ["", "a", "A", "<p>Egen text.</p>", "1", "", "", "", "0", "null", "", "1", "", ""]]
    return {
        "case-copy.json": ("case", json.dumps(case).encode()),
        "case-renamed.json": ("case", json.dumps(renamed).encode()),
        "moodle-same-ids.csv": ("moodle", to_csv(same_ids).encode()),
        "moodle-new-ids.csv": ("moodle", to_csv(new_ids).encode()),
        "moodle-id-only.csv": ("moodle", to_csv(id_only).encode()),
    }


@pytest.mark.parametrize("lang, target_licensed", [("sv", True), ("en", True), ("sv", False)])
def test_unmarked_copies_of_the_licensed_framework_are_refused_file_by_file(licensed_app, make_app, tmp_path, lang,
                                                                          target_licensed):
    source = licensed_app(DATA_DIR=str(tmp_path / "source")).test_client()
    folders = {"case": tmp_path / "case", "moodle": tmp_path / "moodle"}
    for folder in folders.values():
        folder.mkdir()
    for name, (kind, data) in _copies(source, lang).items():
        (folders[kind] / name).write_bytes(data)
    shutil.copy(MOODLE_EXAMPLE, folders["moodle"] / "oecd.csv")  # a free framework next to them still loads
    shutil.copy(WHAT_STANDARDS, folders["case"] / "standards.json")

    target = licensed_app if target_licensed else make_app  # an installation without a licence is guarded too
    other = {}
    if os.environ.get("KBP_DATABASE_SCHEMA"):  # on PostgreSQL another installation is another schema
        other["DATABASE_SCHEMA"] = os.environ["KBP_DATABASE_SCHEMA"] + "_target"
    app = target(DATA_DIR=str(tmp_path / "target"), CASE_IMPORT_DIR=str(folders["case"]),
                 MOODLE_IMPORT_DIR=str(folders["moodle"]), **other)
    client = app.test_client()
    ids = {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}
    assert {"oecd-core", "what-standards-could-be", LINDELOW, SAMPLE} <= ids
    assert not ids & {"var-modell", "helt-ny", "vara-egen-modell", "var-egen-modell", "malin-lindelows-kompetensmodell",
                      "malin-lindelow-s-competency-framework"}
    if target_licensed:
        assert api_framework(client, LINDELOW, lang)["plugin"] == "malin_lindelow"
    else:  # still not served: no free copy slipped in under its id
        assert client.get(f"/api/v1/frameworks/{LINDELOW}").status_code == 403

    name = "'Malin Lindelöw"
    case_problems = plugin_row(client, "import_case")["problems"]
    moodle_problems = plugin_row(client, "moodle_csv_import")["problems"]
    assert plugin_row(client, "import_case")["state"] == plugin_row(client, "moodle_csv_import")["state"] == "active"
    by_file = {p.split(":", 1)[0]: p for p in case_problems + moodle_problems}
    assert set(by_file) == {"case-copy.json", "case-renamed.json", "moodle-same-ids.csv", "moodle-new-ids.csv",
                            "moodle-id-only.csv"}
    tail = ("; a licensed framework cannot be imported as a framework of its own — install its licence instead. "
            "This file was skipped.")
    assert all(p.endswith(tail) and name in p and "(malin-lindelow)" in p for p in by_file.values()), by_file
    definitions = "34 of its definitions are the text of the licensed framework 'Malin Lindelöw"
    assert by_file["case-copy.json"].startswith(f"case-copy.json: {definitions}")  # ids became the item UUIDs
    assert by_file["case-renamed.json"].startswith(f"case-renamed.json: {definitions}")
    assert by_file["moodle-new-ids.csv"].startswith(f"moodle-new-ids.csv: {definitions}")
    assert by_file["moodle-same-ids.csv"].startswith("moodle-same-ids.csv: 34 of its competency ids (")
    assert by_file["moodle-id-only.csv"].startswith(
        "moodle-id-only.csv: its framework id 'malin-lindelow' is the id of the licensed framework 'Malin Lindelöw")
    page = client.get("/plugins").get_data(as_text=True)
    assert "moodle-new-ids.csv: 34 of its definitions" in page


def test_the_fingerprint_ignores_case_punctuation_and_white_space():
    assert imports.fingerprint("Tar  ansvar, för helheten!") == imports.fingerprint("tar ansvar för\nhelheten")
    assert imports.fingerprint("Tar ansvar") != imports.fingerprint("Tar inte ansvar")
    assert imports.find_marker("…\n\nkbp-licensed:malin-lindelow") == "malin-lindelow"
    assert imports.find_marker("no marker here") is None


# ----------------------------------------------------------------------------- one file fails only itself


def test_a_file_clashing_with_a_built_in_fails_only_itself(make_app, tmp_path, app_works):
    case_dir, moodle_dir = tmp_path / "case", tmp_path / "moodle"
    case_dir.mkdir()
    moodle_dir.mkdir()
    sample_title = json.loads((INTEROP / "case" / "opensalt-examples" / "SmartLevelFramework.json").read_text())
    sample_title["CFDocument"]["title"] = "KBP Sample"
    (case_dir / "a-sample.json").write_text(json.dumps(sample_title), encoding="utf-8")
    shutil.copy(INTEROP / "case" / "opensalt-examples" / "Utf8TestFramework.json", case_dir)
    source = make_app(DATA_DIR=str(tmp_path / "source")).test_client()
    (moodle_dir / "sample-export.csv").write_bytes(export(source, SAMPLE, "moodle-csv", "en"))
    shutil.copy(MOODLE_EXAMPLE, moodle_dir / "oecd.csv")
    (moodle_dir / "bad.csv").write_text("not,a,moodle,file\n", encoding="utf-8")

    client = make_app(DATA_DIR=str(tmp_path / "target"), CASE_IMPORT_DIR=str(case_dir),
                      MOODLE_IMPORT_DIR=str(moodle_dir)).test_client()
    app_works(client)
    sample = api_framework(client, SAMPLE)
    assert sample["plugin"] == "sample_framework"
    assert plugin_row(client, "sample_framework")["state"] == "active"
    ids = {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}
    assert {"utf8-d-test", "oecd-core"} <= ids
    case_row, moodle_row = plugin_row(client, "import_case"), plugin_row(client, "moodle_csv_import")
    assert case_row["state"] == moodle_row["state"] == "active"
    assert case_row["problems"] == [
        "a-sample.json: the framework id 'kbp-sample' is reserved for the built-in plugin 'sample_framework'; "
        "this file was skipped (give it another title or id number)"]
    assert moodle_row["problems"][0].startswith("bad.csv: row 1: the header must be Moodle's 14 columns")
    assert moodle_row["problems"][1] == (
        "sample-export.csv: the framework id 'kbp-sample' is reserved for the built-in plugin 'sample_framework'; "
        "this file was skipped (give it another title or id number)")


# ----------------------------------------------------------------------------- round trips


ROUND_TRIP_CASE = [WHAT_STANDARDS, COMMON_CORE, *OPENSALT]


@pytest.mark.parametrize("path", ROUND_TRIP_CASE, ids=[p.stem for p in ROUND_TRIP_CASE])
def test_case_import_export_import_keeps_ids_order_and_texts(make_app, tmp_path, case_validator, path):
    folder = tmp_path / "case"
    folder.mkdir()
    shutil.copy(path, folder)
    first = read_package(path).framework
    client = make_app(CASE_IMPORT_DIR=str(folder)).test_client()
    for exporter in ("case", "moodle-csv"):
        data = export(client, first["id"], exporter, "en")
        if exporter == "case":
            package = json.loads(data)
            errors = [f"{e.json_path}: {e.message}" for e in case_validator.iter_errors(package)]
            assert not errors, errors[:3]
            again = read_package(package, name=path.name).framework
            assert outline(again) == outline(first)
            assert codes(again) == codes(first)  # humanCodingScheme survives too
        else:  # Moodle keeps 100 characters of a short name (the definition keeps the whole text)
            again = csvformat.import_moodle_csv(data, path.name)
            assert outline(again) == [(g, csvformat.clean_name(n), d, [(c, csvformat.clean_name(cn), cd)
                                                                        for c, cn, cd in comps])
                                      for g, n, d, comps in outline(first)]
        assert again["id"] == first["id"] and again["name"] == first["name"]
        # the depth is kept; items directly under the document sit in one group named after it (a level more);
        # Moodle has no field for education levels
        kept = tree(again) if exporter == "case" else [(g, [c[:4] for c in comps]) for g, comps in tree(again)]
        expected = tree(first) if exporter == "case" else [(g, [c[:4] for c in comps]) for g, comps in tree(first)]
        assert kept == expected and depth(again) == depth(first) == max(read_package(path).depth, 2), exporter


def test_moodle_import_export_import_keeps_ids_order_and_texts(make_app, tmp_path, case_validator):
    folder = tmp_path / "moodle"
    folder.mkdir()
    shutil.copy(MOODLE_EXAMPLE, folder / "oecd.csv")
    first = csvformat.import_moodle_csv(MOODLE_EXAMPLE.read_bytes(), "oecd.csv")
    client = make_app(MOODLE_IMPORT_DIR=str(folder)).test_client()
    again = csvformat.import_moodle_csv(export(client, "oecd-core", "moodle-csv", "en"), "oecd.csv")
    assert (again["id"], again["name"], again["description"]) == (first["id"], first["name"], first["description"])
    assert outline(again) == outline(first)
    assert tree(again) == tree(first) and depth(again) == depth(first) == 4
    package = json.loads(export(client, "oecd-core", "case", "en"))
    assert not list(case_validator.iter_errors(package))
    via_case = read_package(package, name="oecd.json").framework
    assert outline(via_case) == outline(first) and tree(via_case) == tree(first)


def test_import_notices_are_kept_per_plugin_and_shown(make_app, tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    shutil.copy(WHAT_STANDARDS, folder)
    client = make_app(CASE_IMPORT_DIR=str(folder)).test_client()
    assert import_case.notices() == read_package(WHAT_STANDARDS).notices
    assert plugin_row(client, "import_case")["notices"] == import_case.notices()
    assert plugin_row(client, "import_case")["problems"] == []
    page = client.get("/plugins").get_data(as_text=True)
    assert "5 import notices" in page and "read as 1" in page
    assert import_case.source_file("what-standards-could-be") == "WhatStandardsCouldBe.json"
    assert moodle_source.notices() == []


def test_codes_are_kept_and_shown_next_to_names(make_app, tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    shutil.copy(WHAT_STANDARDS, folder)
    client = make_app(CASE_IMPORT_DIR=str(folder)).test_client()
    detail = api_framework(client, "what-standards-could-be")
    group = detail["groups"][0]
    assert group["code"] == "CCSS.Math.Content.6.RP.A"
    assert [c["code"] for c in group["competencies"]][:4] == [
        "CCSS.Math.Content.6.RP.A.1", "CCSS.Math.Content.6.RP.A.2", "CCSS.Math.Content.6.RP.A.3",
        "CCSS.Math.Content.6.RP.A.3a"]
    page = client.get("/frameworks/what-standards-could-be").get_data(as_text=True)
    assert '<span class="code">CCSS.Math.Content.6.RP.A.1</span> Understand the concept of a ratio' in page
    comp = group["competencies"][0]
    page = client.get(f"/frameworks/what-standards-could-be/{comp['id']}").get_data(as_text=True)
    assert '<h1><span class="code">CCSS.Math.Content.6.RP.A.1</span> Understand the concept' in page
    # a KBP framework has no codes: its export's humanCodingScheme is the id, and a re-import shows none
    sample = json.loads(export(client, SAMPLE, "case", "en"))
    assert all(item["humanCodingScheme"] == item["extensions"]["kbp"]["id"] for item in sample["CFItems"])
    assert set(c for _, comps in codes(read_package(sample, name="s.json").framework) for c in comps) == {""}


# ----------------------------------------------------------------------------- trees of any depth


@pytest.fixture
def deep_world(tmp_path):
    """An app with OpenSALT's 3-level package and Moodle's 4-level OECD file imported, and a coach."""
    from core import create_app
    from tests.helpers import csrf_token, make_account, make_person, sign_in

    case_dir, moodle_dir = tmp_path / "case", tmp_path / "moodle"
    case_dir.mkdir()
    moodle_dir.mkdir()
    shutil.copy(WHAT_STANDARDS, case_dir)
    shutil.copy(MOODLE_EXAMPLE, moodle_dir / "oecd.csv")
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "CASE_IMPORT_DIR": str(case_dir),
                      "MOODLE_IMPORT_DIR": str(moodle_dir)})
    coach_p = make_person(app, "Karin Coach")
    emp_p = make_person(app, "Erik Medarbetare", coach_id=coach_p["id"])
    coach = sign_in(app.test_client(), make_account(app, "coach", coach_p))
    coach.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(coach)
    return app, coach, emp_p


STANDARD_3 = "d83a65ed-770c-4dbe-a505-11e5e17a9a79"  # 6.RP.A.3, a Standard with components 3a–3d under it
COMPONENT_3A = "acc5bce4-435f-47b3-b5aa-2ebb459061b0"


def test_a_deep_framework_keeps_its_tree(deep_world):
    app, coach, emp = deep_world
    detail = api_framework(coach, "what-standards-could-be")
    comps = {c["id"]: c for c in detail["groups"][0]["competencies"]}
    assert (comps[STANDARD_3]["depth"], comps[STANDARD_3]["parent"], comps[STANDARD_3]["selectable"]) == (1, "", False)
    assert (comps[COMPONENT_3A]["depth"], comps[COMPONENT_3A]["parent"], comps[COMPONENT_3A]["selectable"]) == (
        2, STANDARD_3, True)
    oecd = api_framework(coach, "oecd-core")
    assert max(c["depth"] for g in oecd["groups"] for c in g["competencies"]) == 3  # + the group: Moodle's 4 levels
    headings = [c["id"] for g in oecd["groups"] for c in g["competencies"] if not c["selectable"]]
    assert "delivery" in headings and "analytical-thinking" in headings and "dr-at1" not in headings
    # the competency page names its path
    api = coach.get(f"/api/v1/frameworks/what-standards-could-be/competencies/{COMPONENT_3A}?lang=en").get_json()
    assert [p["code"] for p in api["path"]] == ["CCSS.Math.Content.6.RP.A.3"]
    page = coach.get(f"/frameworks/what-standards-could-be/{COMPONENT_3A}").get_data(as_text=True)
    assert f'href="/frameworks/what-standards-could-be/{STANDARD_3}">Use ratio and rate reasoning' in page


def test_the_framework_page_shows_the_tree_and_two_level_frameworks_look_as_before(deep_world):
    app, coach, emp = deep_world
    page = coach.get("/frameworks/what-standards-could-be?lang=en").get_data(as_text=True)
    assert '<ul class="tree">' in page and "<details open><summary>" in page
    # the Standard is a collapsible heading over its components, with a link to its own page inside
    assert ('<details open><summary><span class="code">CCSS.Math.Content.6.RP.A.3</span> Use ratio and rate reasoning'
            in page)
    summary = page.index('<span class="code">CCSS.Math.Content.6.RP.A.3</span> Use ratio')
    assert page.index('<span class="tag">heading</span></summary>', summary) < page.index(
        f'href="/frameworks/what-standards-could-be/{STANDARD_3}">About Use ratio', summary) < page.index(
        "CCSS.Math.Content.6.RP.A.3a", summary)
    sample = coach.get(f"/frameworks/{SAMPLE}").get_data(as_text=True)
    assert '<dl class="competencies">' in sample and '<ul class="tree">' not in sample and "<details" not in sample


def test_only_competencies_not_headings_can_be_focus(deep_world):
    app, coach, emp = deep_world
    plan = coach.post("/api/v1/plans", json={"person_id": emp["id"], "situation": "new_role"}).get_json()
    heading = f"what-standards-could-be:{STANDARD_3}"
    r = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "focus": [heading]})
    assert r.status_code == 422 and r.get_json()["errors"] == {"focus": [heading]}
    assert r.get_json()["message"] == (f"{heading} är en rubrik, inte en kompetens: välj en av kompetenserna "
                                       "under den.")  # the default language
    leaf = f"what-standards-could-be:{COMPONENT_3A}"
    r = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "focus": [leaf]})
    assert r.status_code == 200, r.get_json()
    page = coach.get(f"/plans/{plan['id']}/focus?lang=en").get_data(as_text=True)
    assert f'value="{heading}"' not in page and f'value="{leaf}"' in page
    assert '<p class="competency-heading depth-1"><span class="code">CCSS.Math.Content.6.RP.A.3</span>' in page
    assert 'class="competency-choice depth-2"' in page


# ----------------------------------------------------------------------------- preview before importing


def test_the_preview_api_shows_tree_counts_problems_and_notices(licensed_app, tmp_path):
    client = licensed_app(DATA_DIR=str(tmp_path / "data")).test_client()
    r = client.post("/api/v1/framework-imports/preview",
                    data={"file": (io.BytesIO(WHAT_STANDARDS.read_bytes()), "standards.json")},
                    content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    report = r.get_json()
    assert report["ok"] is True and (report["format"], report["plugin"]) == ("case", "import_case")
    assert report["framework"] == {"id": "what-standards-could-be", "name": "What Standards Could Be", "groups": 2,
                                   "competencies": 14, "headings": 2, "depth": 3}
    standard = report["tree"][0]["children"][2]
    assert (standard["code"], standard["selectable"], len(standard["children"])) == (
        "CCSS.Math.Content.6.RP.A.3", False, 4)
    assert report["notices"] == read_package(WHAT_STANDARDS.read_bytes(), name="standards.json").notices
    assert report["problems"] == []
    # nothing was imported
    assert "what-standards-could-be" not in {f["id"] for f in client.get("/api/v1/frameworks").get_json()}

    moodle = client.post("/api/v1/framework-imports/preview?filename=oecd.csv", data=MOODLE_EXAMPLE.read_bytes())
    assert moodle.get_json()["framework"]["competencies"] + moodle.get_json()["framework"]["groups"] == 64
    assert moodle.get_json()["framework"]["depth"] == 4

    rows = rows_of(export(client, LINDELOW, "moodle-csv", "sv"))
    copy = client.post("/api/v1/framework-imports/preview?filename=kopia.csv",
                       data=to_csv(_strip_moodle_marker(rows, "kopia")).encode()).get_json()
    assert copy["ok"] is False and copy["problems"] == [
        "kopia.csv: 34 of its competency ids (" + copy["problems"][0].split("(", 1)[1]]
    assert "of the licensed framework 'Malin Lindelöw" in copy["problems"][0]
    broken = client.post("/api/v1/framework-imports/preview?filename=bad.json", data=b'{"CFDocument": ').get_json()
    assert broken["ok"] is False and broken["problems"] == ["bad.json: not valid JSON: Expecting value (line 1, column 16)"]
    sample = client.post("/api/v1/framework-imports/preview?filename=s.csv",
                         data=export(client, SAMPLE, "moodle-csv", "en")).get_json()
    assert sample["problems"] == ["s.csv: the framework id 'kbp-sample' is already provided by plugin 'sample_framework' "
                                  "(give the file another title or id number)"]


def test_the_preview_api_refuses_what_it_cannot_read(make_app, tmp_path):
    client = make_app().test_client()
    r = client.post("/api/v1/framework-imports/preview?filename=plan.docx", data=b"PK",
                    headers={"Accept-Language": "sv"})
    assert r.status_code == 400 and r.get_json()["code"] == "unsupported_file"
    assert r.get_json()["message"] == "'plan.docx' är varken ett CASE-paket (.json) eller en kompetens-CSV från Moodle (.csv)."
    r = client.post("/api/v1/framework-imports/preview", headers={"Accept-Language": "en"})
    assert r.status_code == 400 and r.get_json()["code"] == "file_required"
    assert r.get_json()["message"] == ("Send a CASE package (.json) or a Moodle competency CSV (.csv) as the form "
                                       "field 'file'.")


def test_the_check_page_shows_the_tree_problems_and_notices(make_app):
    client = make_app().test_client()
    page = client.get("/plugins?lang=en").get_data(as_text=True)
    assert 'href="/admin/framework-import"' in page
    from tests.helpers import csrf_token

    assert client.get("/admin/framework-import?lang=en").status_code == 200
    token = csrf_token(client, "/admin/framework-import")
    r = client.post("/admin/framework-import?lang=en",
                    data={"csrf_token": token, "file": (io.BytesIO(WHAT_STANDARDS.read_bytes()), "standards.json")},
                    content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "This file can be imported" in page
    assert "What Standards Could Be (id what-standards-could-be): 2 groups, 14 competencies (2 of them headings), 3 levels." in page
    assert '<span class="code">CCSS.Math.Content.6.RP.A.3</span> Use ratio and rate reasoning' in page
    assert "ignored: associations other than isChildOf" in page
    r = client.post("/admin/framework-import?lang=en",
                    data={"csrf_token": token, "file": (io.BytesIO(b"not,a,moodle,file\n"), "x.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 422
    assert "This file would be skipped:" in r.get_data(as_text=True)
    assert "x.csv: row 1: the header must be Moodle&#39;s 14 columns" in r.get_data(as_text=True)


def test_links_between_competencies_become_related_competencies(deep_world):
    app, coach, emp = deep_world
    raw = json.loads(WHAT_STANDARDS.read_text(encoding="utf-8"))
    internal = [(a["originNodeURI"]["identifier"], a["destinationNodeURI"]["identifier"]) for a in raw["CFAssociations"]
                if a["associationType"] == "precedes"
                and {a["originNodeURI"]["identifier"], a["destinationNodeURI"]["identifier"]} <= {
                    i["identifier"] for i in raw["CFItems"]}]
    assert len(internal) == 2
    comps = {c["id"]: c for g in read_package(WHAT_STANDARDS).framework["groups"] for c in g["competencies"]}
    for origin, destination in internal:
        assert destination in comps[origin]["related"]
    oecd = csvformat.import_moodle_csv(MOODLE_EXAMPLE.read_bytes(), "oecd.csv")
    level1 = next(c for g in oecd["groups"] for c in g["competencies"] if c["id"] == "level-1")
    raw_rows = list(csv.DictReader(io.StringIO(MOODLE_EXAMPLE.read_text(encoding="utf-8"), newline="")))
    expected = next(r for r in raw_rows if r["Id number"] == "level-1")["Cross referenced competency id numbers"]
    assert level1["related"] == [i.lower() for i in expected.split(",")]
    detail = coach.get("/api/v1/frameworks/oecd-core/competencies/level-1?lang=en").get_json()
    assert [r["id"] for r in detail["related_competencies"]] == level1["related"]
    page = coach.get("/frameworks/oecd-core/level-1?lang=en").get_data(as_text=True)
    assert 'id="related">Related competencies</h2>' in page
    assert f'href="/frameworks/oecd-core/{level1["related"][0]}"' in page


def test_education_levels_are_kept_and_filter_the_framework_page(deep_world):
    app, coach, emp = deep_world
    groups = read_package(WHAT_STANDARDS).framework["groups"]
    assert {lv for c in groups[0]["competencies"] for lv in c["levels"]} == {"06"}
    assert {lv for c in groups[1]["competencies"] for lv in c["levels"]} == {"07"}
    page = coach.get("/frameworks/what-standards-could-be?lang=en").get_data(as_text=True)
    assert '<label for="level">Education level</label>' in page and '<option value="07">07</option>' in page
    grade7 = coach.get("/frameworks/what-standards-could-be?lang=en&level=07").get_data(as_text=True)
    assert "CCSS.Math.Content.7.RP.A.2a" in grade7 and "CCSS.Math.Content.6.RP.A.1" not in grade7
    assert '<option value="07" selected>07</option>' in grade7
    sample = coach.get(f"/frameworks/{SAMPLE}?lang=en").get_data(as_text=True)
    assert 'name="level"' not in sample  # no levels, no filter
