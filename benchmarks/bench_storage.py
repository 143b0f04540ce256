"""Storage benchmark: write latency/throughput against plain TinyDB and SQLite (WAL), the main read
paths on a seeded organisation, cold start and memory per worker.

    .venv/bin/python benchmarks/bench_storage.py            # full run (10k and 100k records), a few minutes
    .venv/bin/python benchmarks/bench_storage.py --quick    # smaller samples, 10k only
    .venv/bin/python benchmarks/bench_storage.py --data DIR # reuse a data folder seeded with `kbp dev seed`
    .venv/bin/python benchmarks/bench_storage.py --quick --backend postgres
        # the same read paths, plan writes, cold start and memory on PostgreSQL, side by side with the
        # embedded store in one run (the seeded data is copied with kbp db copy; a throwaway cluster is
        # started unless --database-url names a database)

Every number is measured in this run on this machine; ratios compare backends measured side by side.
A bare Flask request is timed after every sample of every path, and each path prints "machine xN":
that request's p50 while the path ran over its p50 at the run's start (a shared machine slows down
two- or threefold for minutes; this shows when it did).
Writes are durable in all three: our log append is fsynced, TinyDB's JSONStorage fsyncs the whole
file, SQLite runs in WAL mode with synchronous=FULL (synchronous=NORMAL, which does not sync each
commit, is shown for reference).
"""
from __future__ import annotations

import argparse
import gc
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASELINE_FLASK = "baseline: a bare Flask request"
BASELINE_DB = "baseline: one database round trip (SELECT 1)"
#: a verdict names the machine's slowdown when the bare request was this much slower during a path
SLOWER = 1.3
TARGETS = {"read_p95_ms": 30.0, "plan_write_p95_ms": 20.0, "tinydb_ratio": 50.0, "sqlite_ratio": 10.0}


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def fmt_ms(samples: list[float]) -> str:
    return f"p50 {pct(samples, 50) * 1000:7.2f} ms   p95 {pct(samples, 95) * 1000:7.2f} ms   (n={len(samples)})"


# --------------------------------------------------------------------------- writes


def make_record(i: int, rng: random.Random) -> dict:
    """A plan-sized record (~1.5 KB of JSON)."""
    return {
        "id": f"r{i:07d}", "person_id": f"p{rng.randrange(10000):05d}", "coach_id": f"p{rng.randrange(1000):05d}",
        "status": rng.choice(["draft", "agreed"]), "version": 1,
        "focus": [{"competency": f"fw:c{rng.randrange(40)}", "name": {"sv": "Kommunikation", "en": "Communication"},
                   "definition": {"sv": "Förmåga att lyssna och uttrycka sig tydligt. " * 3, "en": "Listens and speaks clearly. " * 3},
                   "goal": "Leda ett möte i månaden"}],
        "activities": [{"id": f"a{i}", "title": {"sv": "Mentorprogram", "en": "Mentoring"}, "status": "planned",
                        "due": "2025-06-01"}] * 2,
        "notes": "x" * 300, "updated_at": 1.7e9 + i,
    }


def bench_ours(directory: Path, records: list[dict], writes: int, rng: random.Random) -> list[float]:
    from core.storage import Storage

    coll = Storage(directory).collection("plans")
    with coll.transaction() as tx:
        for r in records:
            tx.insert(r)
    coll.compact()
    coll = Storage(directory).collection("plans")  # a fresh process view: load from disk
    coll.count()
    samples = []
    for k in range(writes):
        rid = records[rng.randrange(len(records))]["id"]
        t = time.perf_counter()
        coll.update(rid, {"version": k + 2, "notes": f"edit {k} " + "y" * 290})
        samples.append(time.perf_counter() - t)
    return samples


def bench_tinydb(directory: Path, records: list[dict], writes: int, rng: random.Random) -> list[float]:
    from tinydb import TinyDB

    path = directory / "plain.json"
    path.write_text(json.dumps({"_default": {str(n + 1): r for n, r in enumerate(records)}}))
    db = TinyDB(path)  # JSONStorage: json.dumps of the whole database + flush + fsync per write
    table = db.table("_default")
    samples = []
    for k in range(writes):
        doc_id = rng.randrange(len(records)) + 1
        t = time.perf_counter()
        table.update({"version": k + 2, "notes": f"edit {k} " + "y" * 290}, doc_ids=[doc_id])
        samples.append(time.perf_counter() - t)
    db.close()
    return samples


def bench_sqlite(directory: Path, records: list[dict], writes: int, rng: random.Random, synchronous: str) -> list[float]:
    path = directory / f"wal-{synchronous}.sqlite"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(f"PRAGMA synchronous={synchronous}")
    con.execute("CREATE TABLE docs (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
    con.execute("BEGIN")
    con.executemany("INSERT INTO docs VALUES (?, ?)", ((r["id"], json.dumps(r)) for r in records))
    con.execute("COMMIT")
    samples = []
    for k in range(writes):  # the same write: read, merge, write back, one transaction each
        rid = records[rng.randrange(len(records))]["id"]
        t = time.perf_counter()
        con.execute("BEGIN IMMEDIATE")
        doc = json.loads(con.execute("SELECT doc FROM docs WHERE id = ?", (rid,)).fetchone()[0])
        doc.update({"version": k + 2, "notes": f"edit {k} " + "y" * 290})
        con.execute("UPDATE docs SET doc = ? WHERE id = ?", (json.dumps(doc), rid))
        con.execute("COMMIT")
        samples.append(time.perf_counter() - t)
    con.close()
    return samples


def write_benchmarks(sizes: list[int], writes: int, tinydb_writes: dict[int, int], work: Path) -> dict:
    results = {}
    for n in sizes:
        rng = random.Random(n)
        records = [make_record(i, rng) for i in range(n)]
        row = {}
        for name, fn in (
            ("ours", lambda d: bench_ours(d, records, writes, random.Random(1))),
            ("tinydb", lambda d: bench_tinydb(d, records, tinydb_writes[n], random.Random(1))),
            ("sqlite_wal_full", lambda d: bench_sqlite(d, records, writes, random.Random(1), "FULL")),
            ("sqlite_wal_normal", lambda d: bench_sqlite(d, records, writes, random.Random(1), "NORMAL")),
        ):
            d = work / f"w{n}-{name}"
            d.mkdir(parents=True)
            samples = fn(d)
            row[name] = {"samples": samples, "throughput": len(samples) / sum(samples)}
            print(f"  {n:>7} records  {name:<18} {fmt_ms(samples)}   {row[name]['throughput']:8.1f} writes/s", flush=True)
            shutil.rmtree(d, ignore_errors=True)
        ours, tiny, sql = row["ours"]["throughput"], row["tinydb"]["throughput"], row["sqlite_wal_full"]["throughput"]
        print(f"  {n:>7} records  ours / plain TinyDB = {ours / tiny:7.1f}x   SQLite WAL (FULL) / ours = {sql / ours:5.2f}x", flush=True)
        results[n] = row
    return results


# --------------------------------------------------------------------------- read paths


def proposed_plans_for(storage, account) -> list[dict]:
    """What core.plans.visible_plans would do with the indexes (see benchmarks/README.md)."""
    plans = storage.collection("plans")
    if account.role == "admin":
        return plans.all()
    found = {}
    me = account.person_id
    people = [me]
    if account.role == "coach":
        for p in plans.find(coach_id=me):
            found[p["id"]] = p
        people += [person["id"] for person in storage.collection("people").find(coach_id=me)]
    for p in plans.find_any("person_id", people):  # one look-up for the coachees' plans and the own
        found[p["id"]] = p
    return sorted(found.values(), key=lambda p: p["updated_at"], reverse=True)


def read_benchmarks(data_dir: Path, samples: int, extra: dict | None = None, reference: float | None = None) -> dict:
    """The read and write paths; ``reference``: the bare request's p50 at the start of the run (the
    other side's), which every "machine xN" of this side is relative to (default: this side's)."""
    from core import auth
    from core.app import create_app
    from core.auth import Account

    backend = "PostgreSQL" if (extra or {}).get("DATABASE_URL") else "the embedded store"
    print(f"\nRead paths on {backend} ({data_dir})", flush=True)
    t = time.perf_counter()
    app = create_app({"DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING", **(extra or {})})
    print(f"  create_app (warm process, data not yet loaded): {time.perf_counter() - t:.2f} s", flush=True)
    storage = app.extensions["kbp"].storage
    rng = random.Random(5)
    people = storage.collection("people")
    # coaches still employed: a leaver's token and session are refused (the seed has leavers)
    coaches = [a for a in storage.collection("accounts").find(role="coach")
               if a.get("active", True) and (people.get(a["person_id"]) or {}).get("status") != "left"]
    plans_coll = storage.collection("plans")
    tokens, coach_plans = {}, {}
    with app.app_context():
        for acct in rng.sample(coaches, min(40, len(coaches))):
            owned = plans_coll.find(coach_id=acct["person_id"])
            if owned:
                tokens[acct["id"]] = auth.create_token(storage, acct, "bench")[1]
                coach_plans[acct["id"]] = owned
    client = app.test_client()
    ids = list(tokens)
    results: dict[str, list[float]] = {}
    first: dict[str, float] = {}
    machine: dict[str, float] = {}  # per path: the bare request's p50 while it ran, over its p50 at the run's start

    # the machine's own speed, measured all along: a bare Flask app through the same test client,
    # timed right after each sample of every path (its second call, so what the path left in the
    # CPU's caches is not what it shows). A shared machine can slow down two- or threefold for
    # minutes, which moves every path; this shows when it did.
    from flask import Flask

    bare_app = Flask("bare")
    bare_app.add_url_rule("/", "hello", lambda: {"hello": "world"})
    bare = bare_app.test_client()

    def bare_request() -> float:
        bare.get("/")  # untimed: the path just run left other code and data in the CPU's caches
        t = time.perf_counter()
        bare.get("/")
        return time.perf_counter() - t

    def run(name: str, fn, n: int = samples, before_each=None) -> None:
        t = time.perf_counter()
        fn()  # first call: lazy loads and index builds of this worker
        first[name] = time.perf_counter() - t
        for _ in range(2):
            fn()
        # as in a kbp serve worker (core.warmup.freeze): what is loaded and warmed is out of the
        # collector's reach, so a full collection does not walk every loaded record mid-request
        gc.freeze()
        out, probe = [], []
        for _ in range(n):
            if before_each is not None:  # not timed
                before_each()
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
            probe.append(bare_request())  # not part of the sample
        results[name] = out
        start = reference or pct(results[BASELINE_FLASK], 50)
        machine[name] = pct(probe, 50) / start
        slower = f"   machine x{machine[name]:.1f}"
        print(f"  {name:<44} {fmt_ms(out)}   first call {first[name] * 1000:8.1f} ms{slower}", flush=True)

    from core import sessions

    page_clients: dict = {}

    def get(url: str, acct_id: str, status: int = 200):
        if url.startswith("/api/"):
            r = client.get(url, headers={"Authorization": f"Bearer {tokens[acct_id]}"})
        else:  # pages take a signed-in session, not an API token
            page = page_clients.get(acct_id)
            if page is None:
                page = page_clients[acct_id] = app.test_client()
                with page.session_transaction() as sess:
                    sess["account"] = acct_id
                    sess["sid"] = sessions.open_session(storage, acct_id)
                    sess.permanent = True
            r = page.get(url)
        assert r.status_code == status, (url, r.status_code, r.data[:300])
        return r

    def coach_list_api():
        get("/api/v1/plans", rng.choice(ids))

    def coach_list_indexed():
        acct = storage.collection("accounts").get(rng.choice(ids))
        proposed_plans_for(storage, Account(acct["id"], acct["username"], acct["role"], acct["person_id"]))

    def plan_page():
        acct = rng.choice(ids)
        plan = rng.choice(coach_plans[acct])
        get(f"/api/v1/plans/{plan['id']}", acct)
        get(f"/api/v1/plans/{plan['id']}/history", acct)

    def plan_storage():
        plan = rng.choice(coach_plans[rng.choice(ids)])
        plans_coll.get(plan["id"])
        storage.collection("plan_history").find(plan_id=plan["id"])

    registry = app.extensions["kbp"].registry
    frameworks = [fw for fw in registry.frameworks if registry.is_available(fw)]  # unlicensed ones answer 403
    competencies = [(fw, c.id) for fw in frameworks for c in registry.frameworks[fw].competencies()]

    def framework_page():
        get(f"/frameworks/{rng.choice(frameworks)}", rng.choice(ids))

    def competency_page():  # lists the competency's activities from every source
        fw, comp = rng.choice(competencies)
        get(f"/frameworks/{fw}/{comp}", rng.choice(ids))

    words = ["ledarskap", "kommunikation", "feedback", "mentorprogram", "workshop", "samarbete", "projektledning",
             "konflikthantering", "förändringsarbete", "mötesteknik", "ledarskp", "kommunikaton", "fö", "lead"]

    def search():
        get(f"/api/v1/activities/search?q={rng.choice(words)}&lang={rng.choice(['sv', 'en'])}", rng.choice(ids))

    writes = {"n": 0}

    def plan_write():
        acct = rng.choice(ids)
        plan = plans_coll.get(rng.choice(coach_plans[acct])["id"])
        goals = {f["competency"]: f"Mål {writes['n']}" for f in plan["focus"]}
        writes["n"] += 1
        r = client.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "goals": goals},
                         headers={"Authorization": f"Bearer {tokens[acct]}"})
        assert r.status_code == 200, r.data[:300]

    def plan_write_storage():
        plan = rng.choice(coach_plans[rng.choice(ids)])
        with plans_coll.transaction() as tx:
            current = tx.get(plan["id"])
            current["version"] += 1
            tx.upsert(current)
        storage.collection("plan_history").insert({"plan_id": plan["id"], "at": time.time(), "by": "bench",
                                                   "action": "update", "fields": ["goals"]})

    # baselines measured in this run, before the paths: what any request costs on this machine now
    # (the bare Flask request) and, on PostgreSQL, one round trip to the database. "machine x2.0"
    # after a path: the bare request took twice its time at the start of the run (the embedded
    # side's baseline) while that path was measured
    run(BASELINE_FLASK, lambda: bare.get("/"))
    if storage.backend == "postgresql":  # healthy(): SELECT 1 on a pooled connection, as the paths use
        run(BASELINE_DB, storage.healthy)
    run("coach's plan list: GET /api/v1/plans (today)", coach_list_api)
    run("coach's plan list: indexed (proposed)", coach_list_indexed)
    run("plan page: GET plan + GET history (API)", plan_page)
    run("plan page: storage get + find(plan_id)", plan_storage)
    run("framework page: GET /frameworks/<id>", framework_page)
    run("competency page: GET /frameworks/<id>/<comp>", competency_page)
    from core.activity_search import searcher

    def forget_answers():  # the 28 (word, language) pairs repeat: measure the search, not kept answers
        index = searcher(app).index
        if index is not None:
            index.forget_answers()

    run("activity search: GET /api/v1/activities/search", search, before_each=forget_answers)
    run("activity search, repeated question (kept answers)", search)
    run("plan write: PATCH /api/v1/plans/<id>", plan_write)
    run("plan write: storage tx + history insert", plan_write_storage)
    gc.unfreeze()  # this side's app goes away with this function: the other side starts without it
    return {"samples": results, "first": first, "machine": machine,
            "reference": reference or pct(results[BASELINE_FLASK], 50)}


COLD = textwrap.dedent("""
    import json, os, sys, time
    t0 = time.perf_counter()
    from core.app import create_app
    app = create_app({"DATA_DIR": sys.argv[1], "LOG_LEVEL": "WARNING", **json.loads(sys.argv[2])})
    t1 = time.perf_counter()
    storage = app.extensions["kbp"].storage
    for name in storage.collection_names():
        storage.collection(name).count()
    t2 = time.perf_counter()
    from core.activity_search import searcher
    searcher(app).search("ledarskap", locale="sv")
    t3 = time.perf_counter()
    rss = int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) / 1024
    print(json.dumps({"create_app": t1 - t0, "load_all": t2 - t1, "search_index": t3 - t2, "rss_mb": rss}))
""")


def cold_start(data_dir: Path, extra: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", COLD, str(data_dir), json.dumps(extra or {})], capture_output=True,
                         text=True, cwd=ROOT, timeout=600, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nCold start in a fresh process: create_app {result['create_app']:.2f} s (imports included); "
          f"loading every collection {result['load_all']:.2f} s; building the search index {result['search_index']:.2f} s", flush=True)
    print(f"RSS of one worker with everything loaded and the search index built: {result['rss_mb']:.0f} MB", flush=True)
    return result


# --------------------------------------------------------------------------- PostgreSQL side by side


def postgres_side(args, data_dir: Path, work: Path, samples: int, cold: dict, reads: dict) -> None:
    from core.app import open_store
    from core.dbcopy import copy_store

    from tests import pgcluster

    url, cluster = pgcluster.given_or_throwaway(args.database_url)
    try:
        extra = {"DATABASE_URL": url, "DATABASE_SCHEMA": "kbp_bench"}
        t = time.perf_counter()
        copy_store(open_store({"DATA_DIR": str(data_dir)}), open_store(extra), force=True)
        print(f"\nCopied the seeded data into PostgreSQL (kbp db copy) in {time.perf_counter() - t:.1f} s", flush=True)
        gc.collect()  # the embedded side's app and the copy's stores
        pg_cold = cold_start(work / "pg-side", extra)
        pg_reads = read_benchmarks(work / "pg-side", samples, extra, reference=reads["reference"])
        print("\nSide by side (p95, ms; same data, same run)")
        print(f"  {'path':<48} {'embedded':>10} {'PostgreSQL':>11}   machine while measured (embedded, PostgreSQL)")
        for name, s in reads["samples"].items():
            other = pg_reads["samples"].get(name)
            if other:
                print(f"  {name:<48} {pct(s, 95) * 1000:>10.1f} {pct(other, 95) * 1000:>11.1f}   "
                      f"x{reads['machine'][name]:.1f}, x{pg_reads['machine'][name]:.1f}")
        print(f"  {'RSS per fully warmed worker (MB)':<48} {cold['rss_mb']:>10.0f} {pg_cold['rss_mb']:>11.0f}")
        print(f"  {'cold start: create_app (s)':<48} {cold['create_app']:>10.2f} {pg_cold['create_app']:>11.2f}")
        print("\nTargets on PostgreSQL (issue: read paths p95 < 10 ms, plan write p95 < 10 ms, RSS < 250 MB)")
        for name, s in pg_reads["samples"].items():
            if name.startswith("baseline"):
                print(f"  {name:<48} p95 {pct(s, 95) * 1000:6.1f} ms  (the machine, for comparison)")
                continue
            p95 = pct(s, 95) * 1000
            slower = pg_reads["machine"][name]
            note = f" (the machine was {slower:.1f}x slower than at the run's start meanwhile)" if slower >= SLOWER else ""
            print(f"  {name:<48} p95 {p95:6.1f} ms  {'met' if p95 < 10 else 'NOT met'}{note}")
        print(f"  {'RSS per fully warmed worker':<48} {pg_cold['rss_mb']:.0f} MB  {'met' if pg_cold['rss_mb'] < 250 else 'NOT met'}")
    finally:
        if cluster is not None:
            cluster.stop()


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k only, fewer samples")
    parser.add_argument("--data", type=Path, help="a data folder seeded with kbp dev seed (default: seed one now)")
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--backend", choices=["embedded", "postgres"], default="embedded",
                        help="postgres: measure PostgreSQL too, side by side with the embedded store")
    parser.add_argument("--database-url", help="a PostgreSQL database to use (default: start a throwaway cluster)")
    parser.add_argument("--people", type=int, default=10000)
    parser.add_argument("--plans", type=int, default=20000)
    parser.add_argument("--activities", type=int, default=50000)
    args = parser.parse_args()
    samples = args.samples or (60 if args.quick else 300)
    work = Path(tempfile.mkdtemp(prefix="kbp-bench-"))
    try:
        print(f"Write benchmark (update of one ~1.5 KB record per durable commit) in {work}", flush=True)
        sizes = [10_000] if args.quick else [10_000, 100_000]
        writes = write_benchmarks(sizes, 200 if args.quick else 500, {10_000: 15, 100_000: 4}, work)

        data_dir = args.data
        if data_dir is None:
            from core.app import create_app
            from core.seed import seed

            data_dir = work / "seeded"
            t = time.perf_counter()
            seed(create_app({"DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}), people=args.people, plans=args.plans,
                 activities=args.activities, seed=1)
            print(f"\nSeeded {args.people:,} people / {args.plans:,} plans / {args.activities:,} activities in "
                  f"{time.perf_counter() - t:.1f} s", flush=True)
        cold = cold_start(data_dir)
        reads = read_benchmarks(data_dir, samples)
        if args.backend == "postgres":
            postgres_side(args, data_dir, work, samples, cold, reads)

        print("\nTargets")
        r10 = writes[10_000]
        ratio_tiny = r10["ours"]["throughput"] / r10["tinydb"]["throughput"]
        ratio_sql = r10["sqlite_wal_full"]["throughput"] / r10["ours"]["throughput"]

        def verdict(ok: bool) -> str:
            return "met" if ok else "NOT met"

        rows = [
            ("write throughput vs plain TinyDB at 10k", f"{ratio_tiny:.0f}x (target >= 50x)", ratio_tiny >= 50),
            ("write throughput vs SQLite WAL at 10k", f"SQLite {ratio_sql:.2f}x ours (target within 10x)", ratio_sql <= 10),
        ]
        for name, s in reads["samples"].items():
            if name.startswith("baseline"):
                continue
            limit = TARGETS["plan_write_p95_ms"] if "write" in name else TARGETS["read_p95_ms"]
            rows.append((name, f"p95 {pct(s, 95) * 1000:.1f} ms (target < {limit:.0f} ms)", pct(s, 95) * 1000 < limit))
        for name, value, ok in rows:
            print(f"  {name:<48} {value:<44} {verdict(ok)}")
        print(f"  cold start: create_app {cold['create_app']:.2f} s; RSS per worker {cold['rss_mb']:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
