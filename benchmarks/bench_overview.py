"""Benchmark for the HR overview (:mod:`core.overview`) and a reminders run (:mod:`core.reminders`).

Run from the repository root::

    .venv/bin/python benchmarks/bench_overview.py                          # 10,000 people, 20,000 plans
    .venv/bin/python benchmarks/bench_overview.py --people 500 --plans 1000 --assert

Seeds a fresh data folder with ``core.seed`` (the same data as ``kbp dev seed``), then measures in
one process:

* the overview as the API computes it (``overview.overview``: permission, suppression, figures,
  audit entry) for the whole organisation and for every unit, period 2024: p50 / p95 / max, first
  call (cold) separately; the totals are cached until plans or people change, so it also times
  views made right after a plan changed (the worst case: one pass over every plan);
* one ``kbp reminders send`` run (``reminders.run``) as of 2024-09-01, against a real SMTP server
  (aiosmtpd, in this process) that accepts every mail: events, notifications written, mails sent,
  wall time; and a second run right after (idempotent: nothing to send), timed too.

Targets (issue 19): overview p95 < 200 ms, reminders run < 30 s. ``--assert`` exits non-zero
when a target is missed. Pass ``--backend postgres`` with ``KBP_DATABASE_URL`` set to measure on
PostgreSQL instead of the embedded store.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OVERVIEW_P95_MS = 200.0
REMINDERS_S = 30.0
TODAY = date(2024, 9, 1)


class _Sink:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--plans", type=int, default=20_000)
    parser.add_argument("--activities", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5, help="calls per unit (and 10x for the whole organisation)")
    parser.add_argument("--assert", dest="check", action="store_true")
    args = parser.parse_args()

    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO

    from core import create_app, overview, reminders
    from core.auth import Account
    from core.seed import seed

    data = tempfile.mkdtemp(prefix="kbp-bench-overview-")
    port = _free_port()
    config = {"DATA_DIR": data, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "MAIL_FROM": "kbp@example.test",
              "BASE_URL": "https://kbp.example.test"}
    app = create_app(config)
    started = time.perf_counter()
    seed(app, people=args.people, plans=args.plans, activities=args.activities, seed=1, progress=lambda m: None)
    print(f"seeded {args.people} people, {args.plans} plans in {time.perf_counter() - started:.1f} s ({data})")
    storage = app.extensions["kbp"].storage
    admin = Account("seed-admin", "admin@example.org", "admin", None)

    # ------------------------------------------------------------------ overview
    with app.test_request_context("/"):
        t = time.perf_counter()
        whole = overview.overview(storage, app.config, admin, period="2024", locale="sv")
        cold = (time.perf_counter() - t) * 1000
        units = [u["unit"] or overview.NONE_PARAM for u in whole["units"]]
        timings, unit_timings = [], []
        for _round in range(args.rounds * 10):
            t = time.perf_counter()
            overview.overview(storage, app.config, admin, period="2024", locale="sv")
            timings.append((time.perf_counter() - t) * 1000)
        for _round in range(args.rounds):
            for unit in units:
                t = time.perf_counter()
                overview.overview(storage, app.config, admin, unit=unit, period="2024", locale="sv")
                unit_timings.append((time.perf_counter() - t) * 1000)
        # worst case: every view right after a plan changed (the cached totals are recomputed)
        changed = []
        plans = storage.collection("plans")
        some = plans.map_readonly(lambda p: p["id"])[: args.rounds * 2]
        for plan_id in some:
            plans.update(plan_id, {"updated_at": time.time()})
            t = time.perf_counter()
            overview.overview(storage, app.config, admin, period="2024", locale="sv")
            changed.append((time.perf_counter() - t) * 1000)
    everything = timings + unit_timings
    p95 = _pct(everything, 95)
    hidden = sum(u["suppressed"] for u in whole["units"])
    print(f"overview: {len(whole['units'])} units ({hidden} hidden), dialogues in 2024: {whole['figures']['dialogues']}")
    print(f"overview whole organisation: cold {cold:.0f} ms, p50 {statistics.median(timings):.1f} ms, "
          f"p95 {_pct(timings, 95):.1f} ms")
    print(f"overview per unit:           p50 {statistics.median(unit_timings):.1f} ms, p95 {_pct(unit_timings, 95):.1f} ms, "
          f"max {max(unit_timings):.1f} ms")
    print(f"overview all calls ({len(everything)}): p95 {p95:.1f} ms (target < {OVERVIEW_P95_MS:.0f} ms)")
    print(f"overview right after a plan changed (totals recomputed): p50 {statistics.median(changed):.0f} ms, "
          f"max {max(changed):.0f} ms")

    # ------------------------------------------------------------------ reminders
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        now = datetime(TODAY.year, TODAY.month, TODAY.day, 6, tzinfo=timezone.utc).timestamp()
        render = reminders.renderer(app)
        t = time.perf_counter()
        result = reminders.run(storage, app.config, render, today=TODAY, now=now)
        first = time.perf_counter() - t
        t = time.perf_counter()
        again = reminders.run(storage, app.config, render, today=TODAY, now=now)
        second = time.perf_counter() - t
    finally:
        controller.stop()
    print(f"reminders run as of {TODAY}: {result.events} events, {result.new_notifications} notifications, "
          f"{result.sent} mails sent, received {sink.count}: {first:.1f} s (target < {REMINDERS_S:.0f} s)")
    print(f"reminders run again: {again.sent} mails sent, {second:.1f} s")
    import shutil

    storage.close()
    shutil.rmtree(data, ignore_errors=True)
    ok = p95 < OVERVIEW_P95_MS and first < REMINDERS_S and again.sent == 0 and sink.count == result.sent
    if args.check and not ok:
        print("TARGET MISSED")
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("KBP_LOCALE", "en")
    sys.exit(main())
