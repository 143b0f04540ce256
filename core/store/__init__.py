"""The storage interface: everything the services need from a backend, and nothing more.

Two backends implement it: the embedded store (:mod:`core.storage`, snapshot + append-only log on
TinyDB files, the default) and PostgreSQL (a separate module, selected by ``KBP_DATABASE_URL``).
Services are written against these protocols only, so a rule works the same on both.

Shape of the data
-----------------
A *collection* holds JSON documents (dicts) with a string ``id``; every stored document carries
its schema version ``_v``. Documents are returned as copies: changing one never changes the store.

Operations
----------
``collection(name)``
    reads (``get``, ``find(**equals)``, ``find_any(field, values)``, ``all``, ``count``, ``map_readonly``), single-operation
    writes (``insert``, ``update``, ``upsert``, ``delete``), ``transaction()`` for several writes to
    one collection, and ``revision()``: a value that changes whenever the collection changes in any
    process or server (caches compare it).
``unit_of_work(*names)``
    one business action across collections, committed all or nothing: ``uow["plans"].update(...)``.
    Nothing is written if the block raises. On the embedded store a crash part-way is completed
    from a journal before anyone reads; on PostgreSQL it is one database transaction.
``declare_unique(name, *fields)`` / the :data:`SCHEMA` below
    uniqueness rules are declared, and enforced by the backend inside the write itself
    (``UniqueViolation`` naming the field), never by "look first, then write" in a caller.

Errors: :class:`StorageError` and its subclasses ``NotFoundError``, ``DuplicateIdError``,
``UniqueViolation``, ``LockTimeoutError`` and ``CorruptDataError`` (embedded files),
``UnavailableError`` (the database cannot be reached; the API answers 503).
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from core.storage import (
    CorruptDataError,
    DuplicateIdError,
    LockTimeoutError,
    NotFoundError,
    StorageError,
    UniqueViolation,
)

__all__ = [
    "SCHEMA",
    "Records",
    "Writer",
    "CollectionAPI",
    "UnitOfWorkAPI",
    "Store",
    "apply_schema",
    "StorageError",
    "NotFoundError",
    "DuplicateIdError",
    "UniqueViolation",
    "LockTimeoutError",
    "CorruptDataError",
    "UnavailableError",
]


class UnavailableError(StorageError):
    """The database cannot be reached (or no connection was free in time): try again later."""


#: Collections, the fields services look records up by (indexed), the fields no two records may
#: share, and list fields looked up by "contains any of" (``contains``). The PostgreSQL backend turns
#: these into real columns, indexes (GIN for ``contains``) and unique constraints; the embedded store
#: enforces the unique ones and builds its hash indexes on first use.
SCHEMA: dict[str, dict[str, tuple[str, ...]]] = {
    "people": {"indexed": ("email", "coach_id"), "unique": ("email",)},
    "accounts": {"indexed": ("username", "person_id"), "unique": ("username",)},
    "api_tokens": {"indexed": ("account_id",), "unique": ()},
    "sessions": {"indexed": ("account_id",), "unique": ()},
    "plans": {"indexed": ("person_id", "coach_id"), "unique": ()},
    "plan_history": {"indexed": ("plan_id",), "unique": ()},
    "audit": {"indexed": ("subject_id",), "unique": ()},
    # reminders (core.reminders): ids are derived from (person, event key), so a record is made once
    "notifications": {"indexed": ("person_id", "mail"), "unique": ()},
    "reminder_mails": {"indexed": ("person_id",), "unique": ()},
    "reminder_prefs": {"indexed": ("person_id",), "unique": ()},
    "calendar_feeds": {"indexed": ("person_id",), "unique": ()},
    # from recruitment to development (core.services.recruitment, core.services.preparation)
    "recruitment_records": {"indexed": ("person_id",), "unique": ()},
    "preparations": {"indexed": ("plan_id", "person_id"), "unique": ()},
    # the in-house activities (plugins/activities_inhouse): PostgreSQL workers do not keep them, they
    # ask for a competency's activities (``contains``: a GIN index on the list field)
    "inhouse_activities": {"indexed": (), "unique": (), "contains": ("competencies",)},
}


class Records(Protocol):
    """Reads."""

    def get(self, id: str) -> dict | None: ...

    def find(self, **equals: Any) -> list[dict]: ...

    def find_any(self, field: str, values: Iterable[Any]) -> list[dict]: ...

    def all(self) -> list[dict]: ...

    def count(self) -> int: ...


class Writer(Records, Protocol):
    """Reads and writes inside a transaction or unit of work (visible to its own reads at once)."""

    def insert(self, record: Mapping) -> dict: ...

    def insert_many(self, records: list[Mapping]) -> int: ...

    def update(self, id: str, changes: Mapping) -> dict: ...

    def upsert(self, record: Mapping) -> dict: ...

    def delete(self, id: str) -> bool: ...


@runtime_checkable
class CollectionAPI(Writer, Protocol):
    """A collection: reads, single-operation writes, transactions, a revision for caches."""

    name: str

    def transaction(self) -> AbstractContextManager[Writer]: ...

    def revision(self) -> Hashable: ...

    def map_readonly(self, fn: Callable[[dict], Any]) -> list: ...


class UnitOfWorkAPI(Protocol):
    def __getitem__(self, name: str) -> Writer: ...


@runtime_checkable
class Store(Protocol):
    """A backend."""

    def collection(self, name: str) -> CollectionAPI: ...

    def collection_names(self) -> list[str]: ...

    def unit_of_work(self, *names: str) -> AbstractContextManager[UnitOfWorkAPI]: ...

    def declare_unique(self, name: str, *fields: str) -> None: ...

    def recover(self) -> int: ...

    def purge_history(self) -> None:
        """Keep no earlier version of any record in the live data (after an erase): the embedded
        store rewrites every collection without its log and empties its journal; PostgreSQL keeps
        none to begin with (autovacuum reclaims the dead rows)."""
        ...

    def close(self) -> None: ...


def apply_schema(store: Store) -> Store:
    """Declare :data:`SCHEMA`'s uniqueness rules on ``store`` (the backend enforces them)."""
    for name, spec in SCHEMA.items():
        if spec["unique"]:
            store.declare_unique(name, *spec["unique"])
    return store
