"""The licensor's keys and the licensee's renewals (issue 23, item 4): keys from a signed bundle named by a setting, revocation
of a leaked key, encrypted private keys, key ids checked when issuing, renewals installed in
advance, and a warning 30 days before expiry."""
from __future__ import annotations

import base64
import json
from datetime import date, timedelta

import pytest
from click.testing import CliRunner

import frameworks.malin_lindelow as lindelow
from core import create_app
from core.cli import main
from core.licensing import generate_keypair, issue_licence, sign_key_bundle
from tests.helpers import signed_in_client

FW = "malin-lindelow"
PASSPHRASE = "en lång och hemlig lösenfras"
TODAY = date.today()


@pytest.fixture
def licensor_key():
    return generate_keypair()


@pytest.fixture
def root(tmp_path, monkeypatch):
    """The licensor's real key in the built-in list (the shipped id is a placeholder), next to the shipped keys."""
    private, public = generate_keypair()
    shipped = json.loads(lindelow.TRUSTED_KEYS_FILE.read_text(encoding="utf-8"))["keys"]
    builtin = tmp_path / "builtin-keys.json"
    builtin.write_text(json.dumps({"keys": [*shipped, {"key_id": "lindelow-root", "public_key": public}]}), encoding="utf-8")
    monkeypatch.setattr(lindelow, "TRUSTED_KEYS_FILE", builtin)
    return private, public


def keys_file(path, key_id: str, public_key: str, **extra) -> str:
    """The licensor's own (unsigned) keys file."""
    path.write_text(json.dumps({"keys": [{"key_id": key_id, "public_key": public_key, **extra}]}), encoding="utf-8")
    return str(path)


def bundle(path, root, entries: list, key_id="lindelow-root") -> str:
    """The key bundle a licensee installs: the keys, signed with the licensor's built-in key."""
    path.write_bytes(sign_key_bundle(root[0], key_id=key_id, keys=entries))
    return str(path)


def licence(private, key_id="licensor-2027-1", issued=TODAY - timedelta(days=1), expires=TODAY + timedelta(days=365), **kw):
    return issue_licence(private, key_id=key_id, licensee="Testkommunen", product="malin_lindelow",
                         issued=issued, expires=expires, **kw)


def app_for(tmp_path, **config):
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), **config})


def install(app, data: bytes):
    reg = app.extensions["kbp"].registry
    return reg.entitlements.install(reg.frameworks[FW], data)


# ----------------------------------------------------------------------------- keys from a setting


def test_the_licensors_key_comes_from_a_signed_bundle_not_a_patched_package(tmp_path, licensor_key, root):
    private, public = licensor_key
    data = licence(private)
    # without the setting the key is unknown (the built-in list only has the shipped keys)
    assert install(app_for(tmp_path), data).code == "unknown_key"
    published = bundle(tmp_path / "lindelow-keys.json", root, [{"key_id": "licensor-2027-1", "public_key": public}])
    app = app_for(tmp_path, MALIN_LINDELOW_TRUSTED_KEYS=published)
    assert install(app, data).ok
    assert signed_in_client(app).get(f"/api/v1/frameworks/{FW}").status_code == 200
    # the built-in list is kept: its keys are still trusted next to the licensor's
    reg = app.extensions["kbp"].registry
    keys = reg.entitlements.trusted_keys(reg.frameworks[FW].licence)
    builtin = json.loads(lindelow.TRUSTED_KEYS_FILE.read_text(encoding="utf-8"))["keys"]
    assert {k["key_id"] for k in builtin} | {"licensor-2027-1"} == set(keys)


def test_a_licensee_cannot_make_kbp_trust_a_key_of_their_own(tmp_path, licensor_key, root):
    private, public = licensor_key
    own = keys_file(tmp_path / "own.json", "licensor-2027-1", public)  # unsigned
    with pytest.raises(SystemExit) as err:
        app_for(tmp_path, MALIN_LINDELOW_TRUSTED_KEYS=own)
    assert "not a signed key bundle" in str(err.value)
    # signed, but by the licensee's own key
    forged = tmp_path / "forged.json"
    forged.write_bytes(sign_key_bundle(private, key_id="licensor-2027-1", keys=[{"key_id": "licensor-2027-1", "public_key": public}]))
    with pytest.raises(SystemExit) as err:
        app_for(tmp_path, MALIN_LINDELOW_TRUSTED_KEYS=str(forged))
    assert "not a trusted licensor key" in str(err.value)
    # a real bundle whose keys were changed afterwards
    real = tmp_path / "real.json"
    bundle(real, root, [{"key_id": "licensor-2027-1", "public_key": public}])
    doc = json.loads(real.read_text(encoding="utf-8"))
    doc["payload"] = base64.b64encode(json.dumps({"keys": [{"key_id": "x", "public_key": public}]}).encode()).decode()
    real.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SystemExit) as err:
        app_for(tmp_path, MALIN_LINDELOW_TRUSTED_KEYS=str(real))
    assert "signature does not match" in str(err.value)


def test_a_leaked_key_is_revoked_by_the_published_bundle(tmp_path, licensor_key, root):
    private, public = licensor_key
    published = tmp_path / "lindelow-keys.json"
    app = app_for(tmp_path, MALIN_LINDELOW_TRUSTED_KEYS=bundle(published, root, [{"key_id": "licensor-2027-1", "public_key": public}]))
    assert install(app, licence(private)).ok
    # the key leaked: the licensor publishes it as revoked, with its replacement
    new_private, new_public = generate_keypair()
    bundle(published, root, [{"key_id": "licensor-2027-1", "public_key": public, "revoked": True, "comment": "leaked 2027-03"},
                             {"key_id": "licensor-2027-2", "public_key": new_public}])
    app = app_for(tmp_path, MALIN_LINDELOW_TRUSTED_KEYS=str(published))
    client = signed_in_client(app)
    assert client.get(f"/api/v1/frameworks/{FW}").status_code == 403
    check = app.extensions["kbp"].registry.entitlements.check(app.extensions["kbp"].registry.frameworks[FW])
    assert check.code == "revoked_key"
    assert install(app, licence(private)).code == "revoked_key"  # nor can it be installed again
    assert install(app, licence(new_private, key_id="licensor-2027-2")).ok


def test_a_key_id_reused_for_another_key_stops_the_start(tmp_path, licensor_key, root):
    builtin = json.loads(lindelow.TRUSTED_KEYS_FILE.read_text(encoding="utf-8"))["keys"][0]["key_id"]
    bad = bundle(tmp_path / "bad.json", root, [{"key_id": builtin, "public_key": licensor_key[1]}])
    with pytest.raises(SystemExit) as err:
        app_for(tmp_path, MALIN_LINDELOW_TRUSTED_KEYS=bad)
    assert "bad.json" in str(err.value) and builtin in str(err.value)


# ----------------------------------------------------------------------------- the licensor's tools


def test_keygen_encrypts_the_private_key_and_issue_checks_the_key_id(tmp_path, root):
    runner = CliRunner()
    key = tmp_path / "licensor-2027.pem"
    result = runner.invoke(main, ["license", "keygen", "--out", str(key), "--key-id", "licensor-2027-1"],
                           input=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    assert result.exit_code == 0, result.output
    pem = key.read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem and b"BEGIN PRIVATE KEY" not in pem
    entry = json.loads(result.output[result.output.index("{"):])
    published = tmp_path / "keys.json"
    published.write_text(json.dumps({"keys": [entry]}), encoding="utf-8")
    passfile = tmp_path / "pass.txt"
    passfile.write_text(PASSPHRASE + "\n", encoding="utf-8")
    out = tmp_path / "kommun.json"
    base = ["license", "issue", "--product", "malin_lindelow", "--key", str(key), "--licensee", "Kommun X", "--expires", "2031-12-31",
            "--trusted-keys", str(published), "--passphrase-file", str(passfile), "--out", str(out)]
    # a key id that is not this key's is refused, with no licence written
    other = generate_keypair()[1]
    published_two = tmp_path / "keys2.json"
    published_two.write_text(json.dumps({"keys": [entry, {"key_id": "someone-else", "public_key": other}]}), encoding="utf-8")
    for key_id, keys, expected in (("someone-else", published_two, "different key"), ("typo-2027-1", published, "not in")):
        wrong = runner.invoke(main, [*base[:-4], "--trusted-keys", str(keys), "--passphrase-file", str(passfile),
                                     "--out", str(out), "--key-id", key_id])
        assert wrong.exit_code != 0 and expected in wrong.output, wrong.output
        assert not out.exists()
    # a wrong passphrase is refused without echoing key material
    badpass = tmp_path / "bad.txt"
    badpass.write_text("not the passphrase at all\n", encoding="utf-8")
    refused = runner.invoke(main, [*base[:-4], "--trusted-keys", str(published), "--passphrase-file", str(badpass),
                                   "--out", str(out), "--key-id", "licensor-2027-1"])
    assert refused.exit_code != 0 and "passphrase" in refused.output and "PRIVATE" not in refused.output
    ok = runner.invoke(main, [*base, "--key-id", "licensor-2027-1"])
    assert ok.exit_code == 0, ok.output
    # the licensor signs the keys file with the built-in key; the licensee installs bundle and licence
    root_pem = tmp_path / "root.pem"
    root_pem.write_bytes(root[0])
    signed = tmp_path / "lindelow-keys.json"
    result = runner.invoke(main, ["--data-dir", str(tmp_path / "licensor"), "license", "sign-keys", "--product", "malin_lindelow", "--key", str(root_pem),
                                  "--key-id", "lindelow-root", "--keys", str(published), "--out", str(signed)])
    assert result.exit_code == 0, result.output
    app = app_for(tmp_path, MALIN_LINDELOW_TRUSTED_KEYS=str(signed))
    assert install(app, out.read_bytes()).ok


def test_the_licensor_tools_name_the_product_there_is_no_default(tmp_path):
    """The core names no specific plugin: ``kbp license issue`` and ``sign-keys`` need ``--product``."""
    key = tmp_path / "k.pem"
    key.write_text("not read: the missing option is refused first", encoding="utf-8")
    for command in (["license", "issue", "--key", str(key), "--key-id", "a", "--licensee", "X", "--expires", "2031-12-31"],
                    ["license", "sign-keys", "--key", str(key), "--key-id", "a", "--keys", str(key), "--out", str(tmp_path / "o")]):
        result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), *command])
        assert result.exit_code != 0 and "--product" in result.output, result.output
        help_text = CliRunner().invoke(main, [*command[:2], "--help"]).output
        assert "malin" not in help_text.lower(), help_text


# ----------------------------------------------------------------------------- renewals and expiry


def test_a_renewal_installed_in_advance_takes_over_on_its_start_date(tmp_path, licensor_key, root):
    private, public = licensor_key
    published = bundle(tmp_path / "keys.json", root, [{"key_id": "licensor-2027-1", "public_key": public}])
    app = app_for(tmp_path, MALIN_LINDELOW_TRUSTED_KEYS=published)
    current = licence(private, expires=TODAY + timedelta(days=10), licence_id="current")
    renewal = licence(private, issued=TODAY + timedelta(days=11), expires=TODAY + timedelta(days=400), licence_id="renewal")
    assert install(app, current).ok
    result = install(app, renewal)
    assert result.ok and result.code == "scheduled" and (TODAY + timedelta(days=11)).isoformat() in result.message
    reg = app.extensions["kbp"].registry
    fw = reg.frameworks[FW]
    assert reg.entitlements.check(fw).licence_id == "current"
    status = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), "license", "status"],
                                env={"KBP_MALIN_LINDELOW_TRUSTED_KEYS": published})
    assert status.exit_code == 0 and "Renewal installed" in status.output and "Warning" not in status.output, status.output
    # the day after the current licence ends, the renewal is the licence
    reg.entitlements.today = lambda: TODAY + timedelta(days=11)
    check = reg.entitlements.check(fw)
    assert check.ok and check.licence_id == "renewal"
    assert reg.entitlements.pending(fw) is None
    assert reg.entitlements.store.load("malin_lindelow") is not None
    assert reg.entitlements.store._read("malin_lindelow", waiting=True) is None  # the renewal took over


def test_status_and_admin_pages_warn_30_days_before_expiry(tmp_path, licensor_key, root):
    private, public = licensor_key
    published = bundle(tmp_path / "keys.json", root, [{"key_id": "licensor-2027-1", "public_key": public}])
    app = app_for(tmp_path, MALIN_LINDELOW_TRUSTED_KEYS=published)
    env = {"KBP_MALIN_LINDELOW_TRUSTED_KEYS": published}

    def status():
        return CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), "license", "status"], env=env).output

    assert install(app, licence(private, expires=TODAY + timedelta(days=31))).ok
    admin = signed_in_client(app, "admin")
    assert "Warning" not in status() and "licence-warning" not in admin.get("/?lang=en").get_data(as_text=True)
    assert install(app, licence(private, expires=TODAY + timedelta(days=30))).ok
    assert f"expires on {(TODAY + timedelta(days=30)).isoformat()}, in 30 days" in status()
    page = admin.get("/?lang=en").get_data(as_text=True)
    assert "licence-warning" in page and "in 30 days" in page
    assert "licence-warning" not in signed_in_client(app, "coach").get("/?lang=en").get_data(as_text=True)
    sv = admin.get("/?lang=sv").get_data(as_text=True)
    assert "licence-warning" in sv and "30 dagar" in sv
    # a renewal starting the day after removes the warning
    assert install(app, licence(private, issued=TODAY + timedelta(days=31), expires=TODAY + timedelta(days=400))).code == "scheduled"
    assert "Warning" not in status() and "licence-warning" not in admin.get("/?lang=en").get_data(as_text=True)
