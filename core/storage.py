"""Process-safe, crash-safe JSON repositories built on TinyDB.

Usage::

    storage = Storage("/var/lib/kbp")
    people = storage.collection("people")          # -> /var/lib/kbp/people.json
    rec = people.insert({"name": "Ada"})           # id generated, "_v" added
    people.update(rec["id"], {"role": "lead"})
    with people.transaction() as tx:               # all-or-nothing, one write
        for row in rows:
            tx.upsert(row)

Design, and why
===============

*One JSON file per collection.*  ``<data_dir>/<name>.json`` holds a TinyDB
database whose default table (``_default``) maps each record's string ``id``
to the record.  Keying TinyDB documents by our own ids (a ``Table`` subclass
whose ``document_id_class`` is ``str``) means TinyDB's in-memory integer
doc-id counter is never used, so it cannot go stale when another process
writes, and ``get(id)`` is a dictionary lookup instead of a scan.  We also
never use TinyDB's query cache (``find`` evaluates a TinyDB ``Query`` against
a fresh snapshot), which would otherwise go stale across processes too.

*Process safety.*  Several gunicorn workers share the files, so every
operation - reads included - runs while holding a ``filelock.FileLock`` on
``<name>.json.lock``.  Under the lock the file is re-read (see the cache
below), modified and written back, so no update is ever lost and every
operation sees all writes that other processes completed before it.
Threads are serialised by the same lock (``FileLock`` is thread-local, each
thread locks its own descriptor).

*Crash safety.*  The custom ``tinydb.Storage`` subclass never writes into the
live file.  It writes a temp file in the same folder, flushes and ``fsync``\\ s
it, ``os.replace``\\ s it onto the target (atomic on POSIX) and then fsyncs the
directory so the rename itself is durable.  A crash at any moment therefore
leaves either the complete old file or the complete new file.  Temp files
left behind by a crash are never read; because temp files only exist while
their writer holds the lock, any temp file seen under the lock is an orphan
and is removed after the next successful write.

*Cheap re-reads.*  Re-parsing the whole file for every operation would be
wasteful, so the parsed data is cached keyed on the file's
``(st_dev, st_ino, st_mtime_ns, st_size)``.  Each write replaces the file
with a new inode, so any write by another process changes the key.  The
cache keeps the parsed file open, which stops the kernel from recycling
that inode number for a later file, so an old key can never match a
newer file.  Cached data is treated as immutable: records are handed to callers
as deep copies and written records are fresh dicts.

*Transactions.*  ``Collection.transaction()`` holds the lock for the whole
``with`` body and collects changes in an overlay (id -> new record, or
``None`` for deleted).  Reads in the transaction see the overlay on top of
the file.  On a clean exit the overlay goes into TinyDB in one table update,
so the file is written once.  If the body raises, the overlay is dropped and
the file is not touched.  Every single-record write is a one-operation
transaction.  The cost is O(file size) per commit, whether it holds one
change or thousands, so bulk imports stay linear.

*Corruption is never "repaired".*  A file that exists but is empty, is not
valid JSON or does not have the expected shape raises ``CorruptDataError``,
naming the file.  Because TinyDB always reads before it writes, a corrupt
file can't be silently replaced by an empty database.  As a second guard,
the storage refuses to write unless the file on disk is still exactly the
one it last read successfully.  A missing file is simply an empty
collection.

Every stored record carries ``"_v": SCHEMA_VERSION`` so that later schema
migrations can tell old records from new ones.

Limits: written for POSIX (gunicorn).  On Windows, ``os.replace`` can't
replace a file that is open, and the cache keeps the file open.  Each commit
rewrites the whole file, so a write costs O(collection size).  A read costs
O(1) plus the copies it returns when the file has not changed, and one parse
when it has.  Locks are per collection.  A process that holds
transactions on two collections at once must always take them in the same
order.  Otherwise two processes can wait for each other until
``lock_timeout`` runs out.
"""
from __future__ import annotations

import errno
import json
import os
import re
import stat
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from tinydb import Query, TinyDB
from tinydb.storages import Storage as _TinyDBStorage
from tinydb.table import Table

__all__ = [
    "SCHEMA_VERSION",
    "Storage",
    "Collection",
    "Transaction",
    "StorageError",
    "CorruptDataError",
    "NotFoundError",
    "DuplicateIdError",
    "LockTimeoutError",
]

#: Version stamped into every record (as ``"_v"``) when it is written.
SCHEMA_VERSION = 1

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_TABLE = TinyDB.default_table_name  # "_default"
_LOCK_POLL_INTERVAL = 0.005  # seconds between attempts while another process holds the lock
_DEFAULT_LOCK_TIMEOUT = 60.0


# --------------------------------------------------------------------------- errors


class StorageError(Exception):
    """Base class for all storage errors."""


class CorruptDataError(StorageError):
    """A data file exists but cannot be used. It is never modified by this module."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"The data file {self.path} is corrupt ({reason}). "
            f"It was left untouched. Restore it from a backup, or move it aside, "
            f"before using this collection again."
        )


class NotFoundError(StorageError):
    """No record with the requested id exists."""


class DuplicateIdError(StorageError):
    """A record with the same id already exists."""


class LockTimeoutError(StorageError):
    """The collection's lock could not be acquired in time."""


# --------------------------------------------------------------------------- helpers


def _clone(value: Any) -> Any:
    """Deep-copy JSON data (and check that it is JSON-serialisable).

    A JSON round trip runs in C and is much faster than ``copy.deepcopy``.
    """
    return json.loads(json.dumps(value, allow_nan=False))


def _check_id(record_id: Any) -> str:
    if not isinstance(record_id, str) or not record_id:
        raise ValueError(f"A record id must be a non-empty string, got {record_id!r}.")
    return record_id


def _prepare(record: Any, what: str = "record") -> dict:
    """Validate ``record`` and return a private deep copy of it."""
    if not isinstance(record, Mapping):
        raise TypeError(f"A {what} must be a dict, got {type(record).__name__}.")
    try:
        copy = _clone(dict(record))
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(f"The {what} is not JSON-serialisable: {exc}") from exc
    return copy


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where unsupported)."""
    if os.name == "nt":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems do not support fsync on directories
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- TinyDB layer


class _Snapshot:
    """Parsed contents of one version of the data file (treated as immutable)."""

    __slots__ = ("key", "handle", "data")

    def __init__(self, key, handle, data: dict):
        self.key = key
        self.handle = handle  # kept open so the inode number cannot be reused
        self.data = data

    def close(self) -> None:
        if self.handle is not None:
            with suppress(OSError):
                self.handle.close()
            self.handle = None


_MISSING = object()  # "last read saw no file"


class _AtomicJSONStorage(_TinyDBStorage):
    """TinyDB storage doing atomic, durable writes and validated, cached reads.

    Callers must hold the collection's file lock around every ``read`` and
    ``read``-then-``write`` sequence.
    """

    def __init__(self, path: str):
        super().__init__()
        self.path = Path(path)
        self._cache: _Snapshot | None = None
        self._last_read: object = None  # stat key (or _MISSING) of the last successful read

    # -- reading

    def read(self) -> dict | None:
        data = self.snapshot()
        # Shallow copy: TinyDB replaces the table entry of the dict it gets
        # before writing; it must not do that to our cached dict.
        return None if data is None else dict(data)

    def snapshot(self) -> dict | None:
        """The current file contents (do not mutate), or None if there is no file."""
        self._last_read = None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._drop_cache()
            self._last_read = _MISSING
            return None
        except OSError as exc:
            raise StorageError(f"Cannot access the data file {self.path}: {exc}") from exc

        if self._cache is not None and self._cache.key == _stat_key(st):
            self._last_read = self._cache.key
            return self._cache.data

        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:  # pragma: no cover - only if someone ignores the lock
            self._drop_cache()
            self._last_read = _MISSING
            return None
        except OSError as exc:
            raise StorageError(f"Cannot open the data file {self.path}: {exc}") from exc
        try:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise StorageError(f"The data file {self.path} is not a regular file.")
            raw = handle.read()
            data = self._parse(raw)
        except BaseException:
            handle.close()
            raise
        self._drop_cache()
        self._cache = _Snapshot(_stat_key(st), handle, data)
        self._last_read = self._cache.key
        return data

    def _parse(self, raw: bytes) -> dict:
        if not raw:
            raise CorruptDataError(self.path, "the file is empty (0 bytes)")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # includes JSONDecodeError, UnicodeDecodeError
            raise CorruptDataError(self.path, f"not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise CorruptDataError(self.path, "the top level is not a JSON object")
        for table_name, table in data.items():
            if not isinstance(table, dict):
                raise CorruptDataError(self.path, f"table {table_name!r} is not a JSON object")
        for key, doc in data.get(_TABLE, {}).items():
            if not isinstance(doc, dict):
                raise CorruptDataError(self.path, f"record {key!r} is not a JSON object")
            if doc.get("id") != key:
                raise CorruptDataError(self.path, f"record {key!r} does not have the id {key!r}")
        return data

    # -- writing

    def write(self, data: dict) -> None:
        # Second guard against clobbering: only replace exactly the file we
        # last read successfully (a failed read, e.g. corruption, resets this).
        current: object
        try:
            current = _stat_key(os.stat(self.path))
        except FileNotFoundError:
            current = _MISSING
        except OSError as exc:
            raise StorageError(f"Cannot access the data file {self.path}: {exc}") from exc
        if self._last_read is None or current != self._last_read:
            raise StorageError(
                f"Refusing to write {self.path}: it changed on disk since it was read "
                f"(was it modified by a process that does not take the lock?). Nothing was written."
            )

        try:
            payload = json.dumps(
                data, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode("utf-8")
        except (TypeError, ValueError) as exc:  # pragma: no cover - records are validated on entry
            raise StorageError(f"Cannot serialise the data for {self.path}: {exc}") from exc

        directory = self.path.parent
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        handle = os.fdopen(fd, "r+b")
        try:
            if current is not _MISSING:
                with suppress(OSError):
                    os.fchmod(handle.fileno(), stat.S_IMODE(os.stat(self.path).st_mode))
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(tmp_name, self.path)
        except BaseException as exc:
            handle.close()
            with suppress(OSError):
                os.unlink(tmp_name)
            if isinstance(exc, OSError):
                raise StorageError(
                    f"Could not write {self.path}: {exc}. The previous contents were kept."
                ) from exc
            raise
        # The new file is in place; from here on the old contents are gone.
        self._drop_cache()
        self._cache = _Snapshot(_stat_key(os.fstat(handle.fileno())), handle, data)
        self._last_read = self._cache.key
        try:
            _fsync_dir(directory)
        except OSError as exc:
            raise StorageError(
                f"Wrote {self.path} but could not make the change durable: {exc}"
            ) from exc
        self._remove_orphans(directory)

    def _remove_orphans(self, directory: Path) -> None:
        """Delete temp files left by writers that crashed (we hold the lock)."""
        prefix = f".{self.path.name}."
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
                with suppress(OSError):
                    os.unlink(entry.path)

    # -- housekeeping

    def _drop_cache(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def close(self) -> None:
        self._drop_cache()


class _RecordTable(Table):
    """TinyDB table whose document ids are the records' own string ids."""

    document_id_class = str  # type: ignore[assignment]

    def snapshot(self) -> Mapping[str, dict]:
        """The table's current raw documents keyed by id (read-only!)."""
        return self._read_table()

    def apply(self, changes: Mapping[str, dict | None]) -> None:
        """Apply ``{id: record or None (delete)}`` in one table update (one write)."""

        def updater(table: dict) -> None:
            for record_id, record in changes.items():
                if record is None:
                    table.pop(record_id, None)
                else:
                    table[record_id] = record  # replaces in place: file order is kept

        self._update_table(updater)


class _DocumentDB(TinyDB):
    table_class = _RecordTable


# --------------------------------------------------------------------------- public API


class _View:
    """Read operations over the file contents plus pending changes."""

    def __init__(self, collection: "Collection"):
        self._collection = collection
        self._table: _RecordTable = collection._table
        self._changes: dict[str, dict | None] = {}

    def _base(self) -> Mapping[str, dict]:
        return self._table.snapshot()

    def _lookup(self, record_id: str) -> dict | None:
        if record_id in self._changes:
            return self._changes[record_id]
        return self._base().get(record_id)

    def _iter(self) -> Iterator[dict]:
        changes = self._changes
        if not changes:
            yield from self._base().values()
            return
        seen = set()
        for record_id, doc in self._base().items():
            if record_id in changes:
                seen.add(record_id)
                doc = changes[record_id]
                if doc is None:
                    continue
            yield doc
        for record_id, doc in changes.items():
            if doc is not None and record_id not in seen:
                yield doc

    def get(self, id: str) -> dict | None:
        """The record with this id (a copy), or None."""
        doc = self._lookup(_check_id(id))
        return None if doc is None else _clone(doc)

    def all(self) -> list[dict]:
        """All records (copies), in insertion order."""
        return _clone(list(self._iter()))

    def find(self, **equals: Any) -> list[dict]:
        """Records (copies) whose fields equal all the given values."""
        cond = Query().fragment(equals)
        return _clone([doc for doc in self._iter() if cond(doc)])

    def count(self) -> int:
        """Number of records."""
        base = self._base()
        total = len(base)
        for record_id, doc in self._changes.items():
            total += (doc is not None) - (record_id in base)
        return total


class Transaction(_View):
    """Write (and read) operations of one ``Collection.transaction()`` block.

    Changes are visible to this object's reads at once. They reach the file
    only when the ``with`` block exits without an exception.
    """

    def __init__(self, collection: "Collection"):
        super().__init__(collection)
        self._open = True

    def _require_open(self) -> None:
        if not self._open:
            raise StorageError("This transaction is finished; start a new one.")

    def _lookup(self, record_id: str) -> dict | None:
        self._require_open()
        return super()._lookup(record_id)

    def _base(self) -> Mapping[str, dict]:
        self._require_open()
        return super()._base()

    def _stamp(self, doc: dict) -> dict:
        doc["_v"] = SCHEMA_VERSION
        return doc

    def insert(self, record: Mapping) -> dict:
        """Add a new record; generates a uuid4-hex ``id`` if it has none."""
        doc = _prepare(record)
        if doc.get("id") is None:
            doc["id"] = uuid.uuid4().hex
        record_id = _check_id(doc["id"])
        if self._lookup(record_id) is not None:
            raise DuplicateIdError(
                f"A record with id {record_id!r} already exists in collection "
                f"{self._collection.name!r}."
            )
        self._changes[record_id] = self._stamp(doc)
        return _clone(doc)

    def update(self, id: str, changes: Mapping) -> dict:
        """Merge ``changes`` into an existing record and return the result."""
        record_id = _check_id(id)
        fields = _prepare(changes, "changes")
        if "id" in fields and fields["id"] != record_id:
            raise ValueError(
                f"Cannot change the id of record {record_id!r} to {fields['id']!r}."
            )
        current = self._lookup(record_id)
        if current is None:
            raise NotFoundError(
                f"No record with id {record_id!r} in collection {self._collection.name!r}."
            )
        doc = _clone(current)
        doc.update(fields)
        self._changes[record_id] = self._stamp(doc)
        return _clone(doc)

    def upsert(self, record: Mapping) -> dict:
        """Insert the record, or replace the whole stored record with the same id."""
        doc = _prepare(record)
        if doc.get("id") is None:
            doc["id"] = uuid.uuid4().hex
        record_id = _check_id(doc["id"])
        self._require_open()
        self._changes[record_id] = self._stamp(doc)
        return _clone(doc)

    def delete(self, id: str) -> bool:
        """Delete a record; returns False if there was none."""
        record_id = _check_id(id)
        if self._lookup(record_id) is None:
            return False
        self._changes[record_id] = None
        return True

    def _commit(self) -> None:
        if self._changes:
            self._table.apply(self._changes)

    def _close(self) -> None:
        self._open = False
        self._changes = {}


class Collection:
    """A set of records stored in ``<data_dir>/<name>.json``.

    Every method holds the collection's file lock and sees the latest data
    written by any process. Returned dicts are copies.
    """

    def __init__(self, data_dir: Path, name: str, lock_timeout: float = _DEFAULT_LOCK_TIMEOUT):
        self.name = name
        self.path = Path(data_dir) / f"{name}.json"
        self.lock_timeout = lock_timeout
        self._lock = FileLock(f"{self.path}.lock")
        self._db = _DocumentDB(str(self.path), storage=_AtomicJSONStorage)
        self._table: _RecordTable = self._db.table(_TABLE)  # type: ignore[assignment]
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"<Collection {self.name!r} at {self.path}>"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self._lock.acquire(timeout=self.lock_timeout, poll_interval=_LOCK_POLL_INTERVAL)
        except Timeout as exc:
            raise LockTimeoutError(
                f"Timed out after {self.lock_timeout} s waiting for the lock on {self.path} "
                f"(lock file {self._lock.lock_file})."
            ) from exc
        try:
            yield
        finally:
            self._lock.release()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Hold the lock for the block and write all changes once at its end.

        If the block raises, nothing is written. Use the yielded object for
        writes; calling this collection's write methods inside the block
        raises ``StorageError``. This collection's read methods inside the
        block show the data as it was before the block.
        """
        if getattr(self._local, "transaction", None) is not None:
            raise StorageError(
                f"A transaction on collection {self.name!r} is already open in this thread; "
                f"use its transaction object for writes (transactions do not nest)."
            )
        with self._locked():
            tx = Transaction(self)
            self._local.transaction = tx
            try:
                yield tx
                tx._commit()
            finally:
                tx._close()
                self._local.transaction = None

    def _read(self) -> _View:
        return _View(self)

    # -- reads

    def get(self, id: str) -> dict | None:
        """The record with this id (a copy), or None."""
        with self._locked():
            return self._read().get(id)

    def all(self) -> list[dict]:
        """All records (copies), in insertion order."""
        with self._locked():
            return self._read().all()

    def find(self, **equals: Any) -> list[dict]:
        """Records (copies) whose fields equal all the given values."""
        with self._locked():
            return self._read().find(**equals)

    def count(self) -> int:
        """Number of records."""
        with self._locked():
            return self._read().count()

    # -- writes (each one is a single-operation transaction)

    def insert(self, record: Mapping) -> dict:
        """Add a new record (``id`` generated if missing); ``DuplicateIdError`` if taken."""
        with self.transaction() as tx:
            return tx.insert(record)

    def update(self, id: str, changes: Mapping) -> dict:
        """Merge ``changes`` into a record; ``NotFoundError`` if it does not exist."""
        with self.transaction() as tx:
            return tx.update(id, changes)

    def upsert(self, record: Mapping) -> dict:
        """Insert the record or replace the stored record with the same id."""
        with self.transaction() as tx:
            return tx.upsert(record)

    def delete(self, id: str) -> bool:
        """Delete a record; returns whether it existed."""
        with self.transaction() as tx:
            return tx.delete(id)

    def close(self) -> None:
        """Release cached file handles (the collection stays usable)."""
        with self._locked():
            self._db.storage.close()


class Storage:
    """Entry point: a folder of collections, one JSON file each."""

    def __init__(self, data_dir: str | os.PathLike, *, lock_timeout: float = _DEFAULT_LOCK_TIMEOUT):
        self.data_dir = Path(data_dir)
        self.lock_timeout = lock_timeout
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"Cannot create the data folder {self.data_dir}: {exc}") from exc
        self._collections: dict[str, Collection] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"<Storage at {self.data_dir}>"

    def collection(self, name: str) -> Collection:
        """The collection called ``name`` (a slug: ``[a-z][a-z0-9_]*``)."""
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(
                f"Invalid collection name {name!r}: use a lowercase letter followed by "
                f"lowercase letters, digits or underscores."
            )
        with self._guard:
            coll = self._collections.get(name)
            if coll is None:
                coll = Collection(self.data_dir, name, self.lock_timeout)
                self._collections[name] = coll
            return coll

    def close(self) -> None:
        """Release cached file handles of all collections."""
        with self._guard:
            for coll in self._collections.values():
                coll.close()
