"""The organisation's own development activities: a writable activity source stored in KBP.

HR admins create, edit, archive and restore them (pages under ``/admin/activities``, the REST API
under ``/api/v1/activity-sources/inhouse``, ``kbp activities`` on the command line), import and
export them as CSV or JSON. Text is stored per language; see :mod:`core.activities` for the record
and file formats. Records live in the collection ``inhouse_activities`` of the data folder.
"""
from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections import OrderedDict


from core import hookimpl
from core.activities import record_to_activity
from core.model import ConflictError, WritableActivitySource

__version__ = "1.0.0"

COLLECTION = "inhouse_activities"
KEPT_ACTIVITIES = 1024  # lean: activities lately shown that a worker keeps (about 2 MB)


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "aktivitet"


class InhouseActivities(WritableActivitySource):
    id = "inhouse"
    title = "In-house activities"
    domain = "messages"
    collection_name = COLLECTION  # in the app's store: each change and its audit entry are one commit

    def __init__(self, source_language: str = "sv"):
        self.source_language = source_language
        self.collection = None  # the app's store hands it over: attach()
        self._cache_key = None
        self._cache: list = []
        self._by_id: dict = {}  # id -> ((version, updated_at), Activity)
        self._by_competency: dict = {}  # global competency id -> [Activity]
        self._lock = threading.Lock()
        self._kept: OrderedDict = OrderedDict()  # lean: id -> Activity lately shown, at _kept_revision
        self._kept_revision = None

    def attach(self, store) -> None:
        self.collection = store.collection(COLLECTION)

    @property
    def lean(self) -> bool:
        """True on a store that answers "which records hold this competency" itself (PostgreSQL):
        then a worker keeps no Activity objects (tens of thousands, most of a worker's memory);
        the search index and the few activities a page shows come from the database."""
        return hasattr(self.collection, "find_containing")

    # ------------------------------------------------------------------ reading
    def revision(self):
        return self.collection.revision()

    def records(self, include_archived: bool = True) -> list[dict]:
        return [r for r in self.collection.all() if include_archived or not r.get("archived")]

    def get(self, activity_id: str) -> dict | None:
        return self.collection.get(activity_id)

    def map_activities(self, fn):
        """``fn`` over every activity: a list, or when the source is :attr:`lean` a generator reading
        the database as it goes (the search index is built from it without the worker ever holding
        every activity)."""
        if not self.lean:
            return [fn(a) for a in self.loaded()]
        return (fn(record_to_activity(doc, self.id)) for doc in self.collection.iter_readonly())

    def activities_by_id(self, ids) -> dict:
        """The activities with these ids (absent ones left out). When :attr:`lean`, the last
        :data:`KEPT_ACTIVITIES` shown are kept while the collection's revision stays the same (any
        change on any server moves it, and the request reads it anyway), so a search page or a
        competency page whose activities were shown lately asks the database nothing more; the
        others are read in one query."""
        if not self.lean:
            self.loaded()
            return {i: self._by_id[i][1] for i in ids if i in self._by_id}
        revision = self.revision()
        found: dict = {}
        missing: list = []
        with self._lock:
            if revision is None or revision != self._kept_revision:
                self._kept.clear()
                self._kept_revision = revision
            kept = self._kept
            for i in ids:
                activity = kept.get(i)
                if activity is None:
                    missing.append(i)
                else:
                    kept.move_to_end(i)
                    found[i] = activity
        if missing:
            fetched = {doc["id"]: record_to_activity(doc, self.id) for doc in self.collection.find_any("id", missing)}
            found.update(fetched)
            with self._lock:
                if revision is not None and revision == self._kept_revision:
                    self._kept.update(fetched)
                    while len(self._kept) > KEPT_ACTIVITIES:
                        self._kept.popitem(last=False)
        return {i: found[i] for i in ids if i in found}

    def loaded(self):
        """Every record as an Activity; after a change only changed records are converted again
        (an organisation may have tens of thousands, and every search checks for changes).
        When :attr:`lean`, a fresh list each time that nobody keeps."""
        if self.lean:
            return [record_to_activity(r, self.id) for r in self.collection.all()]
        key = self.revision()
        with self._lock:
            if key == self._cache_key and key is not None:
                return self._cache
            previous = self._by_id

            def convert(doc):
                stamp = (doc.get("version"), doc.get("updated_at"))
                hit = previous.get(doc["id"])
                if hit is not None and hit[0] == stamp:
                    return doc["id"], hit
                return doc["id"], (stamp, record_to_activity(doc, self.id))  # copies what it keeps

            self._by_id = dict(self.collection.map_readonly(convert))
            self._cache = [activity for _stamp, activity in self._by_id.values()]
            by_competency: dict[str, list] = {}
            for activity in self._cache:
                for gid in activity.competencies:
                    by_competency.setdefault(gid, []).append(activity)
            self._by_competency = by_competency
            self._cache_key = key
            return self._cache

    def for_competencies(self, competency_ids):
        """Through a competency index instead of a scan of every activity (the database's when :attr:`lean`)."""
        if self.lean:
            return [record_to_activity(doc, self.id) for doc in self.collection.find_containing("competencies", competency_ids)]
        self.loaded()
        found: dict[str, object] = {}
        for gid in competency_ids:
            for activity in self._by_competency.get(gid, ()):
                found.setdefault(activity.id, activity)
        return list(found.values())

    # ------------------------------------------------------------------ writing
    def _new_id(self, tx, record: dict) -> str:
        base = slugify(record["title"].get(record["source_language"]) or "aktivitet")
        candidate, n = base, 2
        while tx.get(candidate) is not None:
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    def create(self, record: dict) -> dict:
        with self.collection.transaction() as tx:
            return self.create_in(tx, record)

    def create_in(self, tx, record: dict) -> dict:
        now = time.time()
        record = dict(record)
        if not record.get("id"):
            record["id"] = self._new_id(tx, record)
        elif tx.get(record["id"]) is not None:
            raise ConflictError(record["id"])
        return tx.insert({**record, "version": 1, "created_at": now, "updated_at": now})

    def update(self, activity_id: str, changes: dict, expected_version: int | None = None) -> dict:
        with self.collection.transaction() as tx:
            return self.update_in(tx, activity_id, changes, expected_version)

    def update_in(self, tx, activity_id: str, changes: dict, expected_version: int | None = None) -> dict:
        current = tx.get(activity_id)
        if current is None:
            raise KeyError(activity_id)
        if expected_version is not None and current["version"] != expected_version:
            raise ConflictError(activity_id)
        return tx.update(activity_id, {**changes, "version": current["version"] + 1, "updated_at": time.time()})

    def import_records(self, records: list[dict]) -> tuple[int, int]:
        with self.collection.transaction() as tx:
            return self.import_in(tx, records)

    def import_in(self, tx, records: list[dict]) -> tuple[int, int]:
        created = updated = 0
        now = time.time()
        for record in records:
            record = dict(record)
            current = tx.get(record["id"]) if record.get("id") else None
            if current is None:
                if not record.get("id"):
                    record["id"] = self._new_id(tx, record)
                stamps = {"created_at": record.get("created_at", now), "updated_at": record.get("updated_at", now)}
                tx.insert({**record, "version": 1, **stamps})  # a record's own times survive (exports, seeds)
                created += 1
            else:
                tx.upsert({**record, "version": current["version"] + 1, "created_at": current.get("created_at", now),
                           "updated_at": now})
                updated += 1
        return created, updated


@hookimpl
def kbp_activity_sources(config):
    return [InhouseActivities(config.get("DEFAULT_LOCALE", "sv"))]
