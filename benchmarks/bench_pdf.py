"""Benchmark for the PDF plan exporter (``plugins/export_plan_pdf``): time per export, with baselines.

Run from the repository root::

    .venv/bin/python benchmarks/bench_pdf.py [--runs 50] [--seed 1] [--lang sv] [--in-request] [--assert]

The plan document is generated deterministically from ``--seed`` in the shape of
:func:`core.plans.plan_document`: **5 focus competencies and 20 activities** with realistic Swedish
text (å ä ö) — definitions of 2–3 sentences, goals, activity descriptions of 2–4 sentences,
owners, due dates and every status — plus 10 questions with notes and 3 follow-ups. It comes out
as a 3–4 page A4 PDF.

Measured in one process, after a warm-up export (the first, cold export is printed separately):

* ``plan-pdf``: p50 / p95 / max / mean milliseconds per export — the number with the **300 ms
  target** (p95);
* baselines on the same machine, same run: the Markdown exporter on the same document (the cost of
  reading the document and translating the labels, without layout), and an fpdf2 page with one line
  of text in the same embedded DejaVu Sans font (the fixed cost of fpdf2 plus font loading and
  subsetting), with the ratio of ``plan-pdf`` to each;
* for orientation: ``guide-pdf`` and ``plan-docx`` on the same document.

``--in-request`` runs every export inside a Flask request of a real app (Flask-Babel's
``force_locale`` path, as the API endpoint does) instead of reading the catalogs directly.
``--assert`` exits with status 1 when the p95 of ``plan-pdf`` is 300 ms or more. Timings on a
shared machine vary by ±30 % between runs; compare runs made back to back.
"""
from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fpdf import FPDF  # noqa: E402

from plugins.export_plan_docx import PlanDocx  # noqa: E402
from plugins.export_plan_pdf import FONT, GuidePDF, PlanPDF, font_files  # noqa: E402
from plugins.export_plan_text import PlanMarkdown  # noqa: E402

TARGET_MS = 300.0

COMPETENCIES = [
    ("kbp-sample:active-listening", "Aktivt lyssnande"),
    ("malin-lindelow:ledarskap", "Ledarskap"),
    ("malin-lindelow:tydlig", "Tydlighet i kommunikation"),
    ("kbp-sample:planning-own-work", "Planering av eget arbete"),
    ("malin-lindelow:samarbetsformaga", "Samarbetsförmåga"),
]
SENTENCES = [
    "Lyssnar för att förstå och ställer följdfrågor innan hen drar slutsatser.",
    "Sammanfattar vad som sagts och kontrollerar att alla har uppfattat samma sak.",
    "Ger tydliga besked om prioriteringar, även när förutsättningarna ändras under året.",
    "Tar ansvar för helheten och för över kunskap till kollegor i teamet.",
    "Planerar veckan utifrån verksamhetens mål och säger nej när det behövs.",
    "Söker återkoppling från medarbetare, kunder och samarbetspartner på ett öppet sätt.",
    "Hanterar oenighet sakligt och hjälper gruppen att komma fram till ett gemensamt beslut.",
    "Följer upp överenskommelser och håller det man lovat, också när det är besvärligt.",
    "Delar med sig av erfarenheter på arbetsplatsträffar och i introduktionen av nyanställda.",
    "Reflekterar över egna beteenden och förändrar arbetssätt utifrån det som fungerat.",
]
TITLES = [
    "Skugga en erfaren kollega under en arbetsdag", "Leda två arbetsplatsträffar under hösten",
    "Läsa en bok om återkoppling och diskutera den", "Gå kursen Kommunikation i förändring",
    "Be om återkoppling efter varje kundmöte", "Föra loggbok över veckans prioriteringar",
    "Delta i ett nätverk för nya chefer", "Presentera projektets lägesrapport för ledningsgruppen",
    "Introducera en nyanställd kollega", "Öva på att sammanfatta innan du svarar",
]
PEOPLE = ["Erik Medarbetare", "Karin Coach", "Åsa Öberg", "Jörgen Ärlig"]
KINDS = ["on_the_job", "learning_from_others", "training", "reflection"]
EFFORTS = ["hours", "days", "weeks", "months"]
STATUSES = ["planned", "in_progress", "done", "dropped"]


def sentences(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.sample(SENTENCES, rng.randint(low, high)))


def make_document(seed: int = 1, lang: str = "sv") -> dict[str, Any]:
    rng = random.Random(seed)
    focus = [{"competency": gid, "framework": "Malin Lindelöws kompetensmodell", "name": name,
              "definition": sentences(rng, 2, 3), "goal": sentences(rng, 1, 2)} for gid, name in COMPETENCIES]
    activities = []
    for i in range(20):
        gid = COMPETENCIES[i % 5][0]
        activities.append({
            "id": f"a{i:02d}", "competency": gid, "title": f"{rng.choice(TITLES)} ({i + 1})",
            "description": sentences(rng, 2, 4), "kind": rng.choice(KINDS), "effort": rng.choice(EFFORTS),
            "owner": rng.choice(PEOPLE), "due": f"2030-{1 + i % 12:02d}-{10 + i % 18:02d}",
            "status": STATUSES[i % 4], "source": "inhouse" if i % 3 else "",
        })
    questions = [{"id": f"q{i}", "competency": COMPETENCIES[i % 5][0], "kind": "coaching",
                  "text": rng.choice(SENTENCES).rstrip(".") + "?", "note": sentences(rng, 1, 2), "shared": True}
                 for i in range(10)]
    return {
        "id": "bench-plan", "version": 12, "language": lang,
        "person": {"id": "p1", "name": "Erik Medarbetare", "job_title": "Handläggare"},
        "coach": {"id": "p2", "name": "Karin Coach"},
        "mode": "coaching", "situation": "new_role", "status": "agreed",
        "agreed": {"employee": 1_900_000_000.0, "coach": 1_900_000_100.0},
        "follow_up_date": "2030-09-01", "focus": focus, "questions": questions, "activities": activities,
        "follow_ups": [{"at": 1_900_000_000.0 + d * 86400 * 30, "note": sentences(rng, 1, 3)} for d in range(3)],
        "created_at": 1_890_000_000.0, "updated_at": 1_900_000_200.0,
        "meta": {"generator": "KBP bench", "demo": False, "exported_at": "2030-01-01T10:00:00+00:00"},
    }


def one_line_pdf() -> bytes:
    """The smallest comparable PDF: one A4 page, one line, the same embedded font."""
    pdf = FPDF(format="A4")
    pdf.add_font(FONT, "", str(font_files()[""]))
    pdf.add_page()
    pdf.set_font(FONT, "", 10)
    pdf.cell(0, 10, "Utvecklingsplan för Åsa Öberg")
    return bytes(pdf.output())


def timed(fn: Callable[[], bytes], runs: int, wrap: Callable[[], Any]) -> tuple[list[float], bytes]:
    times, out = [], b""
    for _ in range(runs):
        with wrap():
            start = time.perf_counter()
            out = fn()
            times.append((time.perf_counter() - start) * 1000)
    return times, out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lang", default="sv")
    parser.add_argument("--in-request", action="store_true", help="export inside a Flask request of a real app")
    parser.add_argument("--assert", dest="check", action="store_true", help=f"exit 1 when p95 >= {TARGET_MS:.0f} ms")
    args = parser.parse_args(argv)

    document = make_document(args.seed, args.lang)
    wrap: Callable[[], Any] = contextlib.nullcontext
    if args.in_request:
        from core import create_app

        tmp = tempfile.mkdtemp(prefix="kbp-bench-pdf-")
        app = create_app({"TESTING": True, "DATA_DIR": tmp})
        wrap = lambda: app.test_request_context(f"/?lang={args.lang}")  # noqa: E731

    plan_pdf, guide_pdf, markdown, word = PlanPDF(), GuidePDF(), PlanMarkdown(), PlanDocx()
    with wrap():
        start = time.perf_counter()
        first = plan_pdf.export(document, args.lang)
        cold = (time.perf_counter() - start) * 1000
        for _ in range(2):  # warm-up
            plan_pdf.export(document, args.lang)
            one_line_pdf()
            markdown.export(document, args.lang)

    try:  # only to count the pages (pypdf is a test extra)
        import io

        from pypdf import PdfReader

        pages: int | str = len(PdfReader(io.BytesIO(first)).pages)
    except ImportError:
        pages = "?"
    results = {
        "plan-pdf": timed(lambda: plan_pdf.export(document, args.lang), args.runs, wrap),
        "baseline: plan-md (same document)": timed(lambda: markdown.export(document, args.lang), args.runs, wrap),
        "baseline: fpdf2 one line, same font": timed(one_line_pdf, args.runs, wrap),
        "guide-pdf (info)": timed(lambda: guide_pdf.export(document, args.lang), max(5, args.runs // 2), wrap),
        "plan-docx (info)": timed(lambda: word.export(document, args.lang), max(5, args.runs // 2), wrap),
    }
    print(f"plan document: {len(document['focus'])} competencies, {len(document['activities'])} activities, "
          f"{len(document['questions'])} questions, language {args.lang}, "
          f"{'inside a Flask request' if args.in_request else 'no app context'}")
    print(f"plan-pdf: {pages} pages, {len(first) / 1024:.0f} KiB; first (cold) export {cold:.0f} ms")
    print(f"{'':38} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'mean ms':>8}")
    for name, (times, _out) in results.items():
        print(f"{name:38} {len(times):5d} {statistics.median(times):8.1f} {pct(times, 95):8.1f} {max(times):8.1f} "
              f"{statistics.fmean(times):8.1f}")
    pdf_times = results["plan-pdf"][0]
    p50, p95 = statistics.median(pdf_times), pct(pdf_times, 95)
    for name in ("baseline: plan-md (same document)", "baseline: fpdf2 one line, same font"):
        base = statistics.median(results[name][0])
        print(f"ratio plan-pdf p50 / {name.split(': ', 1)[1]} p50: {p50 / base:.1f}x")
    verdict = "meets" if p95 < TARGET_MS else "MISSES"
    print(f"target: p95 < {TARGET_MS:.0f} ms per export -> p95 {p95:.0f} ms {verdict} the target")
    return 1 if args.check and p95 >= TARGET_MS else 0


if __name__ == "__main__":
    sys.exit(main())
