"""marshmallow schemas: plugin content in, API documents out.

Input schemas (``*Schema``) validate what plugins hand to the core and build the dataclasses of
:mod:`core.model`. Output schemas (``*Out``) describe the REST API; flask-smorest turns them into
the OpenAPI document. Names are unique on purpose: apispec keys components by class name.
"""
from __future__ import annotations

import json
import re
import weakref
from typing import Any, Iterable

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from core import model
from core.i18n import gettext as _

slug = validate.Regexp(model.SLUG_PATTERN, error="Must be a lower-case ASCII slug such as 'my-id'.")
global_id = validate.Regexp(
    r"^[a-z0-9]+(?:[-_][a-z0-9]+)*:[a-z0-9]+(?:[-_][a-z0-9]+)*$",
    error="Must be a global competency id 'framework:competency'.",
)
locale_code = validate.Regexp(r"^[a-z]{2,3}(?:_[A-Z]{2})?$", error="Must be a locale code such as 'sv' or 'en'.")
NonEmpty = validate.Length(min=1)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


# --------------------------------------------------------------------------- content in


class CompetencySchema(_Strict):
    id = fields.String(required=True, validate=slug)
    name = fields.String(required=True, validate=NonEmpty)
    definition = fields.String(required=True, validate=NonEmpty)
    #: the source's own code (CASE humanCodingScheme), shown next to the name; not translated
    code = fields.String(load_default="", validate=validate.Length(max=100))
    #: deeper trees: the id of an earlier competency of the same group this one sits under
    parent = fields.String(load_default="")
    #: False: a heading, shown in the tree but not offered as a focus competency
    selectable = fields.Boolean(load_default=True)
    #: ids of related competencies of the same framework, shown as links
    related = fields.List(fields.String(), load_default=list)
    #: education levels (CASE educationLevel), offered as a filter on the framework page
    levels = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list)
    indicators = fields.List(fields.String(validate=NonEmpty), load_default=list)
    overdone = fields.List(fields.String(validate=NonEmpty), load_default=list)


class GroupSchema(_Strict):
    id = fields.String(required=True, validate=slug)
    name = fields.String(required=True, validate=NonEmpty)
    description = fields.String(load_default="")
    competencies = fields.List(fields.Nested(CompetencySchema), required=True, validate=NonEmpty)
    code = fields.String(load_default="", validate=validate.Length(max=100))


class LicenceRequirementSchema(_Strict):
    product = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"))
    keys_file = fields.String(required=True, validate=NonEmpty)
    demo_licence_file = fields.String(load_default="")


def _depths(competencies: list[dict]) -> dict[str, int]:
    """Competency id -> depth in its group (1 = directly in the group); parents come first."""
    depth: dict[str, int] = {}
    for comp in competencies:
        depth[comp["id"]] = depth.get(comp["parent"], 0) + 1 if comp.get("parent") else 1
    return depth


class FrameworkSchema(_Strict):
    id = fields.String(required=True, validate=slug)
    name = fields.String(required=True, validate=NonEmpty)
    description = fields.String(load_default="")
    version = fields.String(load_default="1")
    source_language = fields.String(required=True, validate=locale_code)
    domain = fields.String(required=True, validate=slug)
    licence_notice = fields.String(load_default="")
    licence = fields.Nested(LicenceRequirementSchema, load_default=None, allow_none=True)
    groups = fields.List(fields.Nested(GroupSchema), required=True, validate=NonEmpty)

    @validates_schema
    def _unique_ids(self, data, **kwargs):
        seen: set[str] = set()
        groups: set[str] = set()
        for group in data.get("groups", []):
            if group["id"] in groups:
                raise ValidationError(f"Group id '{group['id']}' appears twice.", "groups")
            groups.add(group["id"])
            in_group: set[str] = set()
            for comp in group["competencies"]:
                if comp["id"] in seen:
                    raise ValidationError(f"Competency id '{comp['id']}' appears twice.", "groups")
                if comp.get("parent") and comp["parent"] not in in_group:
                    raise ValidationError(f"Competency '{comp['id']}': its parent '{comp['parent']}' must be an "
                                          f"earlier competency of group '{group['id']}'.", "groups")
                seen.add(comp["id"])
                in_group.add(comp["id"])
        for group in data.get("groups", []):
            for comp in group["competencies"]:
                unknown = [r for r in comp.get("related", ()) if r not in seen]
                if unknown:
                    raise ValidationError(f"Competency '{comp['id']}': related '{unknown[0]}' is not a competency "
                                          "of this framework.", "groups")

    @post_load
    def _make(self, data, **kwargs) -> model.Framework:
        text = model.TextDomain(data["domain"], data["source_language"])
        depths = {g["id"]: _depths(g["competencies"]) for g in data["groups"]}
        groups = tuple(
            model.Group(
                id=g["id"],
                name=g["name"],
                description=g["description"],
                code=g["code"],
                competencies=tuple(
                    model.Competency(
                        id=c["id"],
                        framework_id=data["id"],
                        group_id=g["id"],
                        name=c["name"],
                        definition=c["definition"],
                        text=text,
                        code=c["code"],
                        parent=c["parent"],
                        selectable=c["selectable"],
                        depth=depths[g["id"]][c["id"]],
                        related=tuple(c["related"]),
                        levels=tuple(c["levels"]),
                        indicators=tuple(c.get("indicators", ())),
                        overdone=tuple(c.get("overdone", ())),
                    )
                    for c in g["competencies"]
                ),
            )
            for g in data["groups"]
        )
        return model.Framework(
            id=data["id"],
            name=data["name"],
            description=data["description"],
            version=data["version"],
            text=text,
            groups=groups,
            licence_notice=data["licence_notice"],
            licence=model.LicenceRequirement(**data["licence"]) if data["licence"] else None,
        )


class QuestionSchema(_Strict):
    id = fields.String(required=True, validate=slug)
    competency = fields.String(required=True, validate=global_id)
    text = fields.String(required=True, validate=NonEmpty)
    direction = fields.String(load_default="", validate=validate.OneOf(
        ("",) + model.QUESTION_DIRECTIONS, error=f"Must be one of: {', '.join(model.QUESTION_DIRECTIONS)} (or left out)."))
    situations = fields.List(fields.String(validate=validate.OneOf(model.SITUATIONS)), load_default=list)
    probes = fields.List(fields.String(validate=NonEmpty), load_default=list)


class QuestionSetSchema(_Strict):
    id = fields.String(required=True, validate=slug)
    title = fields.String(required=True, validate=NonEmpty)
    kind = fields.String(required=True, validate=validate.OneOf(model.QUESTION_KINDS))
    source_language = fields.String(required=True, validate=locale_code)
    domain = fields.String(required=True, validate=slug)
    questions = fields.List(fields.Nested(QuestionSchema), required=True)

    @validates_schema
    def _unique_ids(self, data, **kwargs):
        ids = [q["id"] for q in data.get("questions", [])]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValidationError(f"Question ids appear twice: {', '.join(dupes)}.", "questions")

    @post_load
    def _make(self, data, **kwargs) -> model.QuestionSet:
        return model.QuestionSet(
            id=data["id"],
            title=data["title"],
            kind=data["kind"],
            text=model.TextDomain(data["domain"], data["source_language"]),
            questions=tuple(
                model.Question(
                    id=q["id"],
                    competency=q["competency"],
                    kind=data["kind"],
                    text=q["text"],
                    direction=q["direction"],
                    situations=tuple(q["situations"]),
                    probes=tuple(q["probes"]),
                )
                for q in data["questions"]
            ),
        )


class ActivitySchema(_Strict):
    id = fields.String(required=True, validate=slug)
    competencies = fields.List(fields.String(validate=global_id), required=True, validate=NonEmpty)
    title = fields.String(required=True, validate=NonEmpty)
    description = fields.String(required=True, validate=NonEmpty)
    kind = fields.String(required=True, validate=validate.OneOf(model.ACTIVITY_KINDS))
    effort = fields.String(required=True, validate=validate.OneOf(model.EFFORTS))
    situations = fields.List(fields.String(validate=validate.OneOf(model.SITUATIONS)), load_default=list)
    provider = fields.String(load_default="")
    url = fields.String(load_default="", validate=validate.Regexp(
        r"^(?:$|https?://[^\s/$.?#][^\s]*$)", error="Must be empty or a link starting with http:// or https://."))
    extra = fields.Dict(load_default=dict)


class ActivitySourceMetaSchema(_Strict):
    id = fields.String(required=True, validate=slug)
    title = fields.String(required=True, validate=NonEmpty)
    domain = fields.String(required=True, validate=slug)
    source_language = fields.String(required=True, validate=locale_code)
    writable = fields.Boolean(required=True)


class ExporterMetaSchema(_Strict):
    id = fields.String(required=True, validate=slug)
    title = fields.String(required=True, validate=NonEmpty)
    subject = fields.String(required=True, validate=validate.OneOf(model.EXPORT_SUBJECTS))
    media_type = fields.String(required=True, validate=validate.Regexp(r"^[\w.+-]+/[\w.+-]+$"))
    extension = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9]+$"))
    domain = fields.String(required=True, validate=slug)
    source_language = fields.String(load_default="en", validate=locale_code)


class LocaleDirSchema(_Strict):
    domain = fields.String(required=True, validate=slug)
    path = fields.String(required=True, validate=NonEmpty)
    source_language = fields.String(load_default="en", validate=locale_code)


_SLUG_RE = re.compile(model.SLUG_PATTERN)
_GLOBAL_ID_RE = re.compile(global_id.regex.pattern)
_URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$")


def _activity_field_problems(item: model.Activity) -> list[tuple[str, str]]:
    """``(field, message)`` for every problem of an :class:`core.model.Activity` — the checks of
    :class:`ActivitySchema`, kept cheap enough to run on every request."""
    problems = []
    if not isinstance(item.id, str) or not _SLUG_RE.match(item.id):
        problems.append(("id", "must be a lower-case ASCII slug such as 'my-id'"))
    if not item.competencies or isinstance(item.competencies, str) or not all(
        isinstance(c, str) and _GLOBAL_ID_RE.match(c) for c in item.competencies
    ):
        problems.append(("competencies", "must be a non-empty list of global ids 'framework:competency'"))
    for attr in ("title", "description"):
        own = [t.get(attr) for t in (item.translations or {}).values() if isinstance(t, dict)]
        if not (isinstance(getattr(item, attr), str) and getattr(item, attr)) and not any(own):
            problems.append((attr, "must not be empty"))
    if item.kind not in model.ACTIVITY_KINDS:
        problems.append(("kind", f"{item.kind!r} is not one of {', '.join(model.ACTIVITY_KINDS)}"))
    if item.effort not in model.EFFORTS:
        problems.append(("effort", f"{item.effort!r} is not one of {', '.join(model.EFFORTS)}"))
    if isinstance(item.situations, str) or any(s not in model.SITUATIONS for s in item.situations):
        problems.append(("situations", f"must be a list of {', '.join(model.SITUATIONS)}"))
    if item.url and not (isinstance(item.url, str) and _URL_RE.match(item.url)):
        problems.append(("url", "must start with http:// or https://"))
    for locale, text in (item.translations or {}).items():
        if not isinstance(text, dict) or set(text) - {"title", "description"}:
            problems.append((f"translations.{locale}", "must be {'title': ..., 'description': ...}"))
    return problems


def activity_object_problems(item: Any, label: str | None = None) -> list[str]:
    """Every problem of one item a source returned, each naming the activity and the field."""
    if not isinstance(item, model.Activity):
        what = f"item {label}" if label else "an item"
        return [f"{what} is a {type(item).__name__}, not a core.model.Activity"]
    name = f"activity '{item.id}'" if item.id else f"activity number {label}"
    return [f"{name}.{field}: {message}" for field, message in _activity_field_problems(item)]


#: Activity objects found valid, by identity: sources hand back the same objects request after
#: request, so each is checked once (entries vanish with their objects)
_checked: "weakref.WeakValueDictionary[int, model.Activity]" = weakref.WeakValueDictionary()


def activity_objects_problems(items: Iterable[Any]) -> list[str]:
    """:func:`activity_object_problems` of every item of a list, and duplicate ids."""
    problems: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items, start=1):
        if _checked.get(id(item)) is not item:
            found = activity_object_problems(item, str(index))
            if found:
                problems += found
            else:
                _checked[id(item)] = item
        ident = getattr(item, "id", None)
        if isinstance(item, model.Activity) and ident in seen:
            problems.append(f"activity '{ident}': the id appears twice")
        seen.add(ident)
    return problems


def object_meta(obj: Any, schema: Schema) -> dict:
    """Read the declared attributes of a behaviour object and validate them with ``schema``."""
    data = {name: getattr(obj, name) for name in schema.fields if getattr(obj, name, None) is not None}
    return schema.load(data)


def load_activities(source: model.ActivitySource) -> list[model.Activity]:
    """Validate everything ``source.activities()`` yields (dicts and :class:`core.model.Activity`
    objects alike); raise ValidationError listing every problem, each naming its activity."""
    text = model.TextDomain(source.domain, source.source_language)
    result = []
    errors: dict[str, Any] = {}
    seen: set[str] = set()
    schema = ActivitySchema()
    items = source.activities()
    if isinstance(items, (dict, str, bytes)) or not isinstance(items, Iterable):
        raise ValidationError(f"activities() must return a list of dicts or Activity objects, not {type(items).__name__}")
    for index, item in enumerate(items, start=1):
        ident = getattr(item, "id", None) if isinstance(item, model.Activity) else (
            item.get("id") if isinstance(item, dict) else None)
        label = f"activity '{ident}'" if isinstance(ident, str) and ident else f"activity number {index}"
        if isinstance(ident, str) and ident:
            if ident in seen:
                errors.setdefault(label, {}).setdefault("id", []).append("appears twice in this source.")
            seen.add(ident)
        if isinstance(item, model.Activity):
            problems = _activity_field_problems(item)
            if problems:
                errors.setdefault(label, {}).update({field: [message] for field, message in problems})
            else:
                result.append(item)
            continue
        if not isinstance(item, dict):
            errors[label] = f"must be a dict or a core.model.Activity, not {type(item).__name__}"
            continue
        try:
            data = schema.load(item)
        except ValidationError as exc:
            errors.setdefault(label, {}).update(exc.messages if isinstance(exc.messages, dict) else {"item": exc.messages})
            continue
        result.append(
            model.Activity(
                id=data["id"],
                source=source.id,
                competencies=tuple(data["competencies"]),
                title=data["title"],
                description=data["description"],
                kind=data["kind"],
                effort=data["effort"],
                text=text,
                situations=tuple(data["situations"]),
                provider=data["provider"],
                url=data["url"],
                extra=data["extra"],
            )
        )
    if errors:
        raise ValidationError(errors)
    return result


model.install_activity_loader(load_activities)  # the model validates through it, importing nothing


def format_errors(messages: Any, prefix: str = "") -> str:
    """Flatten marshmallow's nested error dict into ``path: message`` lines a person can read."""
    lines: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list) and node and all(isinstance(x, str) for x in node):
            lines.append(f"{path}: {' '.join(node)}" if path else " ".join(node))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}.{i}")
        else:
            lines.append(f"{path}: {node}" if path else str(node))

    walk(messages, prefix)
    return "; ".join(lines)


# --------------------------------------------------------------------------- text and JSON from outside
#
# One rule for every text that enters KBP (API bodies, forms, CSV and JSON imports, plan text):
# no C0 control characters except tab, line feed and carriage return, no non-characters U+FFFE and
# U+FFFF, no lone surrogates (they cannot be written as UTF-8). Exports remove such characters
# from data stored before the rule existed (:func:`clean_text`, :func:`sanitised`).

#: characters refused in any text (tab, LF and CR are allowed)
CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SURROGATES = re.compile("[\ud800-\udfff]")
#: JSON from outside: at most this deep, integers of at most this many digits
MAX_JSON_DEPTH = 32
MAX_INT_DIGITS = 15  # |n| < 10**15 < 2**53: exact in every JSON reader and storable


def text_problem(value: str) -> str | None:
    """Why ``value`` is not acceptable text, or None."""
    if CONTROL_CHARS.search(value):
        return _("Remove the control characters from this text (tabs and line breaks are fine).")
    if _SURROGATES.search(value):
        return _("This text contains characters that are not valid Unicode.")
    return None


def clean_text(value: str) -> str:
    """``value`` without the characters :func:`text_problem` refuses (for exports of stored data)."""
    return _SURROGATES.sub("\ufffd", CONTROL_CHARS.sub("", value))


def sanitised(obj: Any) -> Any:
    """A copy of a plain document (dicts, lists, strings …) with every string :func:`clean_text`-ed."""
    if isinstance(obj, str):
        return clean_text(obj) if CONTROL_CHARS.search(obj) or _SURROGATES.search(obj) else obj
    if isinstance(obj, dict):
        return {sanitised(k): sanitised(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitised(v) for v in obj]
    return obj


#: a cell starting with one of these is run as a formula by spreadsheet programs (CSV injection)
SPREADSHEET_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text: a leading ``'`` before anything that would start a
    formula (and before a ``'`` already there, so a reader can remove exactly one). Every CSV
    exporter uses this one helper."""
    text = "" if value is None else str(value)
    if text.startswith(SPREADSHEET_FORMULA_START) or (text[:1] == "'" and text[1:2] and text[1:2] in SPREADSHEET_FORMULA_START + ("'",)):
        return "'" + text
    return text


class _BigInt:
    """An integer literal with too many digits, kept as a marker so the error can name its field."""

    def __init__(self, text: str):
        self.text = text


def text_errors(data: Any, depth: int = 0) -> dict | list | None:
    """Problems with the text in ``data`` (parsed JSON or a form), shaped like marshmallow's errors:
    ``{"field": [message]}``, nested by key and list index, so the error names the field."""
    if isinstance(data, str):
        problem = text_problem(data)
        return [problem] if problem else None
    if isinstance(data, _BigInt):
        return [_("This number has too many digits (at most %(num)d).", num=MAX_INT_DIGITS)]
    if isinstance(data, dict):
        found: dict = {}
        for key, value in data.items():
            name = str(key)
            key_problem = text_problem(name)
            if key_problem:
                found[clean_text(name)] = [key_problem]
                continue
            problem = text_errors(value, depth + 1)
            if problem:
                found[name] = problem
        return found or None
    if isinstance(data, list):
        found = {}
        for index, value in enumerate(data):
            problem = text_errors(value, depth + 1)
            if problem:
                found[str(index)] = problem
        return found or None
    return None


class InputError(ValueError):
    """Input that cannot be accepted: ``status`` 400 (not JSON, too deep) or 422 (``errors`` by field)."""

    def __init__(self, message: str, status: int = 400, errors: dict | None = None):
        super().__init__(message)
        self.status = status
        self.errors = errors or {}


def _depth_ok(data: Any) -> bool:
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return False
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return True


def _int(text: str) -> Any:
    return _BigInt(text) if len(text.lstrip("-")) > MAX_INT_DIGITS else int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(data: bytes | str) -> Any:
    """Parse JSON from outside: syntax, nesting (:data:`MAX_JSON_DEPTH`), integer size
    (:data:`MAX_INT_DIGITS`), no ``NaN``/``Infinity``, and the text rule for every string.
    Raises :class:`InputError` (never ``RecursionError``)."""
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8-sig")
        parsed = json.loads(data, parse_int=_int, parse_constant=_no_constant)
    except RecursionError:
        parsed = None
        ok = False
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(_("The request body is not valid JSON: %(reason)s", reason=str(exc)[:200])) from None
    else:
        ok = _depth_ok(parsed)
    if not ok:
        raise InputError(_("The JSON is nested too deeply (at most %(num)d levels).", num=MAX_JSON_DEPTH))
    errors = text_errors(parsed)
    if errors:
        errors = errors if isinstance(errors, dict) else {"_schema": errors}
        raise InputError(format_errors(errors), 422, errors)  # "field: what to do", for a person reading it
    return parsed


class TextChecked(Schema):
    """Input schemas whose text follows the rule above: refused fields are named in the errors."""

    @pre_load
    def _refuse_control_characters(self, data, **kwargs):
        errors = text_errors(data) if isinstance(data, (dict, list)) else None
        if errors:
            raise ValidationError(errors)
        return data


# --------------------------------------------------------------------------- API out


class ErrorOut(Schema):
    """Every API error: ``{"code", "status", "message"}`` plus ``errors`` when fields are wrong."""

    code = fields.String(required=True, metadata={"description": "Stable machine-readable error code, e.g. 'not_found', "
                                                                 "'validation_error', 'version_conflict'."})
    status = fields.Integer(required=True, metadata={"description": "The HTTP status, repeated."})
    message = fields.String(required=True, metadata={"description": "What went wrong and what to do, in the request's language."})
    errors = fields.Dict(
        keys=fields.String(), values=fields.Raw(),
        metadata={"description": "Field-level problems, when any: field name → list of messages, nested like the "
                                 "request body (an object by key or list index) for fields inside objects and lists."})


class PluginOut(Schema):
    name = fields.String()
    version = fields.String()
    module = fields.String()
    builtin = fields.Boolean()
    enabled = fields.Boolean()
    state = fields.String(metadata={"description": "active | disabled | failed | unlicensed"})
    reason = fields.String(allow_none=True)
    hooks = fields.List(fields.String())
    problems = fields.List(fields.String(), metadata={
        "description": "What went wrong while the plugin ran (an exporter or activity source failing), warnings "
        "about its content, and the files an import plugin skipped (bad, clashing or licensed), newest last."})
    notices = fields.List(fields.String(), metadata={
        "description": "what an import plugin repaired, read by position or left out, one message each"})


class ImportPreviewOut(Schema):
    ok = fields.Boolean(metadata={"description": "true when the file would be imported"})
    format = fields.String(allow_none=True, metadata={"description": "case | moodle-csv"})
    plugin = fields.String(allow_none=True, metadata={"description": "the import plugin that reads such files"})
    framework = fields.Dict(allow_none=True, metadata={
        "description": "id, name, groups, competencies, headings, depth of what the file would give"})
    tree = fields.List(fields.Dict(), metadata={
        "description": "groups, each with children [{id, name, code, selectable, children}] to any depth"})
    problems = fields.List(fields.String(), metadata={
        "description": "why the file would be skipped, with the JSON path or row and column"})
    notices = fields.List(fields.String(), metadata={"description": "repairs made and what would be left out"})
    upload = fields.String(allow_none=True, metadata={
        "description": "a file that can be imported is kept for a day: POST /api/v1/framework-imports "
                       "{\"upload\": …} imports it (null otherwise)"})


class CompetencyBriefOut(Schema):
    id = fields.String()
    global_id = fields.String()
    name = fields.String()
    definition = fields.String()
    code = fields.String(metadata={"description": "the source's own code (e.g. a standard's code); may be empty"})
    parent = fields.String(metadata={"description": "id of the competency it sits under ('' = directly in its group)"})
    depth = fields.Integer(metadata={"description": "1 = directly in its group"})
    selectable = fields.Boolean(metadata={"description": "false for a heading: not offered as a focus competency"})
    related = fields.List(fields.String(), metadata={"description": "ids of related competencies of the framework"})
    levels = fields.List(fields.String(), metadata={"description": "education levels (CASE educationLevel)"})


class GroupOut(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    code = fields.String()
    competencies = fields.List(fields.Nested(CompetencyBriefOut))


class FrameworkSummaryOut(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    version = fields.String()
    plugin = fields.String()
    language = fields.String()
    licensed = fields.Boolean()
    competency_count = fields.Integer()


class FrameworkOut(FrameworkSummaryOut):
    licence_notice = fields.String()
    groups = fields.List(fields.Nested(GroupOut))


class QuestionOut(Schema):
    id = fields.String()
    question_set = fields.String()
    kind = fields.String()
    text = fields.String()
    direction = fields.String()
    situations = fields.List(fields.String())
    probes = fields.List(fields.String(), metadata={"description": "Follow-up probes of an interview question."})


class ActivityOut(Schema):
    id = fields.String()
    source = fields.String()
    competencies = fields.List(fields.String())
    title = fields.String()
    description = fields.String()
    kind = fields.String()
    effort = fields.String()
    situations = fields.List(fields.String())
    provider = fields.String()
    url = fields.String()


class GroupRefOut(Schema):
    id = fields.String()
    name = fields.String()


class CompetencyPathOut(Schema):
    id = fields.String()
    name = fields.String()
    code = fields.String()


class CompetencyOut(CompetencyBriefOut):
    path = fields.List(fields.Nested(CompetencyPathOut), metadata={
        "description": "the competencies it sits under in its group, outermost first"})
    related_competencies = fields.List(fields.Nested(CompetencyPathOut), metadata={
        "description": "the related competencies, with name and code"})
    indicators = fields.List(fields.String(), metadata={"description": "Behavioural indicators: how the competency shows."})
    overdone = fields.List(fields.String(), metadata={"description": "Signs that the strength is overdone."})
    activity_total = fields.Integer(metadata={"description": "How many activities there are; `activities` holds the first `activity_limit`."})
    framework = fields.String()
    group = fields.Nested(GroupRefOut)
    questions = fields.List(fields.Nested(QuestionOut))
    activities = fields.List(fields.Nested(ActivityOut))


class ExporterOut(Schema):
    id = fields.String()
    title = fields.String()
    subject = fields.String()
    media_type = fields.String()
    extension = fields.String()
    plugin = fields.String()


class LangArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    lang = fields.String(validate=locale_code, metadata={"description": "Language of the response, e.g. sv or en."})


class CompetencyQuery(LangArgs):
    activity_limit = fields.Integer(load_default=100, validate=validate.Range(min=0, max=1000),
                                    metadata={"description": "At most this many activities (default 100)."})


class ExporterQuery(LangArgs):
    subject = fields.String(validate=validate.OneOf(model.EXPORT_SUBJECTS), metadata={"description": "Only exporters of this subject."})


def ids(items: Iterable[Any]) -> list[str]:
    return [item.id for item in items]
