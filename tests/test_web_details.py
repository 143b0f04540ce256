"""Issue 18, part 2, without a browser: times in the organisation's time zone, search by competency
name, the admin activity form's errors, and the accessible names and landmarks of the pages."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from core import create_app
from tests.helpers import csrf_token, make_account, make_person, sign_in
from tests.test_privacy import org  # noqa: F401 - fixture: two coaches, an employee, an admin

SUMMER_NOON_UTC = datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc).timestamp()  # 12:00 in Stockholm (CEST)
WINTER_UTC = datetime(2026, 1, 15, 23, 30, tzinfo=timezone.utc).timestamp()  # 00:30 the next day in Stockholm


def _plan_with_follow_ups(app):
    """A plan whose follow-ups were written at known UTC times; the coach's client."""
    storage = app.extensions["kbp"].storage
    coach_p = make_person(app, "Karin Coach")
    emp_p = make_person(app, "Erik Medarbetare", coach_id=coach_p["id"])
    coach = make_account(app, "coach", coach_p)
    plan = storage.collection("plans").insert({
        "person_id": emp_p["id"], "coach_id": coach_p["id"], "created_by": coach["id"], "mode": "coaching",
        "situation": "new_role", "focus": [], "questions": [], "activities": [], "status": "draft",
        "follow_ups": [{"at": SUMMER_NOON_UTC, "by": coach_p["id"], "note": "Sommar"},
                       {"at": WINTER_UTC, "by": coach_p["id"], "note": "Vinter"}],
        "follow_up_date": None, "agreed": {"employee": None, "coach": None}, "version": 1,
        "created_at": SUMMER_NOON_UTC, "updated_at": SUMMER_NOON_UTC})
    from tests.helpers import plain_client

    return plan, sign_in(plain_client(app), coach)


def test_times_are_shown_in_the_organisations_time_zone_by_default(make_app):
    app = make_app()
    assert app.config["TIMEZONE"] == "Europe/Stockholm"
    plan, coach = _plan_with_follow_ups(app)
    sv = coach.get(f"/plans/{plan['id']}?lang=sv").get_data(as_text=True)
    assert "2026-07-01 12:00" in sv and "2026-01-16 00:30" in sv  # summer and winter time, and the day changes
    assert "10:00" not in sv and "23:30" not in sv
    en = coach.get(f"/plans/{plan['id']}?lang=en").get_data(as_text=True)
    assert re.search(r"01/07/2026,? 12:00|7/1/26,? 12:00\s?PM", en), en[:200]


def test_kbp_timezone_chooses_another_zone(make_app, monkeypatch):
    monkeypatch.setenv("KBP_TIMEZONE", "America/New_York")
    app = make_app()
    plan, coach = _plan_with_follow_ups(app)
    sv = coach.get(f"/plans/{plan['id']}?lang=sv").get_data(as_text=True)
    assert "2026-07-01 06:00" in sv and "2026-01-15 18:30" in sv


def test_an_unknown_time_zone_stops_the_start_with_a_message(tmp_path):
    with pytest.raises(SystemExit, match="KBP_TIMEZONE: unknown time zone 'Europe/Atlantis'"):
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "TIMEZONE": "Europe/Atlantis"})


# ----------------------------------------------------------------------------- the admin activity form


def _field_tag(html: str, field_id: str) -> str:
    return re.search(rf'<(?:input|textarea|select)[^>]*\bid="{re.escape(field_id)}"[^>]*>', html).group(0)


@pytest.mark.parametrize("lang, title_label, comp_label, comp_message", [
    ("sv", "Titel (svenska)", "Kompetenser", "Välj minst en kompetens"),
    ("en", "Title (svenska)", "Competencies", "Choose at least one competency"),
])
def test_activity_form_errors_name_fields_by_label_all_at_once_and_mark_each_field(make_app, lang, title_label, comp_label,
                                                                                    comp_message):
    from tests.helpers import signed_in_client

    app = make_app()
    client = signed_in_client(app, "admin")
    form = {"source_language": "sv", "title_sv": "", "title_en": "x" * 201, "description_sv": "", "description_en": "",
            "kind": "training", "effort": "months", "url": "ftp://example.org", "csrf_token": csrf_token(client)}
    r = client.post(f"/admin/sources/inhouse/activities/new?lang={lang}", data=form)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    summary = re.search(r'<div class="error" role="alert">(.*?)</div>', html, re.S).group(1)
    items = re.findall(r'<li><a href="#([^"]+)">([^<]+)</a>: ([^<]+)</li>', summary)
    fields = [f for f, _label, _m in items]
    # every problem at once, in the order of the form, named by its label in the reader's language
    assert fields == ["title_sv", "description_sv", "title_en", "competencies-0", "url"], items
    labels = dict((f, label) for f, label, _m in items)
    assert labels["title_sv"] == title_label and labels["competencies-0"] == comp_label
    assert comp_message in dict((f, m) for f, _l, m in items)["competencies-0"]
    assert "title:" not in summary and "(sv)" not in summary and "Mellan 1 och 20" not in summary
    for field in ("title_sv", "description_sv", "title_en", "url"):
        tag = _field_tag(html, field)
        assert 'aria-invalid="true"' in tag and f'aria-describedby="error-{field}"' in tag, tag
        assert re.search(rf'<p class="field-error" id="error-{field}">[^<]+</p>', html), field
    assert 'aria-invalid="true"' in _field_tag(html, "competencies-0")
    assert 'aria-invalid' not in _field_tag(html, "kind")  # fields without a problem are not marked
    # nothing was saved
    assert not list(app.extensions["kbp"].registry.activity_sources["inhouse"].records())


def test_activity_form_puts_the_source_language_first_and_marks_only_typed_text_with_its_language(make_app):
    from tests.helpers import signed_in_client

    app = make_app()
    client = signed_in_client(app, "admin")
    html = client.get("/admin/sources/inhouse/activities/new?lang=sv").get_data(as_text=True)  # default: DEFAULT_LOCALE, en
    assert html.index('id="title_en"') < html.index('id="title_sv"')
    assert "<fieldset lang=" not in html  # the legend and labels are in the reader's language
    assert 'lang="sv"' in _field_tag(html, "title_sv") and 'lang="en"' in _field_tag(html, "description_en")
    form = {"source_language": "sv", "title_sv": "", "csrf_token": csrf_token(client)}
    html = client.post("/admin/sources/inhouse/activities/new?lang=en", data=form).get_data(as_text=True)
    assert html.index('id="title_sv"') < html.index('id="title_en"')  # written in Swedish: its block first
    assert "Title (svenska)" in html


# ----------------------------------------------------------------------------- search by competency name


def _search(client, q, **params):
    r = client.get("/api/v1/activities/search", query_string={"q": q, "limit": 100, **params})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


@pytest.mark.parametrize("query", ["aktivt lyssnande", "Active listening", "lyssnand", "AKTIVT LYSSNANDE"])
def test_a_query_naming_a_competency_finds_its_activities_first(app, query):
    from tests.helpers import signed_in_client

    client = signed_in_client(app, "coach")
    own = [a["id"] for a in _search(client, "", competency="kbp-sample:active-listening")["results"]]
    assert len(own) >= 3
    found = _search(client, query, lang="sv")
    ids = [a["id"] for a in found["results"]]
    assert ids[:len(own)] == own, ids  # every activity of the competency, first
    assert found["total"] == len(ids) == len(set(ids))
    # paging gives the same order, with nothing twice and nothing left out
    paged = [a["id"] for off in range(0, len(ids), 2)
             for a in _search(client, query, lang="sv", limit=2, offset=off)["results"]]
    assert paged == ids
    # the page shows them too
    page = client.get("/activities", query_string={"q": query, "lang": "sv"}).get_data(as_text=True)
    assert all(f'{a["id"]}' in page or a["title"] in page for a in found["results"][:len(own)])


def test_a_vague_or_unrelated_query_names_no_competency(app):
    from core.activity_search import searcher

    s = searcher(app)
    with app.app_context():
        assert s.named_competencies("lär") == []  # too short to be a name
        assert s.named_competencies("lyssnande") == ["kbp-sample:active-listening"]
        assert s.named_competencies("learning") == ["kbp-sample:learning-from-mistakes"]
        assert s.named_competencies("aktivt lyssnande bok") == []  # a name plus other words: a text search
        # a competency filter keeps its meaning: the named competency outside it adds nothing
        hits, total = s.search("aktivt lyssnande", locale="sv", competencies=["kbp-sample:sharing-knowledge"])
        assert all("kbp-sample:sharing-knowledge" in a.competencies for _h, a in hits)


# ----------------------------------------------------------------------------- the dialogue and plan pages


def test_every_step_names_the_person_and_suggestions_say_which_focus_they_serve(org):  # noqa: F811
    from tests.test_privacy import coaching_plan

    plan = coaching_plan(org["old"], org["emp_p"]["id"])
    for step in ("focus", "questions", "activities", ""):
        url = f"/plans/{plan['id']}/{step}".rstrip("/")
        assert "Utvecklingsdialog med Erik Medarbetare" in org["old"].get(f"{url}?lang=sv").get_data(as_text=True), step
    page = org["old"].get(f"/plans/{plan['id']}/activities?lang=en").get_data(as_text=True)
    suggestions = page.split('<ul class="activities">')[1].split("</ul>")[0]
    items = suggestions.count('<li class="activity"')
    assert items and suggestions.count('<p class="serves">For: <strong>Active listening</strong></p>') == items


def test_the_employee_sees_which_notes_are_private_and_the_coach_does_not(org):  # noqa: F811
    from tests.test_privacy import self_reflection

    plan, _qp, _qs, _qo = self_reflection(org["emp"], org["emp_p"]["id"], private_note="Min tanke", shared_note="Vår tanke")
    mine = org["emp"].get(f"/plans/{plan['id']}?lang=en").get_data(as_text=True)
    assert re.search(r"Private: only you see it</span><blockquote>Min tanke", mine)
    assert re.search(r"Shared with your coach</span><blockquote>Vår tanke", mine)
    assert "Självreflektion: Erik Medarbetare" in org["emp"].get(f"/plans/{plan['id']}?lang=sv").get_data(as_text=True)
    theirs = org["old"].get(f"/plans/{plan['id']}?lang=en").get_data(as_text=True)
    assert "Min tanke" not in theirs and "only you see it" not in theirs and "Vår tanke" in theirs


def test_downloads_are_one_menu_and_employees_get_pdf_word_and_calendar(org):  # noqa: F811
    from tests.test_privacy import coaching_plan

    plan = coaching_plan(org["old"], org["emp_p"]["id"])

    def formats(client):
        page = client.get(f"/plans/{plan['id']}?lang=en").get_data(as_text=True)
        menu = re.search(r'<details class="download-menu"><summary>Download</summary>(.*?)</details>', page, re.S).group(1)
        return sorted(set(re.findall(r"\(\.(\w+)\)</a>", menu)))

    assert formats(org["emp"]) == ["docx", "ics", "pdf"]
    assert formats(org["old"]) == ["csv", "docx", "ics", "json", "md", "pdf"]


def test_the_demo_banner_is_inside_the_banner_landmark_and_the_guide_has_a_main_landmark(make_app, org):  # noqa: F811
    from tests.helpers import plain_client
    from tests.test_privacy import coaching_plan

    page = plain_client(make_app(DEMO=True)).get("/login?lang=sv").get_data(as_text=True)
    header = re.search(r'<header class="site-header">(.*?)</header>', page, re.S).group(1)
    assert 'class="demo-banner"' in header and page.count('class="demo-banner"') == 1
    plan = coaching_plan(org["old"], org["emp_p"]["id"])
    guide = org["old"].get(f"/plans/{plan['id']}/guide?lang=sv").get_data(as_text=True)
    assert guide.count("<main>") == 1 and guide.index("</header>") < guide.index("<main>") < guide.index("<h2>")
