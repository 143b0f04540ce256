"""Operations: ``kbp migrate`` (from a data folder an older version wrote), ``kbp backup`` /
``kbp restore`` (consistent while writers run, verified before replacing), ``kbp dev seed``."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded_only  # migrations, backups and restores of the embedded data folder
from click.testing import CliRunner

from core import backup as backup_mod, migrations
from core.cli import main
from core.storage import SCHEMA_VERSION, Storage

FIXTURES = Path(__file__).with_name("fixtures")
WORKER = Path(__file__).with_name("storage_worker.py")


def kbp(data_dir, *args, input=None):
    return CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], input=input)


def snapshot_of(data_dir: Path) -> dict[str, list[dict]]:
    storage = Storage(data_dir)
    return {name: storage.collection(name).all() for name in storage.collection_names()}


# --------------------------------------------------------------------------- migrations


def test_migrate_upgrades_data_written_by_an_older_version(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "data_v0", data)
    before = {p.name: p.read_bytes() for p in data.iterdir()}

    check = kbp(data, "migrate", "--check")
    assert check.exit_code == 1, check.output
    assert "people: 4 record(s) upgraded" in check.output
    assert {p.name: p.read_bytes() for p in data.iterdir() if p.name in before} == before  # --check changes nothing

    result = kbp(data, "migrate")
    assert result.exit_code == 0, result.output
    assert "plans: 1 record(s) upgraded to schema version 1" in result.output
    storage = Storage(data)
    people = {p["id"]: p for p in storage.collection("people").all()}
    assert all(p["_v"] == SCHEMA_VERSION for p in people.values())
    assert people["p-anna"]["coach_id"] == "p-coach" and "manager_id" not in people["p-anna"]
    assert people["p-head"]["coach_id"] is None
    plan = storage.collection("plans").get("plan-1")
    assert plan["version"] == 1 and plan["follow_ups"] == [] and plan["_v"] == SCHEMA_VERSION
    assert storage.collection("plan_history").get("h-1")["_v"] == SCHEMA_VERSION
    for name in storage.collection_names():  # converted to snapshot + log
        assert storage.collection(name).storage_format() == 2
    assert migrations.read_marker(data)["schema_version"] == SCHEMA_VERSION
    assert "up to date" in kbp(data, "migrate").output
    assert kbp(data, "migrate", "--check").exit_code == 0

    # the app works on the migrated data: the coach sees their coachee's plan
    from core import auth
    from core.app import create_app

    app = create_app({"DATA_DIR": str(data)})
    st = app.extensions["kbp"].storage
    with app.app_context():
        _rec, token = auth.create_token(st, st.collection("accounts").get("a-coach"), "t")
    client = app.test_client()
    response = client.get("/api/v1/plans", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.json
    assert [p["id"] for p in response.json] == ["plan-1"]
    assert response.json[0]["your_role"] == "coach"


def test_migrate_refuses_data_from_a_newer_version(tmp_path):
    data = tmp_path / "data"
    Storage(data).collection("people").insert({"id": "a", "name": "A"})
    # a record a newer KBP wrote (the storage stamps our version, so write it as that KBP would)
    snap = json.loads((data / "people.json").read_bytes())
    snap["_default"]["b"] = {"id": "b", "name": "From the future", "_v": SCHEMA_VERSION + 1}
    (data / "people.json").write_text(json.dumps(snap))
    (data / "people.json.log").unlink()
    before = (data / "people.json").read_bytes()
    with pytest.raises(migrations.SchemaTooNewError, match="newer version of KBP"):
        migrations.migrate(Storage(data))
    result = kbp(data, "migrate")
    assert result.exit_code == 1 and "schema version 2" in result.output and "Nothing was changed" in result.output
    assert (data / "people.json").read_bytes() == before
    assert migrations.read_marker(data) is None

    # the folder's marker alone is enough to refuse (and the check is O(1) at start)
    (data / "people.json").write_text(json.dumps({"_default": {}}))
    (data / migrations.SCHEMA_FILE).write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(migrations.SchemaTooNewError):
        migrations.migrate(Storage(data))
    with pytest.raises(migrations.SchemaTooNewError):
        migrations.check_schema(data)


def test_migrate_on_a_fresh_folder_just_writes_the_marker(tmp_path):
    report = migrations.migrate(Storage(tmp_path))
    assert migrations.read_marker(tmp_path)["schema_version"] == SCHEMA_VERSION
    assert not report.upgraded and not report.converted
    assert migrations.migrate(Storage(tmp_path)).current


# --------------------------------------------------------------------------- backup and restore


def _fill(data: Path) -> None:
    st = Storage(data)
    for i in range(50):
        st.collection("people").insert({"id": f"p{i}", "name": f"Person {i}"})
    st.collection("plans").insert({"id": "plan", "person_id": "p1", "version": 1})
    st.collection("plans").update("plan", {"version": 2})
    (data / "secret_key").write_text("s3cret")
    (data / "licences").mkdir()
    (data / "licences" / "malin_lindelow.json").write_text('{"licence": 1}')
    migrations.migrate(st)


def test_backup_and_restore_round_trip(tmp_path):
    data = tmp_path / "data"
    _fill(data)
    original = snapshot_of(data)
    archive = tmp_path / "backups" / "kbp.tar.gz"
    result = kbp(data, "backup", str(archive))
    assert result.exit_code == 0, result.output
    manifest = backup_mod.read_manifest(archive)
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["collections"] == ["people", "plans"]
    paths = {f["path"] for f in manifest["files"]}
    assert {"people.json", "people.json.log", "plans.json", "secret_key", "licences/malin_lindelow.json",
            migrations.SCHEMA_FILE} <= paths
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])

    server = Storage(data).collection("people")  # a process that keeps running through the restore
    assert server.count() == 50
    st = Storage(data)
    st.collection("people").delete("p3")
    st.collection("people").insert({"id": "late", "name": "After the backup"})
    st.collection("extra").insert({"id": "x"})
    (data / "secret_key").write_text("changed")

    assert kbp(data, "restore", "--verify-only", str(archive)).exit_code == 0
    result = kbp(data, "restore", str(archive), input="n\n")
    assert result.exit_code != 0  # not confirmed: nothing happens
    assert Storage(data).collection("people").get("late") is not None
    result = kbp(data, "restore", "--yes", str(archive))
    assert result.exit_code == 0, result.output
    assert snapshot_of(data) == original  # "extra" is gone too
    assert (data / "secret_key").read_text() == "s3cret"
    assert server.count() == 50 and server.get("late") is None and server.get("p3") is not None
    aside = next(data.glob("replaced-*"))
    assert (aside / "extra.json").exists() and (aside / "secret_key").read_text() == "changed"
    assert not list(data.glob(".restore-*"))
    Storage(data).collection("people").insert({"id": "after-restore"})  # writable as usual


def test_backup_while_a_writer_runs_is_consistent(tmp_path):
    data = tmp_path / "data"
    writer = subprocess.Popen([sys.executable, str(WORKER), str(data), "loop", "journal", "200"],
                              stdout=subprocess.PIPE, text=True, env={"KBP_STORAGE_COMPACT_MIN_BYTES": "20000",
                                                                       "PATH": "/usr/bin:/bin"})
    try:
        acked = [writer.stdout.readline().strip() for _ in range(150)]
        archive = tmp_path / "hot.tar.gz"
        backup_mod.backup(data, archive)
        acked += [writer.stdout.readline().strip() for _ in range(50)]
    finally:
        writer.kill()
        writer.wait()
    target = tmp_path / "restored"
    backup_mod.restore(target, archive)
    ids = {r["id"] for r in Storage(target).collection("journal").all()}
    assert set(acked[:150]) <= ids  # acknowledged before the backup started: all there
    seqs = sorted(r["seq"] for r in Storage(target).collection("journal").all())
    assert seqs == list(range(len(seqs)))  # a prefix of the writer's history: no gaps


def _rewrite(archive: Path, out: Path, change) -> None:
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read()
            member, data = change(member, data)
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


def test_restore_verifies_before_replacing(tmp_path):
    data = tmp_path / "data"
    _fill(data)
    archive = tmp_path / "good.tar.gz"
    backup_mod.backup(data, archive)
    Storage(data).collection("people").insert({"id": "current"})
    current = snapshot_of(data)

    def newer(member, data):
        if member.name == "manifest.json":
            manifest = json.loads(data)
            manifest["schema_version"] = SCHEMA_VERSION + 1
            data = json.dumps(manifest).encode()
        return member, data

    def damaged(member, data):
        if member.name == "data/people.json.log":
            assert b"Person 1" in data
            data = data.replace(b"Person 1", b"Person X")
        return member, data

    def unsafe(member, data):
        if member.name == "data/secret_key":
            member.name = "data/../../escaped"
        return member, data

    for change, message in ((newer, "newer version of KBP"), (damaged, "checksum"), (unsafe, "does not list")):
        bad = tmp_path / f"{change.__name__}.tar.gz"
        _rewrite(archive, bad, change)
        result = kbp(data, "restore", "--yes", str(bad))
        assert result.exit_code == 1, result.output
        assert message in result.output
        assert snapshot_of(data) == current
        assert not list(data.glob(".restore-*")) and not list(data.glob("replaced-*"))
    assert not (tmp_path / "escaped").exists()
    not_a_backup = tmp_path / "x.tar.gz"
    not_a_backup.write_bytes(b"hello")
    assert "Cannot read the backup" in kbp(data, "restore", "--yes", str(not_a_backup)).output


# --------------------------------------------------------------------------- seed


def test_seed_is_deterministic_and_realistic(tmp_path):
    from werkzeug.security import check_password_hash

    from core.activities import ActivityRecordSchema
    from core.seed import SEED_PASSWORD

    args = ["dev", "seed", "--people", "60", "--plans", "40", "--activities", "30", "--seed", "7"]
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    result = kbp(first, *args)
    assert result.exit_code == 0, result.output
    assert kbp(second, *args).exit_code == 0
    assert kbp(other, *args[:-1], "8").exit_code == 0
    a, b = snapshot_of(first), snapshot_of(second)
    assert a == b
    assert a != snapshot_of(other)
    assert {k: len(v) for k, v in a.items() if k in ("people", "plans", "inhouse_activities")} == {
        "people": 60, "plans": 40, "inhouse_activities": 30}
    assert "already has people" in kbp(first, *args).output  # refuses a folder with data

    people = {p["id"]: p for p in a["people"]}
    assert sum(p["coach_id"] is None for p in people.values()) == 1
    for plan in a["plans"]:
        assert people[plan["person_id"]]["coach_id"] == plan["coach_id"]
        assert 1 <= len(plan["focus"]) <= 3 and plan["version"] >= 1
        assert {"name", "definition", "framework", "goal"} <= set(plan["focus"][0])
    assert any(plan["activities"] for plan in a["plans"]) and any(plan["questions"] for plan in a["plans"])
    frameworks = {c.split(":")[0] for r in a["inhouse_activities"] for c in r["competencies"]}
    assert {"kbp-sample", "malin-lindelow"} <= frameworks
    schema = ActivityRecordSchema()
    for record in a["inhouse_activities"][:10]:
        loaded = schema.load({k: v for k, v in record.items() if k not in ("version", "created_at", "updated_at", "_v")})
        assert loaded["title"] == record["title"]
    account = a["accounts"][0]
    assert account["username"] == "admin@example.org"
    assert check_password_hash(account["password_hash"], SEED_PASSWORD)
    history_plans = {h["plan_id"] for h in a["plan_history"]}
    assert history_plans == {p["id"] for p in a["plans"]}
