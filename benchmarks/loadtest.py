"""Load test and crash test of ``kbp serve --workers 4`` on loopback, with a seeded data folder.

    .venv/bin/python benchmarks/loadtest.py                         # 10k people, 60 s of load
    .venv/bin/python benchmarks/loadtest.py --duration 30 --people 2000 --plans 4000 --activities 10000
    .venv/bin/python benchmarks/loadtest.py --kill-workers 50       # SIGKILL a worker 50 times during the load
    .venv/bin/python benchmarks/loadtest.py --crash-writers 50 --no-load   # storage-level writer kills only
    .venv/bin/python benchmarks/loadtest.py --backend postgres --servers 2 --workers 2 --kill-workers 10
        # two servers (2 workers each, separate data folders) on one PostgreSQL database; the seeded
        # data is copied there with kbp db copy; requests go to the servers in turn

What it does, all bounded (fixed duration AND request cap; loopback only; it stops by itself):

1. seeds its own data folder (``kbp dev seed``) in a temp folder, creates API tokens for coaches;
2. starts ``kbp serve --workers 4`` on 127.0.0.1 and a free port, waits for /healthz;
3. warms the workers up (not measured), then drives the server from ``--threads`` client threads
   with a realistic mix: browse a framework page, search activities, open a plan (plan + history),
   edit a plan through the API with its version (409 conflicts re-read and retry), export a plan
   (the ``plan-json`` exporter) - and optionally SIGKILLs a random worker ``--kill-workers`` times;
4. stops the server and checks the data: every collection loads, and every acknowledged edit
   (HTTP 200 to a PATCH) is there - version at least the acknowledged one, the goal text of the
   latest acknowledged edit, a history entry for each;
5. ``--crash-writers N``: N rounds of two writer processes appending through core.storage with
   frequent compaction, one SIGKILLed at a random moment; the data must load and hold every
   acknowledged write.

Prints throughput, p50/p95 per request kind, errors, and the verification results; exits 1 when a
write was lost or a collection did not load.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HOST = "127.0.0.1"  # loopback only


def pct(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def kbp_cmd(data_dir: Path, *args: str) -> list[str]:
    script = Path(sys.executable).with_name("kbp")  # the installed console script (core.cli:main)
    if not script.exists():
        script = Path(shutil.which("kbp") or "kbp")
    return [str(script), "--data-dir", str(data_dir), *args]


# --------------------------------------------------------------------------- server


class Server:
    def __init__(self, data_dir: Path, workers: int, log: Path, env_extra: dict | None = None):
        self.port = free_port()
        self.log = open(log, "wb")
        env = {**os.environ, "KBP_LOG_LEVEL": "WARNING", "KBP_LOCALE": "en", **(env_extra or {})}
        self.proc = subprocess.Popen(kbp_cmd(data_dir, "serve", "--host", HOST, "--port", str(self.port),
                                             "--workers", str(workers)),
                                     cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited with {self.proc.returncode}; see {log}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the server did not answer /healthz within 120 s")

    def workers(self) -> list[int]:
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        fields = fh.read().rsplit(")", 1)[1].split()
                    if int(fields[1]) == self.proc.pid:
                        pids.append(int(entry))
                except (OSError, IndexError, ValueError):
                    continue
        return pids

    def rss_mb(self) -> list[float]:
        out = []
        for pid in self.workers():
            try:
                with open(f"/proc/{pid}/status") as fh:
                    out.append(int(next(l for l in fh if l.startswith("VmRSS")).split()[1]) / 1024)
            except (OSError, StopIteration):
                pass
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


# --------------------------------------------------------------------------- load


class Load:
    def __init__(self, ports: list[int], fixtures: dict, seed: int):
        self.ports = ports
        self.turn = 0
        self.fx = fixtures
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.status: dict[str, int] = defaultdict(int)
        self.errors: list[str] = []
        self.acked: list[dict] = []  # acknowledged edits
        self.conflicts = 0
        self.requests = 0

    def request(self, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, bytes]:
        self.turn += 1  # requests go to the servers in turn, like a load balancer without sticky sessions
        conn = http.client.HTTPConnection(HOST, self.ports[self.turn % len(self.ports)], timeout=60)
        try:
            headers = {"Authorization": f"Bearer {token}"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def timed(self, kind: str, method: str, path: str, token: str, body=None, record=True, ok=(200,)):
        t = time.perf_counter()
        try:
            status, data = self.request(method, path, token, body)
        except (OSError, http.client.HTTPException) as exc:  # a killed worker cuts its connections, mid-body too
            with self.lock:
                self.requests += 1
                self.status[f"{kind}:conn-error"] += 1
                self.errors.append(f"{kind} {path}: {type(exc).__name__} {exc}")
            return None, b""
        elapsed = time.perf_counter() - t
        with self.lock:
            self.requests += 1
            if record:
                self.samples[kind].append(elapsed)
            self.status[f"{kind}:{status}"] += 1
            if status not in ok:
                self.errors.append(f"{kind} {path}: HTTP {status} {data[:200]!r}")
        return status, data

    def worker(self, index: int, stop_at: float, cap: int, record: bool) -> None:
        rng = random.Random(index * 7919 + (1 if record else 0))
        fx = self.fx
        mine = fx["edit_sets"][index % len(fx["edit_sets"])]  # plans this client edits (no cross-client conflicts)
        versions: dict[str, int] = {}
        while time.monotonic() < stop_at and self.requests < cap:
            coach = rng.choice(fx["coaches"])
            token = coach["token"]
            r = rng.random()
            if r < 0.25:
                self.timed("browse framework", "GET", f"/frameworks/{rng.choice(fx['frameworks'])}", token, record=record)
            elif r < 0.50:
                q = quote(rng.choice(fx["words"]))
                self.timed("search", "GET", f"/api/v1/activities/search?q={q}&lang={rng.choice(['sv', 'en'])}", token,
                           record=record)
            elif r < 0.75:
                plan_id = rng.choice(coach["plans"])
                self.timed("open plan", "GET", f"/api/v1/plans/{plan_id}", token, record=record)
                self.timed("open plan", "GET", f"/api/v1/plans/{plan_id}/history", token, record=record)
            elif r < 0.93:
                self.edit(rng, mine, versions, record)
            else:
                plan_id = rng.choice(coach["plans"])
                self.timed("export", "GET", f"/api/v1/plans/{plan_id}/export/plan-json?lang=sv", token, record=record)

    def edit(self, rng, mine, versions, record) -> None:
        plan_id, token, competency = rng.choice(mine)
        for _attempt in range(3):
            version = versions.get(plan_id)
            if version is None:
                status, data = self.timed("edit plan", "GET", f"/api/v1/plans/{plan_id}", token, record=False)
                if status != 200:
                    return
                version = versions[plan_id] = json.loads(data)["version"]
            goal = f"load-{plan_id[:8]}-{version + 1}-{rng.getrandbits(32):08x}"
            status, data = self.timed("edit plan", "PATCH", f"/api/v1/plans/{plan_id}", token,
                                      {"version": version, "goals": {competency: goal}}, record=record, ok=(200, 409))
            if status == 200:
                new_version = json.loads(data)["version"]
                versions[plan_id] = new_version
                with self.lock:
                    self.acked.append({"plan": plan_id, "version": new_version, "goal": goal, "competency": competency})
                return
            versions.pop(plan_id, None)  # 409: someone (a killed request?) changed it; re-read and retry
            if status == 409:
                with self.lock:
                    self.conflicts += 1
            else:
                return

    def run(self, threads: int, seconds: float, cap: int, record: bool = True) -> float:
        stop_at = time.monotonic() + seconds
        pool = [threading.Thread(target=self.worker, args=(i, stop_at, cap, record), daemon=True) for i in range(threads)]
        started = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join(timeout=seconds + 120)
        return time.perf_counter() - started


def prepare(data_dir: Path, args, db: dict) -> dict:
    """Tokens for a sample of coaches, the plans each may open, and disjoint plan sets to edit."""
    from core import auth
    from core.app import create_app

    app = create_app({"DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING", **db})
    storage = app.extensions["kbp"].storage
    registry = app.extensions["kbp"].registry
    rng = random.Random(3)
    coaches = []
    plans = storage.collection("plans")
    with app.app_context():
        people = storage.collection("people")
        active = [a for a in storage.collection("accounts").find(role="coach")  # a leaver's token is refused
                  if (people.get(a["person_id"]) or {}).get("status") != "left"]
        for acct in rng.sample(active, 80):
            owned = plans.find(coach_id=acct["person_id"])
            if owned:
                token = auth.create_token(storage, acct, "loadtest")[1]
                coaches.append({"token": token, "plans": [p["id"] for p in owned],
                                "focus": {p["id"]: p["focus"][0]["competency"] for p in owned}})
    edit_pool = [(pid, c["token"], c["focus"][pid]) for c in coaches for pid in c["plans"]]
    rng.shuffle(edit_pool)
    sets = [edit_pool[i::args.threads] for i in range(args.threads)]
    initial = {pid: plans.get(pid)["version"] for pid, _t, _c in edit_pool}
    history = defaultdict(int)
    for h in storage.collection("plan_history").all():
        if h["plan_id"] in initial:
            history[h["plan_id"]] += 1
    exporters = list(registry.exporters)
    if "plan-json" not in exporters:
        print("note: no plan-json exporter installed; export requests will count as errors")
    return {
        "coaches": coaches, "edit_sets": sets, "initial": initial, "history": dict(history),
        "frameworks": [fw for fw in registry.frameworks if registry.is_available(fw)],
        "words": ["ledarskap", "kommunikation", "feedback", "mentorprogram", "workshop", "samarbete",
                  "projektledning", "konflikthantering", "mötesteknik", "ledarskp", "fö", "leadership"],
    }


def verify(data_dir: Path, load: Load, fx: dict, db: dict) -> tuple[int, list[str]]:
    """Every collection loads; every acknowledged edit is present. Returns (lost, problems)."""
    from core.app import open_store
    from core.storage import StorageError

    problems = []
    storage = open_store({"DATA_DIR": str(data_dir), **db})
    for name in storage.collection_names():
        try:
            storage.collection(name).count()
        except StorageError as exc:
            problems.append(f"collection {name} does not load: {exc}")
    latest: dict[str, dict] = {}
    per_plan = defaultdict(int)
    for ack in load.acked:
        per_plan[ack["plan"]] += 1
        if ack["version"] > latest.get(ack["plan"], {"version": -1})["version"]:
            latest[ack["plan"]] = ack
    plans = storage.collection("plans")
    history = storage.collection("plan_history")
    lost = 0
    for plan_id, ack in latest.items():
        plan = plans.get(plan_id)
        if plan is None or plan["version"] < ack["version"]:
            lost += 1
            problems.append(f"plan {plan_id}: acknowledged version {ack['version']} missing (stored {plan and plan['version']})")
            continue
        goal = next((f.get("goal") for f in plan["focus"] if f["competency"] == ack["competency"]), None)
        if plan["version"] == ack["version"] and goal != ack["goal"]:
            lost += 1
            problems.append(f"plan {plan_id}: goal of the acknowledged version {ack['version']} is {goal!r}")
        updates = len(history.find(plan_id=plan_id)) - fx["history"].get(plan_id, 0)
        if updates < per_plan[plan_id]:
            lost += 1
            problems.append(f"plan {plan_id}: {per_plan[plan_id]} acknowledged edits but {updates} history entries")
    return lost, problems


# --------------------------------------------------------------------------- storage-level crash test


WRITER = """
import sys
sys.path.insert(0, sys.argv[3])
from core.storage import Storage
coll = Storage(sys.argv[1]).collection("journal")
tag, seq = sys.argv[2], 0
while True:
    rec = coll.insert({"writer": tag, "seq": seq, "payload": "z" * (seq % 7 * 150)})
    sys.stdout.write(rec["id"] + "\\n")
    sys.stdout.flush()
    seq += 1
"""


def crash_writers(rounds: int, work: Path) -> int:
    from core.storage import Storage, StorageError

    print(f"\nCrash test: {rounds} rounds of 2 writer processes (compaction every ~8 KB), one SIGKILLed at random")
    env = {**os.environ, "KBP_STORAGE_COMPACT_MIN_BYTES": "8000"}
    rng = random.Random()
    failures = 0
    total_acked = 0
    started = time.monotonic()
    for r in range(rounds):
        data = work / f"crash{r}"
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(data), f"w{k}", str(ROOT)], stdout=subprocess.PIPE,
                                  text=True, env=env) for k in range(2)]
        acked = []
        try:
            for _ in range(rng.randint(20, 120)):
                line = procs[0].stdout.readline()
                if not line.endswith("\n"):
                    break
                acked.append(line.strip())
            time.sleep(rng.uniform(0, 0.01))
            victim = rng.choice(procs)
            victim.send_signal(signal.SIGKILL)
            for p in procs:
                if p is not victim:
                    p.send_signal(signal.SIGKILL)
            for p in procs:
                acked.extend(x for x in p.stdout.read().split("\n")[:-1] if x)
                p.wait()
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        try:
            coll = Storage(data).collection("journal")
            ids = {rec["id"] for rec in coll.all()}
            coll.insert({"id": "after-crash"})
        except StorageError as exc:
            failures += 1
            print(f"  round {r}: the data does not load: {exc}")
            continue
        missing = set(acked) - ids
        total_acked += len(acked)
        if missing:
            failures += 1
            print(f"  round {r}: {len(missing)} acknowledged writes lost")
        shutil.rmtree(data, ignore_errors=True)
    print(f"  {rounds} rounds, {total_acked} acknowledged writes checked, {failures} failed rounds "
          f"({time.monotonic() - started:.0f} s)")
    return failures


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=10000)
    parser.add_argument("--plans", type=int, default=20000)
    parser.add_argument("--activities", type=int, default=50000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of measured load")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of unmeasured warm-up")
    parser.add_argument("--max-requests", type=int, default=50000, help="hard cap on measured requests")
    parser.add_argument("--kill-workers", type=int, default=0, help="SIGKILL a random worker this many times")
    parser.add_argument("--crash-writers", type=int, default=0, help="rounds of the storage-level writer crash test")
    parser.add_argument("--no-load", action="store_true", help="skip the server load test")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    parser.add_argument("--backend", choices=["embedded", "postgres"], default="embedded")
    parser.add_argument("--servers", type=int, default=1, help="kbp serve processes sharing the data (PostgreSQL)")
    parser.add_argument("--database-url", help="PostgreSQL database (default: a throwaway cluster)")
    args = parser.parse_args()
    if args.servers > 1 and args.backend != "postgres":
        parser.error("--servers > 1 needs --backend postgres (the embedded files are for one machine)")
    cluster = None

    work = Path(tempfile.mkdtemp(prefix="kbp-load-"))
    bad = 0
    try:
        if not args.no_load:
            data_dir = work / "data"
            t = time.monotonic()
            subprocess.run(kbp_cmd(data_dir, "dev", "seed", "--people", str(args.people), "--plans", str(args.plans),
                                   "--activities", str(args.activities), "--seed", "1"),
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                           env={**os.environ, "KBP_LOG_LEVEL": "WARNING"})
            print(f"Seeded {args.people} people / {args.plans} plans / {args.activities} activities "
                  f"in {time.monotonic() - t:.0f} s ({data_dir})")
            db: dict = {}
            env_extra: dict = {}
            if args.backend == "postgres":
                from core.app import open_store
                from core.dbcopy import copy_store

                from tests import pgcluster

                url, cluster = pgcluster.given_or_throwaway(args.database_url)
                db = {"DATABASE_URL": url, "DATABASE_SCHEMA": "kbp_load"}
                env_extra = {"KBP_DATABASE_URL": url, "KBP_DATABASE_SCHEMA": "kbp_load"}
                t = time.monotonic()
                copy_store(open_store({"DATA_DIR": str(data_dir)}), open_store(db), force=True)
                print(f"Copied into PostgreSQL in {time.monotonic() - t:.0f} s")
            fx = prepare(data_dir, args, db)
            servers = []
            for n in range(args.servers):
                folder = data_dir if args.backend == "embedded" else work / f"server-{n}"
                servers.append(Server(folder, args.workers, work / f"server-{n}.log", env_extra))
            ports = [srv.port for srv in servers]
            try:
                print(f"Servers: {args.servers} x kbp serve --workers {args.workers} on {HOST}:{ports} "
                      f"({args.backend}); warming up {args.warmup:.0f} s")
                warm = Load(ports, fx, seed=1)
                warm.run(args.threads, args.warmup, args.max_requests, record=False)
                load = Load(ports, fx, seed=2)
                load.acked = warm.acked  # edits acknowledged during the warm-up count too
                killer = None
                kills = []
                if args.kill_workers:
                    interval = args.duration / (args.kill_workers + 1)

                    def kill_loop():
                        for _ in range(args.kill_workers):
                            time.sleep(interval)
                            pids = [pid for srv in servers for pid in srv.workers()]
                            if pids:
                                victim = random.choice(pids)
                                try:
                                    os.kill(victim, signal.SIGKILL)
                                    kills.append(victim)
                                except ProcessLookupError:
                                    pass

                    killer = threading.Thread(target=kill_loop, daemon=True)
                    killer.start()
                print(f"Measuring: {args.threads} client threads, {args.duration:.0f} s or {args.max_requests} requests")
                elapsed = load.run(args.threads, args.duration, args.max_requests)
                if killer:
                    killer.join(timeout=args.duration)
                rss = [x for srv in servers for x in srv.rss_mb()]
            finally:
                for srv in servers:
                    srv.stop()
            total = sum(len(s) for s in load.samples.values())
            all_samples = [x for s in load.samples.values() for x in s]
            print(f"\n{load.requests} requests in {elapsed:.1f} s = {load.requests / elapsed:.1f} requests/s; "
                  f"overall p50 {pct(all_samples, 50) * 1000:.1f} ms, p95 {pct(all_samples, 95) * 1000:.1f} ms ({total} timed)")
            for kind, samples in sorted(load.samples.items()):
                print(f"  {kind:<18} n={len(samples):<6} p50 {pct(samples, 50) * 1000:7.1f} ms   p95 {pct(samples, 95) * 1000:7.1f} ms")
            print(f"  status counts: {dict(sorted(load.status.items()))}")
            print(f"  errors: {len(load.errors)}; version conflicts (409, retried): {load.conflicts}; "
                  f"workers killed: {len(kills)}")
            for e in load.errors[:5]:
                print(f"    {e}")
            print(f"  RSS per worker at the end: {', '.join(f'{x:.0f} MB' for x in rss)}")
            lost, problems = verify(data_dir, load, fx, db)
            print(f"Verification: {len(load.acked)} acknowledged edits on {len({a['plan'] for a in load.acked})} plans; "
                  f"lost writes: {lost}; every collection loads: {not any('does not load' in p for p in problems)}")
            for p in problems[:10]:
                print(f"    {p}")
            bad += bool(problems)
            if args.kill_workers == 0 and load.errors:
                bad += 1
        if args.crash_writers:
            bad += crash_writers(args.crash_writers, work)
    finally:
        if cluster is not None:
            cluster.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
