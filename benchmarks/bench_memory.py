"""Memory, readiness and first requests of ``kbp serve``: preloaded workers against per-worker loading,
and throughput against a bare Flask app under the same gunicorn settings (the floor).

    .venv/bin/python benchmarks/bench_memory.py                      # 10k people / 20k plans / 50k activities
    .venv/bin/python benchmarks/bench_memory.py --people 2000 --plans 4000 --activities 10000 --quick

For each mode (``--no-preload``: per-worker loading; today's build, preloaded, run from ``git archive``
of ``--baseline``; this build preloaded with ``core.warmup`` switched off, entirely (``no-warmup``)
or only in the workers (``no-worker-warmup``); this build, preloaded) it starts ``kbp serve
--workers 4`` on loopback on the same seeded data folder and measures:

* *readiness*: the time from start until /healthz answers 200 (with the data folder's load caches as
  they are, which this script's own loading of the data writes when missing; ``--cold`` deletes
  them before each start);
* *first requests* (issue 20: "the first request of each kind on a freshly started worker is within
  3x its warm p95"): ``--rounds`` sets of fresh workers - the ones the server starts with, then all
  workers stopped with SIGTERM so that the master forks new ones, as after a crash or a restart.
  Each set is first left to finish its start (every worker idle: its warm-up after the fork done),
  then every kind is sent one request at a time, each on a new connection, until *every* worker has
  served one of it. The worker that served a request is the one whose CPU time
  (``/proc/<pid>/schedstat``, in ns) grew most meanwhile, so each sample is exactly one worker's
  first request of that kind (later requests of the kind to the same worker are left out). With 4
  workers and 3 rounds that is 12 first requests per kind; the figure is their **median** against
  the warm p95 of the same kind (60 requests, 20 with ``--quick``, sent the same way, after all of them), and the worst
  is printed next to it. A single millisecond-scale request on 2 shared cores can take several times
  its usual time when the scheduler runs something else; the median over 12 fresh workers cannot be
  decided by one such hiccup, while a cost every fresh worker pays (a lazy load, an index build, a
  page never touched) moves the median as much as the worst (``no-warmup`` shows it);
* *memory*: the PSS (``/proc/<pid>/smaps_rollup``) of the master and all workers, summed, after every
  main path;
* *throughput*: 8 client threads for ``--seconds`` against ``/healthz``, ``GET /api/v1/frameworks/<id>``
  and ``GET .../competencies/<cid>`` with an API token, and against a bare Flask JSON view served by
  gunicorn with the same worker count (the floor).

Everything runs on 127.0.0.1 and stops by itself.
"""
from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def pct(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def smaps(pid: int) -> dict[str, float]:
    """Pss, Private_Dirty, Shared_* ... of a process in MB (``/proc/<pid>/smaps_rollup``)."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1]) / 1024
    except OSError:
        pass
    return out


def cpu_ns(pid: int) -> int:
    """Nanoseconds ``pid`` has run on a CPU (``/proc/<pid>/schedstat``, every thread of it)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return total


def get(port: int, path: str, token: str | None = None, headers: dict | None = None) -> tuple[int, float, dict]:
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    t = time.perf_counter()
    conn.request("GET", path, headers=hdrs)
    resp = conn.getresponse()
    resp.read()
    elapsed = time.perf_counter() - t
    out = (resp.status, elapsed, dict(resp.getheaders()))
    conn.close()
    return out


class Served:
    def __init__(self, cmd: list[str], env: dict, log: Path, cwd: Path = ROOT):
        self.log = open(log, "wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, port: int, path: str = "/healthz") -> float:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if get(port, path)[0] == 200:
                    return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.1)
        raise SystemExit("server not ready after 600 s")

    def total_pss(self) -> tuple[float, int]:
        pids = [self.proc.pid, *children(self.proc.pid)]
        # kbp serve is the gunicorn master itself (GunicornApp.run in-process)
        return sum(pss_mb(p) for p in pids), len(pids) - 1

    def workers(self) -> list[int]:
        return sorted(children(self.proc.pid))

    def settle(self, count: int, old: set[int] = frozenset(), timeout: float = 300) -> list[int]:
        """Wait until ``count`` workers not in ``old`` are up and idle (their warm-up after the fork
        done: under 2 ms of CPU each in 0.3 s), so that no first request shares the CPUs with
        another worker's warm-up; returns their pids."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [p for p in self.workers() if p not in old]
            if len(pids) == count:
                before = {p: cpu_ns(p) for p in pids}
                time.sleep(0.3)
                if all(cpu_ns(p) - before[p] < 2_000_000 for p in pids) and self.workers() == sorted(pids):
                    return pids
            else:
                time.sleep(0.1)
        raise SystemExit(f"workers not up and idle after {timeout:.0f} s; see {self.log.name}")

    def restart_workers(self, count: int) -> list[int]:
        """Fresh workers: SIGTERM every worker (each finishes its request and exits; the master forks
        a new one from its own, preloaded memory, as after a crash or ``max_requests``)."""
        old = set(self.workers())
        for pid in old:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        return self.settle(count, old)

    def detail(self) -> list[tuple[str, dict[str, float]]]:
        """(role, smaps) of the master and each worker: what each holds privately after the paths."""
        return [("master", smaps(self.proc.pid))] + [("worker", smaps(p)) for p in children(self.proc.pid)]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def throughput(port: int, path: str, seconds: float, threads: int = 8, token: str | None = None) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def run(i):
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        hdrs = {"Authorization": f"Bearer {token}"} if token else {}
        while time.monotonic() < stop:
            conn.request("GET", path, headers=hdrs)
            r = conn.getresponse()
            r.read()
            counts[i] += r.status < 500
        conn.close()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    t = time.perf_counter()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return sum(counts) / (time.perf_counter() - t)


HELLO = textwrap.dedent('''
    from flask import Flask
    app = Flask("hello")
    @app.get("/")
    def hello():
        return {"hello": "world"}
''')


MODES = ("per-worker", "baseline", "no-warmup", "no-worker-warmup", "new")
BASELINE = "fced5dc"  # the build before this round of issue 20 (preloading + gc.freeze only)


def baseline_tree(ref: str, work: Path) -> Path:
    """The code of ``ref`` unpacked into ``work`` (run with this venv: same dependencies)."""
    tree = work / f"baseline-{ref}"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def first_requests(srv: Served, port: int, kinds: dict, token: str, workers: list[int], tries: int) -> dict:
    """On freshly started, idle workers: the first request of each kind that *each* worker serves.

    Requests go one at a time, each on a new connection; the worker that served one is the one whose
    CPU time (``/proc/<pid>/schedstat``, ns) grew most meanwhile. A kind is sent until every worker
    has served it once (at most ``tries`` times); later requests of that kind to a worker that served
    it already are not first requests and are left out. Returns {kind: [seconds, one per worker]}."""
    out: dict[str, list[float]] = {}
    for kind, path in kinds.items():
        seen: dict[int, float] = {}
        for _ in range(tries):
            before = {p: cpu_ns(p) for p in workers}
            status, elapsed, _headers = get(port, path, token)
            if status < 500 and status != 200:  # a 401 or 404 is fast and would measure nothing
                raise SystemExit(f"{kind}: {path} answered {status}")
            if status >= 500:  # e.g. gunicorn's 500 when a worker's lazy load outlasts its 30 s timeout
                print(f"  ({kind}: a first request answered {status} after {elapsed:.1f} s; counted as it took)")
            served = max(workers, key=lambda p: cpu_ns(p) - before[p])
            seen.setdefault(served, elapsed)
            if len(seen) == len(workers):
                break
        out[kind] = list(seen.values())
    return out


def median(samples):
    ordered = sorted(samples)
    n = len(ordered)
    return (ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2) if n else float("nan")


def first_ratios(result: dict, kind: str) -> tuple[float, float]:
    """(median, worst) first request of ``kind`` over every fresh worker, each against its warm p95."""
    p95 = pct(result["warm"][kind], 95)
    return median(result["first"][kind]) / p95, max(result["first"][kind]) / p95


def measure(label: str, cmd: list[str], env: dict, kinds: dict, token: str, args, log: Path, floor_port: int,
            cwd: Path = ROOT) -> dict:
    port = free_port()
    srv = Served([*cmd, "--host", HOST, "--port", str(port), "--workers", str(args.workers)], env, log, cwd)
    try:
        ready = srv.wait_ready(port)
        first: dict[str, list[float]] = {k: [] for k in kinds}
        pids = srv.settle(args.workers)  # the workers the server started with, then fresh ones
        for round_ in range(args.rounds):
            if round_:
                pids = srv.restart_workers(args.workers)
            for kind, times in first_requests(srv, port, kinds, token, pids, args.workers * 8).items():
                first[kind] += times
        # warm: the same requests, one at a time on new connections, after every worker served each kind
        warm = {k: [get(port, p, token)[1] for _ in range(20 if args.quick else 60)] for k, p in kinds.items()}
        pss, nworkers = srv.total_pss()
        detail = srv.detail()
        rates = throughput_rounds(port, floor_port, kinds, token, args)
    finally:
        srv.stop()
    out = {"ready": ready, "first": first, "warm": warm, "pss": pss, "workers": nworkers, "detail": detail, **rates}
    print(f"\n{label}, --workers {args.workers}: ready in {ready:.1f} s; total PSS of master + "
          f"{nworkers} workers after every main path: {pss:.0f} MB")
    for role, mem in detail:
        print(f"  {role:<7} Pss {mem.get('Pss', 0):7.1f} MB   Private_Dirty {mem.get('Private_Dirty', 0):7.1f} MB   "
              f"Shared {mem.get('Shared_Clean', 0) + mem.get('Shared_Dirty', 0):7.1f} MB")
    print(f"  first request of each kind on {args.rounds} x {args.workers} fresh workers (median / worst) "
          f"against the warm p95:")
    for kind in kinds:
        p95 = pct(warm[kind], 95)
        med, worst = first_ratios(out, kind)
        print(f"  {kind:<16} n={len(first[kind]):<3} first median {median(first[kind]) * 1000:7.1f} ms, worst "
              f"{max(first[kind]) * 1000:7.1f} ms   warm p95 {p95 * 1000:6.1f} ms   ratio {med:5.1f}x / {worst:5.1f}x")
    print(f"  throughput, median of {args.throughput_rounds} rounds: floor {out['floor_rps']:.0f} req/s; /healthz "
          f"{out['health_rps']:.0f} req/s ({out['health_share']:.0%}); framework API {out['api_rps']:.0f} req/s "
          f"({out['api_share']:.0%}); competency API {out['comp_rps']:.0f} req/s ({out['comp_share']:.0%})")
    return out


def throughput_rounds(port: int, floor_port: int, kinds: dict, token: str, args) -> dict:
    """Throughput of the floor (the bare Flask app, left running beside this server), /healthz and
    the two catalogue API paths, measured in turn for ``--throughput-rounds`` rounds of
    ``--seconds / rounds`` each. Each share of the floor is the median over the rounds of the kind's
    rate against the floor's rate *in the same round*: the floor and the path it is compared with
    are measured seconds apart, so a change in the machine's load between them cannot decide the
    ratio (measured minutes apart, as before, it moved the shares by 10 points between runs)."""
    window = args.seconds / args.throughput_rounds
    paths = {"floor": (floor_port, "/", None), "health": (port, "/healthz", None),
             "api": (port, kinds["framework API"], token), "comp": (port, kinds["competency API"], token)}
    rounds = []
    for _ in range(args.throughput_rounds):
        rounds.append({name: throughput(p, path, window, token=tok) for name, (p, path, tok) in paths.items()})
    out = {f"{name}_rps": median([r[name] for r in rounds]) for name in paths}
    for name in ("health", "api", "comp"):
        out[f"{name}_share"] = median([r[name] / r["floor"] for r in rounds])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=10000)
    parser.add_argument("--plans", type=int, default=20000)
    parser.add_argument("--activities", type=int, default=50000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=12.0,
                        help="seconds of throughput measurement per path, split into --throughput-rounds rounds")
    parser.add_argument("--throughput-rounds", type=int, default=4,
                        help="rounds of floor, /healthz, framework API and competency API measured in turn (default 4)")
    parser.add_argument("--quick", action="store_true", help="fewer warm samples")
    parser.add_argument("--rounds", type=int, default=3,
                        help="sets of fresh workers for the first requests: the ones the server starts with, "
                             "then all workers restarted (SIGTERM) this many times minus one (default 3)")
    parser.add_argument("--data", help="a data folder made by `kbp dev seed` (used as it is, not seeded)")
    parser.add_argument("--baseline", default=BASELINE, metavar="GIT_REF",
                        help=f"today's build to compare with, run from `git archive` (default {BASELINE})")
    parser.add_argument("--cold", action="store_true",
                        help="delete the data folder's load caches (.<name>.json.cache) before each server start, "
                             "so that readiness includes parsing every snapshot (as after a restore or a seed)")
    parser.add_argument("--modes", default="per-worker,baseline,new",
                        help="which of " + ",".join(MODES) + " to run (comma-separated; no-warmup and "
                             "no-worker-warmup show what the warm-up is worth)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kbp-mem-"))
    kbp = str(Path(sys.executable).with_name("kbp"))
    # KBP_SEARCH_KEPT_ANSWERS=0: the search kind asks the index every time, not the answer the warm-up
    # left in memory (the same question), so its first and warm figures measure the search itself
    env = {**os.environ, "KBP_LOG_LEVEL": "WARNING", "KBP_LOCALE": "en", "KBP_SEARCH_KEPT_ANSWERS": "0"}
    data = Path(args.data) if args.data else work / "data"
    try:
        if not args.data:
            t = time.perf_counter()
            subprocess.run([kbp, "--data-dir", str(data), "dev", "seed", "--people", str(args.people), "--plans",
                            str(args.plans), "--activities", str(args.activities), "--seed", "1"],
                           cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
            print(f"Seeded {args.people:,} people / {args.plans:,} plans / {args.activities:,} activities in "
                  f"{time.perf_counter() - t:.0f} s")
        from core import auth
        from core.app import create_app

        app = create_app({"DATA_DIR": str(data), "LOG_LEVEL": "WARNING"})
        storage = app.extensions["kbp"].storage
        with app.app_context():
            people = storage.collection("people")
            coach = next(a for a in storage.collection("accounts").find(role="coach")
                         if storage.collection("plans").find(coach_id=a["person_id"])
                         and (people.get(a["person_id"]) or {}).get("status") != "left")  # a leaver's token: 401
            token = auth.create_token(storage, coach, "bench")[1]
        plan_id = storage.collection("plans").find(coach_id=coach["person_id"])[0]["id"]
        registry = app.extensions["kbp"].registry
        fw = next(f for f in registry.frameworks if registry.is_available(f))
        comp = next(iter(registry.frameworks[fw].competencies())).id
        kinds = {
            "search": "/api/v1/activities/search?q=ledarskap&lang=sv",
            "competency page": f"/frameworks/{fw}/{comp}",
            "plan page": f"/api/v1/plans/{plan_id}",
            "framework API": f"/api/v1/frameworks/{fw}",
            "competency API": f"/api/v1/frameworks/{fw}/competencies/{comp}",
            "plan list": "/api/v1/plans",
        }
        del app, storage
        serve = ["--data-dir", str(data), "serve"]
        variants = {
            "per-worker": ("per-worker loading (--no-preload), this build", [kbp, *serve, "--no-preload"], env, ROOT),
            "new": ("preloaded, this build", [kbp, *serve, "--preload"], env, ROOT),
        }
        off = "import core.warmup as w; w.warm_worker = lambda app: 0; "
        run = "from core.cli import main; main()"
        variants["no-warmup"] = ("preloaded, this build with core.warmup's warm_up and warm_worker doing nothing",
                                 [sys.executable, "-c", off + "w.warm_up = lambda app: {}; " + run, *serve, "--preload"],
                                 env, ROOT)
        variants["no-worker-warmup"] = ("preloaded, this build without the worker warm-up (warm_worker does nothing)",
                                        [sys.executable, "-c", off + run, *serve, "--preload"], env, ROOT)
        if "baseline" in args.modes:
            tree = baseline_tree(args.baseline, work)
            variants["baseline"] = (f"preloaded, today's build ({args.baseline})",
                                    [sys.executable, "-c", "from core.cli import main; main()", *serve, "--preload"],
                                    {**env, "PYTHONPATH": str(tree)}, tree)  # run in the tree: its core, plugins
        # the floor: a bare Flask JSON view under the same gunicorn settings, running beside each server
        (work / "hello.py").write_text(HELLO)
        floor_port = free_port()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        floor_srv = Served([gunicorn, "--chdir", str(work), "-w", str(args.workers), "-b", f"{HOST}:{floor_port}",
                            "hello:app"], env, work / "hello.log")
        results = {}
        try:
            floor_srv.wait_ready(floor_port, "/")
            for mode in MODES:
                if mode in args.modes.split(","):
                    label, cmd, menv, cwd = variants[mode]
                    caches = sorted(data.glob(".*.json.cache"))
                    if args.cold:
                        for cache in caches:
                            cache.unlink()
                    print(f"\n({mode}: {'deleted' if args.cold else 'kept'} {len(caches)} load caches of the data folder)")
                    results[mode] = measure(label, cmd, menv, kinds, token, args, work / f"serve-{mode}.log",
                                            floor_port, cwd)
        finally:
            floor_srv.stop()
        floors = ", ".join(f"{r['floor_rps']:.0f}" for r in results.values())
        print(f"\nFloor: bare Flask JSON view, gunicorn -w {args.workers}: {floors} req/s (median per mode)")
        print("\nSummary (one run, this machine)")
        names = {"per-worker": "per-worker", "baseline": "today", "no-warmup": "warm-up off",
                 "no-worker-warmup": "no worker warm-up", "new": "new"}
        print("  " + " " * 26 + "".join(f"{names[m]:>20}" for m in results))

        def row(title, fmt, value):
            print(f"  {title:<26}" + "".join(f"{fmt(value(r)):>20}" for r in results.values()))

        row("total memory (PSS)", lambda v: f"{v:,.0f} MB", lambda r: r["pss"])
        row("ready (healthz)", lambda v: f"{v:.1f} s", lambda r: r["ready"])
        row("first/warm p95: median", lambda v: f"{v[0]:.1f}x {v[1][:9]}",
            lambda r: max((first_ratios(r, k)[0], k) for k in kinds))
        row("first/warm p95: worst", lambda v: f"{v[0]:.1f}x {v[1][:9]}",
            lambda r: max((first_ratios(r, k)[1], k) for k in kinds))
        row("framework API vs floor", lambda v: f"{v:.0%}", lambda r: r["api_share"])
        row("competency API vs floor", lambda v: f"{v:.0%}", lambda r: r["comp_share"])
        row("/healthz vs floor", lambda v: f"{v:.0%}", lambda r: r["health_share"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.data:
            print(f"(the data folder {data} was used as it is and kept)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
