"""Tests for core.licensing: signed licence files, verification codes, LicenceStore."""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
from datetime import date, timedelta

import pytest

from core import licensing
from core.licensing import (
    LicenceCheck,
    LicenceStore,
    TrustedKey,
    generate_keypair,
    issue_licence,
    load_trusted_keys,
    verify_licence,
)

PRODUCT = "acme-framework"
TODAY = date(2026, 6, 15)
ISSUED = date(2026, 1, 1)
EXPIRES = date(2026, 12, 31)


# ---------------------------------------------------------------------------
# Fixtures and helpers (keys are generated per test session, never stored)
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prod_key():
    return generate_keypair()


@pytest.fixture(scope="module")
def demo_key():
    return generate_keypair()


@pytest.fixture(scope="module")
def trusted(prod_key, demo_key):
    return {
        "prod-1": TrustedKey("prod-1", prod_key[1]),
        "demo-1": TrustedKey("demo-1", demo_key[1], demo=True),
    }


@pytest.fixture(scope="module")
def make(prod_key):
    def _make(pem=None, **overrides) -> bytes:
        kwargs = dict(
            key_id="prod-1", licensee="Example AB", product=PRODUCT,
            issued=ISSUED, expires=EXPIRES, features=["reports", "export"], seats=25,
        )
        kwargs.update(overrides)
        return issue_licence(pem or prod_key[0], **kwargs)
    return _make


def check(data, trusted, *, product=PRODUCT, today=TODAY, demo_mode=False) -> LicenceCheck:
    return verify_licence(
        data, product=product, trusted_keys=trusted, today=today, demo_mode=demo_mode,
    )


def doc_of(data: bytes) -> dict:
    return json.loads(data)


def bytes_of(doc: dict) -> bytes:
    return (json.dumps(doc, indent=2) + "\n").encode()


def tamper_payload(data: bytes) -> bytes:
    """Change one byte of the decoded payload, re-encode it, keep the old checksum."""
    doc = doc_of(data)
    payload = base64.b64decode(doc["payload"])
    new = payload.replace(b"Example AB", b"Example AC")
    assert new != payload
    doc["payload"] = base64.b64encode(new).decode()
    return bytes_of(doc)


def tamper_signature(data: bytes) -> bytes:
    doc = doc_of(data)
    sig = bytearray(base64.b64decode(doc["signature"]))
    sig[10] ^= 0x01
    doc["signature"] = base64.b64encode(bytes(sig)).decode()
    return bytes_of(doc)


# ---------------------------------------------------------------------------
# Keys and issuing
# ---------------------------------------------------------------------------

def test_generate_keypair_formats():
    pem, public = generate_keypair()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert b"ENCRYPTED" not in pem
    assert len(base64.b64decode(public, validate=True)) == 32
    assert generate_keypair()[1] != public


def test_issued_file_format(make):
    data = make(licence_id="L-1")
    assert data.endswith(b"\n")
    doc = doc_of(data)
    assert set(doc) == {"format", "payload", "payload_sha256", "signature"}
    assert doc["format"] == "kbp-licence/1"
    payload_bytes = base64.b64decode(doc["payload"], validate=True)
    assert doc["payload_sha256"] == hashlib.sha256(payload_bytes).hexdigest()
    assert len(base64.b64decode(doc["signature"], validate=True)) == 64
    payload = json.loads(payload_bytes)
    assert payload == {
        "licence_id": "L-1", "licensee": "Example AB", "product": PRODUCT,
        "features": ["reports", "export"], "seats": 25,
        "issued": "2026-01-01", "expires": "2026-12-31", "key_id": "prod-1",
    }


def test_issue_defaults(prod_key, trusted):
    data = issue_licence(prod_key[0], key_id="prod-1", licensee="X", product=PRODUCT,
                         expires=date.today() + timedelta(days=30))
    result = check(data, trusted, today=date.today())
    assert result.ok
    assert result.licence["issued"] == date.today().isoformat()
    assert result.licence["features"] == [] and result.licence["seats"] is None
    assert len(result.licence["licence_id"]) == 36  # uuid4


@pytest.mark.parametrize("bad", [
    dict(expires=ISSUED - timedelta(days=1)),
    dict(seats=0),
    dict(seats=True),
    dict(licensee=""),
    dict(features=["ok", ""]),
])
def test_issue_rejects_bad_arguments(make, bad):
    with pytest.raises(ValueError):
        make(**bad)


def test_issue_rejects_bad_private_key_without_echoing_it(prod_key):
    pem = prod_key[0]
    with pytest.raises(ValueError) as info:
        issue_licence(pem[:-40], key_id="k", licensee="x", product=PRODUCT, expires=EXPIRES)
    assert "PRIVATE" not in str(info.value)
    assert info.value.__cause__ is None


def test_signature_verified_over_exact_bytes_not_reserialised(prod_key, trusted):
    """A payload in any JSON layout is fine as long as the exact bytes are signed."""
    from cryptography.hazmat.primitives import serialization
    key = serialization.load_pem_private_key(prod_key[0], password=None)
    payload = (b'{"key_id":"prod-1","licence_id":"L-9","licensee":"Z","product":"acme-framework",'
               b'"features":[],"seats":null,"issued":"2026-01-01","expires":"2026-12-31"}')
    doc = {
        "format": "kbp-licence/1",
        "payload": base64.b64encode(payload).decode(),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "signature": base64.b64encode(key.sign(payload)).decode(),
    }
    assert check(bytes_of(doc), trusted).code == "ok"


# ---------------------------------------------------------------------------
# Verification codes
# ---------------------------------------------------------------------------

def test_valid_licence_ok(make, trusted):
    result = check(make(), trusted)
    assert result.ok and result.code == "ok"
    assert "Example AB" in result.message and "2026-12-31" in result.message
    assert result.expires == EXPIRES and result.issued == ISSUED
    assert result.licensee == "Example AB"
    assert result.features == {"reports", "export"}
    assert result.seats == 25
    assert result.demo is False
    assert result.days_left(TODAY) == (EXPIRES - TODAY).days


def test_valid_on_issue_and_expiry_day_inclusive(make, trusted):
    assert check(make(), trusted, today=ISSUED).ok
    assert check(make(), trusted, today=EXPIRES).ok


def test_expired(make, trusted):
    result = check(make(), trusted, today=EXPIRES + timedelta(days=1))
    assert not result.ok and result.code == "expired"
    assert "2026-12-31" in result.message and "kbp license install" in result.message
    assert result.features == frozenset()  # nothing granted when not ok
    assert result.licence["licensee"] == "Example AB"  # still shown for diagnostics


def test_not_yet_valid_issued_in_future(make, trusted):
    result = check(make(issued=TODAY + timedelta(days=10), expires=TODAY + timedelta(days=400)),
                   trusted)
    assert result.code == "not_yet_valid"


def test_not_yet_valid_clock_before_issue(make, trusted):
    result = check(make(), trusted, today=date(1970, 1, 1))
    assert not result.ok and result.code == "not_yet_valid"
    assert "clock" in result.message and "1970-01-01" in result.message


def test_tampered_payload(make, trusted):
    result = check(tamper_payload(make()), trusted)
    assert not result.ok and result.code == "tampered_payload"


def test_tampered_payload_with_recomputed_checksum_is_bad_signature(make, trusted):
    doc = doc_of(tamper_payload(make()))
    doc["payload_sha256"] = hashlib.sha256(base64.b64decode(doc["payload"])).hexdigest()
    assert check(bytes_of(doc), trusted).code == "bad_signature"


def test_tampered_signature(make, trusted):
    result = check(tamper_signature(make()), trusted)
    assert not result.ok and result.code == "bad_signature"


@pytest.mark.parametrize("signature", ["", "not base64!!", base64.b64encode(b"x" * 63).decode()])
def test_unusable_signature_is_bad_signature(make, trusted, signature):
    doc = doc_of(make())
    doc["signature"] = signature
    assert check(bytes_of(doc), trusted).code == "bad_signature"


def test_signed_by_other_key_with_trusted_key_id(make, trusted):
    forger_pem, _ = generate_keypair()
    assert check(make(pem=forger_pem), trusted).code == "bad_signature"


def test_wrong_product(make, trusted):
    result = check(make(product="other-product"), trusted)
    assert not result.ok and result.code == "wrong_product"
    assert "other-product" in result.message and PRODUCT in result.message


def test_unknown_key(make, trusted):
    other_pem, _ = generate_keypair()
    result = check(make(pem=other_pem, key_id="rogue-7"), trusted)
    assert not result.ok and result.code == "unknown_key"
    assert "rogue-7" in result.message


def test_missing(trusted):
    result = check(None, trusted)
    assert not result.ok and result.code == "missing"
    assert result.licence is None
    assert "kbp license install" in result.message


@pytest.mark.parametrize("data", [
    os.urandom(300),
    b"",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b'"just a string"',
    b"{}",
    b'{"keys": []}',
    b'{"format": "kbp-licence/1"}',
    b'{"format": "kbp-licence/1", "payload": 5, "payload_sha256": "00", "signature": "AA=="}',
    b"{" * 100000,
])
def test_garbage_is_malformed(trusted, data):
    result = check(data, trusted)
    assert not result.ok and result.code == "malformed"


def _with_payload(data: bytes, payload: bytes) -> bytes:
    doc = doc_of(data)
    doc["payload"] = base64.b64encode(payload).decode()
    doc["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    return bytes_of(doc)


def _payload(data: bytes) -> dict:
    return json.loads(base64.b64decode(doc_of(data)["payload"]))


@pytest.mark.parametrize("mutate", [
    lambda p: p.pop("key_id"),
    lambda p: p.pop("seats"),
    lambda p: p.update(licensee=""),
    lambda p: p.update(product=42),
    lambda p: p.update(features="reports"),
    lambda p: p.update(seats="25"),
    lambda p: p.update(seats=False),
    lambda p: p.update(expires="31/12/2026"),
    lambda p: p.update(expires="20261231"),
    lambda p: p.update(issued="2026-02-30"),
    lambda p: p.update(issued="2027-01-01"),  # after expiry
])
def test_bad_payload_fields_are_malformed(make, trusted, mutate):
    payload = _payload(make())
    mutate(payload)
    result = check(_with_payload(make(), json.dumps(payload).encode()), trusted)
    assert result.code == "malformed"
    assert isinstance(result.licence, dict)  # kept for diagnostics


@pytest.mark.parametrize("payload", [b"not json", b"[]", b"\xff\xfe", b'{"a": 1, "a": 2}'])
def test_undecodable_payload_is_malformed(make, trusted, payload):
    assert check(_with_payload(make(), payload), trusted).code == "malformed"


@pytest.mark.parametrize("change", [
    {"payload": "@@@not-base64@@@"},
    {"payload_sha256": "abc"},
    {"format": "kbp-licence/2"},
    {"format": "something-else"},
])
def test_bad_envelope_is_malformed(make, trusted, change):
    doc = doc_of(make())
    doc.update(change)
    assert check(bytes_of(doc), trusted).code == "malformed"


def test_unknown_future_format_message_mentions_upgrade(make, trusted):
    doc = doc_of(make())
    doc["format"] = "kbp-licence/2"
    assert "kbp-licence/2" in check(bytes_of(doc), trusted).message


def test_non_bytes_input_never_raises(trusted):
    assert check("a string", trusted).code == "malformed"
    assert check(12, trusted).code == "malformed"


def test_demo_key_refused_outside_demo_mode(make, demo_key, trusted):
    data = make(pem=demo_key[0], key_id="demo-1")
    result = check(data, trusted, demo_mode=False)
    assert not result.ok and result.code == "demo_key"
    assert "demo mode" in result.message


def test_demo_key_accepted_in_demo_mode(make, demo_key, trusted):
    data = make(pem=demo_key[0], key_id="demo-1")
    result = check(data, trusted, demo_mode=True)
    assert result.ok and result.code == "ok" and result.demo is True
    assert "demo" in result.message.lower()


def test_production_licence_also_ok_in_demo_mode(make, trusted):
    result = check(make(), trusted, demo_mode=True)
    assert result.ok and result.demo is False


def test_check_order_forged_payload_never_reaches_semantic_checks(make, trusted):
    # Expired + wrong product + tampered: the tampering is what gets reported.
    data = tamper_payload(make(product="other-product"))
    assert check(data, trusted, today=date(2030, 1, 1)).code == "tampered_payload"
    # Wrong product + bad signature: signature first.
    assert check(tamper_signature(make(product="other")), trusted).code == "bad_signature"
    # Unknown key is reported before the demo / checksum / signature checks.
    assert check(tamper_payload(make(key_id="nope")), trusted).code == "unknown_key"
    # Wrong product before dates.
    assert check(make(product="other"), trusted, today=date(2030, 1, 1)).code == "wrong_product"


def test_all_codes_have_distinct_messages(make, demo_key, trusted):
    results = {
        "ok": check(make(), trusted),
        "ok(demo)": check(make(pem=demo_key[0], key_id="demo-1"), trusted, demo_mode=True),
        "missing": check(None, trusted),
        "malformed": check(os.urandom(64), trusted),
        "unknown_key": check(make(key_id="rogue-7"), trusted),
        "demo_key": check(make(pem=demo_key[0], key_id="demo-1"), trusted),
        "tampered_payload": check(tamper_payload(make()), trusted),
        "bad_signature": check(tamper_signature(make()), trusted),
        "wrong_product": check(make(product="other-product"), trusted),
        "not_yet_valid": check(make(), trusted, today=date(2000, 1, 1)),
        "expired": check(make(), trusted, today=date(2030, 1, 1)),
        "revoked_key": check(make(), {"prod-1": TrustedKey("prod-1", trusted["prod-1"].public_key, revoked=True)}),
    }
    for label, result in results.items():
        assert result.code == label.split("(")[0], label
        assert result.message.strip(), label
        assert result.ok == (result.code == "ok")
    # "scheduled" is what installing a renewal ahead of its first day answers (see test_licence_keys)
    assert {r.code for r in results.values()} == set(licensing.CODES) - {"scheduled"}
    for (a, ra), (b, rb) in itertools.combinations(results.items(), 2):
        assert ra.message != rb.message, (a, b)
    # No message template leaked unformatted placeholders.
    for result in results.values():
        assert "%(" not in result.message


def test_untrusted_text_is_sanitised_in_messages(make, trusted):
    other_pem, _ = generate_keypair()
    result = check(make(pem=other_pem, key_id="bad\nkey" + "x" * 500), trusted)
    assert result.code == "unknown_key"
    assert "\n" not in result.message and len(result.message) < 600


# ---------------------------------------------------------------------------
# Trusted keys file
# ---------------------------------------------------------------------------

def test_load_trusted_keys(tmp_path, prod_key, demo_key, make):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [
        {"key_id": "prod-1", "public_key": prod_key[1], "comment": "production 2026"},
        {"key_id": "demo-1", "public_key": demo_key[1], "demo": True},
    ]}))
    keys = load_trusted_keys(path)
    assert set(keys) == {"prod-1", "demo-1"}
    assert keys["demo-1"].demo is True and keys["prod-1"].demo is False
    assert check(make(), keys).ok


@pytest.mark.parametrize("content", [
    "not json",
    "[]",
    '{"keys": {}}',
    '{"keys": [{"key_id": "a"}]}',
    '{"keys": [{"key_id": "a", "public_key": "AAAA"}]}',
    '{"keys": [{"key_id": "", "public_key": "AAAA"}]}',
])
def test_load_trusted_keys_rejects_bad_files(tmp_path, content):
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ValueError):
        load_trusted_keys(path)


def test_load_trusted_keys_rejects_duplicates_and_bad_demo(tmp_path, prod_key):
    path = tmp_path / "keys.json"
    entry = {"key_id": "a", "public_key": prod_key[1]}
    path.write_text(json.dumps({"keys": [entry, entry]}))
    with pytest.raises(ValueError, match="duplicate"):
        load_trusted_keys(path)
    path.write_text(json.dumps({"keys": [dict(entry, demo="yes")]}))
    with pytest.raises(ValueError):
        load_trusted_keys(path)


def test_trusted_key_validates_public_key():
    with pytest.raises(ValueError):
        TrustedKey("k", "not-base64!")
    with pytest.raises(ValueError):
        TrustedKey("k", base64.b64encode(b"x" * 31).decode())


# ---------------------------------------------------------------------------
# LicenceStore
# ---------------------------------------------------------------------------

def _install(store, data, trusted, **kw):
    return store.install(PRODUCT, data, trusted_keys=trusted, today=TODAY, **kw)


def test_store_path_and_empty(tmp_path):
    store = LicenceStore(tmp_path)
    assert store.path(PRODUCT) == tmp_path / "licences" / f"{PRODUCT}.json"
    assert store.load(PRODUCT) is None
    assert store.remove(PRODUCT) is False


@pytest.mark.parametrize("product", ["../etc/passwd", "a/b", "", ".hidden", "a..b", "x" * 200])
def test_store_rejects_unsafe_product_ids(tmp_path, product):
    with pytest.raises(ValueError):
        LicenceStore(tmp_path).path(product)


def test_store_refuses_bad_licence_without_writing(tmp_path, make, trusted):
    store = LicenceStore(tmp_path)
    result = _install(store, tamper_signature(make()), trusted)
    assert result.code == "bad_signature"
    assert store.load(PRODUCT) is None
    assert not (tmp_path / "licences").exists() or not any((tmp_path / "licences").iterdir())


def test_store_installs_good_licence_and_survives_reload(tmp_path, make, trusted):
    data = make()
    result = _install(LicenceStore(tmp_path), data, trusted)
    assert result.ok
    reloaded = LicenceStore(tmp_path)
    assert reloaded.load(PRODUCT) == data
    assert reloaded.check(PRODUCT, trusted_keys=trusted, today=TODAY).ok
    assert [p.name for p in (tmp_path / "licences").iterdir()] == [f"{PRODUCT}.json"]


def test_store_refused_licence_does_not_replace_valid_one(tmp_path, make, demo_key, trusted):
    store = LicenceStore(tmp_path)
    good = make()
    assert _install(store, good, trusted).ok
    for bad, code in [
        (make(product="other-product"), "wrong_product"),
        (make(pem=demo_key[0], key_id="demo-1"), "demo_key"),
        (tamper_payload(make()), "tampered_payload"),
        (b"garbage", "malformed"),
        (make(expires=TODAY - timedelta(days=1)), "expired"),
    ]:
        assert _install(store, bad, trusted).code == code
        assert store.load(PRODUCT) == good
    assert len(list((tmp_path / "licences").iterdir())) == 1


def test_store_replaces_valid_with_newer_valid(tmp_path, make, trusted):
    store = LicenceStore(tmp_path)
    assert _install(store, make(licence_id="old"), trusted).ok
    new = make(licence_id="new", expires=date(2027, 12, 31))
    assert _install(store, new, trusted).ok
    assert store.load(PRODUCT) == new
    assert store.check(PRODUCT, trusted_keys=trusted, today=TODAY).licence_id == "new"


def test_store_write_failure_leaves_old_file_and_no_temp(tmp_path, make, trusted, monkeypatch):
    store = LicenceStore(tmp_path)
    good = make()
    assert _install(store, good, trusted).ok

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(licensing.os, "replace", boom)
    with pytest.raises(OSError):
        _install(store, make(licence_id="new"), trusted)
    monkeypatch.undo()
    assert store.load(PRODUCT) == good
    assert [p.name for p in (tmp_path / "licences").iterdir()] == [f"{PRODUCT}.json"]


def test_store_remove(tmp_path, make, trusted):
    store = LicenceStore(tmp_path)
    assert _install(store, make(), trusted).ok
    assert store.remove(PRODUCT) is True
    assert store.load(PRODUCT) is None
    assert store.check(PRODUCT, trusted_keys=trusted, today=TODAY).code == "missing"
    assert store.remove(PRODUCT) is False
