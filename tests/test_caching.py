"""Documents served from a per-worker cache: ETag revalidation, and the licence is checked every time."""
from __future__ import annotations


from tests.test_interop import licence_for_tests, licensed_app  # noqa: F401 - fixtures


def test_framework_document_has_an_etag_and_answers_304_while_unchanged(client, sample):
    first = client.get(f"/api/v1/frameworks/{sample['id']}?lang=sv")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"') and first.get_json()["id"] == sample["id"]
    assert {c["id"] for g in first.get_json()["groups"] for c in g["competencies"]} == {c["id"] for c in sample["competencies"]}
    again = client.get(f"/api/v1/frameworks/{sample['id']}?lang=sv", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    other_language = client.get(f"/api/v1/frameworks/{sample['id']}?lang=en", headers={"If-None-Match": etag})
    assert other_language.status_code == 200 and other_language.headers["ETag"] != etag
    assert other_language.get_json() != first.get_json()
    assert client.get(f"/api/v1/frameworks/{sample['id']}?lang=sv", headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_cached_licensed_framework_is_refused_once_its_licence_is_gone(licensed_app, data_dir):
    client = licensed_app.test_client()
    first = client.get("/api/v1/frameworks/malin-lindelow?lang=sv")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert client.get("/api/v1/frameworks/malin-lindelow?lang=sv", headers={"If-None-Match": etag}).status_code == 304
    assert licensed_app.extensions["kbp"].registry.entitlements.store.remove("malin_lindelow")  # while it runs
    gone = client.get("/api/v1/frameworks/malin-lindelow?lang=sv", headers={"If-None-Match": etag})
    assert gone.status_code == 403 and gone.get_json()["code"] == "licence_required"


ACTIVITY = {"title": {"sv": "Skuggning hos en erfaren kollega"}, "description": {"sv": "En dag."},
            "competencies": ["kbp-sample:active-listening"], "kind": "learning_from_others", "effort": "days"}


def test_competency_document_has_an_etag_answers_304_and_changes_with_the_activities(client, make_app):
    url = "/api/v1/frameworks/kbp-sample/competencies/active-listening?lang=sv"
    first = client.get(url)
    assert first.status_code == 200 and first.get_json()["id"] == "active-listening"
    etag = first.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url.replace("lang=sv", "lang=en"), headers={"If-None-Match": etag}).status_code == 200
    assert client.get(url + "&activity_limit=1", headers={"If-None-Match": etag}).status_code == 200
    # an in-house activity added through the API: the next request sees it, with a new ETag
    created = client.post("/api/v1/activity-sources/inhouse/activities", json=ACTIVITY)
    assert created.status_code == 201, created.get_data(as_text=True)
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert created.get_json()["id"] in {a["id"] for a in changed.get_json()["activities"]}
    # ... and one changed by another server process on the same data (a second app on the same store)
    other = make_app().test_client()
    activity_id = created.get_json()["id"]
    patched = other.patch(f"/api/v1/activity-sources/inhouse/activities/{activity_id}",
                          json={"title": {"sv": "Skuggning hos en chef"}})
    assert patched.status_code == 200, patched.get_data(as_text=True)
    again = client.get(url, headers={"If-None-Match": changed.headers["ETag"]})
    assert again.status_code == 200
    assert "Skuggning hos en chef" in {a["title"] for a in again.get_json()["activities"]}


def test_a_cached_licensed_competency_is_refused_once_its_licence_is_gone(licensed_app, data_dir):
    client = licensed_app.test_client()
    registry = licensed_app.extensions["kbp"].registry
    comp = next(iter(registry.frameworks["malin-lindelow"].competencies())).id
    url = f"/api/v1/frameworks/malin-lindelow/competencies/{comp}?lang=sv"
    first = client.get(url)
    assert first.status_code == 200
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert registry.entitlements.store.remove("malin_lindelow")
    gone = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert gone.status_code == 403 and gone.get_json()["code"] == "licence_required"
