"""People: the service the API, the pages and the CLI call to list, add, change, import, export
and erase people. The rules (coaching cycles, the CSV format, what an export holds, what an erase
removes) stay in :mod:`core.people`; this module adds who may do it, the audit entry and the units
of work: an import is one commit with its audit entry, and so is an erase."""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError

from core.services.paging import Page, Paged, paginate
from core import people as rules
from core.auth import Account
from core.i18n import gettext as _
from core.services import audit
from core.services.errors import Invalid, NotFound, translated

PEOPLE = rules.PEOPLE
PersonIn = rules.PersonIn
PersonPatch = rules.PersonPatch
STATUSES = rules.STATUSES


def _load(schema, data: dict) -> dict:
    from core.validation_i18n import translate_errors

    try:
        return schema.load(data)
    except ValidationError as exc:
        raise Invalid(_("Some fields are invalid; see 'errors' for what to correct."),
                      translate_errors(exc.messages)) from None


def list_people(storage, actor: Account | None, status: str | None = None, page: Page | None = None) -> Paged:
    """People the actor may see (an admin everyone, a coach their coachees and themself, an
    employee themself), by name; one ``page`` of them when given."""
    audit.require(actor, "employee")
    allowed = rules.visible_ids(storage, actor)
    found = [p for p in storage.collection(PEOPLE).all()
             if (allowed is None or p["id"] in allowed) and (status is None or p.get("status") == status)]
    return paginate(sorted(found, key=lambda p: (p.get("name", "").lower(), p["id"])), page)


def get_person(storage, actor: Account | None, person_id: str) -> dict:
    """The person if the actor may see them; :class:`NotFound` otherwise (also when they exist)."""
    audit.require(actor, "employee")
    record = rules.visible_person(storage, actor, person_id)
    if record is None:
        raise NotFound(_("No such person."))
    return record


def person_with_coach(storage, actor: Account | None, person_id: str) -> tuple[dict, dict | None]:
    """The person and their coach as the actor may see them: a coach the actor may not open is a
    name only (``id`` None)."""
    person = get_person(storage, actor, person_id)
    coach = storage.collection(PEOPLE).get(person["coach_id"]) if person.get("coach_id") else None
    if coach is not None and rules.visible_person(storage, actor, coach["id"]) is None:
        coach = {"id": None, "name": coach["name"]}
    return person, coach


def coach_choices(storage, actor: Account | None) -> list[dict]:
    """Everyone, for choosing a coach on the person form (admin)."""
    audit.require(actor, "admin")
    return sorted(storage.collection(PEOPLE).all(), key=lambda p: p["name"].lower())


def editable_person(storage, actor: Account | None, person_id: str) -> dict:
    """The person, for the edit and erase forms (admin)."""
    audit.require(actor, "admin")
    return get_person(storage, actor, person_id)


def create_person(storage, actor: Account | None, data: dict) -> dict:
    """Add a person (admin); the e-mail address is unique (409 with the field)."""
    audit.require(actor, "admin")
    clean = _load(PersonIn(), data)
    with storage.unit_of_work(PEOPLE, audit.AUDIT) as uow, translated():
        person = rules.insert_person(uow[PEOPLE], clean)
        uow[audit.AUDIT].insert(audit.entry(actor, "create", "person", person["id"]))
    return person


def update_person(storage, actor: Account | None, person_id: str, changes: dict, *, whole: bool = False) -> dict:
    """Change a person (admin); ``whole``: every field is given (the form), else a patch."""
    audit.require(actor, "admin")
    get_person(storage, actor, person_id)
    clean = _load(PersonIn() if whole else PersonPatch(), changes)
    with storage.unit_of_work(PEOPLE, audit.AUDIT) as uow, translated():
        before, after = rules.change_person(uow[PEOPLE], person_id, clean)
        uow[audit.AUDIT].insert(audit.entry(actor, "update", "person", person_id))
    rules.coach_changed(storage, before, after)
    return after


def set_own_locale(storage, actor: Account | None, code: str | None) -> None:
    """The signed-in person's preferred language (``None``: the browser's)."""
    audit.require(actor, "employee")
    from core.i18n import available_locales

    if code is not None and code not in available_locales():
        message = _("Language '%(lang)s' is not available. Available languages: %(available)s.",
                    lang=code, available=", ".join(available_locales()))
        raise Invalid(message, {"locale": [message]})
    if not actor.person_id:
        raise NotFound(_("No such person."))
    with storage.collection(PEOPLE).transaction() as tx, translated():
        rules.change_person(tx, actor.person_id, {"locale": code})


def import_csv(storage, actor: Account | None, data: bytes | str, *, dry_run: bool) -> rules.ImportReport:
    """Check every row of a people CSV; apply all rows and the audit entry in one commit, or none."""
    audit.require(actor, "admin")
    entry = None if dry_run else audit.entry(actor, "import", "people", None)
    return rules.run_import(storage, data, dry_run=dry_run, audit_entry=entry)


def import_form(actor: Account | None) -> None:
    """Whether the actor may open the import page (admin)."""
    audit.require(actor, "admin")


def export_person(storage, actor: Account | None, person_id: str, *, admin_includes_private: bool = False) -> dict[str, Any]:
    """Everything stored about a person (admin; private notes only with ``ADMIN_EXPORT_PRIVATE_NOTES``)."""
    audit.require(actor, "admin")
    get_person(storage, actor, person_id)
    with translated():
        data = rules.export_for(storage, actor, person_id, admin_includes_private=admin_includes_private)
    audit.record(storage, actor, "export", "person", person_id)
    return data


def export_self(storage, actor: Account | None) -> tuple[dict[str, Any], str, str]:
    """The actor's own export, private notes included: (data, subject id, subject type)."""
    audit.require(actor, "employee")
    with translated():
        data = rules.export_self(storage, actor)
    subject_id, subject_type = (actor.person_id, "person") if actor.person_id else (actor.id, "account")
    audit.record(storage, actor, "export", subject_type, subject_id)
    return data, subject_id, subject_type


def erase(storage, actor: Account | None, person_id: str, secret: str, *, confirm: str | None = None) -> dict[str, int]:
    """Erase a person and everything about them in one commit, then compact every collection (admin).
    ``confirm`` (the pages): the person's e-mail address, typed again."""
    audit.require(actor, "admin")
    person = get_person(storage, actor, person_id)
    if confirm is not None and confirm != person["email"]:
        message = _("Type the person's e-mail address to confirm.")
        raise Invalid(message, {"confirm": [message]})
    return rules.erase(storage, person_id, secret, audit.entry(actor, "erase", "person", None))
