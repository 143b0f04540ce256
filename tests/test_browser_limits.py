"""Hostile text on the pages, in a real browser (issue 12, item 12): text with control characters
(as pasted from another program) is refused with a message naming the field; autosave says it was
not saved; nothing is stored."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from core import create_app
from tests.helpers import csrf_token, make_account, make_person, sign_in
from tests.test_browser import CHROMIUM, PASSWORD, browser  # noqa: F401 - fixture
from tests.test_browser import sign_in as browser_sign_in

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    app = create_app({"TESTING": False, "DATA_DIR": str(tmp_path_factory.mktemp("browser-limits"))})
    coach_p = make_person(app, "Karin Coach")
    emp_p = make_person(app, "Erik Medarbetare", coach_id=coach_p["id"])
    coach = make_account(app, "coach", coach_p, password=PASSWORD)
    client = sign_in(app.test_client(), coach)
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(client)
    plan = client.post("/api/v1/plans", json={"person_id": emp_p["id"], "situation": "new_role"}).get_json()
    plan = client.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"],
                                                             "focus": ["kbp-sample:active-listening"]}).get_json()
    suggested = client.get(f"/api/v1/plans/{plan['id']}/suggestions").get_json()["questions"]
    plan = client.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"],
                                                             "questions": [suggested[0]["id"]]}).get_json()
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{srv.server_port}", "coach": coach_p, "plan": plan, "client": client}
    srv.shutdown()


def test_pasted_control_characters_are_refused_on_the_questions_page(live, browser):  # noqa: F811
    base, plan = live["url"], live["plan"]
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    browser_sign_in(page, base, "en", live["coach"]["email"])
    page.goto(f"{base}/plans/{plan['id']}/questions?lang=en")
    # autosave of a note: the API refuses it and the page says it was not saved
    note = page.locator("textarea[data-autosave]").first
    note.evaluate("el => { el.value = 'Vill \\u0007 öva'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    page.locator(".save-state.failed").first.wait_for(timeout=10000)
    assert "control characters" in page.locator(".save-state.failed").first.inner_text()
    # the form: a page naming the field, nothing stored
    page.locator("#own_new").evaluate("el => { el.value = 'Vad \\u0000 behöver du?'; }")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save", exact=True).click()
    assert answer.value.status == 422
    assert "own_new" in page.content() and "control characters" in page.content()
    stored = live["client"].get(f"/api/v1/plans/{plan['id']}").get_json()
    assert stored["version"] == plan["version"] and all(q["note"] == "" for q in stored["questions"])
    context.close()
