"""Every main page in Debian's Chromium, in Swedish and English, as the role that uses it (issue 18).

One walk per language visits every page once, in one browser, and checks three things on it:

* at 320×640 (WCAG 1.4.10, reflow) the page does not scroll sideways:
  ``document.documentElement.scrollWidth <= innerWidth``;
* at 390×844 (a common phone) a screenshot is saved in ``test-artifacts/phone-<lang>-<page>.png``;
* at 1280×800 axe-core (the npm package from ``tests/node``, injected with Playwright's
  ``add_script_tag``) runs the WCAG 2.1 A/AA rules; any *critical* or *serious* violation fails.

The data is the demo (banner, licensed Lindelöw framework with its long Swedish names) plus a
coaching plan, a self-reflection with a private and a shared note, notifications, and text with
long Swedish compound words. ``test_every_main_page_is_walked`` keeps the list of pages complete:
a new page route must be added to the walk (or to ``NOT_PAGES`` with the reason).
"""
from __future__ import annotations

import json
import re
import threading
from datetime import date, timedelta

import pytest
from werkzeug.serving import make_server

from core import create_app, reminders
from core.demo import DEMO_PASSWORD, seed_demo
from tests.helpers import csrf_token, node_package, plain_client
from tests.test_browser import ARTIFACTS, CHROMIUM, browser  # noqa: F401 - fixture

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LONG_WORD = "Medarbetarsamtalsförberedelsedokumentationsansvarig"  # a real-looking Swedish compound
#: GET routes that are not pages people read (downloads, feeds, probes) — why each is left out
NOT_PAGES = {
    "/admin/sources/<source_id>/export.<fmt>": "a file download",
    "/calendar/<token>.ics": "a calendar feed",
    "/healthz": "a probe for load balancers",
    "/me/export": "a JSON download",
    "/people/<person_id>/export": "a JSON download",
    "/overview.csv": "a CSV download",
    "/static/<path:filename>": "static files",
    "/logout": "POST only",
    "/login/sso/<provider_id>": "a redirect to the identity provider",
    "/login/sso/<provider_id>/callback": "the provider's answer; a refusal is the sign-in page (axe: tests/test_sso_browser.py)",
}


def _api(client, method, url, **kw):
    r = getattr(client, method)(url, **kw)
    assert r.status_code < 300, (url, r.status_code, r.get_data(as_text=True)[:500])
    return r.get_json()


def _client(app, username):
    client = plain_client(app)
    token = csrf_token(client)
    r = client.post("/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(client, "/me")
    return client


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    app = create_app({"TESTING": False, "DEMO": True, "DATA_DIR": str(tmp_path_factory.mktemp("pages"))})
    list(seed_demo(app))
    storage = app.extensions["kbp"].storage
    people = {p["email"]: p for p in storage.collection("people").find()}
    emp = people["employee@demo.kbp"]
    admin, coach, employee = (_client(app, f"{r}@demo.kbp") for r in ("admin", "coach", "employee"))
    # long Swedish compound words where people type text
    _api(admin, "patch", f"/api/v1/people/{emp['id']}", json={"job_title": LONG_WORD, "unit": "Kundtjänstutvecklingsavdelningen"})
    soon = (date.today() + timedelta(days=3)).isoformat()
    # a coaching plan with everything a plan can have
    plan = _api(coach, "post", "/api/v1/plans", json={"person_id": emp["id"], "situation": "new_role"})
    plan = _api(coach, "patch", f"/api/v1/plans/{plan['id']}", json={
        "version": plan["version"],
        "focus": ["malin-lindelow:problemlosande-analysformaga", "malin-lindelow:sjalvstandighet", "kbp-sample:active-listening"]})
    s = _api(coach, "get", f"/api/v1/plans/{plan['id']}/suggestions")
    plan = _api(coach, "patch", f"/api/v1/plans/{plan['id']}", json={
        "version": plan["version"], "questions": [q["id"] for q in s["questions"][:4]],
        "own_questions": [{"text": f"Vad behöver du av mig som {LONG_WORD.lower()}?"}],
        "activities": [{"ref": {"source": a["source"], "id": a["id"]}, "owner": "Sam Lind", "due": soon} for a in s["activities"][:3]]
        + [{"title": f"Skugga en {LONG_WORD.lower()}", "description": "Två dagar i april.", "owner": LONG_WORD}],
        "goals": {"malin-lindelow:sjalvstandighet": f"Bli en trygg {LONG_WORD.lower()}."},
        "follow_up_date": soon})
    plan = _api(coach, "put", f"/api/v1/plans/{plan['id']}/questions/{plan['questions'][0]['id']}/note",
                json={"version": plan["version"], "note": f"Vill bli {LONG_WORD.lower()}."})
    plan = _api(coach, "put", f"/api/v1/plans/{plan['id']}/activities/{plan['activities'][0]['id']}/status",
                json={"version": plan["version"], "status": "in_progress"})
    _api(coach, "post", f"/api/v1/plans/{plan['id']}/follow-ups", json={"version": plan["version"], "note": "Första uppföljningen."})
    # the employee's own self-reflection: one private and one shared note
    mine = _api(employee, "post", "/api/v1/plans", json={"person_id": emp["id"], "situation": "grow_further", "mode": "self_reflection"})
    mine = _api(employee, "patch", f"/api/v1/plans/{mine['id']}", json={"version": mine["version"], "focus": ["malin-lindelow:tydlig"]})
    s = _api(employee, "get", f"/api/v1/plans/{mine['id']}/suggestions")
    mine = _api(employee, "patch", f"/api/v1/plans/{mine['id']}", json={
        "version": mine["version"], "questions": [q["id"] for q in s["questions"][:2]],
        "activities": [{"ref": {"source": a["source"], "id": a["id"]}} for a in s["activities"][:1]]})
    q1, q2 = (q["id"] for q in mine["questions"])
    mine = _api(employee, "put", f"/api/v1/plans/{mine['id']}/questions/{q1}/note", json={"version": mine["version"], "note": "Bara för mig."})
    mine = _api(employee, "put", f"/api/v1/plans/{mine['id']}/questions/{q2}/note",
                json={"version": mine["version"], "note": "Delad med min coach.", "shared": True})
    with app.app_context():
        reminders.plan_run(storage, app.config)
    # a framework imported through KBP, which an admin may remove (its confirmation page is walked)
    from tests.test_interop_files import WHAT_STANDARDS

    _api(admin, "post", "/api/v1/framework-imports?filename=standards.json", data=WHAT_STANDARDS.read_bytes())
    inhouse = next(iter(app.extensions["kbp"].registry.activity_sources["inhouse"].records()))
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{srv.server_port}", "app": app, "plan": plan["id"], "mine": mine["id"],
           "emp": emp["id"], "inhouse": inhouse["id"]}
    srv.shutdown()


def pages(site) -> list[tuple[str, str, str, str]]:
    """(role, name, path, route) for every main page, as the role that uses it."""
    plan, mine, emp, act = site["plan"], site["mine"], site["emp"], site["inhouse"]
    return [
        ("anonymous", "login", "/login", "/login"),
        ("admin", "home", "/", "/"),
        ("admin", "framework", "/frameworks/malin-lindelow", "/frameworks/<framework_id>"),
        ("admin", "competency", "/frameworks/malin-lindelow/problemlosande-analysformaga", "/frameworks/<framework_id>/<competency_id>"),
        ("admin", "activity-search", "/activities?q=sj%C3%A4lvst%C3%A4ndighet", "/activities"),
        ("admin", "plugins", "/plugins", "/plugins"),
        ("admin", "framework-import", "/admin/framework-import", "/admin/framework-import"),
        ("admin", "framework-remove", "/admin/frameworks/what-standards-could-be/remove",
         "/admin/frameworks/<framework_id>/remove"),
        ("admin", "inhouse-list", "/admin/sources/inhouse/activities", "/admin/sources/<source_id>/activities"),
        ("admin", "inhouse-new", "/admin/sources/inhouse/activities/new", "/admin/sources/<source_id>/activities/new"),
        ("admin", "inhouse-edit", f"/admin/sources/inhouse/activities/{act}", "/admin/sources/<source_id>/activities/<activity_id>"),
        ("admin", "inhouse-import", "/admin/sources/inhouse/import", "/admin/sources/<source_id>/import"),
        ("admin", "overview", "/overview", "/overview"),
        ("admin", "people", "/people", "/people"),
        ("admin", "person-new", "/people/new", "/people/new"),
        ("admin", "person", f"/people/{emp}", "/people/<person_id>"),
        ("admin", "person-edit", f"/people/{emp}/edit", "/people/<person_id>/edit"),
        ("admin", "person-erase", f"/people/{emp}/erase", "/people/<person_id>/erase"),
        ("coach", "recruitment", f"/people/{emp}/recruitment", "/people/<person_id>/recruitment"),
        ("admin", "people-import", "/people/import", "/people/import"),
        ("admin", "accounts", "/admin/accounts", "/admin/accounts"),
        ("admin", "audit", "/admin/audit", "/admin/audit"),
        ("admin", "api-docs", "/api/v1/docs", "/api/v1/docs"),
        ("admin", "not-found", "/plans/no-such-plan", None),
        ("coach", "start", "/start", "/start"),
        ("employee", "my-start", "/start", "/start"),
        ("admin", "admin-start", "/start", "/start"),
        ("coach", "plans", "/plans", "/plans"),
        ("coach", "plan-new", "/plans/new", "/plans/new"),
        ("coach", "plan-focus", f"/plans/{plan}/focus", "/plans/<plan_id>/focus"),
        ("coach", "plan-questions", f"/plans/{plan}/questions", "/plans/<plan_id>/questions"),
        ("coach", "plan-activities", f"/plans/{plan}/activities", "/plans/<plan_id>/activities"),
        ("coach", "plan", f"/plans/{plan}", "/plans/<plan_id>"),
        ("coach", "plan-guide", f"/plans/{plan}/guide", "/plans/<plan_id>/guide"),
        ("employee", "my-plans", "/plans", "/plans"),
        ("employee", "my-plan", f"/plans/{plan}", "/plans/<plan_id>"),
        ("employee", "my-self-reflection", f"/plans/{mine}", "/plans/<plan_id>"),
        ("employee", "my-questions", f"/plans/{mine}/questions", "/plans/<plan_id>/questions"),
        ("employee", "prepare", f"/plans/{plan}/prepare", "/plans/<plan_id>/prepare"),
        ("employee", "notifications", "/notifications", "/notifications"),
        ("employee", "me", "/me", "/me"),
        ("employee", "me-reminders", "/me/reminders", "/me/reminders"),
    ]


def _sign_in(context, base, lang, role):
    page = context.new_page()
    if role != "anonymous":
        page.goto(f"{base}/login?lang={lang}")
        page.locator("#username").fill(f"{role}@demo.kbp")
        page.locator("#password").fill(DEMO_PASSWORD)
        page.locator("form button[type=submit]").last.click()
        page.wait_for_url(f"{base}/**")
    return page


def _axe_serious(page, axe_js: str) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=axe_js)
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
                           WCAG_TAGS)
    return [f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["target"][0] if isinstance(n["target"][0], str)
                                                                    else json.dumps(n["target"]) for n in v["nodes"][:5])
            for v in result["violations"] if v["impact"] in ("critical", "serious")]


@pytest.fixture(scope="module")
def walks(site, browser):  # noqa: F811
    """Per language: {page name: {"overflow": px, "axe": [violations], "shot": path}}; one page load per page."""
    axe_js = str(node_package("axe-core") / "axe.min.js")
    ARTIFACTS.mkdir(exist_ok=True)
    base = site["url"]
    found: dict[str, dict[str, dict]] = {}
    for lang in ("sv", "en"):
        found[lang] = {}
        contexts = {}
        for role, name, path, _route in pages(site):
            if role not in contexts:
                context = browser.new_context(locale="sv-SE" if lang == "sv" else "en-GB", viewport={"width": 320, "height": 640},
                                              bypass_csp=True)  # add_script_tag injects axe inline
                contexts[role] = (context, _sign_in(context, base, lang, role))
            page = contexts[role][1]
            page.set_viewport_size({"width": 320, "height": 640})
            page.goto(f"{base}{path}{'&' if '?' in path else '?'}lang={lang}")
            assert page.locator("html").get_attribute("lang") == lang, (lang, name)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && e.getClientRects().length)
                .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '')
                     + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')""")
            page.set_viewport_size({"width": 390, "height": 844})
            shot = ARTIFACTS / f"phone-{lang}-{name}.png"
            page.screenshot(path=str(shot), full_page=True)
            header = page.evaluate("""() => { const h = document.querySelector('.site-header');
                return h ? Math.round(h.getBoundingClientRect().bottom) : 0; }""")
            page.set_viewport_size({"width": 1280, "height": 800})
            menu_rows = page.evaluate("""() => new Set([...document.querySelectorAll('.main-menu li')]
                .map(li => Math.round(li.getBoundingClientRect().top))).size""")
            found[lang][name] = {"overflow": overflow, "wide": wide, "shot": shot, "header": header,
                                 "menu_rows": menu_rows, "axe": _axe_serious(page, axe_js)}
        for context, _page in contexts.values():
            context.close()
    (ARTIFACTS / "pages.json").write_text(json.dumps(found, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    return found


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_no_page_scrolls_sideways_at_320_px(walks, lang):
    too_wide = {name: f"{r['overflow']} px too wide: {r['wide']}" for name, r in walks[lang].items() if r["overflow"] > 0}
    assert not too_wide, too_wide


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_phone_screenshots_of_every_page_and_a_short_header(walks, lang):
    for name, r in walks[lang].items():
        assert r["shot"].stat().st_size > 2000, name  # something was drawn
        # header and demo banner together take at most ~15% of a 844 px high phone screen
        assert r["header"] <= 0.15 * 844, (name, r["header"])


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_menu_fits_on_one_line_at_1280_px(walks, lang):
    rows = {name: r["menu_rows"] for name, r in walks[lang].items() if r["menu_rows"] > 1}
    assert walks[lang]["home"]["menu_rows"] == 1 and not rows, rows  # admin: the longest menu


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_axe_core_finds_no_critical_or_serious_violation_on_any_page(walks, lang):
    violations = {name: r["axe"] for name, r in walks[lang].items() if r["axe"]}
    assert not violations, json.dumps(violations, indent=1, ensure_ascii=False)


def test_the_axe_scan_can_fail(browser):  # noqa: F811
    """The scan itself: a page with an unlabelled field and an image without a text is caught."""
    page = browser.new_page()
    page.set_content('<html lang="en"><title>t</title><main><img src="x.png"><input type="text"></main></html>')
    found = _axe_serious(page, str(node_package("axe-core") / "axe.min.js"))
    assert any(v.startswith("image-alt") for v in found) and any(v.startswith("label") for v in found), found
    page.close()


def test_every_main_page_is_walked(site):
    app = site["app"]
    walked = {route for _role, _name, _path, route in pages(site) if route}
    routes = {r.rule for r in app.url_map.iter_rules()
              if "GET" in r.methods and (not r.rule.startswith("/api/") or r.rule == "/api/v1/docs")}
    missing = routes - walked - set(NOT_PAGES)
    assert not missing, f"add these pages to the walk in tests/test_browser_pages.py: {sorted(missing)}"


def test_on_a_phone_the_menu_opens_and_the_plan_keeps_its_field_labels(site, browser):  # noqa: F811
    context = browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    page = _sign_in(context, site["url"], "en", "coach")
    page.goto(f"{site['url']}/plans/{site['plan']}?lang=en")
    menu, toggle = page.locator("#site-menu"), page.get_by_role("button", name="Menu")
    assert not menu.is_visible() and toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert menu.is_visible() and toggle.get_attribute("aria-expanded") == "true"
    assert page.get_by_role("link", name="Plans", exact=True).is_visible()
    page.keyboard.press("Escape")
    assert not menu.is_visible()
    # owner, due date and status of every activity show their label, and name the activity for a screen reader
    first = page.locator("table.plan-activities tbody tr").first
    title = first.locator("th").inner_text().splitlines()[0].strip()
    for field, text in (("owner", "Owner"), ("due", "Due"), ("status", "Status")):
        label = first.locator(f"label[for^={field}_]")
        box = label.bounding_box()
        assert box and box["width"] > 20 and box["height"] > 10, field
        assert label.inner_text().strip().startswith(text)
        control = first.locator(f"[name^={field}_]")
        assert page.get_by_label(f"{text} – {title}").first.get_attribute("id") == control.get_attribute("id")
    context.close()


def test_print_a_plan_like_the_pdf(site, browser):  # noqa: F811
    """Print on a plan page: no menu, buttons or form fields; the goals, activities and dates as text, on few pages."""
    from io import BytesIO

    from pypdf import PdfReader

    context = browser.new_context(locale="sv-SE")
    page = _sign_in(context, site["url"], "sv", "coach")
    page.goto(f"{site['url']}/plans/{site['plan']}?lang=sv")
    page.emulate_media(media="print")
    hidden = page.evaluate("""() => [...document.querySelectorAll('nav, button, .site-footer, form[action*="/follow-up"]')]
        .filter(e => e.offsetParent !== null || getComputedStyle(e).display !== 'none')
        .filter(e => e.getClientRects().length).map(e => e.outerHTML.slice(0, 80))""")
    assert hidden == [], hidden
    borders = page.evaluate("""() => [...document.querySelectorAll('#plan-form input, #plan-form select, #plan-form textarea')]
        .filter(e => e.type !== 'hidden' && getComputedStyle(e).borderTopStyle !== 'none' && getComputedStyle(e).borderTopWidth !== '0px').length""")
    assert borders == 0
    text = "\n".join(p.extract_text() for p in PdfReader(BytesIO(page.pdf(format="A4"))).pages)
    pages = len(PdfReader(BytesIO(page.pdf(format="A4"))).pages)
    assert "Utvecklingsplan för Sam Lind" in text
    assert "Bli en trygg" in text  # a goal, from its field
    assert "Skugga en" in text, text
    assert "Pågår" in text and "Status" in text, text  # the last column fits on the page too
    assert "Logga ut" not in text and "Spara planen" not in text
    assert pages <= 3, pages
    (ARTIFACTS / "print-plan-sv.pdf").write_bytes(page.pdf(format="A4"))  # for a look: what Print gives
    context.close()


def _contrast(rgb_a: str, rgb_b: str) -> float:
    def lum(css: str) -> float:
        r, g, b = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(rgb_a), lum(rgb_b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_focus_step_counts_the_choice_and_lists_name_matches_first(site, browser):  # noqa: F811
    context = browser.new_context(locale="sv-SE")
    page = _sign_in(context, site["url"], "sv", "coach")
    page.goto(f"{site['url']}/plans/{site['plan']}/focus?lang=sv")
    count = page.locator("#chosen-count")
    assert count.inner_text() == "3 av 5 valda" and count.get_attribute("aria-live") == "polite"
    page.locator("#competency-filter").fill("tydlig")
    visible = page.locator(".competency-choice:visible label strong")
    names = [visible.nth(i).inner_text() for i in range(visible.count())]
    assert names[0] == "Tydlig" and len(names) > 1, names  # the name first, then definitions that mention it
    page.get_by_label("Tydlig", exact=True).check()
    assert count.inner_text() == "4 av 5 valda"
    page.locator("#competency-filter").fill("")
    assert page.locator(".competency-choice:visible").count() > 30  # everything back in its group
    context.close()


def test_the_focus_outline_has_at_least_3_to_1_contrast(site, browser):  # noqa: F811
    context = browser.new_context(locale="en-GB")
    page = _sign_in(context, site["url"], "en", "coach")
    page.goto(f"{site['url']}/plans?lang=en")
    for _ in range(3):  # the skip link, then the page's links and buttons: keyboard focus
        page.keyboard.press("Tab")
        style = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
            return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }""")
        assert style[0] != "none" and float(style[1].rstrip("px")) >= 2, style
        assert _contrast(style[2], "rgb(255, 255, 255)") >= 3, style
    context.close()
