"""Messages about imported framework files in the reader's language (CASE packages, Moodle CSV).

Every refusal and notice about a file is a :class:`core.imports.FileMessage`: English text when
made, shown in the reader's language by the page, the API (``Accept-Language`` / ``?lang=``), the
CLI (``KBP_LOCALE``) and ``/plugins``. The files are the real ones the interop tests use, broken
here in code the way people break them (a column renamed or removed, an item without a title).
"""
from __future__ import annotations

import csv
import io
import json

import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner

from core import imports
from core.cli import main
from plugins import import_case
from plugins.moodle_csv import csvformat
from tests.conftest import ROOT
from tests.helpers import csrf_token, make_person, signed_in_client
from tests.test_interop_files import MOODLE_EXAMPLE, WHAT_STANDARDS, pytestmark  # noqa: F401 - same skip rule


def moodle_with_header(change) -> bytes:
    """The real Moodle example with its header row changed by ``change(list of cells)``."""
    text = MOODLE_EXAMPLE.read_text(encoding="utf-8")
    first, rest = text.split("\n", 1)
    cells = next(csv.reader([first]))
    change(cells)
    return (",".join(f'"{c}"' for c in cells) + "\n" + rest).encode("utf-8")


def doubled_column() -> bytes:
    """Column 5 ("Description format") renamed to "Shortname": column 3's name twice."""
    return moodle_with_header(lambda cells: cells.__setitem__(4, "Shortname"))


def case_item_without_title() -> bytes:
    """The real CASE package with item 3's fullStatement (and what could stand in for it) removed."""
    package = json.loads(WHAT_STANDARDS.read_text(encoding="utf-8"))
    for field in ("fullStatement", "abbreviatedStatement", "humanCodingScheme"):
        package["CFItems"][3].pop(field, None)
    return json.dumps(package).encode("utf-8")


DOUBLED_SV = "oecd.csv: rad 1: kolumnerna 3 (Shortname) och 5 (Shortname) är båda ”Kortnamn”; behåll en av dem"
DOUBLED_EN = "oecd.csv: row 1: the columns 3 (Shortname) and 5 (Shortname) are both 'Short name'; keep one of them"
TITLE_SV = "standards.json: $.CFItems[3]: fältet ”fullStatement” är obligatoriskt men saknas"
TITLE_EN = "standards.json: $.CFItems[3]: 'fullStatement' is a required property"


# ----------------------------------------------------------------------------- the API


@pytest.mark.parametrize("lang, problem, message", [
    ("sv", DOUBLED_SV, "'oecd.csv' kan inte importeras: " + DOUBLED_SV),
    ("en", DOUBLED_EN, "'oecd.csv' cannot be imported: " + DOUBLED_EN),
])
def test_the_api_refuses_a_doubled_moodle_column_in_the_readers_language(make_app, lang, problem, message):
    client = make_app().test_client()
    r = client.post("/api/v1/framework-imports?filename=oecd.csv", data=doubled_column(),
                    headers={"Accept-Language": lang})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["errors"] == {"file": [problem]}
    assert r.get_json()["message"] == message
    # ?lang= wins over the header, as everywhere in the API
    other = "en" if lang == "sv" else "sv"
    r = client.post(f"/api/v1/framework-imports/preview?filename=oecd.csv&lang={lang}", data=doubled_column(),
                    headers={"Accept-Language": other})
    assert r.status_code == 200 and r.get_json()["problems"] == [problem]


def test_the_api_names_a_missing_moodle_column_as_moodle_does_in_swedish(make_app):
    client = make_app().test_client()
    data = moodle_with_header(lambda cells: cells.pop())  # no "Taxonomy"
    sv = client.post("/api/v1/framework-imports/preview?filename=oecd.csv", data=data,
                     headers={"Accept-Language": "sv-SE,sv;q=0.9"}).get_json()
    [problem] = sv["problems"]
    assert problem.startswith("oecd.csv: rad 1: rubrikraden saknar Moodles kolumn(er) Taxonomi; ")
    # every column named as the Swedish Moodle names it, in Moodle's order
    assert problem.endswith(": " + ", ".join(csvformat.HEADER_SWEDISH))
    en = client.post("/api/v1/framework-imports/preview?filename=oecd.csv", data=data,
                     headers={"Accept-Language": "en"}).get_json()
    assert en["problems"][0].startswith("oecd.csv: row 1: the header lacks Moodle's column(s) Taxonomy; ")


@pytest.mark.parametrize("lang, problem", [("sv", TITLE_SV), ("en", TITLE_EN)])
def test_the_api_refuses_a_case_item_without_a_title_in_the_readers_language(make_app, lang, problem):
    client = make_app().test_client()
    r = client.post("/api/v1/framework-imports/preview?filename=standards.json", data=case_item_without_title(),
                    headers={"Accept-Language": lang})
    assert r.status_code == 200 and r.get_json()["ok"] is False
    assert r.get_json()["problems"] == [problem]


def test_notices_and_core_refusals_are_swedish_for_a_swedish_reader(make_app):
    client = make_app().test_client()
    report = client.post("/api/v1/framework-imports/preview?filename=standards.json",
                         data=WHAT_STANDARDS.read_bytes(), headers={"Accept-Language": "sv"}).get_json()
    assert report["ok"] is True
    assert ("standards.json: $.CFAssociations[15].sequenceNumber: reparerat: talet var skrivet som texten ”1”; "
            "läses som 1") in report["notices"]
    assert ("standards.json: $.CFItems[*].educationLevel: utelämnat: utbildningsnivåerna för 2 poster på översta "
            "nivån som blev grupper") in report["notices"]
    moodle = client.post("/api/v1/framework-imports/preview?filename=oecd.csv", data=MOODLE_EXAMPLE.read_bytes(),
                         headers={"Accept-Language": "sv"}).get_json()
    assert moodle["notices"] == ["oecd.csv: utelämnat: ramverkets skala, taxonomitermer (4)"]
    # a clash the core finds (not the plugin): the core catalog
    sample = client.get("/api/v1/frameworks/kbp-sample/export/moodle-csv?lang=en").get_data()
    r = client.post("/api/v1/framework-imports?filename=s.csv", data=sample, headers={"Accept-Language": "sv"})
    assert r.status_code == 422 and r.get_json()["errors"]["file"] == [
        "s.csv: id:t ”kbp-sample” används redan av en kompetensmodell i tillägget ”sample_framework” (ge filen en "
        "annan titel eller ett annat id-nummer)"]
    # nothing of the English wording is left in the Swedish texts
    for text in report["notices"] + moodle["notices"]:
        assert not any(word in text for word in ("repaired", "ignored", " row ", "column")), text


# ----------------------------------------------------------------------------- the page


def test_the_check_page_shows_swedish_to_a_swedish_user(make_app):
    app = make_app()  # DEFAULT_LOCALE en, and the browser asks for English: the user's own language wins
    client = signed_in_client(app, "admin", make_person(app, locale="sv"))
    token = csrf_token(client, "/admin/framework-import")
    r = client.post("/admin/framework-import", headers={"Accept-Language": "en"},
                    data={"csrf_token": token, "file": (io.BytesIO(doubled_column()), "oecd.csv")},
                    content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "Filen skulle hoppas över:" in page
    assert "oecd.csv: rad 1: kolumnerna 3 (Shortname) och 5 (Shortname) är båda ”Kortnamn”" in page
    assert "keep one of them" not in page
    r = client.post("/admin/framework-import", headers={"Accept-Language": "en"},
                    data={"csrf_token": token, "file": (io.BytesIO(WHAT_STANDARDS.read_bytes()), "standards.json")},
                    content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "utelämnat: andra kopplingar än isChildOf som inte förbinder två kompetenser i paketet" in page
    assert ("What Standards Could Be (id what-standards-could-be): 2 grupper, 14 kompetenser (varav 2 rubriker), "
            "3 nivåer.") in page


def test_plugins_lists_a_skipped_folder_file_in_the_readers_language(make_app, tmp_path):
    folder = tmp_path / "moodle"
    folder.mkdir()
    (folder / "oecd.csv").write_bytes(doubled_column())
    client = make_app(MOODLE_IMPORT_DIR=str(folder)).test_client()
    rows = {p["name"]: p for p in client.get("/api/v1/plugins", headers={"Accept-Language": "sv"}).get_json()}
    assert DOUBLED_SV in rows["moodle_csv_import"]["problems"]
    rows = {p["name"]: p for p in client.get("/api/v1/plugins?lang=en").get_json()}
    assert DOUBLED_EN in rows["moodle_csv_import"]["problems"]


# ----------------------------------------------------------------------------- the command line


def test_the_command_line_speaks_the_configured_language(make_app, data_dir, tmp_path, monkeypatch):
    make_app()
    broken = tmp_path / "oecd.csv"
    broken.write_bytes(doubled_column())

    def kbp(*args):
        return CliRunner().invoke(main, ["--data-dir", str(data_dir), *args])

    monkeypatch.setenv("KBP_LOCALE", "sv")
    refused = kbp("frameworks", "import", str(broken))
    assert refused.exit_code == 1
    assert DOUBLED_SV in refused.output and "keep one of them" not in refused.output
    checked = kbp("frameworks", "import", "--dry-run", str(WHAT_STANDARDS))
    assert checked.exit_code == 0, checked.output
    assert "WhatStandardsCouldBe.json: $.CFItems[*].CFItemType: utelämnat: CFItemType för 16 poster" in checked.output
    assert ("Granskad, ingenting importerat (provkörning): What Standards Could Be (id what-standards-could-be), "
            "2 grupper, 14 kompetenser, 3 nivåer.") in checked.output
    monkeypatch.setenv("KBP_LOCALE", "en")
    refused = kbp("frameworks", "import", str(broken))
    assert refused.exit_code == 1 and DOUBLED_EN in refused.output


# ----------------------------------------------------------------------------- the catalogs


def test_the_import_plugins_declare_their_own_catalogs_like_any_plugin(make_app):
    registry = make_app().extensions["kbp"].registry
    assert registry.owner[("translation domain", "import_case")] == "import_case"
    assert registry.owner[("translation domain", "moodle_csv")] == "moodle_csv"
    assert registry.locale_dirs["import_case"] == str(import_case.LOCALES)
    # their messages are not in the core catalog
    with open(ROOT / "locales" / "messages.pot", "rb") as fh:
        core_ids = {m.id for m in read_po(fh)}
    assert "%(file)s: the file is empty" not in core_ids
    assert "Moodle competency framework (CSV)" not in core_ids


def test_moodle_column_names_are_translated_as_moodles_swedish_language_pack_writes_them(make_app):
    registry = make_app().extensions["kbp"].registry
    names = [imports.localize(csvformat.column_name(i), "sv", registry.locale_dirs) for i in range(csvformat.COLUMNS)]
    assert names == list(csvformat.HEADER_SWEDISH)
    assert [str(csvformat.column_name(i)) for i in range(csvformat.COLUMNS)] == list(csvformat.HEADER_CURRENT)


def test_a_file_message_survives_a_broken_translation(monkeypatch):
    """A translator's mistake (a placeholder renamed) shows the English text, never an error page."""
    from core import i18n

    class Broken:
        def gettext(self, message):
            return "Fel i %(fil)s"

    message = imports.FileMessages("messages").gettext("%(file)s: the file is empty", file="x.csv")
    monkeypatch.setattr(i18n, "domain_translations", lambda *args: Broken())
    assert imports.localize(message, "sv", {}) == "x.csv: the file is empty"
