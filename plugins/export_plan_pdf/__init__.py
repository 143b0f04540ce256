"""PDF exporters: the development plan (``plan-pdf``) and the printable conversation guide (``guide-pdf``).

``GET /api/v1/plans/<id>/export/plan-pdf?lang=sv|en`` (and ``guide-pdf``) returns a clean A4
``application/pdf`` in the reader's language.

**Why fpdf2** (over ReportLab and WeasyPrint):

* *pure Python, no system libraries*: WeasyPrint needs Pango, cairo and HarfBuzz from the operating
  system (a different install step on every platform and in every container); fpdf2 needs only
  Pillow and fontTools, both installed as wheels by ``pip``;
* *Unicode TrueType fonts*: it embeds a subset of any TTF font, so å ä ö — and Greek, Cyrillic or
  whatever a person's name holds — print correctly; the font is vendored (below), so no machine
  needs a system font;
* *fast*: no HTML/CSS layout engine in between; a plan of 5 competencies and 20 activities is
  written in well under the 300 ms target (``benchmarks/bench_pdf.py`` prints the numbers);
* *small and enough*: tables with repeated headings, page headers and footers with "page N of M",
  document language and metadata. ReportLab would do too, but its open-source part is a larger API
  for the same result, and fpdf2 is LGPL with an active release cadence.

**Fonts**: DejaVu Sans and DejaVu Sans Bold 2.37 in ``fonts/``, with their licence (free to
redistribute, modified or not, with the notice): subsets with the Latin, Greek, Cyrillic,
Armenian and Georgian scripts and the common symbols, which parse about 40 % faster than the full
files (``fonts/README.md`` says how they were made). If the folder is missing (a broken install),
Debian's ``fonts-dejavu-core`` is used when present; otherwise the plugin fails at start-up with a
message saying so. No text is dropped silently: a character the font cannot draw — emoji, above
all (KBP vendors no emoji font, and fpdf2 cannot embed the colour-bitmap ones systems have) — is
printed as its Unicode name in brackets,
``[thumbs up sign]``, a flag as ``[flag SE]`` (:func:`printable`).

**The plan**: title, person, coach, dialogue (mode), situation, status and agreement, next
follow-up; the focus competencies with definitions and goals; a table of the activities
(competency, owner, due date, status, with the description below the title); the follow-up date
and the notes of follow-ups held; the questions with their notes (the document has already left
out private notes for anyone but the employee; in the employee's own export an unshared note is
marked as private). **The guide**: the questions chosen for the dialogue grouped by focus
competency, each followed by ruled lines for notes, a goal line per competency, the plan's own
questions, and room for the agreed activities and the next follow-up — for a *medarbetarsamtal*
on paper. Both carry "Page N of M" on every page and, in demo mode, the demo marking (a banner and
a watermark) on every page.
"""
from __future__ import annotations

import logging
import unicodedata
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from fpdf import FPDF, XPos, YPos

from core import hookimpl
from core.model import Exporter
from plugins.export_plan_text.plandoc import DEMO_MARK, N_, PlanView, language_tag, localized

__version__ = "1.0.0"

FONT = "DejaVuSans"
FONT_FILES = {"": "DejaVuSans-subset.ttf", "B": "DejaVuSans-Bold-subset.ttf"}
VENDORED_FONTS = Path(__file__).resolve().parent / "fonts"
#: the same fonts, complete, where Debian's fonts-dejavu-core puts them (a fallback only)
SYSTEM_FONTS = Path("/usr/share/fonts/truetype/dejavu")
SYSTEM_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}

# fontTools logs every table it subsets at INFO; the exporter's log should say what KBP does
logging.getLogger("fontTools").setLevel(logging.WARNING)

INK = (33, 37, 41)
MUTED = (102, 108, 116)
ACCENT = (23, 70, 122)
RULE = (190, 196, 204)
ZEBRA = (243, 246, 250)
HEAD_FILL = (225, 233, 243)
DEMO_INK = (170, 24, 24)
DEMO_FILL = (253, 235, 235)
WATERMARK = (250, 226, 226)

BODY_PT = 10
SMALL_PT = 8.5


def font_files() -> dict[str, Path]:
    """Style ("" regular, "B" bold) → the TrueType file to embed: the vendored fonts, else the system's."""
    for folder, names in ((VENDORED_FONTS, FONT_FILES), (SYSTEM_FONTS, SYSTEM_FONT_FILES)):
        files = {style: folder / name for style, name in names.items()}
        if all(path.is_file() for path in files.values()):
            return files
    raise RuntimeError(f"The PDF exporter's fonts are missing: {', '.join(FONT_FILES.values())} in {VENDORED_FONTS}")


#: invisible parts of an emoji (joiner, variation selectors, keycap): dropped with the emoji they belong to
_EMOJI_PARTS = {0x200D, 0xFE0E, 0xFE0F, 0x20E3}
_REGIONAL = range(0x1F1E6, 0x1F200)
_SKIN_TONES = range(0x1F3FB, 0x1F400)


def printable(text: str, has_glyph) -> str:
    """``text`` with every character the font cannot draw (emoji, mostly) replaced by a visible
    marker — its Unicode name in brackets, ``[thumbs up sign]``; a flag is ``[flag SE]`` — so no
    text is ever dropped silently. The joiners, variation selectors and skin tones of a replaced
    emoji go with it."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        cp = ord(c)
        if c in "\n\r\t " or has_glyph(c):
            out.append(c)
        elif cp in _REGIONAL and i + 1 < n and ord(text[i + 1]) in _REGIONAL:
            out.append(f"[flag {chr(cp - 0x1F1E6 + 65)}{chr(ord(text[i + 1]) - 0x1F1E6 + 65)}]")
            i += 1
        elif (cp in _EMOJI_PARTS or cp in _SKIN_TONES) and out and out[-1].endswith("]"):
            pass  # part of the emoji just replaced
        elif cp in _EMOJI_PARTS:
            pass  # a stray joiner or variation selector: not text
        else:
            name = unicodedata.name(c, "")
            out.append(f"[{name.lower()}]" if name else f"[U+{cp:04X}]")
        i += 1
    return "".join(out)


def mm(points: float) -> float:
    return points * 25.4 / 72


class KBPDocument(FPDF):
    """An A4 page with KBP's look: running footer with page numbers, demo marking when needed."""

    def __init__(self, view: PlanView, running_title: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.view = view
        for style, path in font_files().items():
            self.add_font(FONT, style, str(path))
        self.running_title = self.literal(running_title)
        self.set_margins(18, 20, 18)
        self.set_auto_page_break(True, margin=18)
        self.set_text_color(*INK)
        self.set_font(FONT, "", BODY_PT)
        self.set_lang(language_tag(view.locale))
        self.set_title(running_title)
        self.set_subject(view.title())
        self.set_author("KBP")
        self.set_creator((view.doc.get("meta") or {}).get("generator", "KBP"))
        self.set_display_mode("fullwidth")

    # -- every page ----------------------------------------------------------------------------

    def header(self) -> None:
        if not self.view.demo:
            return
        with self.local_context(text_color=WATERMARK):
            self.set_font(FONT, "B", 110)
            cx, cy = self.w / 2, self.h / 2
            width = self.get_string_width(DEMO_MARK)
            with self.rotation(angle=50, x=cx, y=cy):
                self.text(cx - width / 2, cy + mm(110) / 3, DEMO_MARK)
        with self.local_context(text_color=DEMO_INK, fill_color=DEMO_FILL):
            self.set_font(FONT, "B", SMALL_PT)
            self.set_xy(self.l_margin, 8)
            self.multi_cell(0, 4.6, f"{DEMO_MARK} — {self.view.demo_notice()}", fill=True, align="C",
                            new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_y(max(self.get_y() + 4, self.t_margin))

    def footer(self) -> None:
        _ = self.view._
        with self.local_context(text_color=MUTED, draw_color=RULE):
            self.set_y(-13)
            self.line(self.l_margin, self.get_y() - 1.5, self.w - self.r_margin, self.get_y() - 1.5)
            self.set_font(FONT, "", 7.5)
            half = self.epw / 2
            title = self.running_title
            while len(title) > 1 and self.get_string_width(title) > half - 3:  # a very long name: shorten it
                title = title[:-2].rstrip() + "…"
            self.cell(half, 4, title, align="L")
            self.cell(half, 4, _("Page %(page)s of %(pages)s", page=self.page_no(), pages=self.alias_nb_pages_text()),
                      align="R")

    def alias_nb_pages_text(self) -> str:
        return self.str_alias_nb_pages

    # -- text layout ---------------------------------------------------------------------------
    #
    # Paragraphs and table cells are plain text in one font and size each, so they are broken
    # into lines here, once, from the font's glyph widths, and every line is written with
    # ``cell()``. fpdf2's ``multi_cell`` and ``table`` re-measure the line so far after every
    # character (quadratic in the line length) and a table measures every cell twice: for a plan
    # with 20 activities that was most of the export time.

    def has_glyph(self, char: str) -> bool:
        return all(ord(char) in font.cmap for font in self.fonts.values())

    def literal(self, text: str) -> str:
        """Plan text as printed: characters without a glyph as visible markers (:func:`printable`);
        fpdf2 would replace its page-count alias (``{nb}``) in any text."""
        text = printable(str(text), self.has_glyph)
        alias = self.str_alias_nb_pages
        return text.replace(alias, alias[:1] + "\u2060" + alias[1:]) if alias and alias in text else text

    @staticmethod
    def line_height(size: float) -> float:
        return mm(size) * 1.45

    def wrap(self, text: str, width: float, size: float, *, bold: bool = False,
             first_width: float | None = None) -> list[str]:
        """``text`` broken into lines no wider than ``width`` mm (the first line ``first_width``).

        Breaks at spaces, keeps the text's own line breaks, and cuts a word longer than the line."""
        if not text:
            return []
        cw = self.fonts[FONT.lower() + ("B" if bold else "")].cw
        unit = size * 0.001 / self.k
        space = cw[32] * unit
        lines: list[str] = []
        text = self.literal(text)
        for raw in text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ").split("\n"):
            words: list[str] = []
            used = 0.0
            limit = first_width if first_width is not None and not lines else width
            for word in raw.split(" "):
                w = sum(cw[ord(c)] for c in word) * unit
                if words and used + space + w <= limit:
                    words.append(word)
                    used += space + w
                    continue
                if words:
                    lines.append(" ".join(words))
                    limit = width
                words, used = [word], w
                while used > limit and len(words[0]) > 1:  # a word longer than the line: cut it
                    chunk, chunk_w = "", 0.0
                    for c in words[0]:
                        cwid = cw[ord(c)] * unit
                        if chunk and chunk_w + cwid > limit:
                            break
                        chunk, chunk_w = chunk + c, chunk_w + cwid
                    lines.append(chunk)
                    limit = width
                    rest = words[0][len(chunk):]
                    words, used = [rest], sum(cw[ord(c)] for c in rest) * unit
            lines.append(" ".join(words))
        return lines

    def lines_out(self, lines: list[str], x: float, width: float, height: float, align: str = "L") -> None:
        """Write ``lines`` one under the other from the current y (a page break when the page is full)."""
        for line in lines:
            self.set_x(x)
            self.cell(width, height, line, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    @contextmanager
    def no_page_break(self):
        """Draw something that was measured to fit (a table row) without fpdf2 breaking it."""
        previous = self.auto_page_break
        self.auto_page_break = False
        try:
            yield
        finally:
            self.auto_page_break = previous

    # -- building blocks -----------------------------------------------------------------------

    def keep(self, height: float) -> None:
        """Start a new page unless ``height`` mm still fit (keeps a heading with what follows)."""
        if self.will_page_break(height):
            self.add_page()

    def heading(self, text: str, size: float, height: float, color: tuple = INK) -> None:
        self.set_font(FONT, "B", size)
        self.set_text_color(*color)
        self.lines_out(self.wrap(text, self.epw, size, bold=True), self.l_margin, self.epw, height)
        self.set_text_color(*INK)

    def h1(self, text: str) -> None:
        self.heading(text, 18, 8.5, ACCENT)
        self.ln(1.5)

    def h2(self, text: str) -> None:
        self.ln(4)
        self.keep(24)
        self.heading(text, 13, 6.5, ACCENT)
        with self.local_context(draw_color=ACCENT, line_width=0.35):
            self.line(self.l_margin, self.get_y() + 0.5, self.w - self.r_margin, self.get_y() + 0.5)
        self.ln(3)

    def h3(self, text: str, *, keep: float = 20) -> None:
        self.ln(1.5)
        self.keep(keep)
        self.heading(text, 11, 5.6)
        self.ln(0.5)

    def para(self, text: str, *, size: float = BODY_PT, bold: bool = False, color: tuple = INK, indent: float = 0,
             after: float = 1.5) -> None:
        if not text:
            return
        self.set_font(FONT, "B" if bold else "", size)
        self.set_text_color(*color)
        width = self.epw - indent
        self.lines_out(self.wrap(text, width, size, bold=bold), self.l_margin + indent, width, self.line_height(size))
        self.set_text_color(*INK)
        self.ln(after)

    def labelled(self, label: str, text: str, *, size: float = BODY_PT, after: float = 1.5) -> None:
        """``Label: text`` with the label in bold, the text wrapping under it like a paragraph."""
        height = self.line_height(size)
        head = f"{label}: "
        self.set_font(FONT, "B", size)
        head_width = min(self.get_string_width(head), self.epw / 2)
        lines = self.wrap(text or "–", self.epw, size, first_width=self.epw - head_width)
        self.keep(height)
        self.set_x(self.l_margin)
        self.cell(head_width, height, head)
        self.set_font(FONT, "", size)
        self.cell(self.epw - head_width, height, lines[0], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.lines_out(lines[1:], self.l_margin, self.epw, height)
        self.ln(after)

    def facts(self, rows: list[tuple[str, str]]) -> None:
        """Label/value rows (person, coach, situation …) without borders."""
        height = self.line_height(BODY_PT)
        self.set_font(FONT, "B", BODY_PT)
        label_width = min(60.0, max(self.get_string_width(label) for label, _value in rows) + 5)
        value_width = self.epw - label_width
        for label, value in rows:
            labels = self.wrap(label, label_width - 2, BODY_PT, bold=True)
            values = self.wrap(value or "–", value_width, BODY_PT)
            row_height = max(len(labels), len(values)) * height + 1.2
            self.keep(row_height)
            top = self.get_y()
            with self.no_page_break():
                self.set_y(top + 0.6)
                self.set_font(FONT, "B", BODY_PT)
                self.set_text_color(*MUTED)
                self.lines_out(labels, self.l_margin, label_width, height)
                self.set_y(top + 0.6)
                self.set_font(FONT, "", BODY_PT)
                self.set_text_color(*INK)
                self.lines_out(values, self.l_margin + label_width, value_width, height)
            self.set_y(top + row_height)
        self.ln(2)

    def ruled_lines(self, count: int, gap: float = 8.5) -> None:
        with self.local_context(draw_color=RULE, line_width=0.25):
            for _ in range(count):
                self.set_y(self.get_y() + gap)
                self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(3)

    def text_height(self, text: str, size: float, width: float | None = None, bold: bool = False) -> float:
        return len(self.wrap(text, width or self.epw, size, bold=bold)) * self.line_height(size)


# ----------------------------------------------------------------------------- the plan


def render_plan(v: PlanView) -> bytes:
    _ = v._
    pdf = KBPDocument(v, v.title())
    pdf.add_page()
    pdf.h1(v.title())
    pdf.facts([
        (_("Person"), v.person_line()),
        (_("Coach"), v.coach_name()),
        (_("Dialogue"), v.mode()),
        (_("Situation"), v.situation()),
        (_("Status"), v.plan_status()),
        (_("Agreement"), "\n".join(v.agreement())),
        (_("Next follow-up"), v.follow_up_date()),
    ])

    pdf.h2(_("Focus competencies"))
    for f in v.focus:
        pdf.h3(f["name"])
        if v.trail(f):
            pdf.para(v.trail(f), size=SMALL_PT, color=MUTED, after=0.8)
        pdf.para(f.get("definition", ""))
        pdf.labelled(_("Goal"), f.get("goal", ""), after=2.5)

    pdf.h2(_("Activities"))
    if v.activities:
        activity_table(pdf, v)
    else:
        pdf.para(_("No activities yet."), color=MUTED)

    pdf.h2(_("Follow-up"))
    pdf.labelled(_("Next follow-up"), v.follow_up_date())
    if v.follow_ups:
        pdf.h3(_("Follow-ups"), keep=14)
        for f in v.follow_ups:
            pdf.labelled(v.timestamp(f.get("at")), f.get("note", ""), after=1)
    else:
        pdf.para(_("No follow-ups yet."), color=MUTED)

    if v.questions:
        pdf.h2(_("Questions and notes"))
        for group in v.groups():
            if not group.questions:
                continue
            pdf.h3(group.focus["name"] if group.focus else _("Our own questions"))
            for q in group.questions:
                pdf.keep(12)
                pdf.para(q["text"], bold=True, after=0.6)
                if q.get("note"):
                    pdf.para(q["note"], indent=5, after=0.4)
                    if v.note_is_private(q):
                        pdf.para(v.private_marker(), size=SMALL_PT, color=MUTED, indent=5, after=0.4)
                pdf.ln(1.6)
    return bytes(pdf.output())


def activity_table(pdf: KBPDocument, v: PlanView) -> None:
    """Activity | Competency | Owner | Due | Status, the description under each activity's row;
    the header row repeats on every page, and an activity is never split over two pages."""
    _ = v._
    widths = (60, 34, 27, 27, 26)
    scale = pdf.epw / sum(widths)
    widths = tuple(w * scale for w in widths)
    xs = [pdf.l_margin + sum(widths[:i]) for i in range(len(widths))]
    pad_x, pad_y = 1.4, 1.2
    size, small = 9, SMALL_PT
    lh, small_lh = pdf.line_height(size), pdf.line_height(small)
    titles = (_("Activity"), _("Competency"), _("Owner"), _("Due"), _("Status"))
    header_lines = [pdf.wrap(t, w - 2 * pad_x, size, bold=True) for t, w in zip(titles, widths, strict=True)]
    header_height = max(len(lines) for lines in header_lines) * lh + 2 * pad_y

    def draw_header() -> None:
        top = pdf.get_y()
        with pdf.no_page_break(), pdf.local_context(fill_color=HEAD_FILL, text_color=ACCENT, draw_color=ACCENT, line_width=0.3):
            pdf.rect(pdf.l_margin, top, pdf.epw, header_height, style="F")
            pdf.set_font(FONT, "B", size)
            for x, w, lines in zip(xs, widths, header_lines, strict=True):
                pdf.set_y(top + pad_y)
                pdf.lines_out(lines, x + pad_x, w - 2 * pad_x, lh)
            pdf.line(pdf.l_margin, top + header_height, pdf.l_margin + pdf.epw, top + header_height)
        pdf.set_y(top + header_height)

    pdf.keep(header_height + 14)
    draw_header()
    for i, a in enumerate(v.activities):
        cells = [
            (pdf.wrap(a["title"], widths[0] - 2 * pad_x, size, bold=True), True),
            (pdf.wrap(v.competency_name(a.get("competency", "")), widths[1] - 2 * pad_x, size), False),
            (pdf.wrap(a.get("owner") or "–", widths[2] - 2 * pad_x, size), False),
            (pdf.wrap(v.date(a.get("due")) or "–", widths[3] - 2 * pad_x, size), False),
            (pdf.wrap(v.activity_status(a.get("status")), widths[4] - 2 * pad_x, size), False),
        ]
        details = " · ".join(p for p in (v.kind(a.get("kind")), v.effort(a.get("effort")) if a.get("effort") else "") if p)
        description = "\n".join(p for p in (a.get("description", ""), details) if p)
        desc_lines = pdf.wrap(description, pdf.epw - 2 * pad_x, small)
        row_height = max(len(lines) for lines, _bold in cells) * lh + 2 * pad_y
        desc_height = len(desc_lines) * small_lh + (pad_y if desc_lines else 0)
        if pdf.will_page_break(row_height + desc_height):
            pdf.add_page()
            draw_header()
        top = pdf.get_y()
        with pdf.no_page_break():
            if i % 2:
                with pdf.local_context(fill_color=ZEBRA):
                    pdf.rect(pdf.l_margin, top, pdf.epw, row_height + desc_height, style="F")
            for x, w, (lines, bold) in zip(xs, widths, cells, strict=True):
                pdf.set_font(FONT, "B" if bold else "", size)
                pdf.set_y(top + pad_y)
                pdf.lines_out(lines, x + pad_x, w - 2 * pad_x, lh)
            pdf.set_y(top + row_height)
            if desc_lines:
                pdf.set_font(FONT, "", small)
                pdf.set_text_color(*MUTED)
                pdf.lines_out(desc_lines, pdf.l_margin + pad_x, pdf.epw - 2 * pad_x, small_lh)
                pdf.set_text_color(*INK)
        pdf.set_y(top + row_height + desc_height)
    with pdf.local_context(draw_color=RULE, line_width=0.25):
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + pdf.epw, pdf.get_y())
    pdf.ln(2)


# ----------------------------------------------------------------------------- the guide


def render_guide(v: PlanView) -> bytes:
    _ = v._
    title = _("Conversation guide")
    pdf = KBPDocument(v, f"{title} – {v.person_name()}")
    pdf.add_page()
    pdf.h1(title)
    coach = v.doc.get("coach")
    subtitle = [v.mode(), v.person_line()]
    if coach:
        subtitle.append(_("Coach: %(name)s", name=coach["name"]))
    subtitle.append(v.situation())
    pdf.para(" · ".join(p for p in subtitle if p), color=MUTED, after=3)

    def question_block(q: dict[str, Any]) -> None:
        note = q.get("note", "")
        lines = 2 if note else 4
        needed = pdf.text_height(q["text"], BODY_PT, bold=True) + (pdf.text_height(note, BODY_PT, pdf.epw - 5) if note else 0)
        pdf.keep(needed + lines * 8.5 + 4)
        pdf.para(q["text"], bold=True, after=0.5)
        if note:
            pdf.para(note, indent=5, after=0)
            if v.note_is_private(q):
                pdf.para(v.private_marker(), size=SMALL_PT, color=MUTED, indent=5, after=0)
        pdf.ruled_lines(lines)

    for group in v.groups():
        if group.focus is None:
            continue
        f = group.focus
        pdf.h2(f["name"])
        if f.get("path"):  # a deep framework: where the competency sits
            pdf.para(v.trail(f), size=SMALL_PT, color=MUTED, after=0.8)
        pdf.para(f.get("definition", ""), size=SMALL_PT + 0.5, color=MUTED, after=2.5)
        if not group.questions:
            pdf.para(_("No questions for this competency."), color=MUTED)
        for q in group.questions:
            question_block(q)
        pdf.keep(30)
        pdf.para(_("Goal"), bold=True, after=0)
        if f.get("goal"):
            pdf.para(f["goal"], indent=5, after=0)
        pdf.ruled_lines(2)

    own = next((g for g in v.groups() if g.focus is None and g.questions), None)
    if own is not None:
        pdf.h2(_("Our own questions"))
        for q in own.questions:
            question_block(q)

    pdf.h2(_("Agreed activities"))
    pdf.keep(8 * 8.5)
    pdf.ruled_lines(8)
    pdf.keep(20)
    pdf.labelled(_("Next follow-up"), v.follow_up_date() or " ")
    return bytes(pdf.output())


# ----------------------------------------------------------------------------- exporters


class _PDFExporter(Exporter):
    media_type = "application/pdf"
    extension = "pdf"
    domain = "messages"
    render: Callable[[PlanView], bytes]

    def export(self, document: dict, locale: str) -> bytes:
        with localized(locale) as _:
            return type(self).render(PlanView(document, locale, _))


class PlanPDF(_PDFExporter):
    id = "plan-pdf"
    title = N_("Development plan (PDF)")
    subject = "plan"
    render = staticmethod(render_plan)


class GuidePDF(_PDFExporter):
    id = "guide-pdf"
    title = N_("Conversation guide (PDF)")
    subject = "dialogue_guide"
    render = staticmethod(render_guide)


@hookimpl
def kbp_exporters():
    font_files()  # a missing font fails the plugin at start-up, with the reason, not every export
    return [PlanPDF(), GuidePDF()]
