"""The HR overview, the notification list and the reminder settings in Debian's Chromium:
the SVG charts render (screenshots in ``test-artifacts/``) and axe-core finds no WCAG 2.1 A/AA
violation on these pages."""
from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from core import create_app, reminders
from core.cli import main
from core.seed import SEED_PASSWORD
from tests.helpers import make_account, make_person
from tests.test_browser import CHROMIUM, PASSWORD, browser, shot  # noqa: F401 - fixture

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = str(tmp_path_factory.mktemp("overview-browser") / "data")
    result = CliRunner().invoke(main, ["--data-dir", data, "dev", "seed", "--people", "150", "--plans", "400",
                                       "--activities", "80"], env={"KBP_LOCALE": "en"})
    assert result.exit_code == 0, result.output
    app = create_app({"TESTING": False, "DATA_DIR": data})
    storage = app.extensions["kbp"].storage
    # an employee with a plan and an activity due soon, so that the notification list has entries
    coach = storage.collection("accounts").find(role="coach")[0]
    person = make_person(app, "Nora Notis", coach_id=coach["person_id"], locale="sv")
    make_account(app, "employee", person, password=PASSWORD)
    storage.collection("plans").insert({
        "person_id": person["id"], "coach_id": coach["person_id"], "created_by": coach["id"], "mode": "coaching",
        "situation": "new_role", "focus": [], "questions": [], "follow_ups": [], "status": "draft",
        "activities": [{"id": "a1", "title": {"_": "Skuggning"}, "description": {}, "kind": "on_the_job", "status": "planned",
                        "owner": "", "due": (date.today() + timedelta(days=2)).isoformat()}],
        "follow_up_date": (date.today() + timedelta(days=5)).isoformat(),
        "agreed": {"employee": None, "coach": None}, "version": 1, "created_at": 0.0, "updated_at": 0.0})
    with app.app_context():
        reminders.plan_run(storage, app.config)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{srv.server_port}", "employee": person["email"]}
    srv.shutdown()


def sign_in(page, base, lang, username, password):
    page.goto(f"{base}/login?lang={lang}")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(f"{base}/start")


def check(page, name):
    shot(page, name)
    results = axe_sync.Axe().run(page, options=WCAG)
    assert results.violations_count == 0, results.generate_report()


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_overview_charts_render_and_pass_axe(server, browser, lang):  # noqa: F811
    page = browser.new_page()
    base = server["url"]
    sign_in(page, base, lang, "admin@example.org", SEED_PASSWORD)
    page.goto(f"{base}/overview?period=2024")
    charts = page.locator("svg.chart")
    assert charts.count() == 4
    for i in range(4):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 20  # drawn, not collapsed
        assert charts.nth(i).locator("rect").count() >= 1
    check(page, f"overview-{lang}")
    page.close()


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_notifications_and_reminder_settings_pass_axe(server, browser, lang):  # noqa: F811
    page = browser.new_page()
    base = server["url"]
    sign_in(page, base, lang, server["employee"], PASSWORD)
    assert page.locator(".unread-count").inner_text().strip().startswith("2")  # activity due, follow-up soon
    page.goto(f"{base}/notifications")
    assert page.locator("ul.notifications li").count() == 2
    check(page, f"notifications-{lang}")
    page.goto(f"{base}/me/reminders")
    check(page, f"reminder-settings-{lang}")
    page.close()
