"""Plan exporters (PDF, Word, Markdown, CSV, JSON, iCalendar) and the conversation guide (PDF, Word).

Every export is read back with an independent reader: pypdf and Poppler's ``pdftotext`` for PDF,
python-docx for Word, ``icalendar`` for iCalendar, the ``csv`` module for CSV, ``jsonschema``
against the published schema for JSON.
"""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import docx
import pytest
from icalendar import Calendar
from jsonschema import Draft202012Validator
from pypdf import PdfReader

import plugins.export_plan_pdf as pdf_plugin
from core import create_app
from plugins.export_plan_json import import_plan_document
from plugins.export_plan_text import PlanMarkdown
from tests.helpers import csrf_token, make_account, make_person, sign_in
from tests.test_lindelow import licensor  # noqa: F401 - fixture
from tests.test_plans import FOCUS, api_flow, world  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "plan-export-v1.schema.json").read_text(encoding="utf-8"))

PLAN_EXPORTERS = {
    "plan-pdf": ("application/pdf", "pdf"),
    "plan-docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    "plan-md": ("text/markdown", "md"),
    "plan-csv": ("text/csv", "csv"),
    "plan-json": ("application/json", "json"),
    "plan-ics": ("text/calendar", "ics"),
}
GUIDE_EXPORTERS = {
    "guide-pdf": ("application/pdf", "pdf"),
    "guide-docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
}
ALL_EXPORTERS = {**PLAN_EXPORTERS, **GUIDE_EXPORTERS}


# ----------------------------------------------------------------------------- readers


def squash(text: str) -> str:
    return " ".join(text.split())


def pdf_pages(data: bytes) -> list[str]:
    """Text of every page, extracted by pypdf."""
    return [squash(page.extract_text() or "") for page in PdfReader(io.BytesIO(data)).pages]


def pdftotext(data: bytes, tmp_path: Path) -> list[str] | None:
    """Text of every page, extracted by Poppler's pdftotext (None when it is not installed)."""
    if shutil.which("pdftotext") is None:
        return None
    source = tmp_path / "export.pdf"
    source.write_bytes(data)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(source), "-"], capture_output=True, check=True).stdout
    return [squash(page) for page in out.decode("utf-8").split("\f") if page.strip()]


def docx_text(data: bytes) -> str:
    """Every paragraph of the body, the tables, headers and footers."""
    d = docx.Document(io.BytesIO(data))
    parts = [p.text for p in d.paragraphs]
    for table in d.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    for section in d.sections:
        parts.extend(p.text for p in section.header.paragraphs)
        parts.extend(p.text for p in section.footer.paragraphs)
    return "\n".join(parts)


def text_of(exporter_id: str, data: bytes) -> str:
    if exporter_id.endswith("-pdf"):
        return "\n".join(pdf_pages(data))
    if exporter_id.endswith("-docx"):
        return docx_text(data)
    if exporter_id == "plan-ics":
        return "\n".join(str(c.get("summary", "")) + "\n" + str(c.get("description", ""))
                         for c in Calendar.from_ical(data).walk() if c.name in ("VTODO", "VEVENT"))
    return data.decode("utf-8-sig")


def export(client, plan_id: str, exporter_id: str, lang: str = "en"):
    r = client.get(f"/api/v1/plans/{plan_id}/export/{exporter_id}?lang={lang}")
    assert r.status_code == 200, r.get_data(as_text=True)
    return r


# ----------------------------------------------------------------------------- plans to export


def rich_plan(client, person_id: str, focus=FOCUS) -> dict:
    """The flow of test_plans, plus a shared note, activity progress and a held follow-up."""
    plan = api_flow(client, person_id, focus=focus)
    qid = plan["questions"][0]["id"]
    plan = client.put(f"/api/v1/plans/{plan['id']}/questions/{qid}/note",
                      json={"version": plan["version"], "note": "Vill öva på att sammanfatta i möten."}).get_json()
    first, second, third = (a["id"] for a in plan["activities"])
    plan = client.put(f"/api/v1/plans/{plan['id']}/activities/{first}/status",
                      json={"version": plan["version"], "status": "done"}).get_json()
    plan = client.put(f"/api/v1/plans/{plan['id']}/activities/{second}/status",
                      json={"version": plan["version"], "status": "in_progress"}).get_json()
    items = [{"id": first}, {"id": second}, {"id": third, "due": "2030-08-15", "owner": "Karin Coach"},
             {"title": "Läsa boken om återkoppling", "description": "Två kapitel i veckan; prata om det på avstämningen.",
              "kind": "training", "due": "2030-05-31", "status": "dropped"}]
    plan = client.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "activities": items}).get_json()
    plan = client.post(f"/api/v1/plans/{plan['id']}/follow-ups",
                       json={"version": plan["version"], "note": "Bra start på höstterminen.", "next_date": "2030-10-01"}).get_json()
    assert len(plan["activities"]) == 4 and plan["follow_up_date"] == "2030-10-01"
    return plan


@pytest.fixture
def planned(world):  # noqa: F811
    app, coach, employee, emp = world
    return app, coach, employee, rich_plan(coach, emp["id"])


@pytest.fixture
def demo_world(tmp_path):
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "demo-data"), "DEMO": True, "DEMO_DATA_DIR_IS_DATA_DIR": True})
    coach_p = make_person(app, "Karin Coach")
    emp_p = make_person(app, "Erik Medarbetare", coach_id=coach_p["id"])
    coach = sign_in(app.test_client(), make_account(app, "coach", coach_p))
    coach.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(coach)
    return app, coach, emp_p


# ----------------------------------------------------------------------------- listing and download


def test_exporters_are_listed_and_offered_on_the_plan_page(planned):
    app, coach, employee, plan = planned
    listed = {e["id"]: e for e in coach.get("/api/v1/exporters?lang=en").get_json()}
    for eid, (media_type, extension) in ALL_EXPORTERS.items():
        assert eid in listed, sorted(listed)
        assert (listed[eid]["media_type"], listed[eid]["extension"]) == (media_type, extension)
        assert listed[eid]["subject"] == ("dialogue_guide" if eid.startswith("guide-") else "plan")
        assert listed[eid]["plugin"].startswith("export_plan_")
    assert listed["plan-pdf"]["title"] == "Development plan (PDF)"
    assert {e["id"]: e["title"] for e in coach.get("/api/v1/exporters?lang=sv").get_json()}["plan-pdf"] != "Development plan (PDF)"
    page = coach.get(f"/plans/{plan['id']}?lang=en").get_data(as_text=True)
    for eid in ALL_EXPORTERS:
        assert f"/api/v1/plans/{plan['id']}/export/{eid}?lang=en" in page


@pytest.mark.parametrize("exporter_id", sorted(ALL_EXPORTERS))
def test_every_export_downloads_with_its_type_and_name_in_the_readers_language(planned, exporter_id):
    app, coach, employee, plan = planned
    media_type, extension = ALL_EXPORTERS[exporter_id]
    en = export(coach, plan["id"], exporter_id, "en")
    assert en.mimetype == media_type
    assert en.headers["Content-Disposition"] == f'attachment; filename="plan-{plan["id"]}.{extension}"'
    sv = export(coach, plan["id"], exporter_id, "sv")
    assert sv.data != en.data
    assert "Aktivt lyssnande" in text_of(exporter_id, sv.data) and "Active listening" in text_of(exporter_id, en.data)
    audit = app.extensions["kbp"].storage.collection("audit").all()
    assert any((r["action"], r["subject_type"], r["subject_id"]) == ("export", "plan", plan["id"]) for r in audit)


def test_an_unknown_or_framework_exporter_is_a_404(planned):
    app, coach, employee, plan = planned
    assert coach.get(f"/api/v1/plans/{plan['id']}/export/nope").status_code == 404
    framework_exporters = [e["id"] for e in coach.get("/api/v1/exporters").get_json() if e["subject"] == "framework"]
    for eid in framework_exporters:
        assert coach.get(f"/api/v1/plans/{plan['id']}/export/{eid}").status_code == 404


# ----------------------------------------------------------------------------- PDF


def test_plan_pdf_has_the_whole_plan_in_swedish_and_english(planned, tmp_path):
    app, coach, employee, plan = planned
    sv_bytes = export(coach, plan["id"], "plan-pdf", "sv").data
    en_bytes = export(coach, plan["id"], "plan-pdf", "en").data
    assert sv_bytes.startswith(b"%PDF-")
    titles_sv = [a["title"]["sv"] if "sv" in a["title"] else a["title"]["_"] for a in plan["activities"]]
    expected_sv = ["Utvecklingsplan för Erik Medarbetare", "Karin Coach", "Coachande samtal", "Växa in i en ny roll",
                   "Fokuskompetenser", "Aktivt lyssnande", "Sammanfatta innan jag svarar i varje avstämning.",
                   "Aktiviteter", "Ansvarig", "Klart senast", "Planerad", "Pågår", "Klar", "Struken",
                   "Läsa boken om återkoppling", "Nästa uppföljning", "Bra start på höstterminen.",
                   "Frågor och anteckningar", "Vill öva på att sammanfatta i möten.", "Vad behöver du från mig?",
                   plan["questions"][0]["text"]["sv"][:25]]
    expected_en = ["Development plan for Erik Medarbetare", "Coaching dialogue", "Growing into a new role",
                   "Focus competencies", "Active listening", "Activities", "Owner", "Due", "Status", "Done",
                   "In progress", "Dropped", "Next follow-up", "Questions and notes", plan["questions"][0]["text"]["en"][:25]]
    for pages in (pdf_pages(sv_bytes), pdftotext(sv_bytes, tmp_path)):
        if pages is None:  # pdftotext missing: pypdf has already checked
            continue
        text = " ".join(pages)
        for expected in expected_sv + [t[:20] for t in titles_sv]:
            assert expected in text, expected
        assert "Active listening" not in text
        for i, page in enumerate(pages, start=1):
            assert f"Sida {i} av {len(pages)}" in page
    for pages in (pdf_pages(en_bytes), pdftotext(en_bytes, tmp_path)):
        if pages is None:
            continue
        text = " ".join(pages)
        for expected in expected_en:
            assert expected in text, expected
        for i, page in enumerate(pages, start=1):
            assert f"Page {i} of {len(pages)}" in page
        assert "DEMO" not in text  # no demo marking outside demo mode


def test_pdf_embeds_the_vendored_unicode_font(planned, monkeypatch, tmp_path):
    """å ä ö render on a machine without system fonts: the font ships with the plugin and is embedded."""
    app, coach, employee, plan = planned
    assert {path.parent for path in pdf_plugin.font_files().values()} == {pdf_plugin.VENDORED_FONTS}
    assert (pdf_plugin.VENDORED_FONTS / "LICENSE").is_file()
    monkeypatch.setattr(pdf_plugin, "SYSTEM_FONTS", tmp_path / "no-system-fonts")
    data = export(coach, plan["id"], "plan-pdf", "sv").data
    reader = PdfReader(io.BytesIO(data))
    fonts = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            fonts[str(font["/BaseFont"])] = "/FontFile2" in descendant["/FontDescriptor"].get_object()
    assert fonts and all(fonts.values()), fonts  # every font is embedded
    assert all("DejaVuSans" in name for name in fonts), fonts
    assert "Medarbetare" in " ".join(pdf_pages(data)) and "Växa in i en ny roll" in " ".join(pdf_pages(data))


def test_demo_marking_and_page_numbers_on_every_page(demo_world, tmp_path):
    app, coach, emp = demo_world
    plan = api_flow(coach, emp["id"])
    long_text = ("Planera veckan med kollegan, genomför övningen och skriv ned vad som fungerade och vad du gör "
                 "annorlunda nästa gång. Följ upp på avstämningen med din chef. ") * 3
    items = [{"id": a["id"]} for a in plan["activities"]] + [
        {"title": f"Övning {i}: öva aktivt lyssnande på måndagsmötet", "description": long_text, "kind": "on_the_job",
         "due": f"2030-{1 + i % 12:02d}-15"} for i in range(14)]
    plan = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "activities": items}).get_json()
    data = export(coach, plan["id"], "plan-pdf", "en").data
    for pages in (pdf_pages(data), pdftotext(data, tmp_path)):
        if pages is None:
            continue
        assert len(pages) >= 3
        for i, page in enumerate(pages, start=1):
            assert "DEMO" in page and "Demo licence" in page, f"page {i}"
            assert f"Page {i} of {len(pages)}" in page
    sv = " ".join(pdf_pages(export(coach, plan["id"], "plan-pdf", "sv").data))
    assert "Demolicens" in sv and "DEMO" in sv
    guide = pdf_pages(export(coach, plan["id"], "guide-pdf", "en").data)
    assert all("DEMO" in page for page in guide)
    # the other formats carry it too
    word = docx.Document(io.BytesIO(export(coach, plan["id"], "plan-docx", "en").data))
    assert "DEMO" in word.sections[0].header.paragraphs[0].text
    assert "DEMO" in export(coach, plan["id"], "plan-md", "en").get_data(as_text=True)
    assert json.loads(export(coach, plan["id"], "plan-json", "en").data)["meta"]["demo"] is True
    assert "DEMO" in str(Calendar.from_ical(export(coach, plan["id"], "plan-ics", "en").data).get("x-wr-calname"))


def test_guide_pdf_groups_the_questions_by_competency(planned, tmp_path):
    app, coach, employee, plan = planned
    data = export(coach, plan["id"], "guide-pdf", "sv").data
    for pages in (pdf_pages(data), pdftotext(data, tmp_path)):
        if pages is None:
            continue
        text = " ".join(pages)
        assert "Samtalsguide" in text and "Erik Medarbetare" in text and "Coach: Karin Coach" in text
        assert "Våra egna frågor" in text and "Vad behöver du från mig?" in text and "Överenskomna aktiviteter" in text
        # questions follow their competency's heading
        listening = text.index("Aktivt lyssnande")
        for q in plan["questions"]:
            if q["competency"] == FOCUS[0] and q["kind"] != "own":
                assert text.index(q["text"]["sv"][:30]) > listening
        for i, page in enumerate(pages, start=1):
            assert f"Sida {i} av {len(pages)}" in page
    en = " ".join(pdf_pages(export(coach, plan["id"], "guide-pdf", "en").data))
    assert "Conversation guide" in en and "Our own questions" in en and "Active listening" in en


# ----------------------------------------------------------------------------- Word


def test_plan_docx_has_word_headings_and_an_activity_table(planned):
    app, coach, employee, plan = planned
    d = docx.Document(io.BytesIO(export(coach, plan["id"], "plan-docx", "en").data))
    headings = [(p.style.name, p.text) for p in d.paragraphs if p.style.name.startswith("Heading")]
    assert headings[0] == ("Heading 1", "Development plan for Erik Medarbetare")
    h2 = [text for style, text in headings if style == "Heading 2"]
    assert h2 == ["Focus competencies", "Activities", "Follow-up", "Questions and notes"]
    assert ("Heading 3", "Active listening") in headings
    table = next(t for t in d.tables if t.rows[0].cells[0].text == "Activity")
    assert [c.text for c in table.rows[0].cells] == ["Activity", "Competency", "Owner", "Due", "Status"]
    body = table.rows[1:]
    assert len(body) == len(plan["activities"])
    assert [r.cells[4].text for r in body] == ["Done", "In progress", "Planned", "Dropped"]
    assert body[2].cells[2].text == "Karin Coach" and body[2].cells[3].text == "Aug 15, 2030"
    assert body[3].cells[0].text.startswith("Läsa boken om återkoppling")
    assert d.core_properties.language == "en-US"
    footer = d.sections[0].footer.paragraphs[0]._p.xml
    assert "PAGE" in footer and "NUMPAGES" in footer  # page numbers as Word fields
    assert "DEMO" not in docx_text(export(coach, plan["id"], "plan-docx", "en").data)
    sv = docx.Document(io.BytesIO(export(coach, plan["id"], "plan-docx", "sv").data))
    sv_headings = [(p.style.name, p.text) for p in sv.paragraphs if p.style.name.startswith("Heading")]
    assert ("Heading 1", "Utvecklingsplan för Erik Medarbetare") in sv_headings
    assert ("Heading 2", "Fokuskompetenser") in sv_headings and ("Heading 3", "Aktivt lyssnande") in sv_headings
    assert sv.core_properties.language == "sv-SE"
    sv_text = docx_text(export(coach, plan["id"], "plan-docx", "sv").data)
    for expected in ("Ansvarig", "Klart senast", "Pågår", "Vill öva på att sammanfatta i möten.", "Bra start på höstterminen."):
        assert expected in sv_text


def test_guide_docx_has_room_for_notes(planned):
    app, coach, employee, plan = planned
    data = export(coach, plan["id"], "guide-docx", "sv").data
    d = docx.Document(io.BytesIO(data))
    headings = [(p.style.name, p.text) for p in d.paragraphs if p.style.name.startswith("Heading")]
    assert headings[0] == ("Heading 1", "Samtalsguide")
    assert ("Heading 2", "Aktivt lyssnande") in headings and ("Heading 2", "Våra egna frågor") in headings
    ruled = [p for p in d.paragraphs if p._p.pPr is not None and p._p.pPr.find(
        "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}pBdr") is not None]
    assert len(ruled) >= 2 * len(plan["questions"])
    text = docx_text(data)
    assert all(q["text"].get("sv", q["text"].get("_", ""))[:30] in text for q in plan["questions"])


# ----------------------------------------------------------------------------- Markdown, CSV


def test_plan_markdown(planned):
    app, coach, employee, plan = planned
    md = export(coach, plan["id"], "plan-md", "sv").get_data(as_text=True)
    assert md.startswith("# Utvecklingsplan för Erik Medarbetare\n")
    for heading in ("## Fokuskompetenser", "### Aktivt lyssnande", "## Aktiviteter", "## Uppföljning", "## Frågor och anteckningar"):
        assert f"\n{heading}\n" in md
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(plan["activities"])  # header, separator, one row per activity
    assert "Vill öva på att sammanfatta i möten." in md and "**Mål:** Sammanfatta innan jag svarar" in md
    en = export(coach, plan["id"], "plan-md", "en").get_data(as_text=True)
    assert en.startswith("# Development plan for Erik Medarbetare\n") and "## Focus competencies" in en


def test_markdown_escapes_plan_text():
    document = {"id": "p1", "person": {"id": "x", "name": "A *B* | C", "job_title": ""}, "coach": None,
                "mode": "coaching", "situation": "new_role", "status": "draft", "agreed": {}, "follow_up_date": None,
                "focus": [], "questions": [], "follow_ups": [], "meta": {"demo": False},
                "activities": [{"id": "a", "competency": "", "title": "# a | b", "description": "- x", "kind": "training",
                                "effort": "", "owner": "", "due": None, "status": "planned", "source": ""}]}
    md = PlanMarkdown().export(document, "en")
    text = md.decode()
    assert text.startswith("# Development plan for A \\*B\\* | C")
    assert "| # a \\| b |" in text and "— - x" in text  # inline text: no block starts to escape


def test_plan_csv_one_row_per_activity(planned):
    app, coach, employee, plan = planned
    raw = export(coach, plan["id"], "plan-csv", "sv").data
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert len(rows) == len(plan["activities"])
    assert {r["Plan-id"] for r in rows} == {plan["id"]} and {r["Person"] for r in rows} == {"Erik Medarbetare"}
    assert [r["Status"] for r in rows] == ["Klar", "Pågår", "Planerad", "Struken"]
    assert rows[2]["Ansvarig"] == "Karin Coach" and rows[2]["Klart senast"] == "2030-08-15"
    assert rows[3]["Aktivitet"] == "Läsa boken om återkoppling" and rows[3]["Typ"] == "Utbildning"
    assert rows[0]["Kompetens"] == "Aktivt lyssnande" and rows[0]["Nästa uppföljning"] == "2030-10-01"
    en = list(csv.DictReader(io.StringIO(export(coach, plan["id"], "plan-csv", "en").data.decode("utf-8-sig"), newline="")))
    assert [r["Status"] for r in en] == ["Done", "In progress", "Planned", "Dropped"] and en[0]["Competency"] == "Active listening"
    assert list(en[0])[:4] == ["Plan id", "Person", "Coach", "Competency"]


def test_csv_neutralises_spreadsheet_formulas(planned):
    app, coach, employee, plan = planned
    items = [{"id": a["id"]} for a in plan["activities"]] + [{"title": "=HYPERLINK(\"http://x\";\"klick\")", "owner": "+46 70"}]
    plan = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "activities": items}).get_json()
    rows = list(csv.reader(io.StringIO(export(coach, plan["id"], "plan-csv", "en").data.decode("utf-8-sig"), newline="")))
    assert rows[-1][4].startswith("'=HYPERLINK") and rows[-1][8] == "'+46 70"


# ----------------------------------------------------------------------------- JSON


def test_plan_json_validates_against_the_published_schema(planned):
    app, coach, employee, plan = planned
    Draft202012Validator.check_schema(SCHEMA)
    validator = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for lang in ("sv", "en"):
        exported = json.loads(export(coach, plan["id"], "plan-json", lang).data)
        errors = sorted(validator.iter_errors(exported), key=lambda e: list(e.path))
        assert not errors, [(list(e.path), e.message) for e in errors]
        assert exported["format"] == "kbp-plan/1" and exported["language"] == lang
        assert exported["id"] == plan["id"] and len(exported["activities"]) == len(plan["activities"])
    assert exported["focus"][0]["name"] == "Active listening"
    assert json.loads(export(coach, plan["id"], "plan-json", "sv").data)["focus"][0]["name"] == "Aktivt lyssnande"
    broken = {**exported, "situation": "holiday"}
    assert list(validator.iter_errors(broken))  # the schema does reject what is not a plan
    undocumented = {**exported, "extra": 1}
    assert list(validator.iter_errors(undocumented))


def _comparable(exported: dict) -> dict:
    """An export without what a re-created plan cannot keep: ids, versions, timestamps, notes, history."""
    return {
        "language": exported["language"],
        "person": exported["person"],
        "coach": exported["coach"],
        "mode": exported["mode"],
        "situation": exported["situation"],
        "follow_up_date": exported["follow_up_date"],
        "focus": exported["focus"],
        "questions": [(q["competency"], q["kind"], q["text"]) for q in exported["questions"]],
        "activities": [{k: a[k] for k in ("competency", "title", "description", "kind", "owner", "due", "status")}
                       for a in exported["activities"]],
    }


def test_json_export_round_trips_into_a_new_plan(planned):
    app, coach, employee, plan = planned
    exported = json.loads(export(coach, plan["id"], "plan-json", "sv").data)
    calls = import_plan_document(exported)
    assert calls["create"] == {"person_id": exported["person"]["id"], "situation": "new_role", "mode": "coaching"}
    created = coach.post("/api/v1/plans", json=calls["create"])
    assert created.status_code == 201, created.get_json()
    new = coach.patch(f"/api/v1/plans/{created.get_json()['id']}", json={"version": created.get_json()["version"], **calls["update"]})
    assert new.status_code == 200, new.get_json()
    again = json.loads(export(coach, new.get_json()["id"], "plan-json", "sv").data)
    assert again["id"] != exported["id"]
    assert _comparable(again) == _comparable(exported)
    with pytest.raises(ValueError):
        import_plan_document({"format": "kbp-plan/99"})


# ----------------------------------------------------------------------------- iCalendar


def test_plan_ics_has_todos_and_a_follow_up_event(planned):
    app, coach, employee, plan = planned
    cal = Calendar.from_ical(export(coach, plan["id"], "plan-ics", "en").data)
    todos = [c for c in cal.walk() if c.name == "VTODO"]
    events = [c for c in cal.walk() if c.name == "VEVENT"]
    with_due = [a for a in plan["activities"] if a.get("due")]
    assert len(todos) == len(with_due) == 4
    by_uid = {str(t["uid"]): t for t in todos}
    for a in with_due:
        todo = by_uid[f"kbp-plan-{plan['id']}-activity-{a['id']}@kbp"]
        assert todo.decoded("due").isoformat() == a["due"]
    statuses = {str(by_uid[f"kbp-plan-{plan['id']}-activity-{a['id']}@kbp"]["status"]): a["status"] for a in with_due}
    assert statuses == {"COMPLETED": "done", "IN-PROCESS": "in_progress", "NEEDS-ACTION": "planned", "CANCELLED": "dropped"}
    assert [str(t["summary"]) for t in todos][3] == "Läsa boken om återkoppling"
    assert len(events) == 1
    event = events[0]
    assert event.decoded("dtstart").isoformat() == "2030-10-01" and event.decoded("dtend").isoformat() == "2030-10-02"
    assert str(event["summary"]) == "Follow-up of the development plan for Erik Medarbetare"
    assert str(event["uid"]) == f"kbp-plan-{plan['id']}-follow-up@kbp"
    sv = Calendar.from_ical(export(coach, plan["id"], "plan-ics", "sv").data)
    sv_event = next(c for c in sv.walk() if c.name == "VEVENT")
    assert str(sv_event["summary"]) != str(event["summary"]) and "Erik Medarbetare" in str(sv_event["summary"])
    assert "Ansvarig: Karin Coach" in "\n".join(str(c.get("description", "")) for c in sv.walk())


def test_ics_uids_are_stable_so_a_reimport_updates(planned):
    app, coach, employee, plan = planned

    def uids(lang="en"):
        cal = Calendar.from_ical(export(coach, plan["id"], "plan-ics", lang).data)
        return {str(c["uid"]): c for c in cal.walk() if c.name in ("VTODO", "VEVENT")}

    first = uids()
    assert first.keys() == uids().keys() == uids("sv").keys()
    # moving the follow-up changes the event, not its identity; the sequence grows with the plan
    plan = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "follow_up_date": "2030-11-20"}).get_json()
    moved = uids()
    assert moved.keys() == first.keys()
    uid = f"kbp-plan-{plan['id']}-follow-up@kbp"
    assert moved[uid].decoded("dtstart").isoformat() == "2030-11-20"
    assert int(moved[uid]["sequence"]) > int(first[uid]["sequence"])


# ----------------------------------------------------------------------------- privacy and licences


def test_private_self_reflection_notes_never_reach_the_coachs_exports(world):  # noqa: F811
    app, coach, employee, emp = world
    plan = employee.post("/api/v1/plans",
                         json={"person_id": emp["id"], "situation": "grow_further", "mode": "self_reflection"}).get_json()
    plan = employee.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "focus": FOCUS[:1]}).get_json()
    s = employee.get(f"/api/v1/plans/{plan['id']}/suggestions").get_json()
    plan = employee.patch(f"/api/v1/plans/{plan['id']}", json={
        "version": plan["version"], "questions": [q["id"] for q in s["questions"][:2]],
        "activities": [{"title": "Egen aktivitet", "due": "2030-03-01"}], "follow_up_date": "2030-04-01"}).get_json()
    q1, q2 = (q["id"] for q in plan["questions"])
    plan = employee.put(f"/api/v1/plans/{plan['id']}/questions/{q1}/note",
                        json={"version": plan["version"], "note": "Hemlig tanke"}).get_json()
    plan = employee.put(f"/api/v1/plans/{plan['id']}/questions/{q2}/note",
                        json={"version": plan["version"], "note": "Delad tanke", "shared": True}).get_json()
    for eid in ALL_EXPORTERS:
        for lang in ("sv", "en"):
            coach_text = text_of(eid, export(coach, plan["id"], eid, lang).data)
            assert "Hemlig tanke" not in coach_text, eid
            raw = export(coach, plan["id"], eid, lang).data
            assert b"Hemlig" not in raw and "Hemlig".encode("utf-16-be") not in raw
    for eid in ("plan-pdf", "plan-docx", "plan-md", "plan-json", "guide-pdf", "guide-docx"):
        coach_text = text_of(eid, export(coach, plan["id"], eid, "sv").data)
        assert "Delad tanke" in coach_text, eid
        own = text_of(eid, export(employee, plan["id"], eid, "en").data)  # the employee's own export has everything
        assert "Hemlig tanke" in own, eid
        if eid == "plan-json":
            assert {q["note"]: q["shared"] for q in json.loads(own)["questions"]} == {"Hemlig tanke": False, "Delad tanke": True}
        else:
            assert "private note" in own, eid  # … and says which note is still private


def test_a_plan_still_exports_after_the_licence_lapses(licensor, world, tmp_path):  # noqa: F811
    app, coach, employee, emp = world
    reg = app.extensions["kbp"].registry
    assert reg.entitlements.install(reg.frameworks["malin-lindelow"], licensor()).ok
    plan = api_flow(coach, emp["id"], focus=["malin-lindelow:ledarskap", "malin-lindelow:tydlig"])
    assert reg.entitlements.store.remove("malin_lindelow")  # the licence is removed (file or database)
    assert coach.get("/api/v1/frameworks/malin-lindelow").status_code == 403
    for eid in ALL_EXPORTERS:
        assert "Ledarskap" in text_of(eid, export(coach, plan["id"], eid, "sv").data), eid
        assert "Leadership" in text_of(eid, export(coach, plan["id"], eid, "en").data), eid
    exported = json.loads(export(coach, plan["id"], "plan-json", "en").data)
    assert not list(Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER).iter_errors(exported))


# ----------------------------------------------------------------------------- outside a request


def test_exporters_translate_without_a_request(planned):
    """Called directly (a script, a job): the locale argument decides the language, not the caller's context."""
    app, coach, employee, plan = planned
    from core import plans

    storage = app.extensions["kbp"].storage
    stored = storage.collection("plans").get(plan["id"])
    exporters = app.extensions["kbp"].registry.exporters
    with app.app_context():
        document = plans.plan_document(storage, stored, "coach", "sv")
        in_app = exporters["plan-md"].export(document, "sv").decode()
    document = plans.plan_document(storage, stored, "coach", "sv")
    bare = exporters["plan-md"].export(document, "sv").decode()
    assert "## Fokuskompetenser" in in_app and "## Fokuskompetenser" in bare
    assert re.search(r"Sida 1 av \d", " ".join(pdf_pages(exporters["plan-pdf"].export(document, "sv"))))
    english = plans.plan_document(storage, stored, "coach", "en")
    assert "## Focus competencies" in exporters["plan-md"].export(english, "en").decode()


def test_an_empty_plan_and_awkward_text_export(world):  # noqa: F811
    """A plan just started (no focus, no activities) exports, and so does text no font or format expects."""
    app, coach, employee, emp = world
    plan = coach.post("/api/v1/plans", json={"person_id": emp["id"], "situation": "role_changes"}).get_json()
    validator = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for eid in ALL_EXPORTERS:
        data = export(coach, plan["id"], eid, "sv").data
        assert data, eid
    assert not list(validator.iter_errors(json.loads(export(coach, plan["id"], "plan-json", "en").data)))
    plan = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "focus": FOCUS[:1]}).get_json()
    awkward = "Läs 📚 和 Ωμέγα\tflik\r\n" + "Ordutanmellanrum" * 12 + " {nb} slut"
    plan = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "activities": [
        {"title": awkward[:200], "description": awkward * 3, "owner": "Ö" * 100, "due": "2030-01-01"}]}).get_json()
    for eid in ALL_EXPORTERS:
        assert export(coach, plan["id"], eid, "en").data, eid
    text = " ".join(pdf_pages(export(coach, plan["id"], "plan-pdf", "en").data))
    assert "Ωμέγα" in text and "nb} slut" in text  # fpdf2's page-count alias stays text in plan text


def test_missing_fonts_fail_the_plugin_with_the_reason(monkeypatch, tmp_path):
    shipped = pdf_plugin.VENDORED_FONTS
    monkeypatch.setattr(pdf_plugin, "VENDORED_FONTS", tmp_path / "vendored")
    monkeypatch.setattr(pdf_plugin, "SYSTEM_FONTS", tmp_path / "system")
    with pytest.raises(RuntimeError, match="fonts are missing"):
        pdf_plugin.kbp_exporters()
    (tmp_path / "system").mkdir()
    for name in pdf_plugin.SYSTEM_FONT_FILES.values():  # a system copy of the same fonts is the fallback
        shutil.copy(shipped / pdf_plugin.FONT_FILES["B" if "Bold" in name else ""], tmp_path / "system" / name)
    assert {p.parent for p in pdf_plugin.font_files().values()} == {tmp_path / "system"}
