"""Read a CASE 1.0 or 1.1 package (CFPackage JSON) and turn it into a KBP framework dict.

:func:`read_package` validates, builds the item tree and maps it to KBP's two levels;
:func:`import_package` returns just the framework dict (what ``kbp_frameworks`` hands the core).

**Validation.** A package is CASE 1.1 when ``CFDocument.caseVersion`` is ``"1.1"``; CASE 1.0 when
it says ``"1.0"`` or shows a 1.0-only field: the document's ``CFPackageURI`` (optional in 1.0) or
a ``CFDocumentURI`` on its items or associations (which 1.1 dropped). A package with neither is
held to 1.1 (``caseVersion`` is optional there). 1.1 packages are validated against the
official CFPackage JSON Schema with format checking (uuid, date-time, …); 1.0 packages get a
structural check (:data:`STRUCTURE`: the objects, fields and types the import relies on). Then the
tree is checked: unique item identifiers, no ``isChildOf`` cycles, at least one item. A problem
raises :class:`CaseImportError` naming the package and the JSON path, e.g.
``broken.json: $.CFAssociations[0].sequenceNumber: 'two' is not of type 'integer'``.

**Repairs** (OpenSALT writes these; each repair is a notice naming the JSON path, see
:attr:`ImportedPackage.notices`): a ``sequenceNumber`` written as a string of digits (``"2"``)
is read as the number; an item without ``fullStatement`` takes its ``abbreviatedStatement``, else
its ``humanCodingScheme``. Associations other than ``isChildOf`` between two competencies of the
package (``isRelatedTo``, ``precedes``, ``exactMatchOf`` …) become related competencies, shown as
links; education levels (``educationLevel``, OpenSALT 1.0's ``educationalLevel``) are kept as the
competency's ``levels``, a filter on the framework page; the notices list what the import
ignores: the other associations (by type) and item types.

**Licensed content.** A package that carries KBP's licensed marker (``kbp-licensed:<id>`` in the
``CFLicense`` its ``CFDocument.licenseURI`` points to, or in the document's notes) or KBP's
``extensions.kbp.licensed`` flag is refused with a message naming the licensed framework; the core
refuses unmarked copies of a licensed framework too (:mod:`core.imports`).

**Tree.** An item's parent is the destination of its ``isChildOf`` association (the document or
another item; matched by identifier, else by URI). Associations whose origin is not an item of the
package are ignored; an item with several parents is placed under the first one in file order; an
item with no (resolvable) parent is placed directly under the document, after the others.
Siblings are ordered by ``sequenceNumber``; siblings without one come after those with one, in the
natural order of ``listEnumeration`` / ``humanCodingScheme`` (``L1.2`` before ``L1.10``), then in
file order.

**Groups and trees.** A KBP framework is groups of competencies, and competencies may sit under
other competencies (``parent``) to any depth:

* a top-level item (child of the document) that has children becomes a **group**; all its
  descendants, depth-first in sibling order (parent before its children), become the group's
  **competencies**, each with its ``parent`` (the item above it, unless that is the group), so the
  depth is kept; an item with items under it is a heading (``selectable`` false, not offered as a
  focus) unless its ``CFItemType`` is ``Competency``;
* top-level items without children become competencies of one extra group named after the
  document, placed where the first of them stands.

**Text** is kept exactly (UTF-8 included): a competency's ``name`` is the item's
``abbreviatedStatement`` when it has one, else its ``fullStatement``; its ``definition`` is the
``fullStatement`` when the name came from ``abbreviatedStatement``, else the item's ``notes``
(where KBP's own CASE exporter puts the definition), else the ``fullStatement``. Groups get their
``description`` the same way (empty when there is nothing beyond the name).

**Codes.** An item's ``humanCodingScheme`` (a standard's code such as ``CCSS.Math.Content.6.RP.A.1``)
is kept as the group's or competency's ``code``, shown next to its name (KBP's own exports keep
theirs in ``extensions.kbp.code``, since their ``humanCodingScheme`` is the KBP id).

**Ids.** The framework id is a slug of the document title (``case-<first 8 hex digits of the
document identifier>`` when the title has no letters or digits). Group and competency ids are the
ids KBP wrote into ``extensions.kbp.id`` (packages exported by KBP), else the item's identifier in
lower case — stable across re-imports, which is what development plans refer to.
"""
from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from core import imports
from core.registry import ContentError

log = logging.getLogger(__name__)

#: gettext domain of imported frameworks: no catalogs, so their text is shown as written
DOMAIN = "case_import"
#: gettext domain of the plugin's own messages about packages (catalogs in ``locales/``, declared
#: with ``kbp_locale_dirs`` like any plugin's): shown in the reader's language
MESSAGES_DOMAIN = "import_case"
MESSAGES = imports.FileMessages(MESSAGES_DOMAIN)
SCHEMA_FILE_NAME = "case-v1p1-cfpackage.schema.json"
#: where the official CASE 1.1 CFPackage schema is looked for when no path is configured
_HERE = Path(__file__).resolve().parent
SCHEMA_CANDIDATES = (
    _HERE / SCHEMA_FILE_NAME,  # shipped with the plugin, if the distribution bundles it
    _HERE.parent.parent.parent / "shared" / "interop" / "case" / SCHEMA_FILE_NAME,  # a development checkout
)
SLUG_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")


class CaseImportError(ContentError):
    """A CASE package that cannot be imported; the message names the package and the JSON path."""


class CaseSetupError(ContentError):
    """The installation cannot import any package (no ``jsonschema``, a configured schema file missing)."""


# ----------------------------------------------------------------------------- schemas

_STR = {"type": "string"}
_ID = {"type": "string", "minLength": 1}
_LINK = {
    "type": "object",
    "required": ["identifier"],
    "properties": {"identifier": _ID, "uri": _STR, "title": _STR},
}
#: the structural check for CASE 1.0 packages (and for 1.1 when the official schema is not available)
STRUCTURE: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2019-09/schema",
    "type": "object",
    "required": ["CFDocument"],
    "properties": {
        "CFDocument": {
            "type": "object",
            "required": ["identifier", "uri", "creator", "title", "lastChangeDateTime"],
            "properties": {
                "identifier": _ID, "uri": _STR, "creator": _STR, "title": _STR, "lastChangeDateTime": _STR,
                "description": _STR, "language": _STR, "version": _STR, "notes": _STR, "licenseURI": _LINK,
                # a link in CASE 1.0; OpenSALT (2017) wrote the bare URI
                "CFPackageURI": {"anyOf": [_LINK, _STR]},
            },
        },
        "CFItems": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["identifier", "fullStatement", "uri", "lastChangeDateTime"],
                "properties": {
                    "identifier": _ID, "fullStatement": _STR, "uri": _STR, "lastChangeDateTime": _STR,
                    "abbreviatedStatement": _STR, "humanCodingScheme": _STR, "listEnumeration": _STR,
                    "notes": _STR, "language": _STR, "CFItemType": _STR, "extensions": {"type": "object"},
                },
            },
        },
        "CFAssociations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["identifier", "associationType", "uri", "originNodeURI", "destinationNodeURI",
                             "lastChangeDateTime"],
                "properties": {
                    "identifier": _ID, "associationType": _STR, "uri": _STR, "lastChangeDateTime": _STR,
                    "sequenceNumber": {"type": "integer"}, "originNodeURI": _LINK, "destinationNodeURI": _LINK,
                },
            },
        },
        "CFDefinitions": {
            "type": "object",
            "properties": {
                "CFLicenses": {
                    "type": "array",
                    "items": {"type": "object", "required": ["identifier"],
                              "properties": {"identifier": _ID, "title": _STR, "licenseText": _STR}},
                },
            },
        },
    },
}

_official_cache: dict[str, dict] = {}


def _jsonschema():
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - depends on the installation
        raise CaseSetupError(MESSAGES.gettext(
            "Importing CASE packages needs the Python package 'jsonschema': %(command)s",
            command="pip install 'jsonschema[format]>=4.20'")) from None
    return jsonschema


def find_official_schema(configured: str | Path | None = None) -> Path | None:
    """The official CASE 1.1 CFPackage schema: ``configured`` (must exist), else a known location."""
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise CaseSetupError(MESSAGES.gettext("CASE schema file %(path)s does not exist (%(setting)s)",
                                                  path=str(path), setting="CASE_SCHEMA_FILE"))
        return path
    return next((p for p in SCHEMA_CANDIDATES if p.is_file()), None)


def _official(path: Path) -> dict:
    key = str(path)
    if key not in _official_cache:
        try:
            _official_cache[key] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CaseSetupError(MESSAGES.gettext("cannot read the CASE schema %(path)s: %(reason)s", path=str(path),
                                                  reason=str(exc))) from None
    return _official_cache[key]


def case_version(package: Any) -> str:
    """``"1.1"`` or ``"1.0"``: which rules a package is held to (see the module docstring)."""
    doc = package.get("CFDocument") if isinstance(package, dict) else None
    if not isinstance(doc, dict):
        return "1.1"
    declared = doc.get("caseVersion")
    if declared == "1.1":
        return "1.1"
    if declared == "1.0" or "CFPackageURI" in doc:
        return "1.0"
    for key in ("CFItems", "CFAssociations"):
        rows = package.get(key)
        if isinstance(rows, list) and any(isinstance(r, dict) and "CFDocumentURI" in r for r in rows):
            return "1.0"
    return "1.1"


def repair(package: Any, label: str) -> list[str]:
    """Apply OpenSALT's known repairs in place; one notice (file, JSON path, what) per repair."""
    notices: list[str] = []
    if not isinstance(package, dict):
        return notices
    for index, assoc in enumerate(package.get("CFAssociations") or []):
        if not isinstance(assoc, dict):
            continue
        seq = assoc.get("sequenceNumber")
        if isinstance(seq, str) and re.fullmatch(r"\s*-?\d+\s*", seq):
            assoc["sequenceNumber"] = int(seq)
            # Translators: %(path)s is a JSON path such as $.CFAssociations[15].sequenceNumber
            notices.append(MESSAGES.gettext("%(file)s: %(path)s: repaired: the number was written as the text "
                                            "'%(text)s'; read as %(number)d", file=label,
                                            path="$.CFAssociations[%d].sequenceNumber" % index, text=seq, number=int(seq)))
    for index, item in enumerate(package.get("CFItems") or []):
        if not isinstance(item, dict) or item.get("fullStatement") not in (None, ""):
            continue  # present (a wrong type is for the validation to report)
        for source in ("abbreviatedStatement", "humanCodingScheme"):
            if not _blank(item.get(source)):
                item["fullStatement"] = item[source]
                # Translators: %(field)s is a CASE field name (abbreviatedStatement or humanCodingScheme), %(text)s its value
                notices.append(MESSAGES.gettext("%(file)s: %(path)s: repaired: missing, taken from %(field)s '%(text)s'",
                                                file=label, path="$.CFItems[%d].fullStatement" % index, field=source,
                                                text=item[source]))
                break
    return notices


def ignored(package: dict, label: str, kept: set[int] = frozenset()) -> list[str]:
    """What the import does not keep, as notices (associations by type, education levels, item types);
    ``kept``: indexes of the associations kept as related competencies."""
    notices: list[str] = []
    kinds: dict[str, int] = {}
    for index, assoc in enumerate(package.get("CFAssociations") or []):
        kind = assoc.get("associationType")
        if kind != "isChildOf" and index not in kept:
            kinds[kind] = kinds.get(kind, 0) + 1
    if kinds:
        listed = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        # Translators: %(listed)s counts the associations by their CASE type, e.g. "3 exactMatchOf, 1 precedes"
        notices.append(MESSAGES.gettext("%(file)s: %(path)s: ignored: associations other than isChildOf that do not "
                                        "link two competencies of the package (%(listed)s)", file=label,
                                        path="$.CFAssociations", listed=listed))
    items = package.get("CFItems") or []
    for key in ("CFItemType",):
        count = sum(1 for i in items if i.get(key))
        if count:
            # Translators: %(field)s is the CASE field CFItemType
            notices.append(MESSAGES.ngettext("%(file)s: %(path)s: ignored: the %(field)s of %(num)d item",
                                             "%(file)s: %(path)s: ignored: the %(field)s of %(num)d items", count,
                                             file=label, path="$.CFItems[*]." + key, field=key))
    return notices


def licensed_marker(package: dict) -> tuple[str, str] | None:
    """(licensed framework id, JSON path) when the package carries KBP's licensed marker or flag."""
    doc = package.get("CFDocument") or {}
    link = doc.get("licenseURI") if isinstance(doc.get("licenseURI"), dict) else {}
    for index, licence in enumerate((package.get("CFDefinitions") or {}).get("CFLicenses") or []):
        if not isinstance(licence, dict):
            continue
        found = imports.find_marker(licence.get("licenseText"), licence.get("title"), licence.get("description"))
        if found:
            return found, f"$.CFDefinitions.CFLicenses[{index}].licenseText"
    found = imports.find_marker(link.get("title"), link.get("uri"), doc.get("notes"))
    if found:
        return found, "$.CFDocument.licenseURI"
    own = (doc.get("extensions") or {}).get("kbp") if isinstance(doc.get("extensions"), dict) else None
    if isinstance(own, dict) and own.get("licensed"):
        return str(own.get("frameworkId") or framework_id(doc)), "$.CFDocument.extensions.kbp.licensed"
    return None


def validate(package: Any, name: str, schema_file: str | Path | None = None) -> str:
    """Raise :class:`CaseImportError` (package name, JSON path, message) unless ``package`` is valid.

    Returns the CASE version it was checked as.
    """
    jsonschema = _jsonschema()
    version = case_version(package)
    official = find_official_schema(schema_file) if version == "1.1" else None
    if official is not None:
        validator_cls = jsonschema.Draft201909Validator
        validator = validator_cls(_official(official), format_checker=validator_cls.FORMAT_CHECKER)
    else:
        if version == "1.1":
            log.warning("CASE 1.1 schema not found: %s checked structurally only (set CASE_SCHEMA_FILE)", name)
        validator = jsonschema.Draft201909Validator(STRUCTURE)
    errors = list(validator.iter_errors(package))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        problem = schema_problem(best)
        if len(errors) > 1:
            raise CaseImportError(MESSAGES.ngettext(
                "%(file)s: %(path)s: %(problem)s (and %(num)d more problem)",
                "%(file)s: %(path)s: %(problem)s (and %(num)d more problems)", len(errors) - 1,
                file=name, path=best.json_path, problem=problem))
        raise CaseImportError(MESSAGES.gettext("%(file)s: %(path)s: %(problem)s", file=name, path=best.json_path,
                                               problem=problem))
    return version


def schema_problem(error) -> str:
    """A JSON Schema error's message (``jsonschema``'s English) as a :class:`~core.imports.FileMessage`
    for the common checks (required, type, format, …); any other stays jsonschema's English text."""
    value = repr(error.instance)
    expected = error.validator_value
    if error.validator == "required" and isinstance(error.instance, dict):
        field = next((f for f in expected if f not in error.instance), None)
        message = MESSAGES.gettext("'%(field)s' is a required property", field=field) if field else None
    elif error.validator == "type":
        types = expected if isinstance(expected, list) else [expected]
        # Translators: %(value)s is the value found, %(type)s a JSON type such as 'integer' or 'string'
        message = MESSAGES.gettext("%(value)s is not of type %(type)s", value=value,
                                   type=", ".join(repr(t) for t in types))
    elif error.validator == "format":
        # Translators: %(format)s is a JSON Schema format such as 'uuid' or 'date-time'
        message = MESSAGES.gettext("%(value)s is not a %(format)s", value=value, format=repr(expected))
    elif error.validator == "minLength" and expected == 1:
        message = MESSAGES.gettext("%(value)s should be non-empty", value=value)
    elif error.validator == "enum":
        message = MESSAGES.gettext("%(value)s is not one of %(choices)s", value=value, choices=repr(expected))
    elif error.validator == "pattern":
        message = MESSAGES.gettext("%(value)s does not match %(pattern)s", value=value, pattern=repr(expected))
    elif error.validator in ("anyOf", "oneOf"):
        message = MESSAGES.gettext("%(value)s is not valid under any of the given schemas", value=value)
    else:
        message = None
    # the English text stays exactly jsonschema's: a version that words it otherwise keeps its own
    return message if message is not None and str(message) == error.message else error.message


def json_reason(reason: str) -> str:
    """The JSON parser's reason (Python's ``json`` module, in English) in the reader's language when known."""
    known = {
        "Expecting value": MESSAGES.gettext("Expecting value"),
        "Expecting ',' delimiter": MESSAGES.gettext("Expecting ',' delimiter"),
        "Expecting ':' delimiter": MESSAGES.gettext("Expecting ':' delimiter"),
        "Expecting property name enclosed in double quotes":
            MESSAGES.gettext("Expecting property name enclosed in double quotes"),
        "Unterminated string starting at": MESSAGES.gettext("Unterminated string starting at"),
        "Invalid control character at": MESSAGES.gettext("Invalid control character at"),
        "Invalid \\escape": MESSAGES.gettext("Invalid \\escape"),
        "Invalid \\uXXXX escape": MESSAGES.gettext("Invalid \\uXXXX escape"),
        "Extra data": MESSAGES.gettext("Extra data"),
        "Illegal trailing comma before end of object": MESSAGES.gettext("Illegal trailing comma before end of object"),
        "Illegal trailing comma before end of array": MESSAGES.gettext("Illegal trailing comma before end of array"),
    }
    return known.get(reason, reason)


# ----------------------------------------------------------------------------- small helpers


def slugify(text: str, limit: int = 60) -> str:
    """A KBP id from any text: ASCII, lower case, ``-`` between words ('' if nothing is left)."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower())
    slug = re.sub(r"[-_]*([-_])[-_]*", r"\1", slug).strip("-_")
    return slug[:limit].strip("-_")


def natural_key(text: str) -> tuple:
    """Sort key that puts ``L1.2`` before ``L1.10``."""
    parts = re.split(r"(\d+)", text or "")
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))


def _unique(candidate: str, taken: set[str]) -> str:
    result, n = candidate, 2
    while result in taken:
        result, n = f"{candidate}-{n}", n + 1
    taken.add(result)
    return result


#: ISO 639-2 codes CASE packages may use, for the languages KBP is likely to meet
_ISO639_2 = {"eng": "en", "swe": "sv", "nor": "nb", "nob": "nb", "nno": "nn", "dan": "da", "fin": "fi",
             "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "spa": "es"}


def source_language(value: Any) -> str:
    """A KBP locale code from a CASE ``language`` (``en-US`` → ``en_US``, ``swe`` → ``sv``); ``en`` when unusable."""
    if not isinstance(value, str) or not value.strip():
        return "en"
    parts = value.strip().replace("-", "_").split("_")
    primary = parts[0].lower()
    primary = _ISO639_2.get(primary, primary)
    if not re.match(r"^[a-z]{2,3}$", primary):
        return "en"
    if len(parts) > 1 and re.match(r"^[A-Za-z]{2}$", parts[1]):
        return f"{primary}_{parts[1].upper()}"
    return primary


def _blank(text: Any) -> bool:
    return not isinstance(text, str) or not text.strip()


# ----------------------------------------------------------------------------- the result


@dataclass
class CaseItem:
    """One CFItem with its place in the tree."""

    identifier: str
    parent: str | None  # identifier of the parent item; None: directly under the document
    position: int  # 1-based among its siblings
    depth: int  # 1: directly under the document
    data: dict
    children: list[str] = field(default_factory=list)


@dataclass
class ImportedPackage:
    name: str
    case_version: str
    document: dict
    items: dict[str, CaseItem]  # identifier -> item, in tree (depth-first) order
    top: list[str]  # identifiers directly under the document, in order
    framework: dict
    #: repairs made and content ignored, one message each (file, JSON path, what)
    notices: list[str] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return max((item.depth for item in self.items.values()), default=0)


# ----------------------------------------------------------------------------- reading


def load_json(source: str | Path | bytes | Mapping, name: str | None = None) -> tuple[Any, str]:
    """(parsed package, display name) from a path, bytes/str of JSON, or an already parsed dict."""
    if isinstance(source, Mapping):
        return source, name or "package"
    if isinstance(source, (bytes, bytearray)):
        raw, label = bytes(source), name or "package"
    elif isinstance(source, str) and source.lstrip().startswith("{"):  # JSON text rather than a path
        raw, label = source.encode("utf-8"), name or "package"
    else:
        path = Path(source)
        label = name or path.name
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CaseImportError(MESSAGES.gettext("%(file)s: cannot read: %(reason)s", file=label,
                                                   reason=str(exc.strerror or exc))) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaseImportError(MESSAGES.gettext("%(file)s: not UTF-8 text (%(reason)s at byte %(byte)d)", file=label,
                                               reason=imports.decoding_reason(exc.reason), byte=exc.start)) from None
    try:
        return json.loads(text), label
    except json.JSONDecodeError as exc:
        raise CaseImportError(MESSAGES.gettext("%(file)s: not valid JSON: %(reason)s (line %(line)d, column %(column)d)",
                                               file=label, reason=json_reason(exc.msg), line=exc.lineno,
                                               column=exc.colno)) from None


def read_package(source: str | Path | bytes | Mapping, name: str | None = None,
                 schema_file: str | Path | None = None) -> ImportedPackage:
    """Validate a CASE package and build its tree and KBP framework; raise :class:`CaseImportError`."""
    package, label = load_json(source, name)
    if isinstance(source, Mapping):
        package = json.loads(json.dumps(package))  # repairs must not change the caller's dict
    notices = repair(package, label)
    version = validate(package, label, schema_file)
    doc = package["CFDocument"]
    marked = licensed_marker(package)
    if marked:
        # a licensed framework's export carries its content; importing it would make an unlicensed copy
        raise CaseImportError(imports.marked_refusal(label, *marked))
    items_in = package.get("CFItems") or []
    if not items_in:
        raise CaseImportError(MESSAGES.gettext("%(file)s: %(path)s: the package has no items, so there is nothing to "
                                               "import", file=label, path="$.CFItems"))

    by_id: dict[str, dict] = {}
    file_index: dict[str, int] = {}
    by_uri: dict[str, str] = {}
    for index, item in enumerate(items_in):
        ident = item["identifier"]
        if ident in by_id:
            raise CaseImportError(MESSAGES.gettext("%(file)s: %(path)s: '%(id)s' is used by another item too",
                                                   file=label, path="$.CFItems[%d].identifier" % index, id=ident))
        by_id[ident] = item
        file_index[ident] = index
        if item.get("uri"):
            by_uri.setdefault(item["uri"], ident)

    DOC = ""  # key of the document in the parent map

    def resolve(link: dict) -> str | None:
        ident, uri = link.get("identifier"), link.get("uri")
        if ident == doc["identifier"] or (uri and uri == doc.get("uri")):
            return DOC
        if ident in by_id:
            return ident
        if uri in by_uri:
            return by_uri[uri]
        return None

    parent_of: dict[str, str] = {}
    order_of: dict[str, tuple] = {}
    for index, assoc in enumerate(package.get("CFAssociations") or []):
        if assoc.get("associationType") != "isChildOf":
            continue
        origin = resolve(assoc["originNodeURI"])
        if origin in (None, DOC) or origin in parent_of:
            continue
        destination = resolve(assoc["destinationNodeURI"])
        if destination is None:
            continue
        if destination == origin:
            raise CaseImportError(MESSAGES.gettext("%(file)s: %(path)s: item '%(id)s' is its own parent", file=label,
                                                   path="$.CFAssociations[%d]" % index, id=origin))
        parent_of[origin] = destination
        seq = assoc.get("sequenceNumber")
        order_of[origin] = (seq is None, seq if seq is not None else 0, index)

    orphan_base = len(package.get("CFAssociations") or [])
    for ident in by_id:
        if ident not in parent_of:  # no parent in this package: under the document, after the others
            parent_of[ident] = DOC
            order_of[ident] = (True, 0, orphan_base + file_index[ident])

    def sort_key(ident: str) -> tuple:
        missing_seq, seq, index = order_of[ident]
        item = by_id[ident]
        code = item.get("listEnumeration") or item.get("humanCodingScheme") or ""
        return (missing_seq, seq, natural_key(code) if missing_seq else (), index)

    children: dict[str, list[str]] = {}
    for ident, parent in parent_of.items():
        children.setdefault(parent, []).append(ident)
    for kids in children.values():
        kids.sort(key=sort_key)

    items: dict[str, CaseItem] = {}

    def walk(parent: str, depth: int) -> None:
        stack = [(parent, depth)]
        while stack:
            node, level = stack.pop()
            kids = children.get(node, [])
            for position, ident in enumerate(kids, start=1):
                items[ident] = CaseItem(ident, None if node == DOC else node, position, level, by_id[ident], list(children.get(ident, [])))
            stack.extend((ident, level + 1) for ident in reversed(kids))

    walk(DOC, 1)
    missing = [ident for ident in by_id if ident not in items]
    if missing:
        index = file_index[missing[0]]
        raise CaseImportError(MESSAGES.ngettext(
            "%(file)s: %(path)s: the isChildOf associations of item '%(id)s' form a cycle (%(num)d item never "
            "reaches the document)",
            "%(file)s: %(path)s: the isChildOf associations of item '%(id)s' form a cycle (%(num)d items never "
            "reach the document)", len(missing), file=label, path="$.CFItems[%d]" % index, id=missing[0]))
    ordered = {ident: items[ident] for ident in _depth_first(children, DOC)}
    index: dict[str, dict] = {}
    framework = to_framework(doc, package, ordered, children.get(DOC, []), label, index)
    kept: set[int] = set()
    for position, assoc in enumerate(package.get("CFAssociations") or []):
        if assoc.get("associationType") == "isChildOf":
            continue
        origin, destination = assoc["originNodeURI"].get("identifier"), assoc["destinationNodeURI"].get("identifier")
        if origin in index and destination in index and origin != destination:
            related = index[origin].setdefault("related", [])
            if index[destination]["id"] not in related:
                related.append(index[destination]["id"])
            kept.add(position)
    notices.extend(ignored(package, label, kept))
    group_levels = sum(1 for ident in children.get(DOC, []) if items[ident].children and _levels(items[ident].data))
    if group_levels:
        notices.append(MESSAGES.ngettext(
            "%(file)s: %(path)s: ignored: the education level of %(num)d top-level item that became a group",
            "%(file)s: %(path)s: ignored: the education level of %(num)d top-level items that became groups",
            group_levels, file=label, path="$.CFItems[*].educationLevel"))
    return ImportedPackage(label, version, doc, ordered, list(children.get(DOC, [])), framework, notices)


def _depth_first(children: dict[str, list[str]], root: str) -> list[str]:
    out: list[str] = []
    stack = list(reversed(children.get(root, [])))
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(children.get(node, [])))
    return out


def _texts(item: dict) -> tuple[str, str]:
    """(name, longer text) of an item, kept exactly; the longer text may be ''."""
    full = item.get("fullStatement") or ""
    short = item.get("abbreviatedStatement")
    if not _blank(short):
        return short, full
    notes = item.get("notes")
    return full, (notes if not _blank(notes) else "")


def _kbp_id(item: dict) -> str | None:
    ext = item.get("extensions")
    own = ext.get("kbp") if isinstance(ext, dict) else None
    ident = own.get("id") if isinstance(own, dict) else None
    return ident if isinstance(ident, str) and SLUG_RE.match(ident) else None


def _code(item: dict) -> str:
    """The item's own code, shown next to its name: ``humanCodingScheme``; for a package KBP wrote
    (where ``humanCodingScheme`` holds the KBP id) the code KBP kept in ``extensions.kbp.code``."""
    ext = item.get("extensions")
    own = ext.get("kbp") if isinstance(ext, dict) else None
    code = own.get("code", "") if isinstance(own, dict) else item.get("humanCodingScheme")
    return code.strip()[:100] if isinstance(code, str) else ""


def _levels(item: dict) -> list[str]:
    """CASE 1.1 ``educationLevel`` (a list), or the single string OpenSALT's 1.0 exports call ``educationalLevel``."""
    raw = item.get("educationLevel", item.get("educationalLevel"))
    values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return list(dict.fromkeys(v.strip()[:40] for v in values if isinstance(v, str) and v.strip()))


def _item_id(item: dict, taken: set[str]) -> str:
    base = _kbp_id(item) or slugify(item["identifier"], limit=80) or "item"
    return _unique(base, taken)


def licence_notice(doc: dict, package: dict) -> str:
    link = doc.get("licenseURI")
    if not isinstance(link, dict):
        return ""
    for licence in ((package.get("CFDefinitions") or {}).get("CFLicenses") or []):
        if isinstance(licence, dict) and licence.get("identifier") == link.get("identifier"):
            if not _blank(licence.get("licenseText")):
                return licence["licenseText"]
    return link.get("title") or ""


def framework_id(doc: dict) -> str:
    return slugify(doc.get("title") or "") or "case-" + slugify(doc["identifier"]).replace("-", "")[:8]


def to_framework(doc: dict, package: dict, items: dict[str, CaseItem], top: list[str], label: str,
                 index: dict[str, dict] | None = None) -> dict:
    """The KBP framework dict for a package tree (see the module docstring for the mapping);
    ``index`` is filled with item identifier -> its competency dict."""
    index = {} if index is None else index
    group_ids: set[str] = set()
    comp_ids: set[str] = set()
    kbp_id: dict[str, str] = {}  # item identifier -> competency id given to it

    def competency(ident: str) -> dict:
        node = items[ident]
        data = node.data
        name, longer = _texts(data)
        if _blank(name):
            name = data.get("humanCodingScheme") or ident
        kbp_id[ident] = _item_id(data, comp_ids)
        # a heading (items under it) is offered as a focus only when the source calls it a competency
        selectable = not node.children or str(data.get("CFItemType") or "").casefold() == "competency"
        index[ident] = {"id": kbp_id[ident], "name": name, "definition": longer if not _blank(longer) else name,
                        "code": _code(data), "parent": kbp_id.get(node.parent or "", ""), "selectable": selectable,
                        "levels": _levels(data)}
        return index[ident]

    tree = {ident: node.children for ident, node in items.items()}

    def descendants(ident: str) -> list[str]:
        return _depth_first(tree, ident)

    groups: list[dict] = []
    loose: dict | None = None
    for ident in top:
        node = items[ident]
        if node.children:
            name, longer = _texts(node.data)
            if _blank(name):
                name = node.data.get("humanCodingScheme") or ident
            groups.append({"id": _item_id(node.data, group_ids), "name": name, "description": longer,
                           "code": _code(node.data), "competencies": [competency(c) for c in descendants(ident)]})
        else:
            if loose is None:
                loose = {"id": "", "name": doc["title"] if not _blank(doc.get("title")) else label,
                         "description": "", "competencies": []}
                groups.append(loose)
            loose["competencies"].append(competency(ident))
    if loose is not None:
        loose["id"] = _unique(slugify(loose["name"]) or "items", group_ids)

    version = doc.get("version")
    if _blank(version):
        version = (doc.get("lastChangeDateTime") or "")[:10] or "1"
    return {
        "id": framework_id(doc),
        "name": doc["title"] if not _blank(doc.get("title")) else label,
        "description": doc.get("description") or "",
        "version": version,
        "source_language": source_language(doc.get("language")),
        "domain": DOMAIN,
        "licence_notice": licence_notice(doc, package),
        "groups": groups,
    }


def import_package(source: str | Path | bytes | Mapping, name: str | None = None,
                   schema_file: str | Path | None = None) -> dict:
    """A CASE package (path, bytes or parsed dict) as a KBP framework dict; :class:`CaseImportError` if invalid."""
    return read_package(source, name, schema_file).framework
