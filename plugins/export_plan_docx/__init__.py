"""Word exporters (python-docx): the development plan (``plan-docx``) and the conversation guide (``guide-docx``).

``GET /api/v1/plans/<id>/export/plan-docx?lang=sv|en`` returns an Office Open XML document
(``.docx``) in the reader's language that HR can edit: the same content as the PDF (see
:mod:`plugins.export_plan_pdf`) built from real Word structure —

* the title is *Heading 1*, the sections (focus competencies, activities, follow-up, questions and
  notes) *Heading 2*, each competency *Heading 3*, so the navigation pane and a table of contents
  work;
* the facts and the activities are Word tables (the activities with a header row that repeats on
  every page: activity with its description, competency, owner, due date, status);
* A4 pages, the document language set for spelling (``sv-SE`` / ``en-US``), title and subject in
  the document properties, "Page N of M" in the footer as Word fields;
* in demo mode the page header of every page carries the demo marking.

The guide (``guide-docx``) has the questions grouped by focus competency, each followed by ruled
lines to write on, a goal per competency, the plan's own questions and room for the agreed
activities and the next follow-up — for a *medarbetarsamtal* on paper.
"""
from __future__ import annotations

import io
from typing import Any, Callable

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor, Twips

from core import hookimpl
from core.model import Exporter
from plugins.export_plan_text.plandoc import DEMO_MARK, N_, PlanView, language_tag, localized

__version__ = "1.0.0"

DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MUTED = RGBColor(0x66, 0x6C, 0x74)
DEMO_INK = RGBColor(0xAA, 0x18, 0x18)
RULE = "BEC4CC"
HEAD_FILL = "E1E9F3"


# ----------------------------------------------------------------------------- low-level helpers


# Word refuses a file whose property elements are out of the schema's order: each element is
# inserted before the first of the elements that must follow it (ECMA-376, CT_RPr / CT_PPr / CT_TcPr).
_AFTER_LANG = ("w:eastAsianLayout", "w:specVanish", "w:oMath")
_AFTER_PBDR = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
               "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid",
               "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
               "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle",
               "w:rPr", "w:sectPr", "w:pPrChange")
_AFTER_SHD = ("w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign", "w:hideMark", "w:headers",
              "w:cellIns", "w:cellDel", "w:cellMerge", "w:tcPrChange")


def _set_language(document: Any, tag: str) -> None:
    """The language of the text (Word's spelling and hyphenation), on the Normal style all others build on."""
    rpr = document.styles["Normal"].element.get_or_add_rPr()
    for old in rpr.findall(qn("w:lang")):
        rpr.remove(old)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), tag)
    lang.set(qn("w:eastAsia"), tag)
    rpr.insert_element_before(lang, *_AFTER_LANG)


def _add_field(paragraph: Any, instruction: str, placeholder: str = "1") -> None:
    """A Word field (``PAGE``, ``NUMPAGES``) that Word updates when it lays out the pages."""
    def fld_char(kind: str) -> Any:
        run = paragraph.add_run()
        char = OxmlElement("w:fldChar")
        char.set(qn("w:fldCharType"), kind)
        run._r.append(char)
        return run

    fld_char("begin")
    run = paragraph.add_run()
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    run._r.append(instr)
    fld_char("separate")
    paragraph.add_run(placeholder)
    fld_char("end")


def _repeat_header_row(row: Any) -> None:
    trpr = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    trpr.append(header)


def _shade(cell: Any, fill: str) -> None:
    tcpr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    tcpr.insert_element_before(shd, *_AFTER_SHD)


def _rule_below(paragraph: Any) -> None:
    """A line under the paragraph (``between`` too, so a run of ruled paragraphs gets one per line)."""
    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    for edge in ("bottom", "between"):
        line = OxmlElement(f"w:{edge}")
        line.set(qn("w:val"), "single")
        line.set(qn("w:sz"), "4")
        line.set(qn("w:space"), "1")
        line.set(qn("w:color"), RULE)
        borders.append(line)
    ppr.insert_element_before(borders, *_AFTER_PBDR)


def _cell_text(cell: Any, text: str, *, bold: bool = False, size: float | None = None, color: RGBColor | None = None,
               first: bool = True) -> Any:
    paragraph = cell.paragraphs[0] if first else cell.add_paragraph()
    run = paragraph.add_run(text)
    run.bold = bold or None
    if size:
        run.font.size = Pt(size)
    if color is not None:
        run.font.color.rgb = color
    paragraph.paragraph_format.space_after = Pt(0)
    return paragraph


class WordDocument:
    """A python-docx document with KBP's page setup, footer, demo marking and small helpers."""

    def __init__(self, v: PlanView, running_title: str):
        self.v = v
        self.doc = Document()
        section = self.doc.sections[0]
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.left_margin = section.right_margin = Mm(20)
        section.top_margin, section.bottom_margin = Mm(20), Mm(18)
        normal = self.doc.styles["Normal"]
        normal.font.size = Pt(10.5)
        _set_language(self.doc, language_tag(v.locale))
        props = self.doc.core_properties
        props.title = running_title
        props.subject = v.title()
        props.author = "KBP"
        props.language = language_tag(v.locale)
        props.comments = (v.doc.get("meta") or {}).get("generator", "")
        if v.demo:
            props.keywords = DEMO_MARK
            header = section.header.paragraphs[0]
            header.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run = header.add_run(f"{DEMO_MARK} — {v.demo_notice()}")
            run.bold = True
            run.font.size = Pt(9)
            run.font.color.rgb = DEMO_INK
        self._footer(section, running_title)

    def _footer(self, section: Any, running_title: str) -> None:
        paragraph = section.footer.paragraphs[0]
        width = section.page_width - section.left_margin - section.right_margin
        tabs = paragraph.paragraph_format.tab_stops
        for inherited in (Twips(4680), Twips(9360)):  # the Footer style's Letter-size centre and right tabs
            tabs.add_tab_stop(inherited, WD_TAB_ALIGNMENT.CLEAR)
        tabs.add_tab_stop(width, WD_TAB_ALIGNMENT.RIGHT)
        paragraph.add_run(running_title + "\t")
        # "Page %(page)s of %(pages)s": the translated sentence around two Word fields
        text = self.v._("Page %(page)s of %(pages)s", page="\x00PAGE\x00", pages="\x00NUMPAGES\x00")
        for i, part in enumerate(text.split("\x00")):
            if i % 2:
                _add_field(paragraph, part)
            elif part:
                paragraph.add_run(part)
        for run in paragraph.runs:
            run.font.size = Pt(8)
            run.font.color.rgb = MUTED

    # -- blocks --------------------------------------------------------------------------------

    def heading(self, text: str, level: int) -> Any:
        return self.doc.add_heading(text, level=level)

    def para(self, text: str, *, bold: bool = False, size: float | None = None, color: RGBColor | None = None,
             indent_mm: float = 0, after: float = 4) -> Any:
        paragraph = self.doc.add_paragraph()
        lines = (text or "").split("\n")
        for i, line in enumerate(lines):
            run = paragraph.add_run(line)
            run.bold = bold or None
            if size:
                run.font.size = Pt(size)
            if color is not None:
                run.font.color.rgb = color
            if i < len(lines) - 1:
                run.add_break()
        if indent_mm:
            paragraph.paragraph_format.left_indent = Mm(indent_mm)
        paragraph.paragraph_format.space_after = Pt(after)
        return paragraph

    def labelled(self, label: str, text: str) -> Any:
        paragraph = self.doc.add_paragraph()
        paragraph.add_run(f"{label}: ").bold = True
        paragraph.add_run(text or "–")
        return paragraph

    def facts(self, rows: list[tuple[str, str]]) -> Any:
        table = self.doc.add_table(rows=0, cols=2)
        table.autofit = False
        table.columns[0].width, table.columns[1].width = Mm(45), Mm(125)
        for label, value in rows:
            cells = table.add_row().cells
            cells[0].width, cells[1].width = Mm(45), Mm(125)
            _cell_text(cells[0], label, bold=True, color=MUTED)
            lines = (value or "–").split("\n")
            _cell_text(cells[1], lines[0])
            for line in lines[1:]:
                _cell_text(cells[1], line, first=False)
        self.doc.add_paragraph()
        return table

    def ruled_lines(self, count: int) -> None:
        for _ in range(count):
            paragraph = self.doc.add_paragraph()
            paragraph.paragraph_format.line_spacing = Pt(24)
            paragraph.paragraph_format.space_after = Pt(0)
            _rule_below(paragraph)
        self.doc.add_paragraph()

    def save(self) -> bytes:
        out = io.BytesIO()
        self.doc.save(out)
        return out.getvalue()


# ----------------------------------------------------------------------------- the plan


def render_plan(v: PlanView) -> bytes:
    _ = v._
    w = WordDocument(v, v.title())
    w.heading(v.title(), 1)
    w.facts([
        (_("Person"), v.person_line()),
        (_("Coach"), v.coach_name()),
        (_("Dialogue"), v.mode()),
        (_("Situation"), v.situation()),
        (_("Status"), v.plan_status()),
        (_("Agreement"), "\n".join(v.agreement())),
        (_("Next follow-up"), v.follow_up_date()),
    ])

    w.heading(_("Focus competencies"), 2)
    for f in v.focus:
        w.heading(f["name"], 3)
        if v.trail(f):
            w.para(v.trail(f), size=8.5, color=MUTED, after=2)
        if f.get("definition"):
            w.para(f["definition"])
        w.labelled(_("Goal"), f.get("goal", ""))

    w.heading(_("Activities"), 2)
    if v.activities:
        activity_table(w, v)
    else:
        w.para(_("No activities yet."), color=MUTED)

    w.heading(_("Follow-up"), 2)
    w.labelled(_("Next follow-up"), v.follow_up_date())
    if v.follow_ups:
        w.heading(_("Follow-ups"), 3)
        for f in v.follow_ups:
            w.labelled(v.timestamp(f.get("at")), f.get("note", ""))
    else:
        w.para(_("No follow-ups yet."), color=MUTED)

    if v.questions:
        w.heading(_("Questions and notes"), 2)
        for group in v.groups():
            if not group.questions:
                continue
            w.heading(group.focus["name"] if group.focus else _("Our own questions"), 3)
            for q in group.questions:
                w.para(q["text"], bold=True, after=2)
                if q.get("note"):
                    w.para(q["note"], indent_mm=5, after=2)
                    if v.note_is_private(q):
                        w.para(v.private_marker(), size=8.5, color=MUTED, indent_mm=5, after=2)
                w.doc.paragraphs[-1].paragraph_format.space_after = Pt(8)
    return w.save()


def activity_table(w: WordDocument, v: PlanView) -> Any:
    _ = v._
    widths = (Mm(62), Mm(34), Mm(26), Mm(24), Mm(24))
    table = w.doc.add_table(rows=1, cols=len(widths))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width  # the table grid (LibreOffice reads this; Word the cell widths below)
    header = table.rows[0]
    _repeat_header_row(header)
    titles = (_("Activity"), _("Competency"), _("Owner"), _("Due"), _("Status"))
    for cell, title, width in zip(header.cells, titles, widths, strict=True):
        cell.width = width
        _shade(cell, HEAD_FILL)
        _cell_text(cell, title, bold=True)
    for a in v.activities:
        cells = table.add_row().cells
        for cell, width in zip(cells, widths, strict=True):
            cell.width = width
        _cell_text(cells[0], a["title"], bold=True)
        if a.get("description"):
            _cell_text(cells[0], a["description"], size=9, first=False)
        details = " · ".join(p for p in (v.kind(a.get("kind")), v.effort(a.get("effort")) if a.get("effort") else "") if p)
        if details:
            _cell_text(cells[0], details, size=8.5, color=MUTED, first=False)
        _cell_text(cells[1], v.competency_name(a.get("competency", "")))
        _cell_text(cells[2], a.get("owner") or "–")
        _cell_text(cells[3], v.date(a.get("due")) or "–")
        _cell_text(cells[4], v.activity_status(a.get("status")))
    w.doc.add_paragraph()
    return table


# ----------------------------------------------------------------------------- the guide


def render_guide(v: PlanView) -> bytes:
    _ = v._
    title = _("Conversation guide")
    w = WordDocument(v, f"{title} – {v.person_name()}")
    w.heading(title, 1)
    coach = v.doc.get("coach")
    subtitle = [v.mode(), v.person_line()]
    if coach:
        subtitle.append(_("Coach: %(name)s", name=coach["name"]))
    subtitle.append(v.situation())
    w.para(" · ".join(p for p in subtitle if p), color=MUTED, after=8)

    def question_block(q: dict[str, Any]) -> None:
        w.para(q["text"], bold=True, after=2).paragraph_format.keep_with_next = True
        note = q.get("note", "")
        if note:
            w.para(note, indent_mm=5, after=0).paragraph_format.keep_with_next = True
            if v.note_is_private(q):
                w.para(v.private_marker(), size=8.5, color=MUTED, indent_mm=5, after=0)
        w.ruled_lines(2 if note else 4)

    for group in v.groups():
        if group.focus is None:
            continue
        f = group.focus
        w.heading(f["name"], 2)
        if f.get("path"):  # a deep framework: where the competency sits
            w.para(v.trail(f), size=8.5, color=MUTED, after=2)
        if f.get("definition"):
            w.para(f["definition"], size=9, color=MUTED)
        if not group.questions:
            w.para(_("No questions for this competency."), color=MUTED)
        for q in group.questions:
            question_block(q)
        w.para(_("Goal"), bold=True, after=0).paragraph_format.keep_with_next = True
        if f.get("goal"):
            w.para(f["goal"], indent_mm=5, after=0)
        w.ruled_lines(2)

    own = next((g for g in v.groups() if g.focus is None and g.questions), None)
    if own is not None:
        w.heading(_("Our own questions"), 2)
        for q in own.questions:
            question_block(q)

    w.heading(_("Agreed activities"), 2)
    w.ruled_lines(8)
    w.labelled(_("Next follow-up"), v.follow_up_date() or "")
    return w.save()


# ----------------------------------------------------------------------------- exporters


class _WordExporter(Exporter):
    media_type = DOCX_MEDIA_TYPE
    extension = "docx"
    domain = "messages"
    render: Callable[[PlanView], bytes]

    def export(self, document: dict, locale: str) -> bytes:
        with localized(locale) as _:
            return type(self).render(PlanView(document, locale, _))


class PlanDocx(_WordExporter):
    id = "plan-docx"
    title = N_("Development plan (Word)")
    subject = "plan"
    render = staticmethod(render_plan)


class GuideDocx(_WordExporter):
    id = "guide-docx"
    title = N_("Conversation guide (Word)")
    subject = "dialogue_guide"
    render = staticmethod(render_guide)


@hookimpl
def kbp_exporters():
    return [PlanDocx(), GuideDocx()]
