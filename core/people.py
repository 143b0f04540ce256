"""People (the organisation's employees), their import from CSV, and privacy: export and erase.

A person is ``{id, name, email, job_title, unit, coach_id, locale, status}`` in the collection
``people``; ``coach_id`` is the person id of their manager or coach; :func:`coaching_cycle` is the one rule
against loops of coaches (the API, the pages, the CSV import and the CLI all reach it), and a
change of coach moves access to the person's plans with it (:func:`core.plans.follow_coach`).
Personal data about a person lives in the collections listed in :data:`PERSONAL_DATA`;
:func:`export_for` decides who gets which export (private self-reflection notes: the person
themself, an admin only when ``ADMIN_EXPORT_PRIVATE_NOTES`` is on), :func:`export_person` gathers
every record there and :func:`erase` deletes them (the audit log keeps only an anonymised id) and
then rewrites every collection so that no file of the data folder keeps anything of the person.
Features that store more personal data add their collection to :data:`PERSONAL_DATA`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from marshmallow import RAISE, ValidationError, fields, validate, validates

from core.i18n import gettext as _
from core.schemas import TextChecked

PEOPLE = "people"
STATUSES = ("active", "left")
CSV_COLUMNS = ("name", "email", "job_title", "unit", "coach_email", "locale", "status")

#: collection -> fields that hold a person id; export and erase walk these
PERSONAL_DATA: dict[str, tuple[str, ...]] = {
    PEOPLE: ("id",),
    "accounts": ("person_id",),
    "plans": ("person_id",),
    "notifications": ("person_id",),
    "reminder_mails": ("person_id",),
    "reminder_prefs": ("person_id",),
    "calendar_feeds": ("person_id",),
    "recruitment_records": ("person_id",),
    "preparations": ("person_id",),
}


class PersonIn(TextChecked):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    job_title = fields.String(load_default="", validate=validate.Length(max=200))
    unit = fields.String(load_default="", validate=validate.Length(max=200))
    coach_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    locale = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^[a-z]{2,3}(_[A-Z]{2})?$"))
    status = fields.String(load_default="active", validate=validate.OneOf(STATUSES))

    @validates("name")
    def _name(self, value, **kwargs):
        if not value.strip():
            raise ValidationError(_("A name cannot be blank."))


class PersonPatch(PersonIn):
    class Meta:
        unknown = RAISE

    name = fields.String(validate=validate.Length(min=1, max=200))
    email = fields.Email(validate=validate.Length(max=254))
    job_title = fields.String(validate=validate.Length(max=200))
    unit = fields.String(validate=validate.Length(max=200))
    coach_id = fields.String(allow_none=True, validate=validate.Length(max=64))
    locale = fields.String(allow_none=True, validate=validate.Regexp(r"^[a-z]{2,3}(_[A-Z]{2})?$"))
    status = fields.String(validate=validate.OneOf(STATUSES))


class PeopleError(Exception):
    """A problem with people data a person can fix; ``errors`` maps fields to messages."""

    def __init__(self, message: str, errors: dict | None = None, status: int = 422):
        super().__init__(message)
        self.errors = errors or {}
        self.status = status


def _normalise(data: dict) -> dict:
    data = dict(data)
    if "email" in data and data["email"]:
        data["email"] = data["email"].strip().lower()
    if "name" in data and data["name"]:
        data["name"] = data["name"].strip()
    return data


def coaching_cycle(person_key: str | None, coach_key: str, coach_of: Callable[[str], str | None]) -> bool:
    """Whether making ``coach_key`` the coach of ``person_key`` would close a loop of coaches: the
    person themself, or a coach whose chain of coaches leads back to the person (A coaches B and
    B coaches A, or longer). ``coach_of(key)`` gives someone's coach as it will be. The one rule
    for the API, the pages, the CSV import (keys are e-mail addresses there) and the CLI."""
    seen: set[str] = set()
    current: str | None = coach_key
    while current and current not in seen:
        if current == person_key:
            return True
        seen.add(current)
        current = coach_of(current)
    return False


def _check_coach(tx, person_id: str | None, coach_id: str | None) -> None:
    if coach_id is None:
        return
    if coach_id == person_id:
        raise PeopleError(_("A person cannot be their own coach."), {"coach_id": [_("A person cannot be their own coach.")]})
    if tx.get(coach_id) is None:
        raise PeopleError(_("The coach does not exist."), {"coach_id": [_("No person with this id.")]})
    if coaching_cycle(person_id, coach_id, lambda pid: (tx.get(pid) or {}).get("coach_id")):
        raise PeopleError(_("That would make a coaching cycle."), {"coach_id": [_("That would make a coaching cycle.")]})


def email_taken() -> PeopleError:
    return PeopleError(_("Someone with this e-mail address exists already."), {"email": [_("Already in use.")]}, 409)


def insert_person(tx, data: dict) -> dict:
    """Store a new person in the caller's transaction or unit of work. The e-mail address is unique
    by declaration (:data:`core.store.SCHEMA`): the store refuses a duplicate in the write itself."""
    from core.storage import UniqueViolation

    data = _normalise(data)
    _check_coach(tx, None, data.get("coach_id"))
    now = time.time()
    try:
        return tx.insert({**data, "created_at": now, "updated_at": now})
    except UniqueViolation:
        raise email_taken() from None


def change_person(tx, person_id: str, changes: dict) -> tuple[dict, dict]:
    """Change a person in the caller's transaction or unit of work; returns (before, after).
    Call :func:`coach_changed` after the commit when the coach changed."""
    from core.storage import UniqueViolation

    changes = _normalise(changes)
    current = tx.get(person_id)
    if current is None:
        raise PeopleError(_("No such person."), status=404)
    if "coach_id" in changes:
        _check_coach(tx, person_id, changes["coach_id"])
    try:
        updated = tx.update(person_id, {**changes, "updated_at": time.time()})
    except UniqueViolation:
        raise email_taken() from None
    return current, updated


def coach_changed(storage, before: dict, after: dict) -> None:
    """A change of coach moves access to the person's plans with it."""
    if before.get("coach_id") != after.get("coach_id"):
        _coach_changed(storage, after["id"], after.get("coach_id"))


def create_person(storage, data: dict) -> dict:
    """Create a person directly (seed data, tests); people and the CLI go through
    :func:`core.services.people.create_person`, which also checks permissions and audits."""
    with storage.collection(PEOPLE).transaction() as tx:
        return insert_person(tx, data)


def update_person(storage, person_id: str, changes: dict) -> dict:
    with storage.collection(PEOPLE).transaction() as tx:
        before, after = change_person(tx, person_id, changes)
    coach_changed(storage, before, after)
    return after


def _coach_changed(storage, person_id: str, coach_id: str | None) -> None:
    from core import audit, plans

    plans.follow_coach(storage, person_id, coach_id, audit.current_actor())


# ----------------------------------------------------------------------------- CSV import


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, reason)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_people_csv(data: bytes | str) -> tuple[list[dict], list[tuple[int, str, str]]]:
    """Parse CSV; row numbers count the header as row 1 (as a spreadsheet shows them)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return [], [(0, "", _("The file is not UTF-8 text (byte %(num)d).", num=exc.start))]
    sample = data[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(data, newline=""), dialect=dialect)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        return [], [(1, "", _("The file cannot be read from here on: %(reason)s", reason=str(exc)))]
    problems: list[tuple[int, str, str]] = []
    missing = [c for c in ("name", "email") if c not in header]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if missing:
        problems.append((1, ", ".join(missing), _("Required column missing. Columns: %(columns)s.", columns=", ".join(CSV_COLUMNS))))
    if unknown:
        problems.append((1, ", ".join(unknown), _("Unknown column. Columns: %(columns)s.", columns=", ".join(CSV_COLUMNS))))
    if problems:
        return [], problems
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            if None in row:
                problems.append((reader.line_num, "", _("The row has more cells than the header.")))
                continue
            rows.append({k: (v or "").strip() for k, v in row.items()} | {"_row": reader.line_num})
    except csv.Error as exc:  # e.g. a cell over csv.field_size_limit() (128 KiB)
        problems.append((reader.line_num + 1, "", _("The file cannot be read from here on: %(reason)s", reason=str(exc))))
    return rows, problems


def import_people(storage, data: bytes | str, *, dry_run: bool, audit_entry: dict | None = None) -> ImportReport:
    """Validate every row; apply all of them in one unit of work (with ``audit_entry``, when given)
    only when none has a problem."""
    rows, problems = read_people_csv(data)
    report = ImportReport(rows=len(rows), problems=list(problems))
    if problems:
        return report
    schema = PersonIn()
    with storage.unit_of_work(PEOPLE, "audit") as uow:
        tx = uow[PEOPLE]
        by_email = {p["email"]: p for p in tx.all()}
        in_file: dict[str, int] = {}
        prepared = []
        for row in rows:
            line = row.pop("_row")
            coach_email = row.pop("coach_email", "").lower()
            data_row = {k: v for k, v in row.items() if v != ""}
            try:
                person = _normalise(schema.load(data_row))
            except ValidationError as exc:
                from core.validation_i18n import translate_errors

                for column, messages in sorted(translate_errors(exc.messages).items()):
                    report.problems.append((line, column, " ".join(map(str, messages))))
                continue
            if person["email"] in in_file:
                report.problems.append((line, "email", _("Same e-mail address as row %(num)d.", num=in_file[person["email"]])))
                continue
            in_file[person["email"]] = line
            prepared.append((line, person, coach_email))
        emails_in_file = {p["email"] for _line, p, _coach in prepared}
        for line, person, coach_email in prepared:
            if coach_email and coach_email not in emails_in_file and coach_email not in by_email:
                report.problems.append((line, "coach_email", _("No person with the e-mail address %(email)s.", email=coach_email)))
            if coach_email == person["email"]:
                report.problems.append((line, "coach_email", _("A person cannot be their own coach.")))
        # coaches as they will be after the import (a blank coach_email removes the coach)
        email_of = {p["id"]: email for email, p in by_email.items()}
        coach_of = {email: email_of.get(p.get("coach_id")) for email, p in by_email.items()}
        coach_of.update({p["email"]: coach or None for _line, p, coach in prepared})
        for line, person, coach_email in prepared:
            if coach_email and coach_email != person["email"] and coaching_cycle(person["email"], coach_email, coach_of.get):
                report.problems.append((line, "coach_email", _("That would make a coaching cycle.")))
        if report.problems or dry_run:
            report.created = sum(1 for _line, p, _coach in prepared if p["email"] not in by_email)
            report.updated = len(prepared) - report.created
            if report.problems:
                report.created = report.updated = 0
            raise _Rollback(report)
        now = time.time()
        ids: dict[str, str] = {email: p["id"] for email, p in by_email.items()}
        for _line, person, _coach in prepared:  # first pass: everyone exists, so coaches can be anyone in the file
            existing = by_email.get(person["email"])
            if existing:
                tx.update(existing["id"], {**person, "updated_at": now})
                report.updated += 1
            else:
                ids[person["email"]] = tx.insert({**person, "coach_id": None, "created_at": now, "updated_at": now})["id"]
                report.created += 1
        moved = []
        for _line, person, coach_email in prepared:
            coach_id = ids[coach_email] if coach_email else None
            existing = by_email.get(person["email"])
            if existing and existing.get("coach_id") != coach_id:
                moved.append((existing["id"], coach_id))
            tx.update(ids[person["email"]], {"coach_id": coach_id})
        if audit_entry is not None:
            uow["audit"].insert(audit_entry)
    for person_id, coach_id in moved:
        _coach_changed(storage, person_id, coach_id)
    return report


class _Rollback(Exception):
    def __init__(self, report: ImportReport):
        self.report = report


def run_import(storage, data: bytes | str, *, dry_run: bool, audit_entry: dict | None = None) -> ImportReport:
    try:
        return import_people(storage, data, dry_run=dry_run, audit_entry=audit_entry)
    except _Rollback as rollback:
        return rollback.report


# ----------------------------------------------------------------------------- privacy


def anonymous_id(person_id: str, secret: str) -> str:
    return "erased-" + hashlib.sha256(f"{secret}:{person_id}".encode()).hexdigest()[:16]


def records_about(storage, person_id: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for name, id_fields in PERSONAL_DATA.items():
        records = [r for r in storage.collection(name).all() if any(r.get(f) == person_id for f in id_fields)]
        if records:
            found[name] = records
    return found


def export_for(storage, account, person_id: str, *, admin_includes_private: bool = False) -> dict[str, Any]:
    """The export ``account`` may have of ``person_id`` — the one rule for who sees what:

    * the person themself (``/me/export``): everything, their private self-reflection notes too;
    * an admin exporting someone else (*Export all data*): everything except private
      self-reflection notes and questions, unless the organisation turned on
      ``ADMIN_EXPORT_PRIVATE_NOTES`` (``admin_includes_private``);
    * anyone else: 404, like a person who does not exist.
    """
    own = account is not None and bool(account.person_id) and account.person_id == person_id
    if not own and (account is None or account.role != "admin"):
        raise PeopleError(_("No such person."), status=404)
    if storage.collection(PEOPLE).get(person_id) is None:
        raise PeopleError(_("No such person."), status=404)
    return export_person(storage, person_id, include_private=own or admin_includes_private, own=own)


def export_self(storage, account) -> dict[str, Any]:
    """The signed-in account's own export (``/me/export``): everything about their person, private
    self-reflection notes included; an account without a person gets its account data."""
    if account.person_id and storage.collection(PEOPLE).get(account.person_id) is not None:
        return export_for(storage, account, account.person_id)
    return export_person(storage, None, include_private=True, account_id=account.id)


def export_person(storage, person_id: str | None, *, include_private: bool, account_id: str | None = None,
                  own: bool = False) -> dict[str, Any]:
    """Every record about ``person_id`` (or, with ``person_id=None``, about the account ``account_id``).
    ``own``: the person's self-service export, which gets their recruitment record as they see it in
    KBP (agreed needs, no interview notes: see the README, *From recruitment to development*)."""
    from core import audit, plans, recruitment

    if person_id is not None:
        data = records_about(storage, person_id)
    else:
        record = storage.collection("accounts").get(account_id)
        data = {"accounts": [record]} if record else {}
    account_ids = [a["id"] for a in data.get("accounts", [])]
    data["accounts"] = [{k: v for k, v in a.items() if k != "password_hash"} for a in data.get("accounts", [])]
    tokens = [t for t in storage.collection("api_tokens").all() if t.get("account_id") in account_ids]
    data["api_tokens"] = [{k: v for k, v in t.items() if k != "secret_sha256"} for t in tokens]
    data["calendar_feeds"] = [{k: v for k, v in f.items() if k != "secret_sha256"} for f in data.get("calendar_feeds", [])]
    data["audit"] = audit.entries_about(storage, [i for i in (person_id, *account_ids) if i])
    data["coachees"] = [{"id": p["id"], "name": p["name"]} for p in storage.collection(PEOPLE).find(coach_id=person_id)] if person_id else []
    viewer = None if include_private else "admin"
    if not include_private and "plans" in data:
        data["plans"] = [plans.for_viewer(p, "admin") for p in data["plans"]]
    data["plan_history"] = [h for p in data.get("plans", []) for h in plans.history(storage, p["id"], viewer)]
    if not include_private and "preparations" in data:
        data["preparations"] = [recruitment.sheet_for_viewer(s, "admin") for s in data["preparations"]]
    if own and "recruitment_records" in data:
        data["recruitment_records"] = [recruitment.record_for_viewer(r, "employee") for r in data["recruitment_records"]]
    return {"format": "kbp-person-export/1", "person_id": person_id, "exported_at": time.time(),
            "private_notes": "included" if include_private else "excluded", "records": data}


#: every collection an erase writes, in one unit of work
ERASE_COLLECTIONS = ("api_tokens", "sessions", "plan_history", "audit")


def erase(storage, person_id: str, secret: str, audit_entry: dict | None = None) -> dict[str, int]:
    """Erase a person (:func:`erase_person`) and record it in the audit log under an anonymised id
    (``audit_entry``: made by the caller, its ``subject_id`` is replaced here) — all in ONE unit of
    work: nothing or everything. Then rewrite every collection of the data folder as a fresh
    snapshot with an empty log, so that no file there — append-only logs included — keeps anything
    of the person. Earlier backups are out of reach (see the README: *People, accounts and privacy*)."""
    from core import audit

    names = sorted({*PERSONAL_DATA, PEOPLE, *ERASE_COLLECTIONS})
    with storage.unit_of_work(*names) as uow:
        counts = erase_person(uow, person_id, secret)
        entry = audit_entry or {"at": time.time(), "actor": audit.current_actor(), "action": "erase",
                                "subject_type": "person"}
        uow["audit"].insert({**entry, "subject_id": anonymous_id(person_id, secret)})
    storage.purge_history()
    return counts


def erase_person(uow, person_id: str, secret: str) -> dict[str, int]:
    """Delete everything about a person inside the unit of work ``uow`` (see :func:`erase`); coachees
    lose their coach link; the audit log is anonymised."""
    from core import audit, sessions

    counts: dict[str, int] = {}
    accounts = [a["id"] for a in uow["accounts"].find(person_id=person_id)]
    plan_ids = {p["id"] for p in uow["plans"].find(person_id=person_id)}
    record_ids = [r["id"] for r in uow["recruitment_records"].find(person_id=person_id)]  # audited by id
    token_ids = [t["id"] for t in uow["api_tokens"].find_any("account_id", accounts)] if accounts else []
    tx = uow["plan_history"]
    for h in tx.all():
        if h["plan_id"] in plan_ids:
            tx.delete(h["id"])
        elif h.get("by") in accounts:
            tx.update(h["id"], {"by": anonymous_id(h["by"], secret)})
    tx = uow["plans"]
    for plan in tx.all():
        if plan["person_id"] == person_id:
            continue  # deleted below with everything else about the person
        changes: dict = {}
        if plan.get("coach_id") == person_id:
            changes["coach_id"] = None
        if plan.get("created_by") in accounts:
            changes["created_by"] = anonymous_id(plan["created_by"], secret)
        if any(f.get("by") in accounts for f in plan.get("follow_ups", [])):
            changes["follow_ups"] = [{**f, "by": anonymous_id(f["by"], secret)} if f.get("by") in accounts else f
                                     for f in plan["follow_ups"]]
        if changes:
            tx.update(plan["id"], changes)
    tx = uow["recruitment_records"]
    for record in tx.all():  # records about others that the erased person's account kept
        if record["person_id"] != person_id and record.get("recorded_by") in accounts:
            tx.update(record["id"], {"recorded_by": anonymous_id(record["recorded_by"], secret)})
    for token_id in token_ids:
        uow["api_tokens"].delete(token_id)
    if token_ids:
        counts["api_tokens"] = len(token_ids)
    for account_id in accounts:  # signed-in sessions hold the account id
        sessions.end_all_in(uow["sessions"], account_id)
    for name, id_fields in PERSONAL_DATA.items():
        tx = uow[name]
        for record in [r for r in tx.all() if any(r.get(f) == person_id for f in id_fields)]:
            tx.delete(record["id"])
            counts[name] = counts.get(name, 0) + 1
    tx = uow[PEOPLE]
    for coachee in tx.find(coach_id=person_id):
        tx.update(coachee["id"], {"coach_id": None})
    # the audit log keeps what happened, under anonymised ids: the person, their accounts, tokens, plans
    # and recruitment records
    replacements = {i: anonymous_id(i, secret) for i in [person_id, *accounts, *token_ids, *plan_ids, *record_ids]}
    audit.anonymise_in(uow["audit"], replacements)
    return counts


def visible_ids(storage, account) -> set[str] | None:
    """Person ids ``account`` may see; ``None`` means everyone (admin)."""
    if account is None:
        return set()
    if account.role == "admin":
        return None
    own = {account.person_id} if account.person_id else set()
    if account.role == "coach" and account.person_id:
        own |= {p["id"] for p in storage.collection(PEOPLE).find(coach_id=account.person_id)}
    return own


def visible_person(storage, account, person_id: str) -> dict | None:
    """The person if ``account`` may see them, else None — the same answer as for nobody at all."""
    allowed = visible_ids(storage, account)
    if allowed is not None and person_id not in allowed:
        return None
    return storage.collection(PEOPLE).get(person_id)
