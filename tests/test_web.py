"""The HTML shell: home, framework, competency and plugins pages, escaping of plugin text, security
headers and HTML error pages in the layout.
"""
from __future__ import annotations

import re

import pytest
from markupsafe import escape

from tests.conftest import plugin_spec

PAYLOAD = "<script>alert(1)</script>"


def html(response) -> str:
    assert response.mimetype == "text/html", response.content_type
    return response.get_data(as_text=True)


def e(text: str) -> str:
    return str(escape(text))


def row_of(page: str, name: str) -> str:
    """The table row (``<tr>…</tr>``) of the plugins page that names plugin ``name``."""
    for row in re.findall(r"<tr\b.*?</tr>", page, re.DOTALL):
        if re.search(rf">\s*{re.escape(name)}\b", row):
            return row
    raise AssertionError(f"no row for plugin {name!r}")


def assert_layout(page: str) -> None:
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert '<main id="main">' in page
    assert 'href="/plugins"' in page  # the main menu
    assert "/static/kbp.css" in page


# --------------------------------------------------------------------------- pages


def test_home_lists_the_sample_framework_and_its_competencies(client, sample):
    page = html(client.get("/"))
    assert_layout(page)
    assert e(sample["name"]) in page
    for comp in sample["competencies"]:
        assert e(comp["name"]) in page
        assert f'href="/frameworks/{sample["id"]}/{comp["id"]}"' in page
    for group in sample["groups"]:
        assert e(group["group"]["name"]) in page


def test_framework_page(client, sample):
    page = html(client.get(f"/frameworks/{sample['id']}"))
    assert_layout(page)
    assert e(sample["name"]) in page
    for comp in sample["competencies"]:
        assert e(comp["definition"]) in page


def test_competency_page_shows_definition_questions_and_activities(client, sample):
    comp = sample["competencies"][0]
    response = client.get(f"/frameworks/{sample['id']}/{comp['id']}")
    assert response.status_code == 200
    page = html(response)
    assert_layout(page)
    assert e(comp["name"]) in page
    assert e(comp["definition"]) in page
    questions = comp.get("coaching_questions", []) + comp.get("self_reflection_questions", [])
    activities = comp.get("activities", [])
    assert questions and activities, "the sample competency should have questions and activities"
    for q in questions:
        assert e(q["text"]) in page
    for a in activities:
        assert e(a["title"]) in page
        assert e(a["description"]) in page
    # nothing from another competency
    other = sample["competencies"][1]
    assert e(other["definition"]) not in page


def test_competency_page_shows_activities_from_every_source(make_app, thirdparty_locales):
    from tests.conftest import THIRDPARTY_SPEC
    from tests.plugins import thirdparty

    client = make_app(PLUGINS=[THIRDPARTY_SPEC], **{thirdparty.LOCALES_SETTING: str(thirdparty_locales)}).test_client()
    activity = thirdparty.ACTIVITIES[0]
    framework_id, competency_id = activity["competencies"][0].split(":")
    page = html(client.get(f"/frameworks/{framework_id}/{competency_id}"))
    assert e(activity["title"]) in page
    assert e(thirdparty.QUESTION_SET["questions"][0]["text"]) in page


def test_plugins_page_lists_plugins_with_their_state(make_app):
    client = make_app(PLUGINS=[plugin_spec("broken_import")]).test_client()
    page = html(client.get("/plugins"))
    assert_layout(page)
    listing = client.get("/api/v1/plugins").get_json()
    assert listing
    for record in listing:
        row = row_of(page, record["name"])
        if record["version"]:
            assert e(record["version"]) in row
        for hook in record["hooks"]:
            assert hook in row
    assert "Active" in row_of(page, "sample_framework")
    broken = row_of(page, "broken_import")
    assert "Failed" in broken
    assert e("the frobnicator library is missing") in broken


def test_unknown_framework_and_competency_are_html_404(client, sample):
    for url in ("/frameworks/no-such-framework", f"/frameworks/{sample['id']}/no-such-competency"):
        response = client.get(url)
        assert response.status_code == 404
        assert_layout(html(response))


def test_404_page_is_html_in_the_layout(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    page = html(response)
    assert_layout(page)
    assert "<h1>" in page
    assert "Traceback" not in page


def test_405_page_is_html_with_allow_header(client):
    response = client.post("/")
    assert response.status_code == 405
    assert_layout(html(response))
    assert "GET" in response.headers.get("Allow", "")


def test_language_switch_is_remembered(make_app, ui_locales_sv):
    client = make_app(LOCALES_DIR=str(ui_locales_sv)).test_client()
    assert '<html lang="en">' in html(client.get("/"))
    assert '<html lang="sv">' in html(client.get("/?lang=sv"))
    assert '<html lang="sv">' in html(client.get("/plugins"))  # remembered in the session
    response = client.get("/?lang=xx")  # the web ignores an unknown language; only the API refuses it
    assert response.status_code == 200
    assert '<html lang="sv">' in html(response)


# --------------------------------------------------------------------------- escaping


@pytest.fixture
def xss_client(make_app):
    return make_app(PLUGINS=[plugin_spec("xss"), plugin_spec("xss_reason")]).test_client()


@pytest.mark.parametrize("url", ["/", "/frameworks/xss-demo", "/frameworks/xss-demo/escaping", "/plugins"])
def test_plugin_text_is_escaped(xss_client, url):
    response = xss_client.get(url)
    assert response.status_code == 200
    page = html(response)
    assert PAYLOAD not in page
    assert e(PAYLOAD) in page


def test_every_piece_of_plugin_text_reaches_the_page_escaped(xss_client):
    from tests.plugins import xss

    page = html(xss_client.get(f"/frameworks/{xss.FRAMEWORK_ID}/{xss.COMPETENCY_ID}"))
    for label in ("Competency", "Definition", "Question", "Activity", "Activity description"):
        assert e(f"{label} {PAYLOAD}") in page, label
    plugins_page = html(xss_client.get("/plugins"))
    assert e(f"reason with markup {PAYLOAD}") in row_of(plugins_page, "xss_reason")


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize("url", ["/", "/plugins", "/no/such/page", "/api/v1/frameworks", "/api/v1/nope", "/api/v1/docs"])
def test_security_headers(client, url):
    headers = client.get(url).headers
    csp = headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp
    assert "script-src" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("X-Frame-Options") == "DENY"


def test_pages_have_no_inline_script(client, sample):
    """The CSP forbids inline script, so the pages must not rely on any."""
    for url in ("/", "/plugins", f"/frameworks/{sample['id']}", "/api/v1/docs"):
        page = html(client.get(url))
        for tag in re.findall(r"<script\b[^>]*>", page):
            assert "src=" in tag, f"inline script on {url}: {tag}"
        assert not re.search(r"\son[a-z]+\s*=", page), f"inline event handler on {url}"
