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
one top-level competency per group and the group's competencies under it; descriptions are HTML
(``Description format`` 1): the text HTML-escaped, one ``<p>`` per paragraph, ``<br>`` for a line
break. The licence notice and, in demo mode, a "DEMO" paragraph are added to the framework's
description (Moodle has no other place for them).

**Reading** (:func:`read_moodle_csv`, :func:`import_moodle_csv`) checks the header, the single
framework row, id numbers (present, unique) and parent links (each parent exists, no cycles), and
reports a problem as *file, row, column: reason*. Id numbers and short names are trimmed of
surrounding white space; the delimiter may be a comma (Moodle's default), semicolon, tab or colon. Moodle's tree is then mapped onto KBP's two
levels like a CASE package: a top-level competency with children becomes a group, all its
descendants (depth-first, in file order) its competencies; top-level competencies without
children go into one group named after the framework. HTML descriptions are turned back into
text (``<p>`` → blank line, ``<br>`` → line break, entities decoded, HTML white space collapsed).
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


class MoodleCsvError(ContentError):
    """A Moodle CSV that cannot be imported; the message names the file, row and column."""


# ----------------------------------------------------------------------------- text <-> HTML


def text_to_html(text: str) -> str:
    """Plain text as Moodle HTML: escaped, ``<p>`` per paragraph, ``<br>`` per line break."""
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", (text or "").strip()) if p.strip()]
    return "".join("<p>" + html.escape(p.strip(), quote=False).replace("\n", "<br>") + "</p>" for p in paragraphs)


_BLOCKS = {"p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "table", "pre"}


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """Moodle HTML as plain text (the inverse of :func:`text_to_html` for what it writes)."""
    parser = _TextParser()
    parser.feed(markup or "")
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


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


def framework_rows(document: dict, options: ExportOptions | None = None, notes: Iterable[str] = ()) -> list[list[Any]]:
    """The CSV rows (header first) for a framework document of :func:`core.exports.framework_document`.

    ``notes`` are extra paragraphs for the framework's description (demo marking, licence notice).
    """
    options = options or ExportOptions()
    description = "\n\n".join(p for p in [document.get("description") or "", *notes] if p and p.strip())
    rows: list[list[Any]] = [list(HEADER)]
    rows.append(["", document["id"], document["name"], text_to_html(description), FORMAT_HTML,
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
            rows.append([group_number, comp["id"], comp["name"], text_to_html(comp.get("definition") or ""),
                         FORMAT_HTML, "", "", "", 0, "null", related_field([]), exported, False, ""])
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


def _sniff_delimiter(first_line: str) -> str:
    for delimiter in (",", ";", "\t", ":"):
        if len(next(csv.reader([first_line], delimiter=delimiter), [])) >= COLUMNS:
            return delimiter
    return ","


def read_moodle_csv(data: bytes | str, name: str = "moodle.csv") -> MoodleFramework:
    """Parse and check a Moodle competency-framework CSV; raise :class:`MoodleCsvError` (file, row, column)."""
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MoodleCsvError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    else:
        text = data.lstrip("\ufeff")
    if not text.strip():
        raise MoodleCsvError(f"{name}: the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text.splitlines()[0]))
    try:
        records = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise MoodleCsvError(f"{name}: row {reader.line_num}: not valid CSV: {exc}") from None
    # csv.reader.line_num counts physical lines; report the line a record starts on
    starts, previous = [], 0
    for end, row in records:
        starts.append(previous + 1)
        previous = end
    header = [h.strip() for h in records[0][1]]
    while header and header[-1] == "":
        header.pop()
    if [h.casefold() for h in header] != [h.casefold() for h in HEADER]:
        raise MoodleCsvError(
            f"{name}: row 1: the header must be Moodle's {COLUMNS} columns ({', '.join(HEADER)}); found: {', '.join(header)}"
        )

    framework: dict[str, Any] | None = None
    competencies: dict[str, MoodleCompetency] = {}
    for (_end, raw), row_number in zip(records[1:], starts[1:]):
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) > COLUMNS and any(cell.strip() for cell in raw[COLUMNS:]):
            raise MoodleCsvError(f"{name}: row {row_number}: {len(raw)} columns, expected {COLUMNS}")
        row = (list(raw) + [""] * COLUMNS)[:COLUMNS]

        def problem(column: int, reason: str) -> MoodleCsvError:
            return MoodleCsvError(f"{name}: row {row_number}, column '{HEADER[column]}': {reason}")

        if _truthy(row[IS_FRAMEWORK]):
            if framework is not None:
                raise problem(IS_FRAMEWORK, f"a second framework row (the first is row {framework['row']}); "
                                            "a Moodle CSV holds one framework")
            for column in (IDNUMBER, SHORTNAME):
                if not row[column].strip():
                    raise problem(column, "empty; the framework needs it")
            config = row[SCALE_CONFIGURATION].strip()
            if config:
                try:
                    parsed = json.loads(config)
                except ValueError:
                    raise problem(SCALE_CONFIGURATION, "not valid JSON") from None
                if not isinstance(parsed, list) or not parsed or not isinstance(parsed[0], dict):
                    raise problem(SCALE_CONFIGURATION, 'expected a JSON list such as [{"scaleid":"2"}, …]')
            taxonomies = [t.strip() for t in row[TAXONOMY].split(",") if t.strip()]
            unknown = [t for t in taxonomies if t not in TAXONOMY_TERMS]
            if unknown:
                raise problem(TAXONOMY, f"unknown term '{unknown[0]}' (known: {', '.join(TAXONOMY_TERMS)})")
            framework = {"row": row_number, "idnumber": row[IDNUMBER].strip(), "shortname": row[SHORTNAME].strip(),
                         "description": row[DESCRIPTION], "description_format": row[DESCRIPTION_FORMAT].strip(),
                         "scale_values": row[SCALE_VALUES], "scale_configuration": config, "taxonomies": taxonomies}
            continue
        idnumber, shortname = row[IDNUMBER].strip(), row[SHORTNAME].strip()
        if not idnumber:
            raise problem(IDNUMBER, "empty; every competency needs an id number")
        if not shortname:
            raise problem(SHORTNAME, "empty; every competency needs a short name")
        if idnumber in competencies:
            raise problem(IDNUMBER, f"'{idnumber}' is also the id number of row {competencies[idnumber].row}")
        competencies[idnumber] = MoodleCompetency(
            row=row_number, parent=row[PARENT].strip(), idnumber=idnumber, shortname=shortname,
            description=row[DESCRIPTION], description_format=row[DESCRIPTION_FORMAT].strip(),
            scale_values=row[SCALE_VALUES], scale_configuration=row[SCALE_CONFIGURATION].strip(),
            rule_type=row[RULE_TYPE].strip(), rule_outcome=row[RULE_OUTCOME].strip(),
            rule_config=None if row[RULE_CONFIG].strip() in ("", "null") else row[RULE_CONFIG],
            related=parse_related(row[RELATED].strip()), exported_id=row[EXPORT_ID].strip(),
        )
    if framework is None:
        raise MoodleCsvError(f"{name}: no framework row (a row with 'Is framework' = 1)")

    top: list[str] = []
    for comp in competencies.values():
        if not comp.parent:
            top.append(comp.idnumber)
        elif comp.parent not in competencies:
            raise MoodleCsvError(f"{name}: row {comp.row}, column '{HEADER[PARENT]}': "
                                 f"no competency has the id number '{comp.parent}'")
        else:
            competencies[comp.parent].children.append(comp.idnumber)
    result = MoodleFramework(name=name, competencies=competencies, top=top,
                             **{k: v for k, v in framework.items() if k != "row"})
    reached = set(result.depth_first())
    stuck = [c for c in competencies.values() if c.idnumber not in reached]
    if stuck:
        raise MoodleCsvError(f"{name}: row {stuck[0].row}, column '{HEADER[PARENT]}': the parent links of "
                             f"'{stuck[0].idnumber}' form a cycle and never reach the top level")
    return result


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

    def competency(idnumber: str) -> dict:
        comp = parsed.competencies[idnumber]
        text = comp.text
        return {"id": _unique(slugify(idnumber) or "competency", comp_ids), "name": comp.shortname,
                "definition": text or comp.shortname}

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
        raise MoodleCsvError(f"{parsed.name}: the framework has no competencies")
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
