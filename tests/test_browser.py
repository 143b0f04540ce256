"""The main job in a real browser: Playwright driving Debian's Chromium against a live server.

For Swedish and English: a coach signs in, runs a dialogue (person and situation, focus
competencies, questions with an autosaved note, activities), saves and agrees the plan, marks an
activity done; then the employee signs in, sees the plan and agrees too. A screenshot of each main
page is saved in ``test-artifacts/`` (kept by CI as an artifact).
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from core import create_app
from tests.helpers import make_account, make_person

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PASSWORD = "correct horse battery"

if CHROMIUM is None and os.environ.get("CI"):
    pytest.fail("CI must install Debian's chromium for the browser tests (.ci/run does).", pytrace=False)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
sync_api = pytest.importorskip("playwright.sync_api")

TEXT = {
    "sv": {"sign_in": "Logga in", "start": "Starta en utvecklingsdialog", "continue": "Fortsätt",
           "to_questions": "Vidare till frågorna", "to_activities": "Vidare till aktiviteterna", "to_plan": "Vidare till planen",
           "save_plan": "Spara planen", "agree": "Jag står bakom planen", "saved": "Sparat", "agreed": "Överenskommen",
           "done": "Klar", "competency": "Aktivt lyssnande", "plan_for": "Utvecklingsplan för", "sign_out": "Logga ut"},
    "en": {"sign_in": "Sign in", "start": "Start a development dialogue", "continue": "Continue",
           "to_questions": "Continue to the questions", "to_activities": "Continue to the activities", "to_plan": "Continue to the plan",
           "save_plan": "Save the plan", "agree": "I agree to this plan", "saved": "Saved", "agreed": "Agreed",
           "done": "Done", "competency": "Active listening", "plan_for": "Development plan for", "sign_out": "Sign out"},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    app = create_app({"TESTING": False, "DATA_DIR": str(tmp_path_factory.mktemp("browser-data"))})
    coach_p = make_person(app, "Karin Coach")
    emp_p = make_person(app, "Erik Medarbetare", coach_id=coach_p["id"])
    make_account(app, "coach", coach_p, password=PASSWORD)
    make_account(app, "employee", emp_p, password=PASSWORD)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{srv.server_port}", "coach": coach_p, "employee": emp_p, "app": app}
    srv.shutdown()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, base: str, lang: str, email: str) -> None:
    t = TEXT[lang]
    page.goto(f"{base}/login?lang={lang}")
    page.get_by_label(t["sign_in"] == "Logga in" and "Inloggningsnamn" or "Sign-in name").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name=t["sign_in"]).click()
    page.wait_for_url(f"{base}/")


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_dialogue_to_agreed_plan_in_the_browser(server, browser, lang):
    t = TEXT[lang]
    base = server["url"]
    context = browser.new_context(locale="sv-SE" if lang == "sv" else "en-GB")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # the coach runs the dialogue
    sign_in(page, base, lang, server["coach"]["email"])
    assert page.locator("html").get_attribute("lang") == lang
    shot(page, f"{lang}-01-home")
    page.goto(f"{base}/plans")
    page.get_by_role("link", name=t["start"]).click()
    page.locator("#person_id").select_option(server["employee"]["id"])
    page.locator('input[name="situation"][value="new_role"]').check()
    shot(page, f"{lang}-02-new-dialogue")
    page.get_by_role("button", name=t["continue"]).click()

    page.get_by_label(t["competency"]).check()
    shot(page, f"{lang}-03-focus")
    page.get_by_role("button", name=t["to_questions"]).click()

    page.locator('input[name="question"]').first.check()
    page.locator('input[name="question"]').nth(1).check()
    page.get_by_role("button", name="Spara" if lang == "sv" else "Save", exact=True).click()
    note = page.locator("textarea[data-autosave]").first
    note.fill("Vill öva på att sammanfatta." if lang == "sv" else "Wants to practise summarising.")
    page.locator(".save-state.saved").first.wait_for(timeout=10000)  # autosave, with a visible state
    assert page.locator(".save-state.saved").first.inner_text() == t["saved"]
    shot(page, f"{lang}-04-questions")
    page.get_by_role("button", name=t["to_activities"]).click()

    page.locator('input[name="pick"]').first.check()
    page.locator('input[name="pick"]').nth(1).check()
    page.locator("#new_title").fill("Skugga en erfaren kollega" if lang == "sv" else "Shadow an experienced colleague")
    shot(page, f"{lang}-05-activities")
    page.get_by_role("button", name=t["to_plan"]).click()

    assert t["plan_for"] in page.locator("h1").inner_text()
    page.locator("textarea[name^=goal_]").first.fill("Sammanfatta innan jag svarar." if lang == "sv" else "Summarise before replying.")
    page.locator("input[type=date][name^=due_]").first.fill("2030-06-30")
    page.get_by_role("button", name=t["save_plan"]).click()
    page.get_by_role("button", name=t["agree"]).click()
    status = page.locator("select[name^=status_]").first
    status.select_option("done")
    page.get_by_role("button", name=t["save_plan"]).click()
    assert page.locator("select[name^=status_]").first.input_value() == "done"
    plan_url = page.url
    shot(page, f"{lang}-06-plan-coach")
    page.goto(plan_url + "/guide")
    shot(page, f"{lang}-07-guide")
    page.goto(f"{base}/")
    page.get_by_role("button", name=t["sign_out"]).click()

    # the employee sees it and agrees
    sign_in(page, base, lang, server["employee"]["email"])
    page.goto(plan_url)
    assert t["competency"] in page.content()
    page.get_by_role("button", name=t["agree"]).click()
    assert page.locator(".status").inner_text() == t["agreed"]
    assert page.locator("select[name^=status_]").first.input_value() == "done"
    shot(page, f"{lang}-08-plan-employee")
    page.goto(f"{base}/plans")
    shot(page, f"{lang}-09-plans")
    # a phone-sized screen: the plan page fits without sideways scrolling
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(plan_url)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, f"{lang}-10-plan-phone")
    assert errors == []
    context.close()


# ----------------------------------------------------------------------------- privacy: who downloads private notes


@pytest.fixture(scope="module")
def privacy_server(tmp_path_factory):
    """An employee with a private and a shared self-reflection note, and an admin."""
    from tests.test_privacy import client_for, self_reflection

    app = create_app({"TESTING": False, "DATA_DIR": str(tmp_path_factory.mktemp("browser-privacy"))})
    emp_p = make_person(app, "Pia Privat")
    admin_p = make_person(app, "Adam Admin")
    emp_a = make_account(app, "employee", emp_p, password=PASSWORD)
    make_account(app, "admin", admin_p, password=PASSWORD)
    self_reflection(client_for(app, emp_a), emp_p["id"], private_note="Min privata tanke", shared_note="Min delade tanke")
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{srv.server_port}", "employee": emp_p, "admin": admin_p}
    srv.shutdown()


def _download(page, link) -> str:
    with page.expect_download() as info:
        link.click()
    return Path(info.value.path()).read_text(encoding="utf-8")


def test_own_export_has_private_notes_and_the_admin_export_does_not(privacy_server, browser):
    base = privacy_server["url"]
    context = browser.new_context(locale="en-GB", accept_downloads=True)
    page = context.new_page()
    sign_in(page, base, "en", privacy_server["employee"]["email"])
    page.goto(f"{base}/me?lang=en")
    own = _download(page, page.get_by_role("link", name="Export my data (JSON)"))
    assert "Min privata tanke" in own and "Min delade tanke" in own
    context.close()

    context = browser.new_context(locale="en-GB", accept_downloads=True)
    page = context.new_page()
    sign_in(page, base, "en", privacy_server["admin"]["email"])
    page.goto(f"{base}/people/{privacy_server['employee']['id']}?lang=en")
    theirs = _download(page, page.get_by_role("link", name="Export all data (JSON)"))
    assert "Min delade tanke" in theirs and "Min privata tanke" not in theirs
    context.close()

@pytest.mark.parametrize("lang", ["sv", "en"])
def test_sign_out_password_change_and_sign_out_everywhere_in_the_browser(server, browser, lang):
    """A copied cookie dies with sign-out; a password change on /me signs out the other browsers;
    *Sign out everywhere* ends this one too. Every field is found by its visible label."""
    labels = {
        "sv": {"current": "Nuvarande lösenord", "new": "Nytt lösenord (minst 12 tecken, inte ett vanligt lösenord)",
               "again": "Nytt lösenord igen", "change": "Byt lösenord", "everywhere": "Logga ut överallt",
               "changed": "Ditt lösenord är bytt", "sign_in": "Logga in"},
        "en": {"current": "Current password", "new": "New password (at least 12 characters, not a common one)",
               "again": "New password again", "change": "Change password", "everywhere": "Sign out everywhere",
               "changed": "Your password was changed", "sign_in": "Sign in"},
    }[lang]
    base = server["url"]
    person = make_person(server["app"], f"Browser {lang}")
    make_account(server["app"], "employee", person, password=PASSWORD)
    new_password = "a brand new passphrase " + lang

    def browser_signed_in(password=PASSWORD):
        context = browser.new_context(locale="sv-SE" if lang == "sv" else "en-GB")
        page = context.new_page()
        page.goto(f"{base}/login?lang={lang}")
        page.locator("#username").fill(person["email"])
        page.locator("#password").fill(password)
        page.get_by_role("button", name=labels["sign_in"]).click()
        page.wait_for_url(f"{base}/")
        return context, page

    # a cookie copied before signing out no longer works afterwards
    first, page = browser_signed_in()
    thief = browser.new_context()
    thief.add_cookies(first.cookies())
    stolen = thief.new_page()
    stolen.goto(f"{base}/me")
    assert stolen.url.startswith(f"{base}/me")
    page.goto(f"{base}/")
    page.get_by_role("button", name=TEXT[lang]["sign_out"]).click()
    page.wait_for_url(f"{base}/login")
    stolen.goto(f"{base}/me")
    assert "/login" in stolen.url
    thief.close()
    first.close()

    # changing the password on /me signs out the other browser, not this one
    laptop, page = browser_signed_in()
    phone, phone_page = browser_signed_in()
    page.goto(f"{base}/me")
    page.get_by_label(labels["current"]).fill(PASSWORD)
    page.get_by_label(labels["new"]).fill(new_password)
    page.get_by_label(labels["again"]).fill(new_password)
    page.get_by_role("button", name=labels["change"]).click()
    assert labels["changed"] in page.content()
    phone_page.goto(f"{base}/me")
    assert "/login" in phone_page.url
    shot(page, f"{lang}-11-my-account")

    # sign out everywhere ends this browser's session as well
    page.get_by_role("button", name=labels["everywhere"]).click()
    page.wait_for_url(f"{base}/login")
    page.goto(f"{base}/me")
    assert "/login" in page.url
    laptop.close()
    phone.close()
