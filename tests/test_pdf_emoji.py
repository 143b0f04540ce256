"""PDF exports never drop text silently: a character the embedded font has no glyph for (emoji)
is printed as a visible marker with its Unicode name (issue 16, item 8)."""
from __future__ import annotations

from plugins import export_plan_pdf as pdf_plugin
from tests.test_plan_exports import api_flow, demo_world, export, pdf_pages, pdftotext  # noqa: F401 - fixture


def test_emoji_in_a_plan_are_printed_as_visible_markers(demo_world, tmp_path):  # noqa: F811
    app, coach, emp = demo_world
    plan = api_flow(coach, emp["id"])
    items = [{"id": a["id"]} for a in plan["activities"]] + [
        {"title": "Fira milstolpen 🎉 med teamet 👍🏽", "description": "Flagga 🇸🇪 och ✅ klart", "kind": "on_the_job",
         "due": "2030-05-15"}]
    plan = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "activities": items}).get_json()
    for exporter in ("plan-pdf", "guide-pdf"):
        data = export(coach, plan["id"], exporter, "sv").data
        for pages in (pdf_pages(data), pdftotext(data, tmp_path)):
            if pages is None or exporter == "guide-pdf":
                continue
            text = " ".join(pages)
            assert "Fira milstolpen [party popper] med teamet [thumbs up sign]" in text
            assert "Flagga [flag SE] och [white heavy check mark] klart" in text


def test_the_marker_keeps_what_the_font_has():
    marked = pdf_plugin.printable("Åsa 👍 — “citat” ½ € 🙂", lambda c: ord(c) < 0x1F000)
    assert marked == "Åsa [thumbs up sign] — “citat” ½ € [slightly smiling face]"
    assert pdf_plugin.printable("a\u200db\ufe0fc", lambda c: True) == "a\u200db\ufe0fc"
    assert pdf_plugin.printable("👩‍💻", lambda c: False) == "[woman][personal computer]"
