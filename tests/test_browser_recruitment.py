"""From recruitment to development in a real browser (issue 17), in Swedish and English.

* A coach keeps the recruitment record of a new employee (competencies of the requirement profile,
  the interview questions, an assessment, interview notes, the agreed development need); starting
  a dialogue in *recruited with a development need* offers the record, and the plan starts with
  the focus competency and the goal filled in. The coach sees the interview notes beside the
  dialogue; the employee sees the agreed need, never the notes.
* The employee prepares for the medarbetarsamtal: one answer kept private, one shared; the coach
  sees the shared one in the dialogue and not the private one.

Playwright drives Debian's Chromium, with the fixtures of ``tests/test_browser.py``; axe-core checks
every page shown for WCAG 2.1 A/AA.
"""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from core import create_app
from tests.helpers import make_account, make_person
from tests.test_browser import CHROMIUM, PASSWORD, TEXT, browser, shot, sign_in  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
pytest.importorskip("playwright.sync_api")
axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def check(page, name: str) -> None:
    """A screenshot, and no WCAG 2.1 A/AA violation that axe-core finds on the page."""
    shot(page, name)
    results = axe_sync.Axe().run(page, options=WCAG)
    assert results.violations_count == 0, results.generate_report()

WORDS = {
    "sv": {"record": "Rekryteringsunderlag", "to_assessment": "Vidare till bedömningen", "interview": "Intervjufrågor",
           "probe": "Hur märkte du det?", "save_record": "Spara rekryteringsunderlaget", "saved_record": "Rekryteringsunderlaget sparades.",
           "offer": "Utgå från rekryteringsunderlaget?", "from_record": "Utgå från rekryteringsunderlaget",
           "from_recruitment": "Från rekryteringen", "notes": "Avbröt två gånger innan frågan var ställd.",
           "need": "Sammanfatta vad den andra sagt innan du svarar.", "prepare": "Förbered dina svar inför samtalet",
           "share": "Dela med min coach", "save_prep": "Spara min förberedelse", "saved_prep": "Din förberedelse sparades.",
           "private": "Jag blir otålig i långa möten.", "shared": "Jag vill öva på att ställa följdfrågor.",
           "prep_heading": "Förberedelse inför medarbetarsamtalet", "notes_label": "Intervjuanteckningar (bara coach och HR)",
           "need_label": "Överenskommet utvecklingsbehov (personen ser detta)", "rating": "2 – Visades delvis",
           "follow_up": "Frågor till uppföljningsmötet"},
    "en": {"record": "Recruitment record", "to_assessment": "Continue to the assessment", "interview": "Interview questions",
           "probe": "How did you notice?", "save_record": "Save the recruitment record", "saved_record": "The recruitment record was saved.",
           "offer": "Start from the recruitment record?", "from_record": "Start from the recruitment record",
           "from_recruitment": "From the recruitment", "notes": "Interrupted twice before the question was finished.",
           "need": "Summarise what the other person said before replying.", "prepare": "Prepare your answers before the talk",
           "share": "Share with my coach", "save_prep": "Save my preparation", "saved_prep": "Your preparation was saved.",
           "private": "I get impatient in long meetings.", "shared": "I want to practise asking follow-up questions.",
           "prep_heading": "Preparation for the annual development talk", "notes_label": "Interview notes (coach and HR only)",
           "need_label": "Agreed development need (the person sees this)", "rating": "2 – Partly shown",
           "follow_up": "Questions for the follow-up meeting"},
}


@pytest.fixture(scope="module")
def recruit_server(tmp_path_factory):
    """A coach and, per language, a newly recruited employee they coach."""
    app = create_app({"TESTING": False, "DATA_DIR": str(tmp_path_factory.mktemp("browser-recruitment"))})
    coach_p = make_person(app, "Rut Rekryterare")
    make_account(app, "coach", coach_p, password=PASSWORD)
    hired = {}
    for lang in ("sv", "en"):
        hired[lang] = make_person(app, f"Nyanställd {lang.upper()}", coach_id=coach_p["id"])
        make_account(app, "employee", hired[lang], password=PASSWORD)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{srv.server_port}", "coach": coach_p, "hired": hired, "app": app}
    srv.shutdown()


def _sign_out(page, base, lang):
    page.goto(f"{base}/")
    page.get_by_role("button", name=TEXT[lang]["sign_out"]).click()
    page.wait_for_url(f"{base}/login")


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_recruitment_record_to_plan_and_preparation_in_the_browser(recruit_server, browser, lang):
    t, w = TEXT[lang], WORDS[lang]
    base = recruit_server["url"]
    person = recruit_server["hired"][lang]
    context = browser.new_context(locale="sv-SE" if lang == "sv" else "en-GB")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # the coach keeps the recruitment record
    sign_in(page, base, lang, recruit_server["coach"]["email"])
    page.goto(f"{base}/people/{person['id']}")
    page.get_by_role("link", name=w["record"]).click()
    page.get_by_label(t["competency"]).check()
    page.get_by_role("button", name=w["to_assessment"]).click()
    page.get_by_text(w["interview"]).click()  # the interview questions, with their follow-up probes
    assert page.get_by_text(w["probe"]).is_visible()
    page.get_by_label(w["rating"]).check()
    page.get_by_label(w["notes_label"]).fill(w["notes"])
    page.get_by_label(w["need_label"]).fill(w["need"])
    check(page, f"{lang}-20-recruitment-record")
    page.get_by_role("button", name=w["save_record"]).click()
    assert w["saved_record"] in page.content()
    assert page.get_by_label(w["notes_label"]).input_value() == w["notes"]

    # "recruited with a development need" offers the record; the plan starts pre-filled
    page.goto(f"{base}/plans/new")
    page.locator("#person_id").select_option(person["id"])
    page.locator('input[name="situation"][value="recruited_need"]').check()
    page.get_by_role("button", name=t["continue"]).click()
    assert page.locator("h1").inner_text() == w["offer"]
    assert w["need"] in page.content() and w["notes"] not in page.content()
    check(page, f"{lang}-21-recruitment-offer")
    page.get_by_role("button", name=w["from_record"], exact=True).click()
    assert page.get_by_label(t["competency"]).is_checked()
    page.get_by_role("button", name=t["to_questions"]).click()
    assert page.get_by_role("heading", name=w["from_recruitment"]).is_visible()
    assert w["notes"] in page.content()  # the coach sees the interview notes beside the dialogue
    page.locator('input[name="question"]').first.check()
    with page.expect_navigation():  # the questions page posts and comes back to itself
        page.get_by_role("button", name="Spara" if lang == "sv" else "Save", exact=True).click()
    page.get_by_role("button", name=t["to_activities"]).click()
    page.locator('input[name="pick"]').first.check()
    page.get_by_role("button", name=t["to_plan"]).click()
    assert page.locator("textarea[name^=goal_]").first.input_value() == w["need"]
    page.get_by_text(w["follow_up"]).click()  # the follow-up meeting's questions, per competency
    check(page, f"{lang}-22-plan-from-recruitment")
    plan_url = page.url
    _sign_out(page, base, lang)

    # the employee: the agreed need, never the notes; prepares, shares one answer
    sign_in(page, base, lang, person["email"])
    page.goto(plan_url)
    assert w["need"] in page.content() and w["notes"] not in page.content()
    page.get_by_role("link", name=w["prepare"]).click()
    assert page.locator("h1").inner_text() == w["prep_heading"]
    answers = page.locator("textarea[name^=answer_]")
    answers.nth(0).fill(w["private"])
    answers.nth(1).fill(w["shared"])
    page.get_by_label(w["share"]).nth(1).check()
    check(page, f"{lang}-23-preparation")
    page.get_by_role("button", name=w["save_prep"]).click()
    assert w["saved_prep"] in page.content()
    assert page.locator("textarea[name^=answer_]").nth(0).input_value() == w["private"]
    page.goto(f"{base}/people/{person['id']}/recruitment")
    assert w["need"] in page.content() and w["notes"] not in page.content()
    _sign_out(page, base, lang)

    # the coach sees the shared answer in the dialogue, not the private one
    sign_in(page, base, lang, recruit_server["coach"]["email"])
    page.goto(plan_url)
    assert page.get_by_role("heading", name=w["prep_heading"]).is_visible()
    assert w["shared"] in page.content() and w["private"] not in page.content()
    check(page, f"{lang}-24-plan-coach-sees-shared")
    assert errors == []
    context.close()
