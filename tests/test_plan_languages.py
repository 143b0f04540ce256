"""Plan correctness across languages (issue 23, items 7–9): an activity is filed under the focus
competency it serves; a reader of a language the plan's snapshots lack gets the live translation,
then the framework's source language; the Markdown export is valid CommonMark."""
from __future__ import annotations

import re

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from icalendar import Calendar
from markdown_it import MarkdownIt

from core import i18n, plans
from plugins.export_plan_text import PlanMarkdown
from tests.test_lindelow import licensor  # noqa: F401 - fixture
from tests.test_plans import api_flow, world  # noqa: F401 - fixture

LISTENING, PLANNING = "kbp-sample:active-listening", "kbp-sample:planning-own-work"


# ----------------------------------------------------------------------------- 7: filing per focus competency


def test_a_picked_activity_is_filed_under_the_focus_competency_it_serves(world):  # noqa: F811
    app, coach, employee, emp = world
    plan = coach.post("/api/v1/plans", json={"person_id": emp["id"], "situation": "new_role"}).get_json()
    plan = coach.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "focus": [LISTENING, PLANNING]}).get_json()
    suggested = coach.get(f"/api/v1/plans/{plan['id']}/suggestions?lang=en").get_json()["activities"]
    planning_only = next(a for a in suggested if a["competencies"] == [PLANNING])
    listening_only = next(a for a in suggested if a["competencies"] == [LISTENING])
    body = {"version": plan["version"], "activities": [{"ref": {"source": a["source"], "id": a["id"]}, "due": "2030-06-30"}
                                                       for a in (planning_only, listening_only)]}
    plan = coach.patch(f"/api/v1/plans/{plan['id']}", json=body).get_json()
    assert [a["competency"] for a in plan["activities"]] == [PLANNING, LISTENING]
    # and so the exports name the right competency
    ics = coach.get(f"/api/v1/plans/{plan['id']}/export/plan-ics?lang=en").data
    todos = [c for c in Calendar.from_ical(ics).walk() if c.name == "VTODO"]
    categories = [[str(x) for x in todo.get("categories").cats] for todo in todos]
    assert categories == [["Planning one's work"], ["Active listening"]]
    csv_text = coach.get(f"/api/v1/plans/{plan['id']}/export/plan-csv?lang=en").data.decode("utf-8-sig")
    rows = csv_text.splitlines()[1:]
    assert "Planning one's work" in rows[0] and "Active listening" in rows[1]


# ----------------------------------------------------------------------------- 8: a language the snapshot lacks


def test_a_plan_older_than_a_language_shows_the_live_translation_else_the_source(licensor, world, tmp_path):  # noqa: F811
    app, coach, employee, emp = world
    reg = app.extensions["kbp"].registry
    assert reg.entitlements.install(reg.frameworks["malin-lindelow"], licensor()).ok
    plan = api_flow(coach, emp["id"], focus=["malin-lindelow:ledarskap", "malin-lindelow:tydlig"])
    assert set(plan["focus"][0]["name"]) == {"sv", "en"}  # snapshots of the languages that existed
    storage = app.extensions["kbp"].storage
    stored = storage.collection("plans").get(plan["id"])

    # a new language "vo" without any content translation: the framework's source language (Swedish)
    with app.test_request_context("/"):
        doc = plans.plan_document(storage, stored, "coach", "vo")
    assert doc["focus"][0]["name"] == "Ledarskap"
    assert doc["focus"][0]["definition"] == plan["focus"][0]["definition"]["sv"]
    assert doc["activities"][0]["title"] == plan["activities"][0]["title"]["sv"]
    assert doc["questions"][0]["text"] == plan["questions"][0]["text"]["sv"]

    # a translator adds "vo" to the framework's catalog: the plan shows the live translation
    folder = tmp_path / "lindelow-locales"
    catalog = Catalog(locale="en", domain="malin_lindelow")  # plural rules of a known locale
    catalog.add("Ledarskap", "Lederskap (vo)")
    (folder / "vo" / "LC_MESSAGES").mkdir(parents=True)
    with open(folder / "vo" / "LC_MESSAGES" / "malin_lindelow.mo", "wb") as fh:
        write_mo(fh, catalog)
    reg.locale_dirs["malin_lindelow"] = str(folder)
    i18n.reset_cache()
    try:
        with app.test_request_context("/"):
            doc = plans.plan_document(storage, stored, "coach", "vo")
    finally:
        i18n.reset_cache()
    assert doc["focus"][0]["name"] == "Lederskap (vo)"
    assert doc["focus"][1]["name"] == plan["focus"][1]["name"]["sv"]  # not translated yet: the source
    # languages the snapshot has are still served from the snapshot
    with app.test_request_context("/"):
        assert plans.plan_document(storage, stored, "coach", "en")["focus"][0]["name"] == "Leadership"


def test_pick_without_an_origin_prefers_the_reader_then_any_text():
    assert plans.pick({"sv": "Ledarskap", "en": "Leadership"}, "en") == "Leadership"
    assert plans.pick({"_": "Skrivet i samtalet"}, "en") == "Skrivet i samtalet"
    assert plans.pick({}, "sv") == ""


# ----------------------------------------------------------------------------- 9: Markdown export


def _document(**overrides):
    document = {"id": "p1", "person": {"id": "x", "name": "A *B* | C", "job_title": ""}, "coach": None,
                "mode": "coaching", "situation": "new_role", "status": "draft", "agreed": {}, "follow_up_date": "2026-12-06",
                "focus": [{"competency": "c1", "framework": "F", "name": "1. Lyssna", "definition": "# inte en rubrik\n2) inte en lista",
                           "goal": "Nå 100 % <b>fetstil</b> & &amp; mer"}],
                "questions": [{"id": "q", "competency": "c1", "kind": "coaching", "text": "Vad gör du _nu_?",
                               "note": "6. des. 2026 följer vi upp\n- inte en punkt\n+ inte heller\n> inget citat\n===",
                               "shared": True}],
                "follow_ups": [{"at": 1796544000, "note": "3. gången [länk](http://x) `kod` \\ snedstreck"}],
                "meta": {"demo": False},
                "activities": [{"id": "a", "competency": "c1", "title": "# a | b", "description": "- x ~~y~~", "kind": "training",
                                "effort": "", "owner": "", "due": "2026-12-06", "status": "planned", "source": ""}]}
    document.update(overrides)
    return document


def _inline_texts(tokens) -> list[str]:
    """The text a reader sees, per block, as markdown-it-py (a CommonMark parser) renders it."""
    out = []
    for tok in tokens:
        if tok.type == "inline":
            parts = []
            for child in tok.children or []:
                if child.type in ("text", "code_inline", "html_inline"):
                    parts.append(child.content if child.type != "code_inline" else f"`{child.content}`")
                elif child.type in ("softbreak", "hardbreak"):
                    parts.append("\n")
            out.append("".join(parts))
    return out


def test_markdown_export_escapes_only_what_commonmark_needs():
    md = PlanMarkdown().export(_document(), "nb").decode("utf-8")
    assert "\\6" not in md and "\\3" not in md and not re.search(r"\\\d", md)  # a backslash before a digit is no escape
    parser = MarkdownIt("commonmark").enable("table")
    tokens = parser.parse(md)
    texts = _inline_texts(tokens)
    # what was written is what a reader sees: no stray backslashes, no accidental markup
    assert "A *B* | C" in texts[0]
    assert "1. Lyssna" in texts
    assert "# inte en rubrik\n2) inte en lista" in texts
    assert any("Nå 100 % <b>fetstil</b> & &amp; mer" in t for t in texts)
    assert any(t.endswith("\n6. des. 2026 följer vi upp\n- inte en punkt\n+ inte heller\n> inget citat\n===") for t in texts)
    assert any("3. gången [länk](http://x) `kod` \\ snedstreck" in t for t in texts)
    assert "# a | b" in texts  # a table cell
    assert "6. des. 2026" in texts  # the due date in its cell (Norwegian medium date)
    assert any("- x ~~y~~" in t for t in texts)
    # structure: no list, heading or blockquote came from plan text
    kinds = [t.type for t in tokens]
    assert "blockquote_open" not in kinds and "ordered_list_open" not in kinds
    headings = [t for t in tokens if t.type == "heading_open"]
    assert len(headings) == len(re.findall(r"^#{1,6} ", md, re.M))
    assert not any(t.type == "html_block" or (t.type == "inline" and any(c.type == "html_inline" for c in t.children or []))
                   for t in tokens)
