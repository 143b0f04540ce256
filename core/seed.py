"""A deterministic, realistic data set for benchmarks and load tests (``kbp dev seed``).

``seed(app, people=10000, plans=20000, activities=50000, seed=1)`` writes, straight through
:mod:`core.storage` (batched transactions, then one compaction per collection):

* ``people``: an organisation tree - one head, managers (about one in nine) coached by managers
  higher up, employees coached by a manager; names, e-mail addresses, units, job titles, a few
  English speakers and people who have left;
* ``accounts``: an admin (``admin@example.org``), a coach account for every manager and an
  employee account for one person in ten, all with the password :data:`SEED_PASSWORD` (the same
  scrypt hash for everyone, so seeding stays fast);
* ``inhouse_activities``: records in the shape of :mod:`core.activities` (text in Swedish and
  English, 1-3 competencies of the installed frameworks, kind, effort, tags, situations ...);
* ``plans`` in the shape :mod:`core.plans` stores (snapshots of focus competencies, questions
  and activities in every UI language, goals, notes, follow-ups, version), with their
  ``plan_history`` and ``audit`` entries.

The same arguments give the same records (ids, texts, timestamps); only the data folder differs.
Refuses a folder that already has people or plans.
"""
from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from typing import Callable, Iterable

from core import model
from core.activities import record_to_activity
from core.i18n import gettext as _
from core.plans import Snapshotter
from core.present import Presenter
from core.storage import Storage

SEED_PASSWORD = "kbp-seed-password"
BASE_TIME = 1_704_067_200.0  # 2024-01-01T00:00:00Z
YEAR = 365 * 86400.0

FIRST = ("Anna Eva Maria Karin Sara Lena Emma Kerstin Ingrid Linnea Elin Ida Sofia Johanna Malin Hanna Amira Fatima "
         "Lars Erik Anders Johan Per Karl Mikael Nils Jonas Oskar Ali Mohammed Ahmed Omar Daniel Fredrik Hugo Leo").split()
LAST = ("Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson Pettersson "
        "Jonsson Jansson Hansson Bengtsson Lindberg Lindqvist Lindström Berg Holm Ali Hassan Nguyen Virtanen "
        "Korhonen Lindelöw Åberg Öberg Ekström Sandberg").split()
UNITS = ("Ekonomi HR IT Kommunikation Socialtjänst Skola Förskola Äldreomsorg Miljö Bygglov Kultur Fritid "
         "Upphandling Teknik Vatten Gata Park Kundtjänst Försäljning Produktion Logistik Juridik").split()
TITLES = ("Handläggare Utvecklare Lärare Undersköterska Ekonom Controller Ingenjör Projektledare Samordnare "
          "Specialist Rådgivare Analytiker Administratör Sjuksköterska Kommunikatör Säljare").split()
FORMATS_SV = ["Workshop", "Kurs", "Mentorprogram", "Skuggning", "Studiecirkel", "Praktik", "Webbinarium",
              "Nätverksträff", "Projektuppdrag", "Reflektionsgrupp", "Utbildningsdag", "Coachingsamtal"]
FORMATS_EN = ["Workshop", "Course", "Mentoring programme", "Job shadowing", "Study circle", "Placement", "Webinar",
              "Network meeting", "Project assignment", "Reflection group", "Training day", "Coaching session"]
TOPICS_SV = ["ledarskap", "kommunikation", "förändringsarbete", "samarbete", "beslutsfattande", "konflikthantering",
             "projektledning", "presentationsteknik", "verksamhetsutveckling", "digitalisering", "kundbemötande",
             "självledarskap", "feedback", "mötesteknik", "strategiskt tänkande", "stresshantering", "förhandling"]
TOPICS_EN = ["leadership", "communication", "change management", "collaboration", "decision making", "conflict handling",
             "project management", "presentation skills", "business development", "digitalisation", "customer care",
             "self-leadership", "feedback", "meeting skills", "strategic thinking", "stress management", "negotiation"]
AUDIENCE_SV = ["för nya chefer", "för medarbetare", "för specialister", "i team", "på distans", "för projektledare"]
AUDIENCE_EN = ["for new managers", "for employees", "for specialists", "in teams", "remotely", "for project leads"]
PROVIDERS = ["HR", "Lärcentrum", "Extern leverantör", "Chefsnätverket", "IT-akademin", "Företagshälsan"]
NOTES = ["Vi pratade om vad som fungerar bra och vad som kan bli bättre.",
         "Medarbetaren vill ta mer ansvar i nästa projekt.",
         "Behöver tid i schemat för att hinna med utbildningen.",
         "We agreed to follow up after the summer.",
         "Konkreta exempel från vardagen hjälpte samtalet framåt.",
         "Fokus på att ge och ta emot feedback i teamet."]


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:50]


def seed_password_hash(seed: int) -> str:
    """A Werkzeug-format scrypt hash of :data:`SEED_PASSWORD` with a salt derived from ``seed``."""
    from core.auth import HASH_METHOD

    _method, n, r, p = HASH_METHOD.split(":")
    salt = hashlib.sha256(f"kbp-seed-{seed}".encode()).hexdigest()[:16]
    digest = hashlib.scrypt(SEED_PASSWORD.encode(), salt=salt.encode(), n=int(n), r=int(r), p=int(p),
                            maxmem=132 * int(n) * int(r) * int(p)).hex()
    return f"{HASH_METHOD}${salt}${digest}"


class _Gen:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def time(self, start: float = BASE_TIME, span: float = YEAR) -> float:
        return round(start + self.rng.random() * span, 3)


def _batched(storage: Storage, name: str, records: Iterable[dict], batch: int) -> int:
    coll = storage.collection(name)
    n = 0
    pending: list[dict] = []
    for record in records:
        pending.append(record)
        if len(pending) >= batch:
            with coll.transaction() as tx:
                for r in pending:
                    tx.insert(r)
            n += len(pending)
            pending = []
    if pending:
        with coll.transaction() as tx:
            for r in pending:
                tx.insert(r)
        n += len(pending)
    coll.compact()
    return n


def seed(app, *, people: int = 10000, plans: int = 20000, activities: int = 50000, seed: int = 1,
         batch: int = 2000, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write the data set into ``app``'s data folder; returns record counts per collection."""
    from core.i18n import available_locales

    say = progress or (lambda _msg: None)
    state = app.extensions["kbp"]
    storage: Storage = state.storage
    registry = state.registry
    if storage.collection("people").count() or storage.collection("plans").count():
        raise ValueError(
            _("The data folder %(folder)s already has people or plans; seed an empty one.", folder=storage.location)
        )
    g = _Gen(seed)
    with app.app_context():
        locales = available_locales()
    counts: dict[str, int] = {}

    # ------------------------------------------------------------------ people
    say(_("people: %(num)d", num=people))
    person_ids = [g.id() for _i in range(people)]
    managers = set(range(0, people, 9)) if people else set()
    manager_list = sorted(managers)
    coach_of: list[int | None] = []
    records: list[dict] = []
    for i, pid in enumerate(person_ids):
        if i == 0:
            coach = None
        elif i in managers:
            earlier = [m for m in manager_list[: max(1, manager_list.index(i) // 2)] if m < i]
            coach = g.rng.choice(earlier) if earlier else 0
        else:
            coach = g.rng.choice(manager_list[: max(1, min(len(manager_list), 1 + i // 9))])
            if coach == i:
                coach = 0
        coach_of.append(coach)
        first, last = g.rng.choice(FIRST), g.rng.choice(LAST)
        created = g.time(BASE_TIME - 2 * YEAR, YEAR)
        records.append({
            "id": pid, "name": f"{first} {last}", "email": f"{_slug(first)}.{_slug(last)}.{i}@example.org",
            "job_title": "Chef" if i in managers else g.rng.choice(TITLES), "unit": g.rng.choice(UNITS),
            "coach_id": person_ids[coach] if coach is not None else None,
            "locale": "en" if g.rng.random() < 0.15 else "sv",
            "status": "left" if g.rng.random() < 0.04 else "active", "created_at": created, "updated_at": created,
        })
    emails = [r["email"] for r in records]
    names = [r["name"] for r in records]
    counts["people"] = _batched(storage, "people", records, batch)

    # ------------------------------------------------------------------ accounts
    password_hash = seed_password_hash(seed)
    account_of: dict[int, str] = {}
    records = [{"id": "seed-admin", "username": "admin@example.org", "password_hash": password_hash, "role": "admin",
                "person_id": None, "active": True, "session_epoch": 0, "created_at": BASE_TIME - YEAR}]
    for i, pid in enumerate(person_ids):
        role = "coach" if i in managers else ("employee" if g.rng.random() < 0.1 else None)
        if role is None:
            continue
        aid = g.id()
        account_of[i] = aid
        records.append({"id": aid, "username": emails[i], "password_hash": password_hash,
                        "role": role, "person_id": pid, "active": True, "session_epoch": 0,
                        "created_at": g.time(BASE_TIME - YEAR, YEAR / 2)})
    say(_("accounts: %(num)d", num=len(records)))
    counts["accounts"] = _batched(storage, "accounts", records, batch)

    # ------------------------------------------------------------------ in-house activities
    say(_("inhouse_activities: %(num)d", num=activities))
    gids = sorted(registry.competencies)
    inhouse = []
    for i in range(activities):
        f = g.rng.randrange(len(FORMATS_SV))
        t = g.rng.randrange(len(TOPICS_SV))
        a = g.rng.randrange(len(AUDIENCE_SV))
        title_sv = f"{FORMATS_SV[f]} i {TOPICS_SV[t]} {AUDIENCE_SV[a]}"
        title_en = f"{FORMATS_EN[f]} in {TOPICS_EN[t]} {AUDIENCE_EN[a]}"
        weeks = g.rng.randint(1, 12)
        inhouse.append({
            "id": f"{_slug(title_sv)}-{i}",
            "source_language": "sv",
            "title": {"sv": title_sv, "en": title_en},
            "description": {
                "sv": f"{FORMATS_SV[f]} där deltagarna övar {TOPICS_SV[t]} med exempel från sin egen vardag. "
                      f"Passar {AUDIENCE_SV[a]}; {weeks} träffar med uppgifter mellan gångerna.",
                "en": f"A {FORMATS_EN[f].lower()} where participants practise {TOPICS_EN[t]} with examples from their "
                      f"own work. Suited {AUDIENCE_EN[a]}; {weeks} sessions with tasks in between.",
            },
            "competencies": sorted(set(g.rng.sample(gids, g.rng.randint(1, 3)))),
            "kind": g.rng.choice(model.ACTIVITY_KINDS), "effort": g.rng.choice(model.EFFORTS),
            "duration": f"{weeks} veckor", "cost": g.rng.choice(["0 kr", "1 500 kr", "4 900 kr", "12 000 kr"]),
            "provider": g.rng.choice(PROVIDERS), "url": f"https://intra.example.org/utveckling/{i}",
            "tags": sorted({TOPICS_SV[t], g.rng.choice(TOPICS_SV)}),
            "situations": [s for s in model.SITUATIONS if g.rng.random() < 0.3],
            "owner": "hr@example.org", "archived": g.rng.random() < 0.03, "version": 1,
            "created_at": (ts := g.time(BASE_TIME - YEAR, YEAR)), "updated_at": ts,
        })
    # through the writable-source interface, as HR's own imports go, into whichever source is editable
    target = next((src for src in registry.activity_sources.values() if getattr(src, "writable", False)), None)
    if target is None:
        inhouse = []  # no editable source installed: the plans use the frameworks' activities only
    else:
        for start in range(0, len(inhouse), batch):
            target.import_records(inhouse[start : start + batch])
        counts[target.collection_name or target.id] = len(inhouse)

    # ------------------------------------------------------------------ plans
    say(_("plans: %(num)d", num=plans))
    with app.app_context():
        snap = Snapshotter(registry, locales)
        presenters = {loc: Presenter(registry, loc) for loc in locales}
        comp_snap: dict[str, dict] = {}
        for gid in gids:
            comp = registry.competency(gid)
            fw = registry.frameworks[comp.framework_id]
            comp_snap[gid] = {
                "competency": gid,
                "framework": {loc: p.tr(fw.name, fw.text) for loc, p in presenters.items()},
                "name": {loc: p.tr(comp.name, comp.text) for loc, p in presenters.items()},
                "definition": {loc: p.tr(comp.definition, comp.text) for loc, p in presenters.items()},
                "goal": "",
            }
        questions: dict[tuple[str, str], list[dict]] = {}
        for qs in registry.question_sets.values():
            for q in qs.questions:
                questions.setdefault((q.competency, q.kind), []).append(snap.question(qs, q, shared=True))
        framework_acts: dict[str, list[dict]] = {}
        for source in registry.activity_sources.values():
            if source.writable:
                continue
            for a in source.loaded():
                entry = snap.activity(a)
                for gid in a.competencies:
                    framework_acts.setdefault(gid, []).append(entry)
        inhouse_by_gid: dict[str, list[dict]] = {}
        for record in inhouse[: min(len(inhouse), 3000)]:  # plans pick from a popular subset
            if record["archived"]:
                continue
            entry = snap.activity(record_to_activity(record, target.id))
            for gid in record["competencies"]:
                inhouse_by_gid.setdefault(gid, []).append(entry)

    with_coach = [i for i in range(people) if coach_of[i] is not None]
    plan_records, history, audit = [], [], []
    for _plan in range(plans if with_coach else 0):
        i = g.rng.choice(with_coach)
        coach = coach_of[i]
        mode = "self_reflection" if (i in account_of and g.rng.random() < 0.2) else "coaching"
        author = account_of.get(i) if mode == "self_reflection" else account_of.get(coach, "seed-admin")
        created = g.time()
        pid = g.id()
        focus_ids = g.rng.sample(gids, g.rng.randint(1, 3))
        focus = []
        for gid in focus_ids:
            entry = dict(comp_snap[gid])
            if g.rng.random() < 0.7:
                entry["goal"] = f"Utveckla {entry['name'].get('sv', gid).lower()} genom konkreta uppdrag under året."
            focus.append(entry)
        kind = "self_reflection" if mode == "self_reflection" else "coaching"
        chosen_q = []
        for gid in focus_ids:
            pool = questions.get((gid, kind), [])
            for q in g.rng.sample(pool, min(len(pool), g.rng.randint(1, 2))):
                q = dict(q, shared=mode == "coaching", note=g.rng.choice(NOTES) if g.rng.random() < 0.5 else "")
                chosen_q.append(q)
        acts = []
        for gid in focus_ids:
            pool = framework_acts.get(gid, []) + inhouse_by_gid.get(gid, [])
            for a in g.rng.sample(pool, min(len(pool), g.rng.randint(0, 2))):
                due = g.time(created, YEAR / 2)
                acts.append(dict(a, id=f"{g.rng.getrandbits(48):012x}", competency=gid,
                                 status=g.rng.choice(("planned", "planned", "in_progress", "done", "dropped")),
                                 owner=names[i], due=_date(due)))
        n_changes = g.rng.randint(0, 4)
        agreed = acts and g.rng.random() < 0.5
        follow_ups = [{"at": g.time(created, YEAR / 3), "by": author, "note": g.rng.choice(NOTES)}
                      for _follow_up in range(g.rng.randint(0, 2) if agreed else 0)]
        updated = created + n_changes * 3600.0
        plan_records.append({
            "id": pid, "person_id": person_ids[i], "coach_id": person_ids[coach], "created_by": author, "mode": mode,
            "situation": g.rng.choice(model.SITUATIONS), "focus": focus, "questions": chosen_q, "activities": acts,
            "follow_up_date": _date(g.time(created, YEAR)) if agreed else None, "follow_ups": follow_ups,
            "status": "agreed" if agreed else "draft",
            "agreed": {"employee": updated, "coach": updated if mode == "coaching" else None} if agreed
            else {"employee": None, "coach": None},
            "version": 1 + n_changes, "created_at": created, "updated_at": updated,
        })
        history.append({"id": g.id(), "plan_id": pid, "at": created, "by": author, "action": "create", "fields": []})
        for k in range(n_changes):
            history.append({"id": g.id(), "plan_id": pid, "at": created + (k + 1) * 3600.0, "by": author,
                            "action": g.rng.choice(("update", "note", "activity_status")),
                            "fields": sorted(g.rng.sample(["focus", "questions", "activities", "goals"], 1))})
        audit.append({"id": g.id(), "at": created, "actor": author, "action": "create", "subject_type": "plan",
                      "subject_id": pid})
    counts["plans"] = _batched(storage, "plans", plan_records, batch)
    say(_("plan_history: %(num)d", num=len(history)))
    counts["plan_history"] = _batched(storage, "plan_history", history, batch * 5)
    counts["audit"] = _batched(storage, "audit", audit, batch * 5)
    return counts


def _date(ts: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).date().isoformat()
