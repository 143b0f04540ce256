"""Editable activities (any writable activity source): the record shape, validation, CSV/JSON files.

A record is what an HR admin edits::

    {"id": "mentorprogrammet", "source_language": "sv",
     "title": {"sv": "Mentorprogrammet", "en": "The mentoring programme"},
     "description": {"sv": "...", "en": "..."},
     "competencies": ["kbp-sample:active-listening"], "kind": "learning_from_others", "effort": "months",
     "duration": "6 månader", "cost": "0 kr", "provider": "HR", "url": "https://intra.example/mentor",
     "tags": ["ledarskap", "nya chefer"], "situations": ["new_role"], "owner": "hr@example.org",
     "archived": false, "version": 3}

Text is stored per language and falls back to ``source_language`` (the language the activity was
first written in). The **CSV** format has one column per language and text field
(``title_sv``, ``title_en``, ``description_sv`` …, other configured languages alike); list fields
are separated by ``;``. **JSON** is a list of records (``{"format": "kbp-activities/1",
"activities": [...]}``). Export → import round-trips exactly.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from marshmallow import RAISE, ValidationError, fields, post_load, validate, validates_schema

from core import model
from core.i18n import gettext as _
from core.schemas import SPREADSHEET_FORMULA_START, InputError, TextChecked, format_errors, global_id, load_json, locale_code, slug, spreadsheet_text

FORMAT = "kbp-activities/1"
LIST_SEP = ";"
TEXT_FIELDS = ("title", "description")
SCALAR_FIELDS = ("duration", "cost", "provider", "url", "owner")
LIST_FIELDS = ("competencies", "tags", "situations")


def _text_map(max_length: int):
    return fields.Dict(
        keys=fields.String(validate=locale_code),
        values=fields.String(validate=validate.Length(max=max_length)),
        required=True,
    )


class ActivityRecordSchema(TextChecked):
    """An editable activity (API input and output, import files)."""

    class Meta:
        unknown = RAISE

    id = fields.String(validate=[slug, validate.Length(max=80)])
    source_language = fields.String(load_default="sv", validate=locale_code)
    title = _text_map(200)
    description = _text_map(4000)
    competencies = fields.List(fields.String(validate=global_id), required=True, validate=validate.Length(min=1, max=20))
    kind = fields.String(required=True, validate=validate.OneOf(model.ACTIVITY_KINDS))
    effort = fields.String(required=True, validate=validate.OneOf(model.EFFORTS))
    duration = fields.String(load_default="", validate=validate.Length(max=100))
    cost = fields.String(load_default="", validate=validate.Length(max=100))
    provider = fields.String(load_default="", validate=validate.Length(max=200))
    url = fields.String(load_default="", validate=validate.Length(max=2000))
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=50)), load_default=list, validate=validate.Length(max=30))
    situations = fields.List(fields.String(validate=validate.OneOf(model.SITUATIONS)), load_default=list)
    owner = fields.String(load_default="", validate=validate.Length(max=200))
    archived = fields.Boolean(load_default=False)
    version = fields.Integer(dump_only=True)
    created_at = fields.Float(dump_only=True)
    updated_at = fields.Float(dump_only=True)

    @validates_schema(skip_on_field_errors=False)  # every problem at once, also when a field failed
    def _texts(self, data, **kwargs):
        errors: dict[str, list[str]] = {}
        lang = data.get("source_language", "sv")
        for name in TEXT_FIELDS:
            if name not in data:  # the field itself failed (reported already) or is missing (required)
                continue
            texts = {k: v.strip() for k, v in (data.get(name) or {}).items()}
            if not texts.get(lang):
                errors.setdefault(name, []).append(
                    _("Write the text in the source language (%(lang)s) at least.", lang=lang)
                )
        url = (data.get("url") or "").strip()
        if url and not re.match(r"^https?://[^\s/$.?#][^\s]*$", url):
            errors.setdefault("url", []).append(_("A link must start with http:// or https://."))
        if errors:
            raise ValidationError(errors)

    @post_load
    def _tidy(self, data, **kwargs):
        for name in TEXT_FIELDS:
            data[name] = {k: v.strip() for k, v in data[name].items() if v.strip()}
        for name in SCALAR_FIELDS:
            data[name] = (data.get(name) or "").strip()
        data["tags"] = sorted({t.strip() for t in data.get("tags", []) if t.strip()})
        data["competencies"] = list(dict.fromkeys(data["competencies"]))
        data["situations"] = [s for s in model.SITUATIONS if s in set(data.get("situations", []))]
        return data


class ActivityPatchSchema(ActivityRecordSchema):
    """Partial update; ``title``/``description`` maps replace the stored maps."""

    class Meta:
        unknown = RAISE

    title = fields.Dict(keys=fields.String(validate=locale_code), values=fields.String(validate=validate.Length(max=200)))
    description = fields.Dict(keys=fields.String(validate=locale_code), values=fields.String(validate=validate.Length(max=4000)))
    competencies = fields.List(fields.String(validate=global_id), validate=validate.Length(min=1, max=20))
    kind = fields.String(validate=validate.OneOf(model.ACTIVITY_KINDS))
    effort = fields.String(validate=validate.OneOf(model.EFFORTS))
    source_language = fields.String(validate=locale_code)
    duration = fields.String(validate=validate.Length(max=100))
    cost = fields.String(validate=validate.Length(max=100))
    provider = fields.String(validate=validate.Length(max=200))
    url = fields.String(validate=validate.Length(max=2000))
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=50)), validate=validate.Length(max=30))
    situations = fields.List(fields.String(validate=validate.OneOf(model.SITUATIONS)))
    owner = fields.String(validate=validate.Length(max=200))
    archived = fields.Boolean()

    @validates_schema
    def _texts(self, data, **kwargs):  # checked on the merged record instead
        return None

    @post_load
    def _tidy(self, data, **kwargs):
        return data


def merge(record: dict, changes: dict) -> dict:
    """The record after ``changes``, validated as a whole (raises ValidationError)."""
    merged = {k: v for k, v in record.items() if k in ActivityRecordSchema().fields and k not in ("version", "created_at", "updated_at")}
    merged.update(changes)
    return ActivityRecordSchema().load(merged)


#: fields of an editable activity that only admins see (the contact person inside the organisation)
ADMIN_ONLY_FIELDS = ("owner",)


def for_viewer(record: dict | None, account) -> dict | None:
    """The record as ``account`` may see it: admins everything; others no archived activity (None)
    and no :data:`ADMIN_ONLY_FIELDS`."""
    if record is None or (account is not None and account.role == "admin"):
        return record
    if record.get("archived"):
        return None
    return {k: v for k, v in record.items() if k not in ADMIN_ONLY_FIELDS}


def unknown_competencies(record: dict, known: Iterable[str]) -> list[str]:
    known = set(known)
    return [c for c in record.get("competencies", []) if c not in known]


#: kept here for plugins that import it from this module (it lives in :mod:`core.model`)
record_to_activity = model.record_to_activity


# ----------------------------------------------------------------------------- files


@dataclass
class FileReport:
    records: list[dict] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # the row (CSV) or item (JSON) number of each record
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (row or item number, column, reason)

    @property
    def ok(self) -> bool:
        return not self.problems


def csv_columns(locales: Iterable[str]) -> list[str]:
    locales = list(dict.fromkeys(locales))
    cols = ["id", "source_language"]
    cols += [f"title_{loc}" for loc in locales] + [f"description_{loc}" for loc in locales]
    cols += ["competencies", "kind", "effort", "duration", "cost", "provider", "url", "tags", "situations", "owner", "archived"]
    return cols


def unneutralised(value: str) -> str:
    """A cell as written before :func:`core.schemas.spreadsheet_text` protected it, so export → import round-trips."""
    return value[1:] if value[:1] == "'" and value[1:2] and value[1:2] in SPREADSHEET_FORMULA_START + ("'",) else value


def to_csv(records: Iterable[dict], locales: Iterable[str]) -> str:
    """CSV for a spreadsheet: cells that a spreadsheet would run as a formula get a leading ``'``."""
    records = list(records)
    locales = list(dict.fromkeys([*locales, *(loc for r in records for loc in (*r["title"], *r["description"]))]))
    cols = csv_columns(locales)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for r in records:
        row: dict[str, Any] = {"id": r["id"], "source_language": r.get("source_language", "sv")}
        for loc in locales:
            row[f"title_{loc}"] = spreadsheet_text(r["title"].get(loc, ""))
            row[f"description_{loc}"] = spreadsheet_text(r["description"].get(loc, ""))
        for name in LIST_FIELDS:
            row[name] = spreadsheet_text(LIST_SEP.join(r.get(name, [])))
        for name in SCALAR_FIELDS + ("kind", "effort"):
            row[name] = spreadsheet_text(r.get(name, ""))
        row["archived"] = "true" if r.get("archived") else "false"
        writer.writerow(row)
    return out.getvalue()


def to_json(records: Iterable[dict]) -> str:
    keep = [name for name in ActivityRecordSchema().fields if name not in ("version", "created_at", "updated_at")]
    items = [{k: r[k] for k in keep if k in r} for r in records]
    return json.dumps({"format": FORMAT, "activities": items}, ensure_ascii=False, indent=2) + "\n"


def _validate(raw: dict, number: int, report: FileReport, seen: dict[str, int], column_of=lambda name: name) -> None:
    try:
        record = ActivityRecordSchema().load(raw)
    except ValidationError as exc:
        from core.validation_i18n import translate_errors

        for name, messages in sorted(translate_errors(exc.messages).items()):
            report.problems.append((number, column_of(str(name)), format_errors(messages)))
        return
    if record.get("id"):
        if record["id"] in seen:
            report.problems.append((number, "id", _("Same id as row %(num)d.", num=seen[record["id"]])))
            return
        seen[record["id"]] = number
    report.records.append(record)
    report.rows.append(number)


def from_csv(data: bytes | str) -> FileReport:
    report = FileReport()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            report.problems.append((0, "", _("The file is not UTF-8 text (byte %(num)d).", num=exc.start)))
            return report
    reader = csv.DictReader(io.StringIO(data, newline=""))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        report.problems.append((1, "", _("The file cannot be read from here on: %(reason)s", reason=str(exc))))
        return report
    text_cols = {c for c in header if re.fullmatch(r"(title|description)_[a-z]{2,3}(_[A-Z]{2})?", c)}
    allowed = set(csv_columns([])) | text_cols
    unknown = [c for c in header if c not in allowed]
    missing = [c for c in ("competencies", "kind", "effort") if c not in header]
    if unknown or missing or not text_cols:
        reason = _("Unknown columns: %(cols)s.", cols=", ".join(unknown)) if unknown else _(
            "Required columns: competencies, kind, effort and at least one title_<language> and description_<language>.")
        report.problems.append((1, ", ".join(unknown or missing), reason))
        return report
    seen: dict[str, int] = {}
    try:
        _read_rows(reader, text_cols, report, seen)
    except csv.Error as exc:  # e.g. a cell over csv.field_size_limit() (128 KiB)
        report.problems.append((reader.line_num + 1, "", _("The file cannot be read from here on: %(reason)s", reason=str(exc))))
    return report


def _read_rows(reader, text_cols: set[str], report: FileReport, seen: dict[str, int]) -> None:
    for row in reader:
        line = reader.line_num
        if None in row:
            report.problems.append((line, "", _("The row has more cells than the header.")))
            continue
        raw: dict[str, Any] = {"title": {}, "description": {}}
        for col, value in row.items():
            value = (value or "").strip()
            value = unneutralised(value)
            if col in text_cols:
                name, loc = col.split("_", 1)
                if value:
                    raw[name][loc] = value
            elif col in LIST_FIELDS:
                raw[col] = [v.strip() for v in value.split(LIST_SEP) if v.strip()]
            elif col == "archived":
                if value.lower() not in ("", "true", "false", "1", "0", "yes", "no", "ja", "nej"):
                    report.problems.append((line, "archived", _("Write true or false.")))
                raw["archived"] = value.lower() in ("true", "1", "yes", "ja")
            elif col == "id":
                if value:
                    raw["id"] = value
            elif value or col in ("kind", "effort"):
                raw[col] = value
        if "source_language" not in raw:
            raw["source_language"] = next(iter(raw["title"]), "sv")

        def column_of(name: str, raw=raw) -> str:
            return f"{name}_{raw['source_language']}" if name in TEXT_FIELDS else name

        _validate(raw, line, report, seen, column_of)


def from_json(data: bytes | str) -> FileReport:
    report = FileReport()
    try:
        doc = load_json(data)
    except InputError as exc:
        if exc.status != 422:
            report.problems.append((0, "", str(exc)))
            return report
        doc = json.loads(data)  # the text rule is reported per activity and field by the schema below
    items = doc.get("activities") if isinstance(doc, dict) else doc
    if isinstance(doc, dict) and doc.get("format") not in (None, FORMAT):
        report.problems.append((0, "format", _("Unknown format %(format)s; expected %(expected)s.", format=str(doc.get("format")), expected=FORMAT)))
        return report
    if not isinstance(items, list):
        report.problems.append((0, "", _("Expected a list of activities.")))
        return report
    seen: dict[str, int] = {}
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            report.problems.append((number, "", _("Each activity must be an object.")))
            continue
        _validate(item, number, report, seen)
    return report
