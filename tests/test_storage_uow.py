"""Units of work across collections in the embedded store: all or nothing, also across crashes."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded_only  # the embedded store's own files

from core.storage import JOURNAL_DIR, Storage, StorageError, UniqueViolation, _Journal

WORKER = Path(__file__).with_name("storage_worker.py")


def _files(data_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def _unfinished(data_dir: Path) -> list[str]:
    """Units of work the journal of ``data_dir`` holds as begun and neither ended nor aborted."""
    journal = _Journal(data_dir)
    try:
        return [getattr(e, "txid", str(e)) for e in journal.pending()]
    finally:
        journal.close()


def test_unit_of_work_commits_every_collection(tmp_path):
    store = Storage(tmp_path)
    with store.unit_of_work("plans", "plan_history") as uow:
        uow["plans"].insert({"id": "p1", "title": "A"})
        uow["plan_history"].insert({"id": "h1", "plan_id": "p1"})
        assert uow["plans"].get("p1")["title"] == "A"  # visible inside the block
    fresh = Storage(tmp_path)
    assert fresh.collection("plans").get("p1")["title"] == "A"
    assert fresh.collection("plan_history").find(plan_id="p1")[0]["id"] == "h1"
    assert not _unfinished(tmp_path)


def test_exception_in_the_block_writes_nothing(tmp_path):
    store = Storage(tmp_path)
    store.collection("plans").insert({"id": "p1", "v": 1})
    before = _files(tmp_path)
    with pytest.raises(RuntimeError):
        with store.unit_of_work("plans", "plan_history") as uow:
            uow["plans"].update("p1", {"v": 2})
            uow["plan_history"].insert({"plan_id": "p1"})
            raise RuntimeError("boom")
    assert _files(tmp_path) == before
    assert store.collection("plans").get("p1")["v"] == 1


@pytest.mark.parametrize("fail_before", ["plan_history", "plans", "people"])
def test_error_between_the_writes_of_the_parts_commits_nothing(tmp_path, fail_before):
    store = Storage(tmp_path)
    store.collection("plans").insert({"id": "p1", "v": 1})
    store.collection("people").insert({"id": "a", "name": "Ada"})

    def fail(name):
        if name == fail_before:
            raise OSError("disk full (injected)")

    store.before_part = fail
    with pytest.raises(OSError):
        with store.unit_of_work("people", "plans", "plan_history") as uow:
            uow["plans"].update("p1", {"v": 2})
            uow["plan_history"].insert({"id": "h", "plan_id": "p1"})
            uow["people"].delete("a")
    store.before_part = None
    for reader in (store, Storage(tmp_path)):  # this process and a fresh one
        assert reader.collection("plans").get("p1")["v"] == 1
        assert reader.collection("plan_history").count() == 0
        assert reader.collection("people").get("a")["name"] == "Ada"
    assert not _unfinished(tmp_path)


def _crash_after_the_first_part(store) -> None:
    """Leave the journal and the first part of a unit of work as a process killed there would."""

    class Died(BaseException):
        pass

    calls = []

    def die_on_second(name):
        calls.append(name)
        if len(calls) == 2:
            raise Died()

    # keep the journal and the first part as a killed process would: no rollback for BaseException
    # other than the cut-back path, so patch rollback to do nothing
    import core.storage as st

    store.before_part = die_on_second
    real_rollback, real_abort = st._LogStorage.rollback_to, st._Journal.abort
    st._LogStorage.rollback_to = lambda self, offset: None
    st._Journal.abort = lambda self, txid: self.leave()  # a dead process writes no abort record
    try:
        with pytest.raises(Died):
            with store.unit_of_work("a", "b") as uow:
                uow["a"].insert({"id": "x1"})
                uow["b"].insert({"id": "x1"})
    finally:
        st._LogStorage.rollback_to, st._Journal.abort = real_rollback, real_abort
        store.before_part = None


def test_a_crash_after_some_parts_is_completed_from_the_journal(tmp_path):
    """Simulate a process that died after writing the journal and the first part."""
    store = Storage(tmp_path)
    store.collection("a").insert({"id": "x0"})
    store.collection("b").insert({"id": "x0"})
    reader = Storage(tmp_path)  # a process that has read both before the crash
    assert reader.collection("a").count() == reader.collection("b").count() == 1
    _crash_after_the_first_part(store)
    assert len(_unfinished(tmp_path)) == 1
    # "b" did not change on disk, yet its reader completes the unit of work before answering
    assert reader.collection("b").get("x1") is not None
    other = Storage(tmp_path)  # another process: reading "b" completes the unit of work first
    assert other.collection("b").get("x1") is not None
    assert other.collection("a").get("x1") is not None
    assert not _unfinished(tmp_path)
    other.collection("a").insert({"id": "x2"})  # and writing after it does not replay it again
    assert Storage(tmp_path).collection("a").count() == 3


def test_recover_counts_the_units_of_work_it_completed(tmp_path):
    store = Storage(tmp_path)
    store.collection("a").insert({"id": "x0"})
    store.collection("b").insert({"id": "x0"})
    assert Storage(tmp_path).recover() == 0
    _crash_after_the_first_part(store)
    assert Storage(tmp_path).recover() == 1
    assert Storage(tmp_path).recover() == 0
    assert Storage(tmp_path).collection("b").get("x1") is not None


def test_recover_does_not_count_a_unit_of_work_still_in_flight(tmp_path):
    """Another process's unit of work between its journal record and its end is not a crash:
    recover waits for its locks, finds it ended, and counts nothing."""
    import threading

    store = Storage(tmp_path)
    in_journal, go_on = threading.Event(), threading.Event()

    def pause(_name):
        in_journal.set()
        go_on.wait(10)

    store.before_part = pause

    def write():
        with store.unit_of_work("a", "b") as uow:
            uow["a"].insert({"id": "y"})
            uow["b"].insert({"id": "y"})

    writer = threading.Thread(target=write)
    writer.start()
    assert in_journal.wait(10)
    other = Storage(tmp_path)
    found = []
    recovering = threading.Thread(target=lambda: found.append(other.recover()))
    recovering.start()
    recovering.join(0.3)  # waiting for the writer's locks
    go_on.set()
    writer.join(10)
    recovering.join(10)
    assert found == [0]
    assert Storage(tmp_path).collection("b").get("y") is not None


def test_unique_fields_are_enforced_by_every_write(tmp_path):
    store = Storage(tmp_path)
    store.declare_unique("people", "email")
    people = store.collection("people")
    people.insert({"id": "a", "email": "ada@example.org"})
    with pytest.raises(UniqueViolation) as err:
        people.insert({"id": "b", "email": "ada@example.org"})
    assert err.value.field == "email" and err.value.collection == "people"
    people.insert({"id": "b", "email": None})
    people.insert({"id": "c", "email": None})  # no value is no clash
    with pytest.raises(UniqueViolation):
        people.update("c", {"email": "ada@example.org"})
    with store.unit_of_work("people") as uow:  # a swap inside one unit of work is fine
        uow["people"].update("a", {"email": "tmp@example.org"})
        uow["people"].update("b", {"email": "ada@example.org"})
    with pytest.raises(UniqueViolation):
        with store.unit_of_work("people") as uow:
            uow["people"].insert({"id": "d", "email": "new@example.org"})
            uow["people"].insert({"id": "e", "email": "new@example.org"})
    assert people.get("d") is None


def test_nested_unit_of_work_is_refused(tmp_path):
    store = Storage(tmp_path)
    with store.unit_of_work("a", "b"):
        with pytest.raises(StorageError):
            with store.collection("a").transaction():
                pass


@pytest.mark.parametrize("writers", [1, 2])
def test_sigkilled_writers_of_multi_collection_units_leave_all_or_nothing(tmp_path, monkeypatch, writers):
    """Writers SIGKILLed at random points of three-collection commits (one at a time, or two
    writing at once; the journal is checkpointed often): every acknowledged unit of work is
    complete in all three collections, and no collection holds a part of one that the others lack."""
    seed = int(os.environ.get("KBP_TEST_SEED") or random.randrange(1 << 30))
    print(f"kill-test seed: {seed} (repeat with KBP_TEST_SEED={seed})")
    monkeypatch.setenv("KBP_STORAGE_JOURNAL_BYTES", "4096")  # checkpoints among the kills
    rng = random.Random(seed)
    acknowledged: set[str] = set()
    interrupted = 0
    for _round in range(8):
        procs = [
            subprocess.Popen(
                [sys.executable, str(WORKER), str(tmp_path), "pairs", "k", str(rng.randrange(1 << 30))],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(writers)
        ]
        deadline = time.monotonic() + 20
        for proc in procs:  # the first one's kill point comes first; the second has run meanwhile
            for line in proc.stdout:
                acknowledged.add(line.strip())
                if time.monotonic() > deadline:
                    break
            if proc.poll() is None:  # the seeded kill point was not reached: kill it ourselves
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
            assert proc.returncode == -signal.SIGKILL, f"seed {seed}"
        interrupted += bool(_unfinished(tmp_path))
    store = Storage(tmp_path)
    ids = [{r["id"] for r in store.collection(f"k_{x}").all()} for x in "abc"]
    assert ids[0] == ids[1] == ids[2], f"seed {seed}"
    assert acknowledged <= ids[0], f"seed {seed}"
    assert len(ids[0]) >= 8
    assert interrupted >= 2, f"seed {seed}: the kills should leave half-written units of work to complete"


def _as_after_a_restart_of_the_machine(data_dir: Path) -> None:
    """Make the journal look written in an earlier boot of the machine (its header names the boot)."""
    path = data_dir / JOURNAL_DIR / "uow.log"
    header, rest = path.read_bytes().split(b"\n", 1)
    assert b'"kbp_journal":1' in header
    path.write_bytes(b'{"kbp_journal":1,"boot":"an-earlier-boot"}\n' + rest)


def _log_size(data_dir: Path, name: str) -> int:
    return (data_dir / f"{name}.json.log").stat().st_size


def test_a_commit_across_collections_syncs_only_the_journal(tmp_path, monkeypatch):
    """The parts' log lines are not synced one by one: the journal entry, synced before them,
    is what makes the unit of work durable (the logs are synced at a checkpoint)."""
    store = Storage(tmp_path)
    with store.unit_of_work("plans", "plan_history") as uow:  # creates the files
        uow["plans"].insert({"id": "p0"})
        uow["plan_history"].insert({"id": "h0"})
    syncs = []
    real_fsync, real_fdatasync = os.fsync, os.fdatasync
    monkeypatch.setattr(os, "fsync", lambda fd: (syncs.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "fdatasync", lambda fd: (syncs.append("fdatasync"), real_fdatasync(fd))[1])
    for i in range(1, 6):
        with store.unit_of_work("plans", "plan_history") as uow:
            uow["plans"].update("p0", {"n": i})
            uow["plan_history"].insert({"id": f"h{i}"})
    assert len(syncs) == 5, syncs
    syncs.clear()
    store.collection("plans").update("p0", {"n": 9})  # a single collection's commit: its own fsync
    assert syncs == ["fsync"]


def test_log_lines_lost_by_a_machine_crash_are_written_again_from_the_journal(tmp_path):
    """A crash of the machine can lose log lines that were never synced; the journal entry was.
    After the restart the first process to touch the data writes them again, once."""
    store = Storage(tmp_path)
    store.collection("a").insert({"id": "x0"})
    store.collection("b").insert({"id": "x0"})
    before = _log_size(tmp_path, "b")
    with store.unit_of_work("a", "b") as uow:
        uow["a"].insert({"id": "x1"})
        uow["b"].insert({"id": "x1", "text": "kept"})
    store.close()
    with open(tmp_path / "b.json.log", "r+b") as fh:  # the page cache of "b" was lost
        fh.truncate(before)
    _as_after_a_restart_of_the_machine(tmp_path)
    fresh = Storage(tmp_path)
    assert fresh.collection("b").get("x1")["text"] == "kept"
    fresh.collection("b").update("x1", {"text": "edited later"})
    fresh.collection("a").insert({"id": "x2"})
    again = Storage(tmp_path)  # another process: checks nothing twice, reverts nothing
    assert again.collection("b").get("x1")["text"] == "edited later"
    assert again.collection("a").count() == 3 and again.collection("b").count() == 2
    assert not _unfinished(tmp_path)


def test_an_aborted_unit_of_work_is_not_completed_after_a_restart(tmp_path):
    store = Storage(tmp_path)
    store.collection("plans").insert({"id": "p1", "v": 1})

    def fail(name):
        if name == "plans":
            raise OSError("disk full (injected)")

    store.before_part = fail
    with pytest.raises(OSError):
        with store.unit_of_work("plans", "plan_history") as uow:
            uow["plan_history"].insert({"id": "h", "plan_id": "p1"})
            uow["plans"].update("p1", {"v": 2})
    store.close()
    _as_after_a_restart_of_the_machine(tmp_path)
    fresh = Storage(tmp_path)
    assert fresh.collection("plans").get("p1")["v"] == 1
    assert fresh.collection("plan_history").count() == 0


def test_the_journal_is_checkpointed_and_stays_small(tmp_path, monkeypatch):
    import core.storage as st

    monkeypatch.setattr(st, "JOURNAL_CHECKPOINT_BYTES", 2000)
    store = Storage(tmp_path)
    journal = tmp_path / JOURNAL_DIR / "uow.log"
    sizes = []
    for i in range(60):
        with store.unit_of_work("a", "b") as uow:
            uow["a"].insert({"id": f"x{i}", "text": "t" * 50})
            uow["b"].insert({"id": f"x{i}"})
        sizes.append(journal.stat().st_size)
    assert max(sizes) < 2000 + 600 and min(sizes[5:]) < 500  # it was started afresh, more than once
    store.close()
    _as_after_a_restart_of_the_machine(tmp_path)
    fresh = Storage(tmp_path)
    assert fresh.collection("a").count() == fresh.collection("b").count() == 60


def test_a_journal_file_of_an_earlier_version_is_still_completed(tmp_path):
    import orjson

    store = Storage(tmp_path)
    store.collection("a").insert({"id": "x0"})
    store.collection("b").insert({"id": "x0"})
    with store.collection("a").transaction() as tx:  # the part that reached its log
        tx.insert({"id": "x1"})
    store.close()
    doc = {"id": "x1", "_v": 1}
    (tmp_path / JOURNAL_DIR).mkdir(exist_ok=True)
    (tmp_path / JOURNAL_DIR / "old.uow").write_bytes(
        orjson.dumps({"kbp_uow": 1, "tx": "old", "parts": {"b": {"x1": doc}}})
    )
    fresh = Storage(tmp_path)
    assert fresh.collection("b").get("x1") is not None
    assert not (tmp_path / JOURNAL_DIR / "old.uow").exists()


def test_a_restore_forgets_the_journal_of_the_replaced_data(tmp_path):
    """Units of work after a backup must not be 'completed' into the restored data."""
    from core.backup import backup, restore

    data = tmp_path / "data"
    store = Storage(data)
    with store.unit_of_work("a", "b") as uow:
        uow["a"].insert({"id": "before"})
        uow["b"].insert({"id": "before"})
    store.close()
    backup(data, tmp_path / "b.tar.gz")
    store = Storage(data)
    with store.unit_of_work("a", "b") as uow:
        uow["a"].insert({"id": "after"})
        uow["b"].insert({"id": "after"})
    store.close()
    restore(data, tmp_path / "b.tar.gz")
    _as_after_a_restart_of_the_machine(data)
    fresh = Storage(data)
    assert [r["id"] for r in fresh.collection("b").all()] == ["before"]
    assert [r["id"] for r in fresh.collection("a").all()] == ["before"]
