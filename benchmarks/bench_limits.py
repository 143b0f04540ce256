"""Benchmark: every plan exporter on the largest plan the limits allow, next to a typical plan.

Run from the repository root::

    .venv/bin/python benchmarks/bench_limits.py [--runs 5] [--lang sv] [--assert]

The limits of a plan (``core.plans.LIMITS``) exist so that no plan can hold a worker for long: an
unbounded plan of 25,000 own questions once took 13.5 s to export as a guide PDF. This prints, for
every exporter of subject ``plan`` or ``dialogue_guide`` (found through the plugins' own
``kbp_exporters`` hooks, as the app does):

* **baseline**: the typical plan of ``bench_pdf.py`` (5 focus competencies, 20 activities, 10
  questions with notes, 3 follow-ups), measured in the same run;
* **largest allowed** plans, two shapes, both with every count at its limit and the plan's total
  written text at ``plan_text``: *activities first* (every activity title, description and owner
  at its maximum length, notes get what is left) and *notes first* (every note, goal and follow-up
  at its maximum, activities get what is left). Question and competency snapshots come on top,
  as in a real plan.

Milliseconds per export: p50 and max over ``--runs`` runs after one warm-up, and the ratio of the
largest plan's p50 to the baseline's. ``--assert`` exits with status 1 when any export of a
largest plan takes ``TARGET_MS`` or more (the target: well within a second on a CI-class machine).
Timings on a shared machine vary by ±30 % between runs.
"""
from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_pdf import COMPETENCIES, SENTENCES, make_document  # noqa: E402
from core.plans import LIMITS  # noqa: E402

TARGET_MS = 500.0
PLUGINS = ("export_plan_pdf", "export_plan_docx", "export_plan_text", "export_plan_json", "export_plan_ical")


def exporters() -> list:
    import importlib

    found = []
    for name in PLUGINS:
        module = importlib.import_module(f"plugins.{name}")
        hook = module.kbp_exporters
        made = hook({}) if inspect.signature(hook).parameters else hook()
        found += [e for e in made if e.subject in ("plan", "dialogue_guide")]
    return found


def text(length: int, seed: int) -> str:
    """Swedish prose of exactly ``length`` characters, in sentences and paragraphs."""
    out, i = [], seed
    size = 0
    while size < length:
        sentence = SENTENCES[i % len(SENTENCES)] + ("\n\n" if i % 5 == 4 else " ")
        out.append(sentence)
        size += len(sentence)
        i += 1
    return "".join(out)[:length].rstrip() or "x"


class Budget:
    """Hands out characters of the plan's total text (``plan_text``) until it is spent."""

    def __init__(self, total: int):
        self.left = total

    def take(self, wanted: int) -> int:
        given = max(1, min(wanted, self.left))
        self.left -= given
        return given


def largest_document(shape: str, lang: str = "sv") -> dict[str, Any]:
    doc = make_document(1, lang)
    budget = Budget(LIMITS["plan_text"])
    focus = doc["focus"][: LIMITS["focus"]]
    while len(focus) < LIMITS["focus"]:
        focus.append(dict(focus[-1], competency=f"x:{len(focus)}"))
    n_act, n_q, n_own, n_fu = LIMITS["activities"], LIMITS["questions"], LIMITS["own_questions"], LIMITS["follow_ups"]

    def activities() -> list[dict]:
        return [{"id": f"a{i:02d}", "competency": COMPETENCIES[i % 5][0],
                 "title": text(budget.take(LIMITS["activity_title"]), i),
                 "description": text(budget.take(LIMITS["activity_description"]), i + 1),
                 "kind": ("on_the_job", "learning_from_others", "training", "reflection")[i % 4], "effort": "weeks",
                 "owner": text(budget.take(LIMITS["owner"]), i + 2), "due": f"2030-{1 + i % 12:02d}-15",
                 "status": ("planned", "in_progress", "done", "dropped")[i % 4], "source": ""} for i in range(n_act)]

    def notes() -> tuple[list, list, list]:
        goals = [text(budget.take(LIMITS["goal"]), i) for i in range(len(focus))]
        questions = [{"id": f"q{i}", "competency": COMPETENCIES[i % 5][0], "kind": "coaching",
                      "text": SENTENCES[i % len(SENTENCES)].rstrip(".") + "?",
                      "note": text(budget.take(LIMITS["note"]), i), "shared": True} for i in range(n_q)]
        questions += [{"id": f"own-{i}", "competency": "", "kind": "own",
                       "text": text(budget.take(LIMITS["question_text"]), i).rstrip(".") + "?",
                       "note": text(budget.take(LIMITS["note"]), i + 3), "shared": True} for i in range(n_own)]
        follow_ups = [{"at": 1_900_000_000.0 + d * 86400, "note": text(budget.take(LIMITS["follow_up_note"]), d)}
                      for d in range(n_fu)]
        return goals, questions, follow_ups

    if shape == "activities first":
        acts = activities()
        goals, questions, follow_ups = notes()
    else:
        goals, questions, follow_ups = notes()
        acts = activities()
    for f, goal in zip(focus, goals):
        f["goal"] = goal
    doc.update(focus=focus, questions=questions, activities=acts, follow_ups=follow_ups)
    return doc


def written(doc: dict) -> int:
    return (sum(len(f["goal"]) for f in doc["focus"]) + sum(len(q["note"]) + (len(q["text"]) if q["kind"] == "own" else 0)
                                                          for q in doc["questions"])
            + sum(len(a["title"]) + len(a["description"]) + len(a["owner"]) for a in doc["activities"])
            + sum(len(f["note"]) for f in doc["follow_ups"]))


def timed(exporter, doc: dict, lang: str, runs: int) -> tuple[list[float], int]:
    out = exporter.export(doc, lang)  # warm-up (fonts, catalogs)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = exporter.export(doc, lang)
        times.append((time.perf_counter() - start) * 1000)
    return times, len(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lang", default="sv")
    parser.add_argument("--assert", dest="check", action="store_true", help=f"exit 1 when an export takes >= {TARGET_MS:.0f} ms")
    args = parser.parse_args(argv)

    documents = {"baseline (typical plan)": make_document(1, args.lang)}
    for shape in ("activities first", "notes first"):
        documents[f"largest, {shape}"] = largest_document(shape, args.lang)
    for name, doc in documents.items():
        print(f"{name}: {len(doc['focus'])} focus, {len(doc['questions'])} questions, {len(doc['activities'])} activities, "
              f"{len(doc['follow_ups'])} follow-ups, {written(doc):,} characters written")
    print(f"limits: {', '.join(f'{k}={v}' for k, v in LIMITS.items())}")
    print(f"\n{'exporter':12} {'document':34} {'p50 ms':>8} {'max ms':>8} {'KiB':>7} {'x baseline':>10}")
    worst = 0.0
    for exporter in exporters():
        base = None
        for name, doc in documents.items():
            times, size = timed(exporter, doc, args.lang, args.runs)
            p50 = statistics.median(times)
            base = base or p50
            if name.startswith("largest"):
                worst = max(worst, max(times))
            print(f"{exporter.id:12} {name:34} {p50:8.1f} {max(times):8.1f} {size / 1024:7.0f} {p50 / base:9.1f}x")
    verdict = "meets" if worst < TARGET_MS else "MISSES"
    print(f"\ntarget: every export of a largest plan < {TARGET_MS:.0f} ms -> slowest {worst:.0f} ms {verdict} the target")
    return 1 if args.check and worst >= TARGET_MS else 0


if __name__ == "__main__":
    sys.exit(main())
