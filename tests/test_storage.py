"""Tests for core.storage: CRUD, transactions, multi-process safety, crash safety, corruption."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core import storage as storage_mod
from core.storage import (
    SCHEMA_VERSION,
    CorruptDataError,
    DuplicateIdError,
    NotFoundError,
    Storage,
    StorageError,
)

WORKER = Path(__file__).with_name("storage_worker.py")


def _records_on_disk(path: Path) -> dict:
    return json.loads(path.read_bytes())["_default"]


def _temp_files(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if p.name.endswith(".tmp"))


def _spawn(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdout=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _run(*args: str) -> None:
    subprocess.run([sys.executable, str(WORKER), *args], check=True, timeout=60)


# --------------------------------------------------------------------------- basics


def test_schema_version_constant():
    assert SCHEMA_VERSION == 1


def test_storage_creates_folder_and_one_file_per_collection(tmp_path):
    data_dir = tmp_path / "nested" / "data"
    st = Storage(data_dir)
    assert data_dir.is_dir()
    people = st.collection("people")
    assert st.collection("people") is people
    assert people.count() == 0
    assert people.all() == []
    assert not (data_dir / "people.json").exists()  # reading never creates the file
    people.insert({"name": "Ada"})
    st.collection("plans_2024").insert({"title": "x"})
    assert (data_dir / "people.json").is_file()
    assert (data_dir / "plans_2024.json").is_file()
    assert (data_dir / "people.json.lock").exists()


@pytest.mark.parametrize("name", ["", "People", "1abc", "_x", "a-b", "a.b", "../x", "a b", "abc\n", 3])
def test_invalid_collection_names(tmp_path, name):
    with pytest.raises(ValueError):
        Storage(tmp_path).collection(name)


def test_crud_find_copies_duplicates_and_not_found(tmp_path):
    coll = Storage(tmp_path).collection("people")

    ada = coll.insert({"name": "Ada", "team": "red", "skills": ["math"]})
    assert isinstance(ada["id"], str) and len(ada["id"]) == 32
    assert ada["_v"] == SCHEMA_VERSION
    bob = coll.insert({"id": "bob", "name": "Bob", "team": "blue", "skills": []})
    cy = coll.insert({"id": "cy", "name": "Cy", "team": "red", "skills": []})
    assert bob["id"] == "bob"

    assert coll.get("bob") == {"id": "bob", "name": "Bob", "team": "blue", "skills": [], "_v": 1}
    assert coll.get("nobody") is None
    assert coll.count() == 3
    assert [r["id"] for r in coll.all()] == [ada["id"], "bob", "cy"]
    assert {r["id"] for r in coll.find(team="red")} == {ada["id"], "cy"}
    assert [r["id"] for r in coll.find(team="red", name="Cy")] == ["cy"]
    assert coll.find(team="green") == []
    assert coll.find(skills=["math"]) == [coll.get(ada["id"])]
    assert len(coll.find()) == 3

    # every stored record carries _v, on disk too
    on_disk = _records_on_disk(coll.path)
    assert set(on_disk) == {ada["id"], "bob", "cy"}
    assert all(r["_v"] == SCHEMA_VERSION for r in on_disk.values())

    # returned dicts (including nested values) are copies, and so are inputs
    got = coll.get(ada["id"])
    got["name"] = "changed"
    got["skills"].append("hacking")
    coll.all()[0]["skills"].append("x")
    coll.find(team="red")[0]["skills"].append("y")
    assert coll.get(ada["id"])["name"] == "Ada"
    assert coll.get(ada["id"])["skills"] == ["math"]
    source = {"id": "dee", "tags": ["a"]}
    returned = coll.insert(source)
    source["tags"].append("b")
    returned["tags"].append("c")
    assert coll.get("dee")["tags"] == ["a"]
    assert "_v" not in source  # the caller's dict is not modified

    # duplicate id
    with pytest.raises(DuplicateIdError, match="bob"):
        coll.insert({"id": "bob", "name": "Other Bob"})
    assert coll.get("bob")["name"] == "Bob"

    # update merges
    updated = coll.update("bob", {"team": "red", "level": 2})
    assert updated == {"id": "bob", "name": "Bob", "team": "red", "skills": [], "level": 2, "_v": 1}
    assert coll.get("bob") == updated
    assert [r["id"] for r in coll.all()] == [ada["id"], "bob", "cy", "dee"]  # order kept
    with pytest.raises(NotFoundError, match="ghost"):
        coll.update("ghost", {"x": 1})
    with pytest.raises(ValueError):
        coll.update("bob", {"id": "robert"})

    # upsert replaces or inserts
    assert coll.upsert({"id": "cy", "name": "Cyril"}) == {"id": "cy", "name": "Cyril", "_v": 1}
    assert coll.get("cy") == {"id": "cy", "name": "Cyril", "_v": 1}
    coll.upsert({"id": "eve", "name": "Eve"})
    assert coll.get("eve")["name"] == "Eve"
    assert coll.count() == 5

    # delete
    assert coll.delete("eve") is True
    assert coll.delete("eve") is False
    assert coll.get("eve") is None
    assert coll.count() == 4

    # a second Storage on the same folder sees the same data
    other = Storage(tmp_path).collection("people")
    assert other.all() == coll.all()


def test_rejects_bad_records(tmp_path):
    coll = Storage(tmp_path).collection("things")
    with pytest.raises(TypeError):
        coll.insert(["not", "a", "dict"])
    with pytest.raises(TypeError):
        coll.insert({"when": object()})
    with pytest.raises(TypeError):
        coll.insert({"x": float("nan")})
    with pytest.raises(ValueError):
        coll.insert({"id": 5})
    with pytest.raises(ValueError):
        coll.insert({"id": ""})
    with pytest.raises(ValueError):
        coll.get(5)
    assert coll.count() == 0
    assert not coll.path.exists()


def test_error_hierarchy():
    for exc in (CorruptDataError, NotFoundError, DuplicateIdError, storage_mod.LockTimeoutError):
        assert issubclass(exc, StorageError)


def test_lock_timeout_gives_clear_error(tmp_path):
    from filelock import FileLock

    coll = Storage(tmp_path, lock_timeout=0.2).collection("items")
    coll.insert({"id": "a"})
    before = coll.path.read_bytes()
    with FileLock(f"{coll.path}.lock"):  # another holder (own descriptor) of the same lock
        with pytest.raises(storage_mod.LockTimeoutError, match="items.json"):
            coll.get("a")
        with pytest.raises(storage_mod.LockTimeoutError):
            coll.insert({"id": "b"})
    assert coll.path.read_bytes() == before
    assert coll.get("a") is not None


# --------------------------------------------------------------------------- transactions


def test_transaction_rollback_leaves_file_unchanged(tmp_path):
    coll = Storage(tmp_path).collection("items")
    coll.insert({"id": "keep", "n": 1})
    coll.insert({"id": "gone", "n": 2})
    before = coll.path.read_bytes()
    before_stat = os.stat(coll.path)

    with pytest.raises(RuntimeError, match="boom"):
        with coll.transaction() as tx:
            tx.insert({"id": "new", "n": 3})
            tx.update("keep", {"n": 100})
            tx.delete("gone")
            tx.upsert({"id": "up", "n": 4})
            assert tx.get("new")["n"] == 3  # the transaction sees its own changes
            assert tx.count() == 3
            raise RuntimeError("boom")

    assert coll.path.read_bytes() == before
    after_stat = os.stat(coll.path)
    assert (after_stat.st_ino, after_stat.st_mtime_ns) == (before_stat.st_ino, before_stat.st_mtime_ns)
    assert coll.count() == 2 and coll.get("keep")["n"] == 1 and coll.get("new") is None

    # a storage error inside the body (e.g. duplicate id) also rolls everything back
    with pytest.raises(DuplicateIdError):
        with coll.transaction() as tx:
            tx.insert({"id": "fine"})
            tx.insert({"id": "keep"})
    assert coll.path.read_bytes() == before


def test_transaction_commits_everything_with_one_write(tmp_path, monkeypatch):
    coll = Storage(tmp_path).collection("items")
    coll.insert({"id": "a", "n": 1})
    coll.insert({"id": "b", "n": 2})

    writes = []
    real_replace = os.replace

    def counting_replace(src, dst):
        writes.append(dst)
        return real_replace(src, dst)

    monkeypatch.setattr(storage_mod.os, "replace", counting_replace)
    with coll.transaction() as tx:
        for i in range(200):
            tx.insert({"id": f"r{i}", "n": i})
        tx.update("a", {"n": 10})
        tx.delete("b")
        tx.upsert({"id": "r5", "n": -5})
        tx.insert({"id": "b", "n": 20})  # re-insert after delete
        tx.delete("r7")
        assert tx.count() == 201
        assert coll.count() == 2  # outside view: nothing committed yet
        assert [r["id"] for r in tx.find(n=10)] == ["a", "r10"]
        assert [r["id"] for r in tx.find(n=-5)] == ["r5"]
        with pytest.raises(StorageError):
            coll.insert({"id": "sneaky"})  # must use tx inside the block
        with pytest.raises(StorageError):
            with coll.transaction():
                pass
    assert len(writes) == 1

    assert coll.count() == 201
    assert coll.get("a")["n"] == 10
    assert coll.get("b")["n"] == 20
    assert coll.get("r5") == {"id": "r5", "n": -5, "_v": 1}
    assert coll.get("r7") is None
    assert all(r["_v"] == SCHEMA_VERSION for r in _records_on_disk(coll.path).values())

    # an empty / read-only transaction does not write at all
    with coll.transaction() as tx:
        tx.get("a")
        tx.delete("does-not-exist")
    assert len(writes) == 1

    # the transaction object is unusable after the block
    with pytest.raises(StorageError):
        tx.insert({"id": "late"})


def test_failed_replace_keeps_old_file_and_cleans_temp(tmp_path, monkeypatch):
    coll = Storage(tmp_path).collection("items")
    coll.insert({"id": "a"})
    before = coll.path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage_mod.os, "replace", broken_replace)
    with pytest.raises(StorageError, match="previous contents were kept"):
        coll.insert({"id": "b"})
    monkeypatch.undo()

    assert coll.path.read_bytes() == before
    assert _temp_files(tmp_path) == []
    assert coll.get("b") is None
    coll.insert({"id": "b"})
    assert {r["id"] for r in coll.all()} == {"a", "b"}


def test_leftover_temp_files_are_ignored_and_cleaned(tmp_path):
    coll = Storage(tmp_path).collection("items")
    coll.insert({"id": "a"})
    leftover = tmp_path / ".items.json.crashed123.tmp"
    leftover.write_bytes(b'{"_default": {"half')
    unrelated = tmp_path / ".items_other.json.abc.tmp"  # belongs to another collection
    unrelated.write_bytes(b"x")

    assert [r["id"] for r in coll.all()] == ["a"]
    assert leftover.exists()  # reads never delete anything
    coll.insert({"id": "b"})
    assert not leftover.exists()
    assert unrelated.exists()
    assert _temp_files(tmp_path) == [unrelated.name]


def test_threads_in_one_process(tmp_path):
    coll = Storage(tmp_path).collection("items")
    errors = []

    def work(tag):
        try:
            for i in range(40):
                coll.insert({"id": f"{tag}-{i}"})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert coll.count() == 160
    assert len(_records_on_disk(coll.path)) == 160


# --------------------------------------------------------------------------- processes


def test_four_processes_writing_concurrently_lose_nothing(tmp_path):
    procs = [
        _spawn(str(tmp_path), "bulk", "shared", "250", f"w{n}", stdin=subprocess.PIPE)
        for n in range(4)
    ]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:  # start all writers at (nearly) the same moment
            p.stdin.write("go\n")
            p.stdin.flush()
        acked = []
        for p in procs:
            out, _ = p.communicate(timeout=120)
            lines = out.split()
            assert p.returncode == 0
            assert lines[-1] == "done"
            acked.extend(lines[:-1])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    assert len(acked) == 1000
    assert len(set(acked)) == 1000

    coll = Storage(tmp_path).collection("shared")
    records = coll.all()
    assert len(records) == 1000
    assert {r["id"] for r in records} == set(acked)
    for n in range(4):
        assert sorted(r["seq"] for r in records if r["worker"] == f"w{n}") == list(range(250))
    assert len(_records_on_disk(coll.path)) == 1000
    assert _temp_files(tmp_path) == []


def _check_after_kill(data_dir: Path, acked: list[str]) -> int:
    """The killed writer's store loads and has every acknowledged record; returns its size."""
    coll = Storage(data_dir).collection("journal")
    ids = {r["id"] for r in coll.all()}  # loads without CorruptDataError
    missing = set(acked) - ids
    assert not missing, f"acknowledged records lost: {sorted(missing)[:5]}"
    # at most the one insert that was in flight can be there unacknowledged
    assert len(acked) <= len(ids) <= len(acked) + 1
    # the store stays writable, and the next write clears crash leftovers
    coll.insert({"id": "after-crash"})
    assert _temp_files(data_dir) == []
    assert Storage(data_dir).collection("journal").count() == len(ids) + 1
    return len(ids)


def test_sigkilled_writer_loses_no_acknowledged_record(tmp_path):
    rng = random.Random()
    for attempt in range(10):
        data_dir = tmp_path / f"run{attempt}"
        threshold = rng.randint(50, 120)
        # different record sizes shift where in the write cycle the kill lands
        proc = _spawn(str(data_dir), "loop", "journal", str(rng.choice([10, 500, 2000, 8000])))
        acked = []
        try:
            stamps = []
            while len(acked) < threshold:
                line = proc.stdout.readline()
                assert line.endswith("\n"), f"worker died early (rc={proc.poll()})"
                acked.append(line.strip())
                stamps.append(time.monotonic())
            # kill at a random point of the current write cycle (jitter, not a timing assertion)
            cycle = (stamps[-1] - stamps[-11]) / 10
            time.sleep(rng.uniform(0, cycle))
            os.kill(proc.pid, signal.SIGKILL)
            rest, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL
        # ids printed before the kill are acknowledged too; ignore a torn last line
        acked.extend(line for line in rest.split("\n")[:-1] if line)
        _check_after_kill(data_dir, acked)


@pytest.mark.parametrize(
    "stage, committed",
    [
        ("temp-written", False),
        ("before-replace", False),
        ("after-replace", True),
        ("before-dir-fsync", True),
        ("before-cleanup", True),
    ],
)
def test_sigkill_at_each_stage_of_a_write(tmp_path, stage, committed):
    # a leftover from an "earlier crash" must not confuse anything either
    tmp_path.joinpath(".journal.json.old.tmp").write_bytes(b"{partial")
    proc = _spawn(str(tmp_path), "die", "journal", stage, "20")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, out
    acked = out.split()
    assert len(acked) == 19  # the 20th insert never returned
    if not committed:
        assert _temp_files(tmp_path)  # the crash left a temp file behind
    assert _check_after_kill(tmp_path, acked) == (20 if committed else 19)


def test_open_collection_sees_other_process_writes(tmp_path):
    coll = Storage(tmp_path).collection("people")
    first = coll.insert({"name": "local"})
    assert coll.count() == 1  # data is now cached in this process

    _run(str(tmp_path), "insert", "people", "p1", "p2", "p3")
    assert coll.count() == 4
    assert coll.get("p2") == {"id": "p2", "from": "worker", "_v": 1}
    assert {r["id"] for r in coll.find(**{"from": "worker"})} == {"p1", "p2", "p3"}

    # writes after the external change keep the external records (no stale state)
    second = coll.insert({"name": "local again"})
    with pytest.raises(DuplicateIdError):
        coll.insert({"id": "p3"})
    assert {r["id"] for r in coll.all()} == {first["id"], second["id"], "p1", "p2", "p3"}

    _run(str(tmp_path), "delete", "people", "p1", first["id"])
    assert coll.get("p1") is None
    assert coll.get(first["id"]) is None
    with pytest.raises(NotFoundError):
        coll.update("p1", {"x": 1})
    assert {r["id"] for r in coll.all()} == {second["id"], "p2", "p3"}


def test_same_size_rewrite_by_other_writer_is_seen(tmp_path):
    a = Storage(tmp_path).collection("flags")
    b = Storage(tmp_path).collection("flags")
    a.insert({"id": "f", "state": "on_"})
    for value in ["off", "on_", "off", "on_"]:
        assert a.get("f") is not None  # a has the current file cached
        st_before = a.path.stat()
        size_before = st_before.st_size
        b.update("f", {"state": value})
        assert a.path.stat().st_size == size_before
        # worst case: the rewrite landed in the same timestamp tick
        os.utime(a.path, ns=(st_before.st_atime_ns, st_before.st_mtime_ns))
        assert a.get("f")["state"] == value


# --------------------------------------------------------------------------- corruption


GARBAGE = [
    b"\x00\xff\x13garbage\x89PNG",
    b'{"_default": {"a": {"id": "a"}',  # truncated JSON
    b"[1, 2, 3]",  # wrong shape
    b'{"_default": []}',
    b'{"_default": {"a": 5}}',
    b'{"_default": {"a": {"id": "b"}}}',
    b"",  # 0 bytes
]


@pytest.mark.parametrize("content", GARBAGE, ids=lambda c: repr(c[:12]))
def test_corrupt_file_raises_clear_error_and_is_never_overwritten(tmp_path, content):
    coll = Storage(tmp_path).collection("people")
    coll.path.write_bytes(content)

    for action in (
        lambda: coll.get("a"),
        coll.all,
        coll.count,
        lambda: coll.find(name="x"),
        lambda: coll.insert({"id": "new"}),
        lambda: coll.upsert({"id": "a"}),
        lambda: coll.update("a", {"x": 1}),
        lambda: coll.delete("a"),
    ):
        with pytest.raises(CorruptDataError) as info:
            action()
        message = str(info.value)
        assert str(coll.path) in message
        assert "untouched" in message and "backup" in message
        assert info.value.path == coll.path

    with pytest.raises(CorruptDataError):
        with coll.transaction() as tx:
            tx.insert({"id": "bulk1"})
            tx.insert({"id": "bulk2"})

    # a fresh Storage behaves the same
    with pytest.raises(CorruptDataError):
        Storage(tmp_path).collection("people").insert({"name": "x"})

    assert coll.path.read_bytes() == content
    assert _temp_files(tmp_path) == []


def test_corruption_after_successful_use_is_detected(tmp_path):
    coll = Storage(tmp_path).collection("people")
    coll.insert({"id": "a", "name": "Ada"})
    assert coll.get("a")["name"] == "Ada"  # valid data is cached now
    garbage = b"this is not json at all"
    coll.path.write_bytes(garbage)

    with pytest.raises(CorruptDataError, match="people.json"):
        coll.get("a")
    with pytest.raises(CorruptDataError):
        coll.insert({"id": "b"})
    with pytest.raises(CorruptDataError):
        coll.count()
    assert coll.path.read_bytes() == garbage

    # after the admin restores a valid file, the collection works again
    coll.path.write_text(json.dumps({"_default": {"a": {"id": "a", "name": "Restored", "_v": 1}}}))
    assert coll.get("a")["name"] == "Restored"
    coll.insert({"id": "b"})
    assert coll.count() == 2
