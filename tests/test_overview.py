"""The HR overview against a seeded organisation (``kbp dev seed``): figures, small-group
suppression (also against subtraction), permissions, audit, CSV and the SVG charts."""
from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from click.testing import CliRunner

from core import create_app, overview
from core.cli import main
from tests.conftest import anonymous_client
from tests.helpers import make_account, make_person, sign_in

SEEDED_YEAR = "2024"  # core.seed's plans are created during 2024


@pytest.fixture
def seeded(tmp_path):
    data = str(tmp_path / "seeded")
    result = CliRunner().invoke(main, ["--data-dir", data, "dev", "seed", "--people", "120", "--plans", "400",
                                       "--activities", "60"], env={"KBP_LOCALE": "en"})
    assert result.exit_code == 0, result.output
    return data


@pytest.fixture
def org(seeded, monkeypatch):
    monkeypatch.setenv("KBP_DATA_DIR", seeded)
    app = create_app({"TESTING": True, "DATA_DIR": seeded, "DEFAULT_LOCALE": "en"})
    admin = sign_in(app.test_client(), make_account(app, "admin"))
    return app, admin


def members(storage, unit):
    return {p["id"] for p in storage.collection("people").all()
            if p.get("status", "active") == "active" and (unit is None or (p.get("unit") or "") == unit)}


def test_figures_match_the_seeded_organisation(org):
    app, admin = org
    storage = app.extensions["kbp"].storage
    body = admin.get(f"/api/v1/overview?period={SEEDED_YEAR}").get_json()
    assert body["suppressed"] is False and body["min_group"] == 5
    sizes = Counter((p.get("unit") or "") for p in storage.collection("people").all() if p.get("status") == "active")
    assert body["people"] == sum(sizes.values())
    listed = {u["unit"]: u for u in body["units"]}
    assert set(listed) == set(sizes)
    hidden = {u for u, row in listed.items() if row["suppressed"]}
    # every small unit is hidden, and the hidden ones together are not small (no subtraction attack)
    assert {u for u, n in sizes.items() if n < 5} <= hidden and hidden
    assert sum(sizes[u] for u in hidden) >= 5 or not hidden
    assert all(row["people"] is None for u, row in listed.items() if u in hidden)
    # a shown unit's figures, computed here from the raw plans
    shown = sorted((u for u in sizes if u not in hidden), key=lambda u: -sizes[u])
    assert shown, "the seed should give some units of 5 or more people"
    unit = shown[0]
    ids = members(storage, unit)
    start, end = overview.parse_period(SEEDED_YEAR)[1:]
    plans = [p for p in storage.collection("plans").all() if p["person_id"] in ids and start <= p["created_at"] < end]
    got = admin.get(f"/api/v1/overview?period={SEEDED_YEAR}&unit={unit}").get_json()
    f = got["figures"]
    assert got["people"] == sizes[unit]
    assert f["dialogues"] == len(plans) > 0
    assert f["agreed"] == sum(p["status"] == "agreed" for p in plans)
    assert f["activities_done"] == sum(a["status"] == "done" for p in plans for a in p["activities"])
    assert sum(f["situations"].values()) == len(plans)
    kinds = Counter(a["kind"] for p in plans for a in p["activities"] if a["status"] != "dropped")
    assert {k: v["count"] for k, v in f["mix"].items()} == {k: kinds.get(k, 0) for k in overview.MIX_KINDS}
    focus = Counter(x["competency"] for p in plans for x in p["focus"])
    assert f["focus_top"][0]["count"] == max(focus.values())
    agreed = [p for p in plans if p["status"] == "agreed"]
    if agreed:
        assert f["follow_up_share"] == round(100 * sum(bool(p["follow_ups"]) for p in agreed) / len(agreed))
    # nothing personal in the answer
    text = str(got)
    assert not any(p["name"] in text for p in storage.collection("people").all())
    assert "Utveckla" not in text  # the seeded goals
    # a hidden unit gives no figures at all
    if hidden:
        small = sorted(hidden)[0]
        param = small or overview.NONE_PARAM
        got = admin.get(f"/api/v1/overview?period={SEEDED_YEAR}&unit={param}").get_json()
        assert got["suppressed"] is True and got["figures"] is None and got["people"] is None


def test_complementary_suppression_stops_subtraction():
    sizes = {"A": 6, "B": 7, "C": 2, "D": 40}
    assert overview.suppressed_units(sizes, 5) == {"C", "A"}  # C alone could be worked out as total - others
    assert overview.suppressed_units({"A": 6, "B": 7}, 5) == set()
    assert overview.suppressed_units({"A": 3, "B": 2, "C": 9}, 5) == {"A", "B"}  # together 5: enough
    assert overview.suppressed_units({"A": 4}, 5) == {"A"}
    assert overview.min_group({"OVERVIEW_MIN_GROUP": 1}) == 3 and overview.min_group({}) == 5


def test_a_small_organisation_shows_nothing_and_the_minimum_is_configurable(make_app):
    app = make_app(OVERVIEW_MIN_GROUP=2)  # never below 3
    for i in range(3):
        make_person(app, f"P{i}", unit="Liten")
    account = make_account(app, "admin", make_person(app, "Admin", unit="Liten"))
    body = sign_in(anonymous_client(app), account).get("/api/v1/overview").get_json()
    assert body["min_group"] == 3 and body["suppressed"] is False and body["people"] == 4
    app = make_app(OVERVIEW_MIN_GROUP=10)
    body = sign_in(anonymous_client(app), account).get("/api/v1/overview?unit=Liten").get_json()
    assert body["suppressed"] is True and body["figures"] is None


def test_who_may_see_it_bad_input_and_the_audit_log(org, seeded):
    app, admin = org
    storage = app.extensions["kbp"].storage
    hr_person = make_person(app, "Helena HR")
    hr = make_account(app, "employee", hr_person)
    client = sign_in(app.test_client(), hr)
    assert client.get("/api/v1/overview").status_code == 403
    assert client.get("/overview").status_code == 403
    result = CliRunner().invoke(main, ["--data-dir", seeded, "overview", "grant", hr["username"]], env={"KBP_LOCALE": "en"})
    assert result.exit_code == 0, result.output
    assert client.get(f"/api/v1/overview?period={SEEDED_YEAR}").status_code == 200
    assert 'href="/overview"' in client.get("/").get_data(as_text=True)
    r = client.get("/api/v1/overview?period=last-year")
    assert r.status_code == 422 and r.get_json()["code"] == "bad_period" and "period" in r.get_json()["errors"]
    r = client.get("/api/v1/overview?unit=Nowhere")
    assert r.status_code == 404 and r.get_json()["code"] == "unknown_unit"
    result = CliRunner().invoke(main, ["--data-dir", seeded, "overview", "revoke", hr["username"]], env={"KBP_LOCALE": "en"})
    assert result.exit_code == 0 and client.get("/api/v1/overview").status_code == 403
    bad = CliRunner().invoke(main, ["--data-dir", seeded, "overview", "grant", "nobody@example.test"], env={"KBP_LOCALE": "en"})
    assert bad.exit_code != 0 and "No account" in bad.output
    views = [e for e in storage.collection("audit").all() if e["subject_type"] == "overview"]
    assert any(e["action"] == "view" and e["actor"] == hr["id"] for e in views)


def test_page_with_svg_charts_tables_and_csv(org):
    app, admin = org
    page = admin.get(f"/overview?period={SEEDED_YEAR}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    svgs = [html[i:html.index("</svg>", i) + 6] for i in range(len(html)) if html.startswith("<svg", i)]
    assert len(svgs) == 4
    for svg in svgs:
        root = ET.fromstring(svg)  # well-formed XML
        assert root.get("role") == "img" and root.find("{http://www.w3.org/2000/svg}title").text
        assert root.find("{http://www.w3.org/2000/svg}desc").text
    assert html.count("<table") >= 5  # key figures + one data table per chart
    r = admin.get(f"/overview.csv?period={SEEDED_YEAR}")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Section", "Item", "Value"]
    api = admin.get(f"/api/v1/overview?period={SEEDED_YEAR}").get_json()
    assert ["Development dialogues held", "", str(api["figures"]["dialogues"])] in rows
    storage = app.extensions["kbp"].storage
    assert any(e["action"] == "export" and e["subject_type"] == "overview" for e in storage.collection("audit").all())
