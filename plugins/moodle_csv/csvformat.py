"""Moodle's competency-framework CSV (the format of ``admin/tool/lpimportcsv``): writing and reading.

The file is UTF-8 CSV with 14 columns, in this order (:data:`HEADER`)::

    Parent id number, Id number, Shortname, Description, Description format, Scale values,
    Scale configuration, Rule type (optional), Rule outcome (optional), Rule config (optional),
    Cross referenced competency id numbers, Exported id (optional), Is framework, Taxonomy

One row is the framework (``Is framework`` = 1): its id number, short name, description, the scale
(``Scale values`` a comma list, ``Scale configuration`` JSON) and the taxonomy (one term per depth,
comma-separated). Every other row is a competency, linked to its parent by ``Parent id number``
(empty: top level). ``Rule config`` is ``null`` when empty; ``Cross referenced competency id
numbers`` is a comma list in which commas inside an id number are written ``%2C``.

**Writing** (:func:`framework_rows`, :func:`write_csv`) follows Moodle's own exporter: fields quoted
the way PHP's ``fputcsv`` quotes them (when they contain a comma, quote, space, tab, backslash or
line break), ``\\n`` line ends, no byte-order mark. A KBP framework becomes the framework row,
one top-level competency per group and the group's competencies under it (or under the competency
they sit under); descriptions are HTML (``Description format`` 1): the text HTML-escaped, one
``<p>`` per paragraph, ``<br>`` for a line break, and white space HTML would collapse written as
character references, so that reading gives the text back exactly (:func:`text_to_html`). The
licence notice and, in demo mode, a "DEMO" paragraph are added to the framework's description
(Moodle has no other place for them).

**Reading** (:func:`read_moodle_csv`, :func:`import_moodle_csv`) takes the file as Moodle writes
it: UTF-8 with or without a byte-order mark (else Windows-1252, with a notice); a comma, semicolon,
tab or colon as delimiter; the header recognised by its names (:data:`KNOWN_HEADERS`: English in the
2016 (:data:`HEADER`) and current (:data:`HEADER_CURRENT`) wording, Swedish, French, German; compared
without case, punctuation or remarks such as "(optional)", so moved columns are found too), or —
for any other language — read by Moodle's column order with a notice, as Moodle's own importer
does. It checks the single framework row, id
numbers (present, unique) and parent links (each parent exists, no cycles), and reports a problem
as *file, row, column: reason*. Id numbers and short names are cleaned as Moodle does: tags
stripped, trimmed, capped at 100 characters (:func:`clean_name`). What KBP does not keep (scales,
rules, cross-references, taxonomies) is listed in the notices. Moodle's tree is mapped like a CASE
package: a top-level competency with children becomes a group, all its descendants (depth-first,
in file order) its competencies, each with its ``parent`` so the depth is kept (a competency with
others under it is a heading, not offered as a focus); top-level competencies without children go
into one group named after the framework. HTML descriptions are turned back into text (``<p>`` →
blank line, ``<br>`` → line break, entities decoded, HTML white space collapsed except what the
writer kept with character references).
"""
from __future__ import annotations

import csv
import html
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Iterable

from core import N_, imports
from core.registry import ContentError

HEADER = (
    "Parent id number",
    "Id number",
    "Shortname",
    "Description",
    "Description format",
    "Scale values",
    "Scale configuration",
    "Rule type (optional)",
    "Rule outcome (optional)",
    "Rule config (optional)",
    "Cross referenced competency id numbers",
    "Exported id (optional)",
    "Is framework",
    "Taxonomy",
)
COLUMNS = len(HEADER)
#: the header as Moodle writes it since its language strings were revised (the column order is the same)
#: (translated in the plugin's catalog to name a column in messages: as the Swedish Moodle writes it)
HEADER_CURRENT = (
    # Translators: a column of Moodle's competency-framework CSV: write each as Moodle's own language pack does
    N_("Parent ID number"),
    N_("ID number"),
    N_("Short name"),
    N_("Description"),
    N_("Description format"),
    N_("Scale values"),
    N_("Scale configuration"),
    N_("Rule type (optional)"),
    N_("Rule outcome (optional)"),
    N_("Rule config (optional)"),
    N_("Cross-referenced competency ID numbers"),
    N_("Exported ID (optional)"),
    N_("Is framework"),
    N_("Taxonomy"),
)
#: the same columns as a Swedish, French and German Moodle writes them (the language packs' strings of
#: ``tool_lpimportcsv``: parentidnumber, idnumber, shortname, … taxonomy), in Moodle's column order
HEADER_SWEDISH = (
    "Överordnat ID-nummer",
    "ID-nummer",
    "Kortnamn",
    "Beskrivning",
    "Beskrivningsformat",
    "Skalvärden",
    "Skalkonfiguration",
    "Regeltyp (valfritt)",
    "Regelutfall (valfritt)",
    "Regelkonfiguration (valfritt)",
    "Korsrefererade kompetensers ID-nummer",
    "Exporterat ID (valfritt)",
    "Är ramverk",
    "Taxonomi",
)
HEADER_FRENCH = (
    "ID de la compétence parente",
    "ID",
    "Nom abrégé",
    "Description",
    "Format de description",
    "Valeurs du barème",
    "Configuration du barème",
    "Type de règle (facultatif)",
    "Résultat de la règle (facultatif)",
    "Configuration de la règle (facultatif)",
    "ID des compétences liées",
    "ID exporté (facultatif)",
    "Est un référentiel",
    "Taxonomie",
)
HEADER_GERMAN = (
    "Übergeordnete ID-Nummer",
    "ID-Nummer",
    "Kurzer Name",
    "Beschreibung",
    "Beschreibungsformat",
    "Skalenwerte",
    "Skalenkonfiguration",
    "Regeltyp (optional)",
    "Regelergebnis (optional)",
    "Regelkonfiguration (optional)",
    "ID-Nummern der querverwiesenen Kompetenzen",
    "Exportierte ID (optional)",
    "Ist Kompetenzrahmen",
    "Taxonomie",
)
#: the header sets recognised by their text (column by column, so a file whose columns were moved is
#: read by their names); any other 14-column header is read by position, as Moodle's own importer
#: does by default, with a notice
KNOWN_HEADERS = {
    "English (Moodle 3.1, 2016)": HEADER,
    "English (current Moodle)": HEADER_CURRENT,
    "Swedish": HEADER_SWEDISH,
    "French": HEADER_FRENCH,
    "German": HEADER_GERMAN,
}
#: Moodle caps id numbers and short names (``shorten_text(…, 100)``)
NAME_LIMIT = 100
(PARENT, IDNUMBER, SHORTNAME, DESCRIPTION, DESCRIPTION_FORMAT, SCALE_VALUES, SCALE_CONFIGURATION, RULE_TYPE,
 RULE_OUTCOME, RULE_CONFIG, RELATED, EXPORT_ID, IS_FRAMEWORK, TAXONOMY) = range(COLUMNS)

#: Moodle's FORMAT_HTML
FORMAT_HTML = "1"
#: Moodle's default competency scale ("Default competence scale"): matched by its values on import
DEFAULT_SCALE_VALUES = "Not yet competent,Competent"
DEFAULT_SCALE_CONFIGURATION = '[{"scaleid":"2"},{"id":2,"scaledefault":1,"proficient":1}]'
#: Moodle's taxonomy terms; KBP's two levels are written as domain (group) and competency
TAXONOMY_TERMS = ("behaviour", "competency", "concept", "domain", "indicator", "level", "outcome", "practice",
                  "proficiency", "skill", "value")
DEFAULT_TAXONOMY = ("domain", "competency")
#: gettext domain of imported frameworks: no catalogs, so their text is shown as written
DOMAIN = "moodle_import"
#: gettext domain of the package's own texts (the exporter's title, the messages about files):
#: catalogs in ``locales/``, declared with ``kbp_locale_dirs`` by the ``moodle_csv`` plugin
MESSAGES_DOMAIN = "moodle_csv"
MESSAGES = imports.FileMessages(MESSAGES_DOMAIN)


def column_name(index: int) -> imports.FileMessage:
    """Moodle's name of a column (:data:`HEADER_CURRENT`), for messages: in the reader's language."""
    return MESSAGES.gettext(HEADER_CURRENT[index])


#: every column's name, for messages
ALL_COLUMNS = tuple(column_name(i) for i in range(COLUMNS))


class MoodleCsvError(ContentError):
    """A Moodle CSV that cannot be imported; the message names the file, row and column."""


# ----------------------------------------------------------------------------- text <-> HTML


#: a paragraph break: two line breaks not followed by a third (so extra blank lines stay in a paragraph)
_PARAGRAPH = re.compile(r"\n\n(?!\n)")
#: white space HTML would collapse, kept through character references and placeholders while parsing
_SPACE, _TAB, _CR, _BR = "\ue000", "\ue001", "\ue002", "\ue003"
_KEPT = {32: _SPACE, 9: _TAB, 13: _CR, 10: _BR}


def _escape_line(line: str) -> str:
    out = []
    for i, ch in enumerate(line):
        if ch == "\t":
            out.append("&#9;")
        elif ch == "\r":
            out.append("&#13;")
        elif ch == " " and (i == 0 or i == len(line) - 1 or line[i - 1] in " \t\r"):
            out.append("&#32;")  # a space HTML would collapse or drop
        else:
            out.append(html.escape(ch, quote=False))
    return "".join(out)


def text_to_html(text: str) -> str:
    """Plain text as Moodle HTML: escaped, ``<p>`` per paragraph, ``<br>`` per line break.

    White space that HTML would collapse (runs of spaces, spaces at a line's ends, tabs, extra
    blank lines) is written as character references / ``<br>``, so :func:`html_to_text` gives the
    text back exactly.
    """
    if not text:
        return ""
    paragraphs = _PARAGRAPH.split(text)
    if len(paragraphs) > 1 and paragraphs[-1] == "":  # trailing blank lines stay line breaks
        paragraphs[-2] += "\n\n"
        paragraphs.pop()
    if len(paragraphs) > 1 and paragraphs[0] == "":
        paragraphs[1] = "\n\n" + paragraphs[1]
        paragraphs.pop(0)
    # a <br> right before </p> shows nothing in HTML (and Moodle's editor writes one): a paragraph
    # that ends with a line break gets a second one
    return "".join("<p>" + "<br>".join(_escape_line(line) for line in paragraph.split("\n"))
                   + ("<br>" if paragraph.endswith("\n") else "") + "</p>" for paragraph in paragraphs)


_BLOCKS = {"p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "table", "pre"}


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.parts.append(_BR)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        self.parts.append(re.sub(r"[ \t\n\r\f]+", " ", data))  # HTML white space only: NBSP stays

    def handle_charref(self, name):
        try:
            code = int(name[1:], 16) if name[:1] in "xX" else int(name)
            self.parts.append(_KEPT.get(code) or chr(code))
        except (ValueError, OverflowError):
            self.parts.append(f"&#{name};")

    def handle_entityref(self, name):
        self.parts.append(html.unescape(f"&{name};"))


def html_to_text(markup: str) -> str:
    """Moodle HTML as plain text (the exact inverse of :func:`text_to_html` for what it writes)."""
    parser = _TextParser()
    parser.feed(markup or "")
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = re.sub(r"[ \t]*" + _BR + r"[ \t]*", _BR, text)
    text = re.sub(_BR + r"(?=\n\n|$)", "", text)  # a <br> that ends a block shows nothing
    text = re.sub(r"\n{3,}", "\n\n", text).strip(" \t\n\r\f")
    for placeholder, char in ((_SPACE, " "), (_TAB, "\t"), (_CR, "\r"), (_BR, "\n")):
        text = text.replace(placeholder, char)
    return text


_TAGS = re.compile(r"<[^>]*>")


def clean_name(text: str) -> str:
    """An id number or short name as Moodle stores it: tags stripped (``PARAM_TEXT``), trimmed,
    capped at 100 characters the way ``shorten_text`` does (cut at a word, ``...`` added)."""
    plain = html.unescape(_TAGS.sub("", text or "")).strip()
    if len(plain) <= NAME_LIMIT:
        return plain
    cut = plain[:NAME_LIMIT - 3]
    if " " in cut.strip():
        cut = cut[:cut.rstrip().rfind(" ")]
    return cut.rstrip() + "..."


def description_text(description: str, description_format: str) -> str:
    if (description_format or FORMAT_HTML).strip() == FORMAT_HTML:
        return html_to_text(description)
    return (description or "").strip()  # FORMAT_MOODLE, FORMAT_PLAIN, FORMAT_MARKDOWN: kept as written


def escape_idnumber(idnumber: str) -> str:
    return idnumber.replace(",", "%2C")


def related_field(idnumbers: Iterable[str]) -> str:
    """The "Cross referenced competency id numbers" cell: commas inside an id number as ``%2C``."""
    return ",".join(escape_idnumber(i) for i in idnumbers)


def parse_related(cell: str) -> list[str]:
    return [part.replace("%2C", ",") for part in (cell or "").split(",") if part != ""]


# ----------------------------------------------------------------------------- writing


def php_csv_field(value: Any) -> str:
    """One cell as PHP's ``fputcsv`` (Moodle's writer) writes it: ``True`` → 1, ``False``/``None`` → ''."""
    if value is True:
        text = "1"
    elif value is False or value is None:
        text = ""
    else:
        text = str(value)
    if any(ch in text for ch in ',"\\\n\r\t '):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_csv(rows: Iterable[Iterable[Any]]) -> bytes:
    return "".join(",".join(php_csv_field(v) for v in row) + "\n" for row in rows).encode("utf-8")


@dataclass
class ExportOptions:
    scale_values: str = DEFAULT_SCALE_VALUES
    scale_configuration: str = DEFAULT_SCALE_CONFIGURATION
    taxonomy: tuple[str, ...] = DEFAULT_TAXONOMY


def framework_rows(document: dict, options: ExportOptions | None = None, notes: Iterable[str] = (),
                   framework_idnumber: str | None = None) -> list[list[Any]]:
    """The CSV rows (header first) for a framework document of :func:`core.exports.framework_document`.

    ``notes`` are extra paragraphs for the framework's description (demo marking, licence notice);
    ``framework_idnumber`` replaces the framework's id as its id number (the licensed marker).
    """
    options = options or ExportOptions()
    description = "\n\n".join(p for p in [document.get("description") or "", *notes] if p and p.strip())
    rows: list[list[Any]] = [list(HEADER)]
    rows.append(["", framework_idnumber or document["id"], document["name"], text_to_html(description), FORMAT_HTML,
                 options.scale_values, options.scale_configuration, "", "", "", "", "", True,
                 ",".join(options.taxonomy)])
    competency_ids = {c["id"] for g in document.get("groups", []) for c in g.get("competencies", [])}
    exported = 0
    for group in document.get("groups", []):
        group_number = group["id"] if group["id"] not in competency_ids else f"group-{group['id']}"
        exported += 1
        rows.append(["", group_number, group["name"], text_to_html(group.get("description") or ""), FORMAT_HTML,
                     "", "", "", 0, "null", related_field([]), exported, False, ""])
        for comp in group.get("competencies", []):
            exported += 1
            rows.append([comp.get("parent") or group_number, comp["id"], comp["name"],
                         text_to_html(comp.get("definition") or ""),
                         FORMAT_HTML, "", "", "", 0, "null", related_field(comp.get("related") or ()), exported, False, ""])
    return rows


# ----------------------------------------------------------------------------- reading


@dataclass
class MoodleCompetency:
    row: int  # 1-based line of the record in the file (the header is row 1)
    parent: str  # parent id number; '' at the top level
    idnumber: str
    shortname: str
    description: str
    description_format: str
    scale_values: str = ""
    scale_configuration: str = ""
    rule_type: str = ""
    rule_outcome: str = ""
    rule_config: str | None = None
    related: list[str] = field(default_factory=list)
    exported_id: str = ""
    children: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return description_text(self.description, self.description_format)


@dataclass
class MoodleFramework:
    name: str  # file name, for messages
    idnumber: str
    shortname: str
    description: str
    description_format: str
    scale_values: str
    scale_configuration: str
    taxonomies: list[str]
    competencies: dict[str, MoodleCompetency]  # id number -> competency, in file order
    top: list[str]  # id numbers of top-level competencies, in file order
    header: str = ""  # which header set the file has (KNOWN_HEADERS) or "by position"
    notices: list[str] = field(default_factory=list)  # what was repaired, read by position or ignored

    @property
    def depth(self) -> int:
        def below(idnumber: str) -> int:
            return 1 + max((below(c) for c in self.competencies[idnumber].children), default=0)
        return max((below(i) for i in self.top), default=0)

    @property
    def text(self) -> str:
        return description_text(self.description, self.description_format)

    def depth_first(self, idnumber: str | None = None) -> list[str]:
        """Id numbers below ``idnumber`` (None: the whole tree), parents before children, in file order."""
        out: list[str] = []
        stack = list(reversed(self.top if idnumber is None else self.competencies[idnumber].children))
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(self.competencies[node].children))
        return out


def _truthy(cell: str) -> bool:
    """PHP's truthiness for a CSV cell: '' and '0' are false."""
    return cell.strip() not in ("", "0")


DELIMITERS = (",", ";", "\t", ":")
_DELIMITER_NAMES = {",": MESSAGES.gettext("comma"), ";": MESSAGES.gettext("semicolon"), "\t": MESSAGES.gettext("tab"),
                    ":": MESSAGES.gettext("colon")}


def _sniff_delimiter(first_line: str) -> str:
    """The delimiter that splits the header into Moodle's 14 columns (most columns otherwise)."""
    counts = {d: len(next(csv.reader([first_line], delimiter=d), [])) for d in DELIMITERS}
    exact = [d for d in DELIMITERS if counts[d] == COLUMNS]
    if exact:
        return exact[0]
    return max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))


def decode(data: bytes, name: str) -> tuple[str, list[str]]:
    """(text, notices): UTF-8 with or without a byte-order mark; else Windows-1252, with a notice."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise MoodleCsvError(MESSAGES.gettext(
                "%(file)s: not UTF-8 text (%(reason)s at byte %(byte)d) and not Windows-1252 either; save the file "
                "as UTF-8", file=name, reason=imports.decoding_reason(exc.reason), byte=exc.start)) from None
        return text, [MESSAGES.gettext("%(file)s: not UTF-8 (byte %(byte)d); read as Windows-1252 — check accented "
                                       "letters, or save the file as UTF-8", file=name, byte=exc.start)]


def header_key(text: str) -> str:
    """A column name as compared: case-folded, without a parenthesised remark such as "(optional)",
    letters and digits only (so "Cross-referenced competency ID numbers" and "Cross referenced
    competency id numbers" are one name, and a language pack that drops "(valfritt)" still matches)."""
    text = re.sub(r"\([^)]*\)", " ", unicodedata.normalize("NFKC", text or "")).casefold()
    return " ".join(re.findall(r"\w+", text))


#: column name (:func:`header_key`) -> Moodle's column, for every known header set
_COLUMN_NAMES: dict[str, int] = {header_key(n): c for names in KNOWN_HEADERS.values() for c, n in enumerate(names)}
assert all(_COLUMN_NAMES[header_key(n)] == c for names in KNOWN_HEADERS.values() for c, n in enumerate(names)), \
    "a column name of one language is another column's name in another"


@dataclass
class HeaderMatch:
    """How a file's header was read: ``label`` (the :data:`KNOWN_HEADERS` key most of its names come
    from, or "by position"), and ``columns``: for each of
    Moodle's 14 columns, the file's column that holds it."""

    label: str
    columns: list[int]
    notices: list[str]


def _best_set(keys: list[str]) -> str:
    """The known header set most of ``keys`` come from (the first of equals)."""
    sets = {label: {header_key(n) for n in names} for label, names in KNOWN_HEADERS.items()}
    return max(sets, key=lambda label: (sum(k in sets[label] for k in keys), -list(sets).index(label)))


def recognise_header(header: list[str], name: str) -> HeaderMatch:
    """How to read a file with ``header``; a MoodleCsvError when the file cannot be a Moodle framework CSV.

    Every cell a known column name (:data:`KNOWN_HEADERS`, any language, compared by :func:`header_key`)
    and every column once: read by name, in whatever order. Otherwise 14 columns: read by Moodle's
    column order, with a notice naming the cells not recognised. Anything else is refused.
    """
    keys = [header_key(cell) for cell in header]
    found = [_COLUMN_NAMES.get(k) for k in keys]
    if found and all(c is not None for c in found):
        columns: dict[int, int] = {}
        for position, column in enumerate(found):
            if column in columns:
                # Translators: %(first)d and %(second)d are column numbers, %(first_name)s and %(second_name)s
                # the file's own names for them, %(column)s Moodle's name of the column
                raise MoodleCsvError(MESSAGES.gettext(
                    "%(file)s: row 1: the columns %(first)d (%(first_name)s) and %(second)d (%(second_name)s) are both "
                    "'%(column)s'; keep one of them", file=name, first=columns[column] + 1,
                    first_name=header[columns[column]], second=position + 1, second_name=header[position],
                    column=column_name(column)))
            columns[column] = position
        missing = [c for c in range(COLUMNS) if c not in columns]
        if missing:
            # Translators: %(missing)s lists the missing columns, %(columns)s all of Moodle's columns
            raise MoodleCsvError(MESSAGES.gettext(
                "%(file)s: row 1: the header lacks Moodle's column(s) %(missing)s; a Moodle framework CSV has all "
                "%(count)d: %(columns)s", file=name, missing=[column_name(c) for c in missing], count=COLUMNS,
                columns=ALL_COLUMNS))
        order = [columns[c] for c in range(COLUMNS)]
        notices = [] if order == list(range(COLUMNS)) else [
            MESSAGES.gettext("%(file)s: row 1: the columns are not in Moodle's order; read by their names", file=name)]
        return HeaderMatch(_best_set(keys), order, notices)
    if len(header) == COLUMNS:
        unknown = [f"{i + 1} ({cell})" for i, cell in enumerate(header) if header_key(cell) not in _COLUMN_NAMES]
        # Translators: %(unknown)s lists up to three columns as "number (name)"; %(columns)s Moodle's columns
        return HeaderMatch("by position", list(range(COLUMNS)), [MESSAGES.gettext(
            "%(file)s: row 1: header not recognised (column %(unknown)s); read by Moodle's column order "
            "(%(columns)s), as Moodle's own importer does", file=name,
            unknown=", ".join(unknown[:3]) + (", …" if len(unknown) > 3 else ""), columns=ALL_COLUMNS)])
    # Translators: %(found)s lists the file's own column names
    raise MoodleCsvError(MESSAGES.gettext(
        "%(file)s: row 1: the header must be Moodle's %(count)d columns (%(columns)s; in any language); found "
        "%(found_count)d: %(found)s", file=name, count=COLUMNS, columns=ALL_COLUMNS, found_count=len(header),
        found=", ".join(header)))


def read_moodle_csv(data: bytes | str, name: str = "moodle.csv") -> MoodleFramework:
    """Parse and check a Moodle competency-framework CSV; raise :class:`MoodleCsvError` (file, row, column).

    Accepts the file as Moodle writes it: UTF-8 with or without a byte-order mark (Windows-1252 with
    a notice), a comma, semicolon, tab or colon as delimiter, the header in English (2016 or current
    wording), Swedish, French or German (read by the column names) or — read by position, with a
    notice — in any other language. Short names and id
    numbers are cleaned as Moodle does (:func:`clean_name`). Notices are in ``.notices``.
    """
    notices: list[str] = []
    if isinstance(data, (bytes, bytearray)):
        text, notices = decode(bytes(data), name)
    else:
        text = data.lstrip("\ufeff")
    if not text.strip():
        raise MoodleCsvError(MESSAGES.gettext("%(file)s: the file is empty", file=name))
    delimiter = _sniff_delimiter(text.splitlines()[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        records = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        # Translators: %(reason)s is Python's CSV reader's reason, in English
        raise MoodleCsvError(MESSAGES.gettext("%(file)s: row %(row)d: not valid CSV: %(reason)s", file=name,
                                              row=reader.line_num, reason=str(exc))) from None
    # csv.reader.line_num counts physical lines; report the line a record starts on
    starts, previous = [], 0
    for end, row in records:
        starts.append(previous + 1)
        previous = end
    header = [h.strip() for h in records[0][1]]
    while header and header[-1] == "":
        header.pop()
    match = recognise_header(header, name)
    notices.extend(match.notices)
    if delimiter != ",":
        notices.append(MESSAGES.gettext("%(file)s: the delimiter is a %(delimiter)s", file=name,
                                        delimiter=_DELIMITER_NAMES[delimiter]))

    framework: dict[str, Any] | None = None
    competencies: dict[str, MoodleCompetency] = {}
    for (_end, raw), row_number in zip(records[1:], starts[1:]):
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) > COLUMNS and any(cell.strip() for cell in raw[COLUMNS:]):
            raise MoodleCsvError(MESSAGES.gettext("%(file)s: row %(row)d: %(found)d columns, expected %(count)d",
                                                  file=name, row=row_number, found=len(raw), count=COLUMNS))
        padded = list(raw) + [""] * max(0, len(header) - len(raw))
        row = [padded[i] if i < len(padded) else "" for i in match.columns]

        def problem(index: int, reason: str) -> MoodleCsvError:
            # Translators: %(column)s is Moodle's name of the column, %(reason)s what is wrong with the cell
            return MoodleCsvError(MESSAGES.gettext("%(file)s: row %(row)d, column '%(column)s': %(reason)s", file=name,
                                                   row=row_number, column=column_name(index), reason=reason))

        def cleaned(row: list[str], index: int) -> str:
            value = clean_name(row[index])
            if value != row[index].strip():
                what = [MESSAGES.gettext("HTML removed")] if _TAGS.search(row[index]) else []
                if len(html.unescape(_TAGS.sub("", row[index])).strip()) > NAME_LIMIT:
                    what.append(MESSAGES.gettext("shortened to %(count)d characters", count=NAME_LIMIT))
                if what:
                    # Translators: %(what)s is "HTML removed" and/or "shortened to 100 characters"
                    notices.append(MESSAGES.gettext("%(file)s: row %(row)d, column '%(column)s': %(what)s, as Moodle does",
                                                    file=name, row=row_number, column=column_name(index), what=what))
            return value

        if _truthy(row[IS_FRAMEWORK]):
            if framework is not None:
                raise problem(IS_FRAMEWORK, MESSAGES.gettext("a second framework row (the first is row %(row)d); "
                                                             "a Moodle CSV holds one framework", row=framework["row"]))
            for index in (IDNUMBER, SHORTNAME):
                if not row[index].strip():
                    raise problem(index, MESSAGES.gettext("empty; the framework needs it"))
            config = row[SCALE_CONFIGURATION].strip()
            if config:
                try:
                    parsed = json.loads(config)
                except ValueError:
                    raise problem(SCALE_CONFIGURATION, MESSAGES.gettext("not valid JSON")) from None
                if not isinstance(parsed, list) or not parsed or not isinstance(parsed[0], dict):
                    raise problem(SCALE_CONFIGURATION, MESSAGES.gettext("expected a JSON list such as %(example)s",
                                                                        example='[{"scaleid":"2"}, …]'))
            taxonomies = [t.strip() for t in row[TAXONOMY].split(",") if t.strip()]
            unknown = [t for t in taxonomies if t not in TAXONOMY_TERMS]
            if unknown:
                raise problem(TAXONOMY, MESSAGES.gettext("unknown term '%(term)s' (known: %(known)s)", term=unknown[0],
                                                         known=", ".join(TAXONOMY_TERMS)))
            framework = {"row": row_number, "idnumber": cleaned(row, IDNUMBER), "shortname": cleaned(row, SHORTNAME),
                         "description": row[DESCRIPTION], "description_format": row[DESCRIPTION_FORMAT].strip(),
                         "scale_values": row[SCALE_VALUES], "scale_configuration": config, "taxonomies": taxonomies}
            continue
        idnumber, shortname = cleaned(row, IDNUMBER), cleaned(row, SHORTNAME)
        if not idnumber:
            raise problem(IDNUMBER, MESSAGES.gettext("empty; every competency needs an id number"))
        if not shortname:
            raise problem(SHORTNAME, MESSAGES.gettext("empty; every competency needs a short name"))
        if idnumber in competencies:
            raise problem(IDNUMBER, MESSAGES.gettext("'%(id)s' is also the id number of row %(row)d", id=idnumber,
                                                     row=competencies[idnumber].row))
        competencies[idnumber] = MoodleCompetency(
            row=row_number, parent=row[PARENT].strip(), idnumber=idnumber, shortname=shortname,
            description=row[DESCRIPTION], description_format=row[DESCRIPTION_FORMAT].strip(),
            scale_values=row[SCALE_VALUES], scale_configuration=row[SCALE_CONFIGURATION].strip(),
            rule_type=row[RULE_TYPE].strip(), rule_outcome=row[RULE_OUTCOME].strip(),
            rule_config=None if row[RULE_CONFIG].strip() in ("", "null") else row[RULE_CONFIG],
            related=parse_related(row[RELATED].strip()), exported_id=row[EXPORT_ID].strip(),
        )
    if framework is None:
        raise MoodleCsvError(MESSAGES.gettext("%(file)s: no framework row (a row with '%(column)s' = 1)", file=name,
                                              column=column_name(IS_FRAMEWORK)))

    top: list[str] = []
    for comp in competencies.values():
        if not comp.parent:
            top.append(comp.idnumber)
        elif comp.parent not in competencies:
            raise MoodleCsvError(MESSAGES.gettext("%(file)s: row %(row)d, column '%(column)s': no competency has the "
                                                  "id number '%(id)s'", file=name, row=comp.row, column=column_name(PARENT),
                                                  id=comp.parent))
        else:
            competencies[comp.parent].children.append(comp.idnumber)
    result = MoodleFramework(name=name, competencies=competencies, top=top, header=match.label, notices=notices,
                             **{k: v for k, v in framework.items() if k != "row"})
    reached = set(result.depth_first())
    stuck = [c for c in competencies.values() if c.idnumber not in reached]
    if stuck:
        raise MoodleCsvError(MESSAGES.gettext("%(file)s: row %(row)d, column '%(column)s': the parent links of '%(id)s' "
                                              "form a cycle and never reach the top level", file=name,
                                              row=stuck[0].row, column=column_name(PARENT), id=stuck[0].idnumber))
    marked = imports.find_marker(result.idnumber)
    where = MESSAGES.gettext("row %(row)d, column '%(column)s'", row=framework["row"], column=column_name(IDNUMBER))
    if not marked:
        marked = imports.find_marker(result.description)
        where = MESSAGES.gettext("row %(row)d, column '%(column)s'", row=framework["row"], column=column_name(DESCRIPTION))
    if marked:
        raise MoodleCsvError(imports.marked_refusal(name, marked, where))
    result.notices.extend(ignored(result))
    return result


def ignored(parsed: MoodleFramework) -> list[str]:
    """What the import does not keep (scales, rules, cross-references, taxonomies), as notices."""
    comps = list(parsed.competencies.values())
    scales = sum(1 for c in comps if c.scale_values.strip())
    rules = sum(1 for c in comps if c.rule_type)
    outside = sum(1 for c in comps for r in c.related if r not in parsed.competencies
                  or (not parsed.competencies[r].parent and parsed.competencies[r].children))
    found = [MESSAGES.gettext("the framework's scale")] if parsed.scale_values.strip() else []
    if scales:
        found.append(MESSAGES.gettext("competency scales (%(num)d)", num=scales))
    if rules:
        found.append(MESSAGES.gettext("completion rules (%(num)d)", num=rules))
    if outside:
        found.append(MESSAGES.gettext("cross-references to group rows or outside the file (%(num)d)", num=outside))
    if parsed.taxonomies:
        found.append(MESSAGES.gettext("taxonomy terms (%(num)d)", num=len(parsed.taxonomies)))
    # Translators: %(what)s lists what the import leaves out, e.g. "the framework's scale, taxonomy terms (4)"
    return [MESSAGES.gettext("%(file)s: ignored: %(what)s", file=parsed.name, what=found)] if found else []


# ----------------------------------------------------------------------------- to a KBP framework


def slugify(text: str, limit: int = 60) -> str:
    """A KBP id from any text: ASCII, lower case, ``-`` between words ('' if nothing is left)."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower())
    slug = re.sub(r"[-_]*([-_])[-_]*", r"\1", slug).strip("-_")
    return slug[:limit].strip("-_")


def _unique(candidate: str, taken: set[str]) -> str:
    result, n = candidate, 2
    while result in taken:
        result, n = f"{candidate}-{n}", n + 1
    taken.add(result)
    return result


def to_framework(parsed: MoodleFramework, source_language: str = "en") -> dict:
    """The KBP framework dict for a parsed Moodle CSV (see the module docstring for the mapping)."""
    group_ids: set[str] = set()
    comp_ids: set[str] = set()
    kbp_id: dict[str, str] = {}  # id number -> competency id given to it
    made: dict[str, dict] = {}  # id number -> its competency dict

    def competency(idnumber: str) -> dict:
        comp = parsed.competencies[idnumber]
        text = comp.text
        kbp_id[idnumber] = _unique(slugify(idnumber) or "competency", comp_ids)
        # a competency with others under it is a heading: not offered as a focus
        made[idnumber] = {"id": kbp_id[idnumber], "name": comp.shortname, "definition": text or comp.shortname,
                          "parent": kbp_id.get(comp.parent, ""), "selectable": not comp.children}
        return made[idnumber]

    groups: list[dict] = []
    loose: dict | None = None
    for idnumber in parsed.top:
        comp = parsed.competencies[idnumber]
        if comp.children:
            groups.append({"id": _unique(slugify(idnumber) or "group", group_ids), "name": comp.shortname,
                           "description": comp.text,
                           "competencies": [competency(i) for i in parsed.depth_first(idnumber)]})
        else:
            if loose is None:
                loose = {"id": "", "name": parsed.shortname, "description": "", "competencies": []}
                groups.append(loose)
            loose["competencies"].append(competency(idnumber))
    if loose is not None:
        loose["id"] = _unique(slugify(parsed.shortname) or "competencies", group_ids)
    if not groups:
        raise MoodleCsvError(MESSAGES.gettext("%(file)s: the framework has no competencies", file=parsed.name))
    for idnumber, comp in made.items():  # cross-references between competencies: related, shown as links
        related = [made[r]["id"] for r in parsed.competencies[idnumber].related if r in made and r != idnumber]
        if related:
            comp["related"] = list(dict.fromkeys(related))
    return {
        "id": slugify(parsed.idnumber) or slugify(parsed.shortname) or "moodle-framework",
        "name": parsed.shortname,
        "description": parsed.text,
        "version": "1",
        "source_language": source_language,
        "domain": DOMAIN,
        "groups": groups,
    }


def import_moodle_csv(data: bytes | str, name: str = "moodle.csv", source_language: str = "en") -> dict:
    """A Moodle competency-framework CSV as one KBP framework dict; :class:`MoodleCsvError` if invalid."""
    return to_framework(read_moodle_csv(data, name), source_language)
