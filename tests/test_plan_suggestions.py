"""The plan's activity step shows suggested activities a page at a time (thousands at organisation
scale), and "show more" keeps what was ticked: a save first, then the longer list."""
from __future__ import annotations

import re

from tests.helpers import csrf_token
from tests.test_framework_remove import coach_with_plan

FOCUS = "kbp-sample:active-listening"


def picks(html: str) -> list[str]:
    return re.findall(r'name="pick" value="([^"]+)"', html)


def test_suggestions_come_a_page_at_a_time_and_show_more_keeps_the_picks(make_app):
    app = make_app()
    admin = app.test_client()
    for n in range(45):
        r = admin.post("/api/v1/activity-sources/inhouse/activities", json={
            "title": {"en": f"Listening exercise {n}"}, "description": {"en": "Summarise before you answer."},
            "competencies": [FOCUS], "kind": "on_the_job", "effort": "hours", "source_language": "en"})
        assert r.status_code == 201, r.get_json()
    coach, plan = coach_with_plan(app, FOCUS)
    url = f"/plans/{plan['id']}/activities"

    page = coach.get(f"{url}?lang=en").get_data(as_text=True)
    first = picks(page)
    total = int(re.search(r"Showing 30 of (\d+) suggestions\.", page).group(1))
    assert len(first) == 30 and total >= 45
    more = min(30, total - 30)
    link = re.search(r'<a href="([^"]+)"[^>]*data-keep-link>([^<]+)</a>', page)
    assert link and link.group(1) == f"{url}?shown={30 + more}#suggestion-31"
    assert link.group(2) == f"Show {more} more suggestions"

    longer = coach.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert picks(longer)[:30] == first and len(picks(longer)) == min(total, 60)
    assert 'id="suggestion-31" tabindex="-1"' in longer  # where the link lands (and focus can go)
    assert coach.get(f"{url}?shown=999999").get_data(as_text=True).count('name="pick"') == total
    for odd in ("abc", "-5", "0", "12345678901"):
        assert len(picks(coach.get(f"{url}?shown={odd}").get_data(as_text=True))) == 30, odd

    # ticked on the longer list, saved (as the link does when something is ticked): back on that list
    chosen = picks(longer)[40]
    r = coach.post(f"{url}?shown=60", data={"csrf_token": csrf_token(coach, url), "version": plan["version"],
                                            "pick": chosen, "save": "1"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"{url}?shown=60"), r.headers.get("Location")
    saved = coach.get(f"/api/v1/plans/{plan['id']}").get_json()
    assert [f"{a['ref']['source']}:{a['ref']['id']}" for a in saved["activities"]] == [chosen]
    assert chosen not in picks(coach.get(f"{url}?shown=60").get_data(as_text=True))


def test_a_step_link_with_unsaved_input_saves_first_and_goes_there(make_app):
    """The "goto" of a step link (and of "show more") wins over the page's own address."""
    app = make_app()
    coach, plan = coach_with_plan(app, FOCUS)
    url = f"/plans/{plan['id']}/activities"
    page = coach.get(url).get_data(as_text=True)
    r = coach.post(url, data={"csrf_token": csrf_token(coach, url), "version": plan["version"], "pick": picks(page)[0],
                              "goto": f"{url}?shown=60#suggestion-31"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"{url}?shown=60#suggestion-31")


def test_the_api_gives_the_first_activity_limit_suggestions_and_the_total(make_app):
    app = make_app()
    admin = app.test_client()
    for n in range(12):
        admin.post("/api/v1/activity-sources/inhouse/activities", json={
            "title": {"en": f"Listening exercise {n}"}, "description": {"en": "Summarise first."},
            "competencies": [FOCUS], "kind": "on_the_job", "effort": "hours", "source_language": "en"})
    coach, plan = coach_with_plan(app, FOCUS)
    url = f"/api/v1/plans/{plan['id']}/suggestions"
    everything = coach.get(url).get_json()
    total = everything["activity_total"]
    assert total >= 12 and len(everything["activities"]) == total  # fewer than the default 100
    assert sum(everything["kinds"].values()) == total
    five = coach.get(f"{url}?activity_limit=5").get_json()
    assert five["activity_total"] == total and five["kinds"] == everything["kinds"]
    assert [a["id"] for a in five["activities"]] == [a["id"] for a in everything["activities"][:5]]
    for bad in ("-1", "1001", "many"):
        r = coach.get(f"{url}?activity_limit={bad}")
        assert r.status_code == 422 and "activity_limit" in str(r.get_json()["errors"]), bad
