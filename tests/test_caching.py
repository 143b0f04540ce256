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
