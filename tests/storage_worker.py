"""Helper process for tests/test_storage.py (not a test module).

    python storage_worker.py DATA_DIR bulk NAME COUNT TAG
        Print "ready", wait for one line on stdin, insert COUNT records with
        generated ids, printing each id once insert() has returned, then "done".
    python storage_worker.py DATA_DIR loop NAME PAYLOAD_BYTES
        Insert records forever, printing each id once insert() has returned.
    python storage_worker.py DATA_DIR die NAME STAGE N
        Like "loop", but the N-th insert SIGKILLs this process at STAGE of the
        file write (temp-written, before-replace, after-replace,
        before-dir-fsync, before-cleanup).
    python storage_worker.py DATA_DIR insert NAME ID [ID ...]
        Insert records with the given ids.
    python storage_worker.py DATA_DIR delete NAME ID [ID ...]
        Delete the records with the given ids.
    python storage_worker.py DATA_DIR pairs NAME SEED
        Units of work forever: each inserts one record into NAME_a, NAME_b and NAME_c with the same
        id, printing the id once the unit of work has returned. With SEED >= 0, a random point
        (seeded) between or inside the parts' writes SIGKILLs the process after some commits.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import core.storage as storage_mod  # noqa: E402
from core.storage import Storage  # noqa: E402


def _arm_crash(stage: str) -> dict:
    """Patch the write path so that it SIGKILLs us at ``stage`` once armed."""
    state = {"armed": False}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    real_fsync, real_replace = os.fsync, os.replace
    real_fsync_dir = storage_mod._fsync_dir
    real_cleanup = storage_mod._AtomicJSONStorage._remove_orphans

    def fsync(fd):
        if state["armed"] and stage == "temp-written":
            die()  # temp file complete but not yet synced or renamed
        return real_fsync(fd)

    def replace(src, dst):
        if state["armed"] and stage == "before-replace":
            die()
        real_replace(src, dst)
        if state["armed"] and stage == "after-replace":
            die()

    def fsync_dir(directory):
        if state["armed"] and stage == "before-dir-fsync":
            die()
        return real_fsync_dir(directory)

    def cleanup(self, directory):
        if state["armed"] and stage == "before-cleanup":
            die()
        return real_cleanup(self, directory)

    storage_mod.os.fsync = fsync
    storage_mod.os.replace = replace
    storage_mod._fsync_dir = fsync_dir
    storage_mod._AtomicJSONStorage._remove_orphans = cleanup
    return state


def main(argv: list[str]) -> int:
    data_dir, mode, name, *rest = argv
    coll = Storage(data_dir).collection(name)
    out = sys.stdout

    if mode == "bulk":
        count, tag = int(rest[0]), rest[1]
        print("ready", file=out, flush=True)
        sys.stdin.readline()
        for seq in range(count):
            rec = coll.insert({"worker": tag, "seq": seq})
            print(rec["id"], file=out, flush=True)
        print("done", file=out, flush=True)
    elif mode == "loop":
        payload = "x" * int(rest[0])
        seq = 0
        while True:
            rec = coll.insert({"seq": seq, "payload": payload})
            out.write(rec["id"] + "\n")
            out.flush()
            seq += 1
    elif mode == "die":
        state = _arm_crash(rest[0])
        for seq in range(int(rest[1])):
            state["armed"] = seq == int(rest[1]) - 1
            rec = coll.insert({"seq": seq, "payload": "y" * 100})
            out.write(rec["id"] + "\n")
            out.flush()
        raise SystemExit("the crash stage was never reached")
    elif mode == "pairs":
        import random

        rng = random.Random(int(rest[0]))
        store = Storage(data_dir)
        names = [f"{name}_a", f"{name}_b", f"{name}_c"]
        kill_at = rng.randint(5, 60) if int(rest[0]) >= 0 else -1
        seq = 0

        def maybe_die(coll_name):
            if seq == kill_at and rng.random() < 0.8:
                os.kill(os.getpid(), signal.SIGKILL)

        store.before_part = maybe_die
        if kill_at >= 0:
            real_fsync = storage_mod.os.fsync

            def fsync(fd):
                if seq == kill_at and rng.random() < 0.15:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real_fsync(fd)

            real_fdatasync = storage_mod.os.fdatasync

            def fdatasync(fd):  # the journal's sync: the record is written, maybe not durable
                if seq == kill_at and rng.random() < 0.15:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real_fdatasync(fd)

            storage_mod.os.fsync = fsync
            storage_mod.os.fdatasync = fdatasync
        while True:
            rec_id = f"p{os.getpid()}-{seq}"
            with store.unit_of_work(*names) as uow:
                for n in names:
                    uow[n].insert({"id": rec_id, "seq": seq})
            out.write(rec_id + "\n")
            out.flush()
            seq += 1
    elif mode == "insert":
        for record_id in rest:
            coll.insert({"id": record_id, "from": "worker"})
    elif mode == "delete":
        for record_id in rest:
            coll.delete(record_id)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
