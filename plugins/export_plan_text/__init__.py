"""Plan exporters to plain text formats: Markdown (``plan-md``) and CSV (``plan-csv``).

Both are reached with ``GET /api/v1/plans/<id>/export/<exporter>?lang=sv|en`` and write the plan
in the reader's language (labels from the UI catalog, content from the plan's snapshots).

**Markdown** (``text/markdown``, ``.md``): headings, a table of the activities and the questions
with their notes — readable as plain text, and renders in any Markdown viewer (wikis, GitLab,
Teams). Text from the plan is escaped where CommonMark would read it as markup (``*``, ``_``, ``[``, a
``1.`` or ``-`` starting a line, ``|`` in a table cell), so it stays a character.

**CSV** (``text/csv``, ``.csv``): one row per activity, for spreadsheets — plan id, person, coach,
competency, activity, description, kind, effort, owner, due date, status, next follow-up. Decisions:

* **UTF-8 with a byte-order mark.** Excel opens a CSV without a BOM in the machine's legacy code
  page (``å`` becomes ``Ã¥``); with the BOM it reads UTF-8. LibreOffice, Numbers, Google Sheets and
  Python's ``csv`` (with ``encoding="utf-8-sig"``) all accept it.
* **Separator by language**: ``;`` where the reader's language writes decimal commas (Swedish,
  German, Finnish, French …), ``,`` elsewhere — exactly when a spreadsheet program set up for that
  language expects ``;`` when the file is opened with a double click. Fields are quoted when needed
  (RFC 4180), lines end with CRLF.
* **Header and values in the reader's language** (``Klart senast``, ``Pågår``): the file is for
  people. Dates are ISO ``YYYY-MM-DD`` so they sort and every spreadsheet reads them as dates.
  Programs should use the JSON export (``plan-json``), which has stable codes and a schema.
* **Formula injection**: a text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage
  return gets a leading apostrophe, so a spreadsheet shows it as text instead of running it.

:mod:`plugins.export_plan_text.plandoc` (labels, dates, grouping in the reader's language) is
shared by every plan exporter.
"""
from __future__ import annotations

import csv
import io
import re
from typing import Any

from babel.numbers import get_decimal_symbol

from core import hookimpl
from core.exports import spreadsheet_text  # noqa: F401 - the one CSV formula helper, re-exported
from core.model import Exporter
from plugins.export_plan_text.plandoc import DEMO_MARK, N_, PlanView, babel_locale, localized

__version__ = "1.0.0"


# ----------------------------------------------------------------------------- Markdown

#: inline characters CommonMark gives a meaning anywhere in a line: code, emphasis, links and
#: images, autolinks and HTML, and the backslash itself; ``~`` is GitHub's strikethrough
_MD_INLINE = re.compile(r"([\\`*_\[\]<~])")
#: ``&`` only where it would start an entity or character reference (``&amp;``, ``&#38;``)
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")
#: the start of a line that would otherwise open a block: heading, block quote, bullet list,
#: ordered list (the escape goes before the ``.``/``)``, never before a digit), setext underline
_MD_BLOCK_START = (
    (re.compile(r"^(\s*)([#>])"), "\\1\\\\\\2"),
    (re.compile(r"^(\s*)([-+*])(?=\s|$)"), "\\1\\\\\\2"),
    (re.compile(r"^(\s*\d{1,9})([.)])(?=\s|$)"), "\\1\\\\\\2"),
    (re.compile(r"^(\s*)(=+|-+)\s*$"), "\\1\\\\\\2"),
)


def _md_line_start(line: str) -> str:
    for pattern, replacement in _MD_BLOCK_START:
        line, n = pattern.subn(replacement, line, count=1)
        if n:
            break
    return line


def md(text: Any, line_start: bool = False) -> str:
    """Escape plan text for CommonMark, only where a character would otherwise be markup; keep line
    breaks as hard breaks. ``line_start``: the text begins a line (where ``1.``, ``#`` or ``-`` would
    open a block); its later lines always do."""
    escaped = _MD_ENTITY.sub("\\\\&", _MD_INLINE.sub(r"\\\1", str(text or "").strip()))
    lines = [line.rstrip() for line in escaped.splitlines()]
    lines = [_md_line_start(line) if (i or line_start) else line for i, line in enumerate(lines)]
    return "  \n".join(lines)


def md_cell(text: Any) -> str:
    """Escape for a table cell: one line, ``|`` escaped (a cell is inline text: no block starts)."""
    return " ".join(md(text).replace("|", "\\|").replace("  \n", " ").split()) or "–"


class PlanMarkdown(Exporter):
    id = "plan-md"
    title = N_("Development plan (Markdown)")
    subject = "plan"
    media_type = "text/markdown"
    extension = "md"
    domain = "messages"

    def export(self, document: dict, locale: str) -> bytes:
        with localized(locale) as _:
            return render_markdown(PlanView(document, locale, _)).encode("utf-8")


def render_markdown(v: PlanView) -> str:
    _ = v._
    out: list[str] = [f"# {md(v.title())}", ""]
    if v.demo:
        out += [f"> **{DEMO_MARK}** — {md(v.demo_notice())}", ""]
    facts = [
        (_("Person"), v.person_line()),
        (_("Coach"), v.coach_name()),
        (_("Dialogue"), v.mode()),
        (_("Situation"), v.situation()),
        (_("Status"), v.plan_status()),
        (_("Agreement"), "; ".join(v.agreement())),
        (_("Next follow-up"), v.follow_up_date() or "–"),
    ]
    out += [f"- **{md(k)}:** {md(val)}" for k, val in facts] + [""]

    out += [f"## {md(_('Focus competencies'))}", ""]
    for f in v.focus:
        out += [f"### {md(f['name'])}", ""]
        if v.trail(f):
            out += [f"*{md(v.trail(f))}*", ""]
        if f.get("definition"):
            out += [md(f["definition"], line_start=True), ""]
        out += [f"**{md(_('Goal'))}:** {md(f.get('goal')) or '–'}", ""]

    out += [f"## {md(_('Activities'))}", ""]
    if v.activities:
        header = [_("Activity"), _("Competency"), _("Kind"), _("Owner"), _("Due"), _("Status")]
        out.append("| " + " | ".join(md_cell(h) for h in header) + " |")
        out.append("|" + "---|" * len(header))
        for a in v.activities:
            row = [a["title"], v.competency_name(a.get("competency", "")), v.kind(a.get("kind")), a.get("owner", ""),
                   v.date(a.get("due")), v.activity_status(a.get("status"))]
            out.append("| " + " | ".join(md_cell(c) for c in row) + " |")
        out.append("")
        for a in v.activities:
            if a.get("description"):
                out += [f"**{md(a['title'])}** — {md(a['description'])}", ""]
    else:
        out += [md(_("No activities yet."), line_start=True), ""]

    out += [f"## {md(_('Follow-up'))}", "", f"**{md(_('Next follow-up'))}:** {md(v.follow_up_date()) or '–'}", ""]
    if v.follow_ups:
        out += [f"- **{md(v.timestamp(f.get('at')))}:** {md(f.get('note'))}" for f in v.follow_ups] + [""]
    else:
        out += [md(_("No follow-ups yet."), line_start=True), ""]

    out += [f"## {md(_('Questions and notes'))}", ""]
    for group in v.groups():
        if not group.questions:
            continue
        heading = group.focus["name"] if group.focus else _("Our own questions")
        out += [f"### {md(heading)}", ""]
        for q in group.questions:
            out.append(f"- **{md(q['text'])}**")
            if q.get("note"):
                private = f" *{md(v.private_marker())}*" if v.note_is_private(q) else ""
                note = md(q["note"], line_start=True).replace("  \n", "  \n  ")
                out.append(f"  {note}{private}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------- CSV

def csv_delimiter(locale: str) -> str:
    """``;`` for languages with a decimal comma (what their spreadsheets expect), else ``,``."""
    return ";" if get_decimal_symbol(babel_locale(locale)) == "," else ","


class PlanCSV(Exporter):
    id = "plan-csv"
    title = N_("Development plan activities (CSV)")
    subject = "plan"
    media_type = "text/csv"
    extension = "csv"
    domain = "messages"

    def export(self, document: dict, locale: str) -> bytes:
        with localized(locale) as _:
            v = PlanView(document, locale, _)
            buffer = io.StringIO(newline="")
            writer = csv.writer(buffer, delimiter=csv_delimiter(locale), quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
            writer.writerow([_("Plan id"), _("Person"), _("Coach"), _("Competency"), _("Activity"), _("Description"), _("Kind"),
                             _("Effort"), _("Owner"), _("Due"), _("Status"), _("Next follow-up")])
            coach = (document.get("coach") or {}).get("name", "")
            for a in v.activities:
                writer.writerow([
                    document["id"],
                    spreadsheet_text(v.person_name()),
                    spreadsheet_text(coach),
                    spreadsheet_text(v.competency_name(a.get("competency", ""))),
                    spreadsheet_text(a.get("title")),
                    spreadsheet_text(a.get("description")),
                    v.kind(a.get("kind")),
                    v.effort(a.get("effort")),
                    spreadsheet_text(a.get("owner")),
                    a.get("due") or "",
                    v.activity_status(a.get("status")),
                    document.get("follow_up_date") or "",
                ])
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")


@hookimpl
def kbp_exporters():
    return [PlanMarkdown(), PlanCSV()]
