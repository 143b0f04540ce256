"""Demo mode (``kbp serve --demo``, used by ``make run``): a data folder of its own with sample data.

Seeding is idempotent; it never touches a non-demo data folder.
"""
from __future__ import annotations

from typing import Iterator

from flask import Flask

from core.i18n import gettext as _

#: demo people: (key, name, e-mail, job title, unit, coach key, role)
DEMO_PEOPLE = [
    ("admin", "Alva Admin", "admin@demo.kbp", "HR-specialist", "HR", None, "admin"),
    ("coach", "Kim Karlsson", "coach@demo.kbp", "Enhetschef", "Kundservice", None, "coach"),
    ("employee", "Sam Lind", "employee@demo.kbp", "Handläggare", "Kundservice", "coach", "employee"),
    ("employee2", "Noor Haddad", "noor@demo.kbp", "Handläggare", "Kundservice", "coach", "employee"),
    ("other", "Robin Berg", "robin@demo.kbp", "Utvecklare", "IT", None, "coach"),
]
#: demo passwords are printed at start; they are demo data, like everything in the demo folder
DEMO_PASSWORD = "demo-password"


def seed_demo(app: Flask) -> Iterator[str]:
    if not app.config.get("DEMO"):
        raise RuntimeError("seed_demo called outside demo mode")
    yield _("Demo mode: data folder %(path)s", path=app.config["DATA_DIR"])
    yield from _seed_people(app)
    yield from _seed_content(app)
    registry = app.extensions["kbp"].registry
    for fw in registry.frameworks.values():
        result = registry.entitlements.install_demo(fw)
        if result is not None:
            yield _("Demo licence for '%(framework)s': %(detail)s", framework=fw.id, detail=result.message)


def _seed_people(app: Flask) -> Iterator[str]:
    from core import auth, people

    storage = app.extensions["kbp"].storage
    if storage.collection(auth.ACCOUNTS).count():
        yield _("Demo accounts exist already (password: %(password)s).", password=DEMO_PASSWORD)
        return
    ids: dict[str, str] = {}
    for key, name, email, title, unit, coach, role in DEMO_PEOPLE:
        record = people.create_person(storage, {"name": name, "email": email, "job_title": title, "unit": unit,
                                                 "coach_id": ids.get(coach) if coach else None, "locale": None,
                                                 "status": "active"})
        ids[key] = record["id"]
        auth.create_account(storage, username=email, password=DEMO_PASSWORD, role=role, person_id=record["id"])
        yield _("Demo account %(name)s (%(role)s), password %(password)s", name=email, role=role, password=DEMO_PASSWORD)
    _seed_recruitment(app, ids)


def _seed_recruitment(app: Flask, ids: dict[str, str]) -> None:
    """Noor was recruited with a development need: her coach kept the recruitment record."""
    from core import plans
    from core.auth import Account
    from core.i18n import available_locales
    from core.services import recruitment

    storage, registry = app.extensions["kbp"].storage, app.extensions["kbp"].registry
    if not all(c in registry.competencies for c in ("kbp-sample:active-listening", "kbp-sample:planning-own-work")):
        return
    coach = storage.collection("accounts").find(person_id=ids["coach"])[0]
    actor = Account(coach["id"], coach["username"], "coach", ids["coach"])
    with app.test_request_context():
        recruitment.save_record(storage, plans.Snapshotter(registry, available_locales()), actor, ids["employee2"], {
            "role_title": "Handläggare", "competencies": [
                {"competency": "kbp-sample:active-listening", "rating": 2,
                 "notes": "Svarade ofta innan frågan var färdigställd; lyssnade bättre i rollspelet.",
                 "need": "Sammanfatta vad invånaren sagt innan du svarar, under provanställningen."},
                {"competency": "kbp-sample:planning-own-work", "rating": 3, "notes": "Tydlig veckoplanering i arbetsprovet."}]})


DEMO_ACTIVITIES = [
    {"id": "demo-mentorprogram", "source_language": "sv",
     "title": {"sv": "Gå med i mentorprogrammet för nya chefer", "en": "Join the mentoring programme for new managers"},
     "description": {"sv": "Ett halvår med en erfaren chef från en annan förvaltning som mentor. Träffas en gång i månaden och stäm av med din chef efter tre månader.",
                     "en": "Six months with an experienced manager from another department as your mentor. Meet once a month and check in with your manager after three months."},
     "competencies": ["kbp-sample:sharing-knowledge"], "kind": "learning_from_others", "effort": "months",
     "duration": "6 månader", "cost": "0 kr", "provider": "HR", "tags": ["mentor", "nya chefer"], "situations": ["new_role"]},
    {"id": "demo-kundcenter", "source_language": "sv",
     "title": {"sv": "Rotera två veckor till kundcenter", "en": "Spend two weeks in the customer centre"},
     "description": {"sv": "Arbeta två veckor på kundcenter och lyssna på hur invånarna beskriver sina ärenden. Skriv ner tre lärdomar och ta upp dem på nästa arbetsplatsträff.",
                     "en": "Work two weeks in the customer centre and listen to how residents describe their cases. Write down three lessons and raise them at the next team meeting."},
     "competencies": ["kbp-sample:active-listening"], "kind": "on_the_job", "effort": "weeks", "situations": ["role_changes"]},
]


def _seed_content(app: Flask) -> Iterator[str]:
    registry = app.extensions["kbp"].registry
    source = next((s for s in registry.activity_sources.values() if s.writable), None)
    if source is None or source.records(include_archived=True):
        return
    from core.activities import ActivityRecordSchema

    created = source.import_records([ActivityRecordSchema().load(a) for a in DEMO_ACTIVITIES
                                     if all(c in registry.competencies for c in a["competencies"])])
    yield _("Demo in-house activities: %(num)d", num=created[0])
