"""Process-safe, crash-safe document collections on TinyDB, fast at organisation scale.

Usage::

    storage = Storage("/var/lib/kbp")
    people = storage.collection("people")          # -> people.json (+ people.json.log)
    rec = people.insert({"name": "Ada"})           # id generated, "_v" added
    people.update(rec["id"], {"role": "lead"})
    people.find(coach_id="c-17")                   # hash-indexed equality lookup
    with people.transaction() as tx:               # all-or-nothing, one log line
        for row in rows:
            tx.upsert(row)

Design, and why
===============

*Files.*  A collection ``<name>`` is three files in the data folder:

``<name>.json``
    the **snapshot**: a TinyDB JSON database (``{"_default": {id: record}}``, the same format
    earlier versions wrote on every commit) plus a ``"_kbp"`` entry ``{"format": 2, "gen": G}``
    naming its *generation* ``G``, a random id.  A snapshot is only ever written whole - temp
    file, ``fsync``, ``os.replace``, ``fsync`` of the folder - so it is always complete.
``<name>.json.log``
    the **log**: an append-only file.  Its first line ``{"kbp_log": 1, "gen": G}`` ties it to the
    snapshot of generation ``G``; every further line is one committed transaction,
    ``{"m": <mtime>, "c": {id: record, id: null (deleted), ...}}``.
``<name>.json.lock``
    the lock file (``flock``).
``.<name>.json.cache``
    for a big snapshot, its load cache: derived data, made from and checked against the
    snapshot's bytes (see :class:`_LoadCache`).

The records are the snapshot with the log's lines applied in order.  TinyDB stays the embedded
store: the snapshot is a TinyDB database written and read through a custom ``tinydb.Storage``
(:class:`_AtomicJSONStorage`), the live collection is a TinyDB ``Table`` on top of
:class:`_LogStorage` (another ``tinydb.Storage``: ``read()`` is the in-memory database, a full
``write()`` is diffed into one log line), and unindexed queries are TinyDB ``Query`` objects.

*Commit = one append.*  A transaction collects its changes in an overlay; on a clean exit they
are serialised (orjson) into **one** line, written with a single ``write`` to the log (opened
``O_APPEND``) and ``fsync``\\ ed before the call returns.  So a commit costs O(size of the
change), not O(size of the collection), and a transaction is atomic: its line is either
complete or not there.  If the write or the ``fsync`` fails the log is cut back to where it was
and ``StorageError`` says that the previous contents were kept.

*Compaction.*  When the log has grown bigger than the snapshot (and at least
``KBP_STORAGE_COMPACT_MIN_BYTES``, 4 MiB by default) the writer that noticed writes the current
records as a new snapshot with a fresh generation, then atomically replaces the log by a new
one holding only the header for that generation.  A crash between the two leaves a new
snapshot with an old log: the log's generation no longer matches, so it is recognised as
*stale* (everything in it is in the snapshot) and ignored, and the next writer starts a fresh
log.  Compaction therefore never loses or repeats a change.  The amortised cost per commit
stays O(size of the change).

*Process safety.*  Several gunicorn workers share the files.  Writes (and compaction) hold an
exclusive ``flock`` on the lock file; reads hold a shared one while they look for news.  In
memory each process keeps the records (snapshot + applied log lines) and the file identity it
read them from.  Before every operation it ``stat``\\ s the two files: if the snapshot is
still the same file (device, inode, size) and the log is the same file, it reads only the log
bytes after its offset and applies the new complete lines - another process's writes are
replayed incrementally instead of re-reading everything (when both files are exactly as last
read there is no news (a unit of work changes the snapshot's mtime of each of its collections
before it begins), and a read takes no lock: most reads
of a busy server).  A replaced snapshot or log
(compaction, a restore) makes it load both again.  Open file handles keep the inodes alive, so
an inode number is never recycled under us.  Threads of a process are serialised by a mutex.

*Crash safety.*  Acknowledged means ``fsync``\\ ed (for a unit of work across collections: its
journal record, see :class:`_Journal`; its log lines are synced at the next checkpoint, and
written again from the journal if a crash of the machine lost them).  A crash can leave at most one incomplete
last line (no trailing newline) - a commit that was never acknowledged.  Readers ignore it,
and the next writer cuts it off before appending.  Every complete line must be valid: anything
else (a bad line in the middle, a bad snapshot, a log without its snapshot) is corruption, not
a torn tail.  Temp files left by a crash are never read and are removed by the next writer.

*Corruption is never "repaired".*  A snapshot or log that exists but cannot be used raises
``CorruptDataError`` naming the file, for reads and writes alike, and nothing is written until
it is fixed (restore it from a backup, or move it aside).  A missing snapshot is simply an
empty collection.

*Indexes.*  ``find(field=value, ...)`` with a hashable value (strings, numbers, booleans,
None) uses an in-memory hash index ``value -> ids`` for that field, built on the first such
find and kept up to date by every change (local or replayed).  Results come in insertion order,
like a scan.  Other finds scan through a TinyDB ``Query``.

*Revision.*  Each commit also sets the snapshot file's mtime to a strictly increasing value
(and records it in the log line, so other processes know the new mtime is not a foreign
edit).  Code that watches ``os.stat(<name>.json)`` to notice changes keeps working;
:meth:`Collection.revision` is the cheaper and cleaner way.

*Format migration.*  A snapshot without the ``"_kbp"`` entry (the pre-log format: one TinyDB
file per collection) loads as it is.  The first write compacts it into the new format; ``kbp
migrate`` does that for every collection.

Every stored record carries ``"_v": SCHEMA_VERSION`` so that schema migrations
(:mod:`core.migrations`) can tell old records from new ones.

Limits: written for POSIX (``flock``, ``O_APPEND``, ``fsync`` of folders).  Every process keeps
the collections it uses in memory (about the size of the JSON).  Locks are per collection: a
process that holds transactions on two collections at once must always take them in the same
order.  Every process must go through this module (or at least take the lock): writing the
files by hand while the server runs is not supported.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import marshal
import os
import random
import re
import secrets
import stat
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import orjson
from tinydb import Query, TinyDB
from tinydb.storages import Storage as _TinyDBStorage
from tinydb.table import Table

from core.i18n import gettext as _

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
    "UniqueViolation",
    "UnitOfWork",
    "atomic_write",
    "SCHEMA_FILE",
]

log = logging.getLogger(__name__)

#: Version stamped into every record (as ``"_v"``) when it is written.
SCHEMA_VERSION = 1

#: Version of the file layout (snapshot + log). 1 was the single whole-file TinyDB JSON.
STORAGE_FORMAT = 2

LOG_SUFFIX = ".log"
#: the schema marker of a data folder: ``{"schema_version", "kbp_version", "migrated_at"}``
SCHEMA_FILE = "kbp-schema.json"
_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_TABLE = TinyDB.default_table_name  # "_default"
_META = "_kbp"
_DEFAULT_LOCK_TIMEOUT = 60.0


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


#: compact when the log is larger than this many bytes and than COMPACT_RATIO x the snapshot
COMPACT_MIN_BYTES = _env_int("KBP_STORAGE_COMPACT_MIN_BYTES", 4 * 1024 * 1024)
COMPACT_RATIO = 1.0
#: snapshots at least this big are loaded from their load cache when it matches (see :class:`_LoadCache`)
CACHE_MIN_BYTES = _env_int("KBP_STORAGE_CACHE_MIN_BYTES", 16 * 1024 * 1024)


# --------------------------------------------------------------------------- errors


class StorageError(Exception):
    """Base class for all storage errors."""


class CorruptDataError(StorageError):
    """A data file exists but cannot be used. It is never modified by this module."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            _(
                "The data file %(path)s is corrupt (%(reason)s). "
                "It was left untouched. Restore it from a backup, or move it aside, "
                "before using this collection again.",
                path=self.path,
                reason=reason,
            )
        )


class NotFoundError(StorageError):
    """No record with the requested id exists."""


class DuplicateIdError(StorageError):
    """A record with the same id already exists."""


class LockTimeoutError(StorageError):
    """The collection's lock could not be acquired in time."""


class UniqueViolation(StorageError):
    """A write would give two records of a collection the same value of a field declared unique."""

    def __init__(self, collection: str, field: str, value: Any):
        self.collection, self.field, self.value = collection, field, value
        super().__init__(
            _(
                "Another record of %(collection)s already has this %(field)s.",
                collection=repr(collection),
                field=field,
            )
        )


# --------------------------------------------------------------------------- helpers


def _clone(value: Any) -> Any:
    """Deep copy of stored JSON data (orjson round trip, runs in C)."""
    return orjson.loads(orjson.dumps(value))


def _check_id(record_id: Any) -> str:
    if not isinstance(record_id, str) or not record_id:
        raise ValueError(f"A record id must be a non-empty string, got {record_id!r}.")
    return record_id


def _prepare(record: Any, what: str = "record") -> dict:
    """Validate ``record`` and return a private deep copy of it."""
    if not isinstance(record, Mapping):
        raise TypeError(f"A {what} must be a dict, got {type(record).__name__}.")
    try:
        # the standard library defines what is accepted (no NaN, str keys, JSON types only)
        copy = json.loads(json.dumps(dict(record), allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(f"The {what} is not JSON-serialisable: {exc}") from exc
    return copy


def _serialise(doc: dict, what: str = "record") -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError as exc:  # e.g. an integer beyond 64 bits
        raise TypeError(f"The {what} cannot be stored: {exc}") from exc


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


def atomic_write(path: str | os.PathLike, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` whole or not at all, durably: temp file in the same folder,
    fsync, rename, fsync of the folder. ``mode`` (e.g. 0o644) is applied before the rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` (one ``write`` call unless the kernel writes less)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _hashable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float))


def _matcher(equals: Mapping[str, Any]):
    items = list(equals.items())

    def match(doc: Mapping) -> bool:
        for key, value in items:
            if key not in doc or doc[key] != value:
                return False
        return True

    return match


# --------------------------------------------------------------------------- locking


_LIVE_LOCKS: "weakref.WeakSet[_Lock]" = weakref.WeakSet()


class _Lock:
    """``flock`` on a lock file (shared or exclusive) plus a mutex for the threads of a process."""

    def __init__(self, path: Path, timeout: float, what: Path):
        self.path = path
        self.timeout = timeout
        self.what = what
        self._mutex = threading.RLock()
        self._file = None
        self._pid = None
        self._depth = 0
        self._exclusive = False
        _LIVE_LOCKS.add(self)

    def _after_fork(self) -> None:
        self._mutex = threading.RLock()
        self._file = None  # the inherited descriptor is the parent's lock; never use it
        self._depth = 0

    def _fd(self) -> int:
        if self._file is None or self._pid != os.getpid():
            try:
                self._file = open(self.path, "ab", buffering=0)
            except OSError as exc:
                raise StorageError(_("Cannot open the lock file %(path)s: %(reason)s", path=self.path, reason=exc)) from exc
            self._pid = os.getpid()
        return self._file.fileno()

    def _timeout_error(self) -> LockTimeoutError:
        return LockTimeoutError(
            _(
                "Timed out after %(seconds)s s waiting for the lock on %(what)s (lock file %(path)s).",
                seconds=self.timeout,
                what=self.what,
                path=self.path,
            )
        )

    def try_flock(self, exclusive: bool) -> bool:
        """One non-blocking attempt (the caller holds the mutex and no flock)."""
        try:
            fcntl.flock(self._fd(), (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise StorageError(_("Cannot lock %(path)s: %(reason)s", path=self.path, reason=exc)) from exc
        return True

    def unflock(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)

    @contextmanager
    def mutex(self) -> Iterator[None]:
        if not self._mutex.acquire(timeout=self.timeout):
            raise self._timeout_error()
        try:
            yield
        finally:
            self._mutex.release()

    @contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        deadline = time.monotonic() + self.timeout
        with self.mutex():
            if self._depth:
                if exclusive and not self._exclusive:
                    raise StorageError(_("Cannot write to %(what)s while reading it in the same thread.", what=self.what))
            else:
                delay = 0.0002
                while not self.try_flock(exclusive):
                    if time.monotonic() >= deadline:
                        raise self._timeout_error()
                    time.sleep(delay)
                    delay = min(delay * 2, 0.005)
                self._exclusive = exclusive
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if not self._depth:
                    self.unflock()

    def close(self) -> None:
        with self.mutex():
            if not self._depth and self._file is not None:
                with suppress(OSError):
                    self._file.close()
                self._file = None


def _reinit_locks_after_fork() -> None:  # pragma: no cover - runs in forked children
    for lock in list(_LIVE_LOCKS):
        lock._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_locks_after_fork)


def lock_all(locks: list[_Lock], exclusive: bool, timeout: float) -> None:
    """Take the flocks of several collections, all or none (no deadlock: back off and retry).

    The caller must not hold any of them; release with :func:`unlock_all`.
    """
    deadline = time.monotonic() + timeout
    while True:
        taken: list[_Lock] = []
        for lock in locks:
            if not lock._mutex.acquire(timeout=max(0.0, deadline - time.monotonic())):
                break
            if lock.try_flock(exclusive):
                lock._depth, lock._exclusive = 1, exclusive
                taken.append(lock)
            else:
                lock._mutex.release()
                break
        if len(taken) == len(locks):
            return
        unlock_all(taken)
        if time.monotonic() >= deadline:
            raise LockTimeoutError(
                _(
                    "Timed out after %(seconds)s s waiting for the locks of %(num)d collections.",
                    seconds=timeout,
                    num=len(locks),
                )
            )
        time.sleep(random.uniform(0.001, 0.02))


def unlock_all(locks: list[_Lock]) -> None:
    for lock in reversed(locks):
        lock._depth = 0
        lock.unflock()
        lock._mutex.release()


# --------------------------------------------------------------------------- TinyDB layer: snapshot


class _AtomicJSONStorage(_TinyDBStorage):
    """TinyDB storage for a snapshot file: validated reads, atomic and durable whole-file writes.

    The handle of the file last read or written stays open (so its inode number cannot be
    reused, and its mtime can be bumped). Callers hold the collection's lock.
    """

    def __init__(self, path: str):
        super().__init__()
        self.path = Path(path)
        self.handle = None
        self.key: tuple[int, int, int] | None = None  # (dev, ino, size) of that file
        self.mtime: int | None = None

    # -- reading

    def read(self, sharing: "_Sharing | None" = None) -> dict | None:
        """The snapshot's tables, or None when there is no file. ``sharing``, when given, is
        applied to every record as it is parsed (see :class:`_Sharing`); a big snapshot is then
        taken from its load cache when that was made from exactly these bytes, and the cache is
        written when it was not (see :class:`_LoadCache`)."""
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            self.drop()
            return None
        except OSError as exc:
            raise StorageError(_("Cannot open the data file %(path)s: %(reason)s", path=self.path, reason=exc)) from exc
        try:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise StorageError(_("The data file %(path)s is not a regular file.", path=self.path))
            raw = handle.read()
            st = os.fstat(handle.fileno())
            cache = _LoadCache(self.path, raw) if sharing is not None and len(raw) >= CACHE_MIN_BYTES else None
            data = cache.load(sharing) if cache is not None else None
            if data is None:
                data = self._parse(raw, sharing.share if sharing is not None else None)
                if cache is not None:
                    cache.save(data, sharing)
        except BaseException:
            handle.close()
            raise
        self.drop()
        self.handle = handle
        self.key = (st.st_dev, st.st_ino, st.st_size)
        self.mtime = st.st_mtime_ns
        return data

    def _parse(self, raw: bytes, share=None) -> dict:
        if not raw:
            raise CorruptDataError(self.path, _("the file is empty (0 bytes)"))
        data = _parse_by_record(raw, share)
        if data is None:  # another layout (older files, edited by hand), or not valid: parse it whole
            try:
                data = orjson.loads(raw)
            except (orjson.JSONDecodeError, RecursionError) as exc:
                raise CorruptDataError(self.path, _("not valid JSON: %(reason)s", reason=exc)) from None
            table = data.get(_TABLE) if isinstance(data, dict) else None
            if share is not None and isinstance(table, dict):  # (the shape is checked below)
                for doc in table.values():
                    if isinstance(doc, dict):
                        share(doc)
        if not isinstance(data, dict):
            raise CorruptDataError(self.path, _("the top level is not a JSON object"))
        for table_name, table in data.items():
            if not isinstance(table, dict):
                raise CorruptDataError(self.path, _("table %(table)s is not a JSON object", table=repr(table_name)))
        for key, doc in data.get(_TABLE, {}).items():
            if not isinstance(doc, dict):
                raise CorruptDataError(self.path, _("record %(id)s is not a JSON object", id=repr(key)))
            if doc.get("id") != key:
                raise CorruptDataError(self.path, _("record %(id)s does not have the id %(id)s", id=repr(key)))
        meta = data.get(_META)
        if meta is not None:
            fmt, gen = meta.get("format"), meta.get("gen")
            if not isinstance(fmt, int) or not isinstance(gen, str) or not gen:
                raise CorruptDataError(self.path, _("the %(entry)s entry is not valid", entry=repr(_META)))
            if fmt > STORAGE_FORMAT:
                raise CorruptDataError(
                    self.path,
                    _(
                        "it is in storage format %(format)d, written by a newer version of KBP (this one reads %(supported)d)",
                        format=fmt,
                        supported=STORAGE_FORMAT,
                    ),
                )
        return data

    # -- writing

    def write(self, data: dict) -> None:
        """Replace the file atomically with ``data`` (temp, fsync, rename, fsync folder)."""
        try:
            payload = _dump_by_record(data)
        except TypeError as exc:  # pragma: no cover - records are validated on entry
            raise StorageError(_("Cannot serialise the data for %(path)s: %(reason)s", path=self.path, reason=exc)) from exc
        self.replace_with(payload)

    def replace_with(self, payload: bytes) -> None:
        directory = self.path.parent
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        handle = os.fdopen(fd, "r+b")
        try:
            if self.handle is not None:
                with suppress(OSError):
                    os.fchmod(handle.fileno(), stat.S_IMODE(os.fstat(self.handle.fileno()).st_mode))
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
                    _("Could not write %(path)s: %(reason)s. The previous contents were kept.", path=self.path, reason=exc)
                ) from exc
            raise
        # The new file is in place; from here on the old contents are gone (from the cache too:
        # an erase compacts every collection so that no file keeps an erased person's records)
        remove_load_cache(self.path)
        self.drop()
        st = os.fstat(handle.fileno())
        self.handle = handle
        self.key = (st.st_dev, st.st_ino, st.st_size)
        self.mtime = st.st_mtime_ns
        try:
            _fsync_dir(directory)
        except OSError as exc:
            raise StorageError(
                _("Wrote %(path)s but could not make the change durable: %(reason)s", path=self.path, reason=exc)
            ) from exc

    def _remove_orphans(self, directory: Path) -> None:
        """Delete temp files left by writers that crashed (we hold the exclusive lock)."""
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

    def drop(self) -> None:
        if self.handle is not None:
            with suppress(OSError):
                self.handle.close()
        self.handle, self.key, self.mtime = None, None, None

    def close(self) -> None:
        self.drop()


# --------------------------------------------------------------------------- TinyDB layer: snapshot + log


class _LogStorage(_TinyDBStorage):
    """TinyDB storage of one collection: snapshot + append-only log, materialised in memory.

    ``read()`` returns the in-memory database (do not mutate it); ``write(data)`` (TinyDB's
    whole-database write) is diffed against it and committed as one log line. The fast path is
    :meth:`commit`. Every method is called with the collection's lock held, after
    :meth:`refresh` (exclusive lock for writes).
    """

    def __init__(self, path: str):
        super().__init__()
        self.path = Path(path)
        self.log_path = Path(f"{path}{LOG_SUFFIX}")
        self.snap = _AtomicJSONStorage(path)
        self._log_file = None  # read handle of the log we follow
        self._append_file = None  # write handle (O_APPEND) of the same log, opened on demand
        self._unloaded()

    def _unloaded(self) -> None:
        self.loaded = False
        self.docs: dict[str, dict] = {}
        #: one object per distinct text (and text map) of the loaded records (see :class:`_Sharing`)
        self.sharing = _Sharing()
        self.pos: dict[str, int] = {}
        self._seq = 0
        self.indexes: dict[str, dict[Any, set[str]]] = {}
        self.extra_tables: dict[str, dict] = {}
        self.gen: str | None = None  # generation of the snapshot (None: missing or old format)
        self.log_state = "none"  # none | ok (follows the snapshot) | stale (ignored)
        self.log_id: tuple[int, int] | None = None
        self.log_offset = 0  # bytes of complete lines consumed
        self.expected_mtime: int | None = None  # snapshot mtime set by the last commit we know of
        self.last_tx: str | None = None  # unit-of-work id of the last log line ("t"), if any
        self._close_log()

    def _close_log(self) -> None:
        for attr in ("_log_file", "_append_file"):
            handle = getattr(self, attr)
            if handle is not None:
                with suppress(OSError):
                    handle.close()
                setattr(self, attr, None)

    def close(self) -> None:
        self._unloaded()
        self.snap.drop()

    # ------------------------------------------------------------------ loading

    def refresh(self) -> None:
        """Bring the in-memory records up to date with the files (lock held)."""
        try:
            if not self.loaded:
                self._load()
                return
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                st = None
            if st is None:
                if self.snap.key is not None or self.log_path.exists():
                    self._load()
                return
            if self.snap.key != (st.st_dev, st.st_ino, st.st_size):
                self._load()
                return
            if not self._follow_log():
                self._load()
                return
            if st.st_mtime_ns != self.snap.mtime and st.st_mtime_ns != self.expected_mtime:
                self._load()  # the snapshot was modified in place (by hand?)
        except OSError as exc:
            self.loaded = False
            raise StorageError(_("Cannot read the data files of %(path)s: %(reason)s", path=self.path, reason=exc)) from exc
        except BaseException:
            self.loaded = False
            raise

    def unchanged(self) -> bool:
        """Without the lock: whether the files are exactly as last read, so nothing was committed
        since (a commit changes the snapshot's mtime before it appends to the log, and compaction
        replaces the files). Anything else - a commit under way, a torn tail, a stale log - says
        no, and the caller catches up under the lock as usual."""
        if not self.loaded:
            return False
        if self.snap.key is None:  # no data yet (e.g. no plugin ever disabled): still none?
            return self._log_file is None and not os.path.exists(self.path) and not os.path.exists(self.log_path)
        if self.log_state != "ok" or self._log_file is None:
            return False
        try:
            st = os.stat(self.path)
            log_st = os.stat(self.log_path)
        except OSError:
            return False
        return (
            (st.st_dev, st.st_ino, st.st_size) == self.snap.key
            and (st.st_mtime_ns == self.snap.mtime or st.st_mtime_ns == self.expected_mtime)
            and (log_st.st_dev, log_st.st_ino) == self.log_id
            and log_st.st_size == self.log_offset
        )

    def _load(self) -> None:
        """Read snapshot and log from scratch."""
        self._unloaded()
        data = self.snap.read(sharing=self.sharing)
        if data is None:
            if self.log_path.exists():
                raise CorruptDataError(self.log_path, _("there is a log but no snapshot %(file)s", file=self.path.name))
            self.loaded = True
            return
        meta = data.pop(_META, None)
        table = data.pop(_TABLE, {})
        self.extra_tables = data
        self.gen = meta["gen"] if meta else None
        self.docs = table
        self.pos = dict(zip(table, range(len(table))))
        self._seq = len(table)
        try:
            handle = open(self.log_path, "rb", buffering=0)
        except FileNotFoundError:
            self.loaded = True
            return
        st = os.fstat(handle.fileno())
        self._log_file = handle
        self.log_id = (st.st_dev, st.st_ino)
        raw = _pread_all(handle.fileno(), st.st_size)
        end = raw.find(b"\n")
        if end < 0:
            raise CorruptDataError(self.log_path, _("the header line is missing or incomplete"))
        try:
            header = orjson.loads(raw[:end])
        except orjson.JSONDecodeError as exc:
            raise CorruptDataError(self.log_path, _("line 1 (the header) is not valid JSON: %(reason)s", reason=exc)) from None
        if not isinstance(header, dict) or header.get("kbp_log") != 1 or not isinstance(header.get("gen"), str):
            raise CorruptDataError(self.log_path, _("line 1 is not a log header"))
        self.log_offset = end + 1
        if self.gen is None or header["gen"] != self.gen:
            # the log of an earlier generation (a crash during compaction, or the snapshot was
            # restored by hand): everything it holds is in the snapshot, or was meant to be replaced
            self.log_state = "stale"
            self.loaded = True
            return
        self.log_state = "ok"
        self._apply_bytes(raw[self.log_offset:], first_line=2)
        self.loaded = True

    def _follow_log(self) -> bool:
        """Apply lines appended since we last looked; False when the log must be reloaded."""
        try:
            st = os.stat(self.log_path)
        except FileNotFoundError:
            return self._log_file is None
        if self._log_file is None or (st.st_dev, st.st_ino) != self.log_id:
            return False
        if st.st_size < self.log_offset:
            return False
        if self.log_state != "ok" or st.st_size == self.log_offset:
            return True
        raw = _pread_all(self._log_file.fileno(), st.st_size - self.log_offset, self.log_offset)
        self._apply_bytes(raw, first_line=None)
        return True

    def _apply_bytes(self, raw: bytes, first_line: int | None) -> None:
        """Apply the complete lines of ``raw`` (log bytes from ``log_offset``); a torn tail waits."""
        end = raw.rfind(b"\n")
        if end < 0:
            return
        lines = raw[:end].split(b"\n")
        for n, line in enumerate(lines):
            self._apply_line(line, n + first_line if first_line else None)
        self.log_offset += end + 1

    def _where(self, lineno: int | None) -> str:
        """The position of a bad log line, for error messages (computed only when one is raised)."""
        if lineno:
            # Translators: a position in a log file, shown as %(where)s in the reasons below ("line 7 is not a change record")
            return _("line %(num)d", num=lineno)
        # Translators: a position in a log file, shown as %(where)s in the reasons below
        return _("a line after byte %(offset)d", offset=self.log_offset)

    def _apply_line(self, line: bytes, lineno: int | None) -> None:
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise CorruptDataError(
                self.log_path, _("%(where)s is not valid JSON: %(reason)s", where=self._where(lineno), reason=exc)
            ) from None
        changes = entry.get("c") if isinstance(entry, dict) else None
        if not isinstance(changes, dict):
            raise CorruptDataError(self.log_path, _("%(where)s is not a change record", where=self._where(lineno)))
        for record_id, doc in changes.items():
            if doc is None:
                self._delete(record_id)
            elif isinstance(doc, dict) and doc.get("id") == record_id:
                self._put(record_id, doc)
            else:
                raise CorruptDataError(
                    self.log_path,
                    _("%(where)s has an invalid record %(id)s", where=self._where(lineno), id=repr(record_id)),
                )
        mtime = entry.get("m")
        if isinstance(mtime, int):
            self.expected_mtime = mtime
        self.last_tx = entry.get("t")

    # ------------------------------------------------------------------ in-memory changes

    def _put(self, record_id: str, doc: dict) -> None:
        # texts seen while loading are shared; new ones are not added (a table that only grows
        # would keep every edited text of a long-running process)
        self.sharing.share(doc, grow=not self.loaded)
        old = self.docs.get(record_id)
        if old is None:
            self.pos[record_id] = self._seq
            self._seq += 1
        self.docs[record_id] = doc
        for field, index in self.indexes.items():
            if old is not None:
                value = old.get(field, _ABSENT)
                if value is not _ABSENT and _hashable(value):
                    bucket = index.get(value)
                    if bucket is not None:
                        bucket.discard(record_id)
                        if not bucket:
                            del index[value]
            value = doc.get(field, _ABSENT)
            if value is not _ABSENT and _hashable(value):
                index.setdefault(value, set()).add(record_id)

    def _delete(self, record_id: str) -> None:
        old = self.docs.pop(record_id, None)
        if old is None:
            return
        del self.pos[record_id]
        for field, index in self.indexes.items():
            value = old.get(field, _ABSENT)
            if value is not _ABSENT and _hashable(value):
                bucket = index.get(value)
                if bucket is not None:
                    bucket.discard(record_id)
                    if not bucket:
                        del index[value]

    def index(self, field: str) -> dict[Any, set[str]]:
        index = self.indexes.get(field)
        if index is None:
            index = {}
            for record_id, doc in self.docs.items():
                value = doc.get(field, _ABSENT)
                if value is not _ABSENT and _hashable(value):
                    index.setdefault(value, set()).add(record_id)
            self.indexes[field] = index
        return index

    def candidates(self, equals: Mapping[str, Any]) -> set[str] | None:
        """Ids that may match (from the smallest index bucket), or None: no usable index."""
        best: set[str] | None = None
        for field, value in equals.items():
            if not _hashable(value):
                continue
            bucket = self.index(field).get(value, _EMPTY)
            if best is None or len(bucket) < len(best):
                best = bucket
                if not best:
                    break
        return best

    # ------------------------------------------------------------------ TinyDB interface

    def read(self) -> dict | None:
        return {_TABLE: self.docs}

    def write(self, data: dict) -> None:
        """TinyDB's whole-database write: committed as the difference to what is stored."""
        table = data.get(_TABLE, {})
        changes: dict[str, dict | None] = {rid: None for rid in self.docs if rid not in table}
        for rid, doc in table.items():
            if self.docs.get(rid) != doc:
                doc = _prepare(doc)
                doc["id"] = rid
                changes[rid] = doc
        if changes:
            self.commit(changes, {rid: _serialise(doc) for rid, doc in changes.items() if doc is not None})

    # ------------------------------------------------------------------ writing

    def prepare_append(self) -> None:
        """Make the log ready to take a line at ``log_offset`` (exclusive lock held, state refreshed)."""
        if self.gen is None or self.log_state != "ok":
            self._new_generation()  # first write, old format, or a stale/missing log
        self._cut_torn_tail()

    def commit(
        self,
        changes: Mapping[str, dict | None],
        raw: Mapping[str, bytes],
        txid: str | None = None,
        tidy: bool = True,
        sync: bool = True,
    ) -> int:
        """Append one transaction (exclusive lock held, state refreshed), durably unless ``sync`` is
        false (a part of a unit of work: the journal holds it until a checkpoint syncs the log).

        ``txid`` marks the line as one part of a unit of work across collections; ``tidy=False``
        leaves compaction and temp-file clean-up for later (a unit of work does them once it is
        complete). Returns the log offset at which the line starts.
        """
        self.prepare_append()
        mtime = self._bump_mtime()
        body = b",".join(orjson.dumps(rid) + b":" + (raw[rid] if doc is not None else b"null") for rid, doc in changes.items())
        tx = b',"t":' + orjson.dumps(txid) if txid else b""
        line = b'{"m":' + (b"%d" % mtime if mtime is not None else b"null") + tx + b',"c":{' + body + b"}}\n"
        start = self.log_offset
        self._append(line, sync)
        for record_id, doc in changes.items():
            if doc is None:
                self._delete(record_id)
            else:
                self._put(record_id, doc)
        self.log_offset += len(line)
        self.last_tx = txid
        if tidy:
            self.tidy()
        return start

    def tidy(self) -> None:
        """Compact when the log has grown too big; remove temp files of crashed writers."""
        if self.loaded and self.log_offset > max(COMPACT_MIN_BYTES, COMPACT_RATIO * (self.snap.key[2] if self.snap.key else 0)):
            try:
                self.compact()
            except (StorageError, OSError) as exc:  # the commit itself is durable already
                log.warning("Compaction of %s failed (will retry later): %s", self.path, exc)
                self.loaded = False
        self.snap._remove_orphans(self.path.parent)

    def has_line(self, gen: str | None, offset: int, txid: str) -> bool:
        """Whether the line of unit of work ``txid`` recorded at ``offset`` of generation ``gen``
        is in the log (state refreshed, lock held). A newer generation holds everything the
        older one's log held (compaction syncs the snapshot before it replaces the log)."""
        if gen != self.gen or self.log_state != "ok":
            return self.gen is not None and gen != self.gen
        if self.log_offset <= offset or self._log_file is None:
            return False
        head = _pread_all(self._log_file.fileno(), 200, offset)
        return b'"t":' + orjson.dumps(txid) in head.split(b',"c":', 1)[0]

    def rollback_to(self, offset: int) -> None:
        """Cut the log back to ``offset`` (lock held): undo lines this process just appended."""
        fd = self._append_fd()
        os.ftruncate(fd, offset)
        os.fsync(fd)
        self.loaded = False  # the in-memory records include the undone lines: read again

    def _append_fd(self) -> int:
        if self._append_file is None:
            self._append_file = open(self.log_path, "ab", buffering=0)
            st = os.fstat(self._append_file.fileno())
            if (st.st_dev, st.st_ino) != self.log_id:  # pragma: no cover - only without the lock
                self._append_file.close()
                self._append_file = None
                raise StorageError(_("The log %(path)s was replaced while we held its lock.", path=self.log_path))
        return self._append_file.fileno()

    def _cut_torn_tail(self) -> None:
        """Remove an incomplete last line (an unacknowledged write cut short by a crash)."""
        size = os.fstat(self._log_file.fileno()).st_size
        if size > self.log_offset:
            fd = self._append_fd()
            os.ftruncate(fd, self.log_offset)
            os.fsync(fd)
            log.warning("Removed an incomplete last line (%d bytes) from %s", size - self.log_offset, self.log_path)

    def _bump_mtime(self) -> int | None:
        if self.snap.handle is None:  # pragma: no cover - a generation always has a snapshot
            return None
        fd = self.snap.handle.fileno()
        previous = max(self.expected_mtime or 0, self.snap.mtime or 0)
        wanted = max(time.time_ns(), previous + 1000)
        try:
            os.utime(fd, ns=(wanted, wanted))
            mtime = os.fstat(fd).st_mtime_ns
        except OSError:
            return None
        self.expected_mtime = mtime
        return mtime

    def _append(self, line: bytes, sync: bool = True) -> None:
        fd = self._append_fd()
        try:
            _write_all(fd, line)
            if sync:
                os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, self.log_offset)
                os.fsync(fd)
            except OSError:
                self.loaded = False
                raise StorageError(
                    _(
                        "Could not write %(path)s: %(reason)s. The change may or may not have been stored.",
                        path=self.log_path,
                        reason=exc,
                    )
                ) from exc
            raise StorageError(
                _("Could not write %(path)s: %(reason)s. The previous contents were kept.", path=self.log_path, reason=exc)
            ) from exc

    def compact(self) -> None:
        """Write the records as a new snapshot generation and start an empty log for it."""
        self._new_generation()
        self.snap._remove_orphans(self.path.parent)

    def _new_generation(self) -> None:
        gen = uuid.uuid4().hex
        data = {_TABLE: self.docs, **self.extra_tables, _META: {"format": STORAGE_FORMAT, "gen": gen}}
        if self.snap.key is not None:
            # second guard: only replace exactly the snapshot we read (we hold the lock)
            try:
                st = os.stat(self.path)
                current = (st.st_dev, st.st_ino, st.st_size)
            except FileNotFoundError:
                current = None
            if current != self.snap.key:
                self.loaded = False
                raise StorageError(
                    _(
                        "Refusing to write %(path)s: it changed on disk since it was read. Nothing was written.",
                        path=self.path,
                    )
                )
        elif self.path.exists():  # pragma: no cover - only without the lock
            self.loaded = False
            raise StorageError(
                _("Refusing to write %(path)s: it appeared on disk since it was read. Nothing was written.", path=self.path)
            )
        self.snap.write(data)
        # from here the old log (if any) is stale: its generation differs
        self.gen = gen
        self.log_state = "stale"
        header = orjson.dumps({"kbp_log": 1, "gen": gen}) + b"\n"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.log_path.name}.", suffix=".tmp", dir=self.path.parent)
        handle = os.fdopen(fd, "r+b", buffering=0)
        try:
            with suppress(OSError):
                os.fchmod(handle.fileno(), stat.S_IMODE(os.fstat(self.snap.handle.fileno()).st_mode))
            _write_all(handle.fileno(), header)
            os.fsync(handle.fileno())
            os.replace(tmp_name, self.log_path)
        except BaseException as exc:
            handle.close()
            with suppress(OSError):
                os.unlink(tmp_name)
            self.loaded = False
            if isinstance(exc, OSError):
                raise StorageError(
                    _("Could not write %(path)s: %(reason)s. The previous contents were kept.", path=self.log_path, reason=exc)
                ) from exc
            raise
        self._close_log()
        st = os.fstat(handle.fileno())
        self._log_file = handle
        self.log_id = (st.st_dev, st.st_ino)
        self.log_offset = len(header)
        self.log_state = "ok"
        self.expected_mtime = None
        self.last_tx = None
        _fsync_dir(self.path.parent)

    def revision(self) -> tuple:
        return (self.snap.key, self.gen, self.log_id, self.log_offset)


_ABSENT = object()
_EMPTY: frozenset = frozenset()


_HEAD = b'{"%s":{\n' % _TABLE.encode()
_TABLE_END = b"\n}"


def _dump_by_record(data: dict) -> bytes:
    """The snapshot as TinyDB JSON with one record per line::

        {"_default":{
        "id1":{...},
        "id2":{...}
        },"_kbp":{...}}

    Still one JSON document (any JSON reader, TinyDB included, reads it), but :func:`_parse_by_record`
    can parse it a record at a time: loading never holds every record's texts twice."""
    table = data.get(_TABLE, {})
    rest = {k: v for k, v in data.items() if k != _TABLE}
    lines = b",\n".join(orjson.dumps(rid) + b":" + orjson.dumps(doc) for rid, doc in table.items())
    tail = orjson.dumps(rest)
    return _HEAD + lines + (b"\n" if lines else b"") + b"}" + (b"," + tail[1:] if rest else b"}")


def _parse_by_record(raw: bytes, share=None) -> dict | None:
    """Parse a snapshot written by :func:`_dump_by_record` a record at a time (``share`` applied to
    each record's strings right after it is parsed, so repeated texts never pile up in memory).
    None when ``raw`` has another layout or anything in it is not as written: the caller then
    parses it whole, which also gives the error message for a damaged file."""
    if not raw.startswith(_HEAD):
        return None
    end = raw.find(_TABLE_END if raw[len(_HEAD):len(_HEAD) + 1] != b"}" else b"}", len(_HEAD) - 1)
    if end < 0:
        return None
    table: dict[str, Any] = {}
    try:
        if raw[len(_HEAD):len(_HEAD) + 1] == b"}":  # no records
            tail = raw[len(_HEAD) + 1:]
        else:
            view = memoryview(raw)  # slices of it are parsed in place, not copied
            start = len(_HEAD)
            while True:
                stop = raw.find(b"\n", start, end + 1)
                last = stop == end
                line_end = stop if last else stop - 1  # without the "," between records
                if not last and raw[line_end:stop] != b",":
                    return None
                split = raw.find(b'":{', start, line_end)  # end of the key: the record's "id" equals it
                if split < 0:
                    return None
                record_id = orjson.loads(view[start:split + 1])
                doc = orjson.loads(view[split + 2:line_end])
                if type(doc) is not dict or doc.get("id") != record_id or record_id in table:
                    return None
                if share is not None:
                    share(doc)
                table[record_id] = doc
                if last:
                    break
                start = stop + 1
            tail = raw[end + len(_TABLE_END):]
        if tail == b"}":
            rest = {}
        elif tail.startswith(b","):
            rest = orjson.loads(b"{" + tail[1:])
        else:
            return None
    except (orjson.JSONDecodeError, RecursionError, ValueError):
        return None
    if not isinstance(rest, dict) or _TABLE in rest:
        return None
    return {_TABLE: table, **rest}


class _Sharing:
    """One object per distinct text, and per distinct map or list of texts, in the loaded records.

    Records repeat much of what they hold: a plan keeps snapshots of the competency definitions,
    questions and activities it uses, in every language (``{"en": ..., "sv": ...}``), and thousands
    of plans use the same ones. Sharing them makes the in-memory records several times smaller
    and leaves fewer objects for a forked worker to touch. Only the store's own records are
    shared this way: they are never changed in place and never handed out (readers get copies),
    so nothing can tell the difference. Only what was seen while loading is kept as a canonical
    object (``grow``); later records are matched against it (a table that only grew would keep
    every edited text of a long-running process).
    """

    __slots__ = ("strings", "maps")

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.maps: dict[tuple, dict | list] = {}

    def share(self, doc: dict, grow: bool = True) -> None:
        """Replace, in place, the texts and the maps/lists of texts inside ``doc`` by canonical ones."""
        strings, maps = self.strings, self.maps
        _share(doc, strings.setdefault if grow else strings.get, maps.get, maps.setdefault if grow else maps.get)


def _share(node: dict | list, text, known, texts) -> None:
    # A map or list of texts seen before is replaced at once, without sharing its texts one by one
    # first (most of them repeat: a plan's snapshots of definitions and questions); only a new one
    # gets its texts shared, and is then keyed by those (the key keeps no text of this record alive).
    items = node.items() if type(node) is dict else enumerate(node)
    for key, value in items:
        kind = type(value)
        if kind is str:
            node[key] = text(value, value)
        elif kind is dict:
            if value and all(type(v) is str for v in value.values()):  # a text per language, ...
                found = known((True, *value.items()))
                if found is None:
                    for k, v in value.items():
                        value[k] = text(v, v)
                    found = texts((True, *value.items()), value)
                node[key] = found
            else:
                _share(value, text, known, texts)
        elif kind is list:
            if value and all(type(v) is str for v in value):  # competency ids, tags, ...
                found = known((False, *value))
                if found is None:
                    value[:] = [text(v, v) for v in value]
                    found = texts((False, *value), value)
                node[key] = found
            else:
                _share(value, text, known, texts)


def load_cache_path(snapshot: str | os.PathLike) -> Path:
    """The load cache of a snapshot: ``.<name>.json.cache`` beside it (hidden: backups leave it out)."""
    snapshot = Path(snapshot)
    return snapshot.with_name(f".{snapshot.name}.cache")


def remove_load_cache(snapshot: str | os.PathLike) -> None:
    """Delete the load cache of a snapshot (when the snapshot is replaced)."""
    with suppress(OSError):
        os.unlink(load_cache_path(snapshot))


class _LoadCache:
    """The loaded form of one big snapshot, to read instead of parsing it (``kbp serve`` starts in
    seconds less at organisation scale).

    Parsing the JSON of a snapshot and sharing its repeated texts (:class:`_Sharing`) costs about
    1.5 s for 20,000 plans (109 MB); the same records, already shared, come back from Python's
    ``marshal`` in 0.1 s (it writes an object referred to twice once, and reads it back as one
    object). The cache is derived data, never the record of anything: the file
    ``.<name>.json.cache`` holds a header naming the SHA-256 and size of the snapshot it was made
    from and of its own body, then ``marshal`` of the parsed snapshot and its sharing tables. It
    is used only when the snapshot's bytes hash to exactly that (any other snapshot - compacted,
    restored, edited by hand - is parsed as always, and the cache written again), when its body is
    intact and when it was written by this Python version; anything else about it is ignored.
    It is written (temp file and rename, no fsync: a lost cache is only a slower start) by the
    process that parsed the snapshot, under the collection's lock, so no compaction runs meanwhile;
    replacing the snapshot deletes it (:func:`remove_load_cache`), so an erased person's records
    never outlive their snapshot in it. Snapshots smaller than ``KBP_STORAGE_CACHE_MIN_BYTES``
    (16 MiB: below that, parsing costs about as little) have none.
    """

    MAGIC = b"KBP load cache 1\n"

    def __init__(self, snapshot: Path, raw: bytes):
        self.path = load_cache_path(snapshot)
        self.snapshot = snapshot
        self.size = len(raw)
        self.digest = hashlib.sha256(raw).hexdigest()

    def _stamp(self) -> dict:
        return {"snapshot": self.digest, "size": self.size, "python": list(sys.version_info[:2]),
                "marshal": marshal.version}

    def load(self, sharing: "_Sharing") -> dict | None:
        """The parsed snapshot, with ``sharing`` holding the shared texts; None when there is no
        usable cache for these bytes."""
        try:
            with open(self.path, "rb") as fh:
                blob = fh.read()
        except OSError:
            return None
        try:
            if not blob.startswith(self.MAGIC):
                return None
            end = blob.index(b"\n", len(self.MAGIC))
            header = orjson.loads(blob[len(self.MAGIC):end])
            body = memoryview(blob)[end + 1:]
            if not isinstance(header, dict) or {k: header.get(k) for k in self._stamp()} != self._stamp():
                return None
            if header.get("body") != [len(body), hashlib.sha256(body).hexdigest()]:
                return None
            data, strings, maps = marshal.loads(body)
        except (ValueError, EOFError, TypeError, orjson.JSONDecodeError):
            return None
        if type(data) is not dict or type(data.get(_TABLE)) is not dict or type(strings) is not dict or type(maps) is not dict:
            return None
        sharing.strings, sharing.maps = strings, maps
        return data

    def save(self, data: dict, sharing: "_Sharing") -> None:
        """Write the cache for these bytes (best effort: any failure leaves no cache)."""
        tmp_name = None
        try:
            body = marshal.dumps((data, sharing.strings, sharing.maps))
            header = orjson.dumps({**self._stamp(), "body": [len(body), hashlib.sha256(body).hexdigest()]})
            fd, tmp_name = tempfile.mkstemp(prefix=f"{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.MAGIC + header + b"\n")
                fh.write(body)
            os.replace(tmp_name, self.path)
            tmp_name = None
        except (OSError, ValueError) as exc:
            log.info("No load cache for %s: %s", self.snapshot, exc)
        finally:
            if tmp_name is not None:
                with suppress(OSError):
                    os.unlink(tmp_name)


def _pread_all(fd: int, length: int, offset: int = 0) -> bytes:
    chunks = []
    while length > 0:
        chunk = os.pread(fd, length, offset)
        if not chunk:
            break
        chunks.append(chunk)
        length -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


class _RecordTable(Table):
    """TinyDB table whose document ids are the records' own string ids."""

    document_id_class = str  # type: ignore[assignment]

    def snapshot(self) -> Mapping[str, dict]:
        """The table's current raw documents keyed by id (read-only!)."""
        return self._read_table()

    def apply(self, changes: Mapping[str, dict | None], raw: Mapping[str, bytes], txid: str | None = None) -> int:
        """Commit ``{id: record or None (delete)}`` as one log line."""
        return self._storage.commit(changes, raw, txid=txid, tidy=txid is None, sync=txid is None)


class _DocumentDB(TinyDB):
    table_class = _RecordTable


# --------------------------------------------------------------------------- public API


class _View:
    """Read operations over the stored records plus pending changes."""

    def __init__(self, collection: "Collection"):
        self._collection = collection
        self._store: _LogStorage = collection._store
        self._changes: dict[str, dict | None] = {}

    def _base(self) -> Mapping[str, dict]:
        return self._collection._table.snapshot()

    def _lookup(self, record_id: str) -> dict | None:
        if record_id in self._changes:
            return self._changes[record_id]
        return self._base().get(record_id)

    def _iter(self) -> Iterator[dict]:
        changes = self._changes
        base = self._base()
        if not changes:
            yield from base.values()
            return
        for record_id, doc in base.items():
            if record_id in changes:
                doc = changes[record_id]
                if doc is None:
                    continue
            yield doc
        for record_id, doc in changes.items():
            if doc is not None and record_id not in base:
                yield doc

    def get(self, id: str) -> dict | None:
        """The record with this id (a copy), or None — also for an id no record can have (empty,
        not a string): look-ups are often fed from requests, and "not found" is the honest answer."""
        if not isinstance(id, str) or not id:
            return None
        doc = self._lookup(id)
        return None if doc is None else _clone(doc)

    def all(self) -> list[dict]:
        """All records (copies), in insertion order."""
        return _clone(list(self._iter()))

    def find(self, **equals: Any) -> list[dict]:
        """Records (copies) whose fields equal all the given values."""
        base = self._base()
        candidates = self._store.candidates(equals) if equals else None
        if candidates is None:  # nothing indexable: scan with a TinyDB query
            cond = Query().fragment(equals)
            return _clone([doc for doc in self._iter() if cond(doc)])
        match = _matcher(equals)
        pos = self._store.pos
        changes = self._changes
        if not changes:
            found = [base[rid] for rid in sorted(candidates, key=pos.__getitem__)]
            return _clone([doc for doc in found if match(doc)])
        keyed = [((0, pos[rid]), base[rid]) for rid in candidates if rid not in changes]
        for n, (rid, doc) in enumerate(changes.items()):
            if doc is not None:
                keyed.append(((0, pos[rid]) if rid in base else (1, n), doc))
        keyed.sort(key=lambda item: item[0])
        return _clone([doc for _key, doc in keyed if match(doc)])

    def find_any(self, field: str, values) -> list[dict]:
        """Records (copies) whose ``field`` equals any of ``values``, in insertion order (one
        look-up for many values, e.g. the plans of every person a coach coaches)."""
        wanted = [v for v in dict.fromkeys(values) if _hashable(v)]
        if not wanted:
            return []
        if self._changes:
            keep = set(wanted)
            return _clone([doc for doc in self._iter() if field in doc and doc[field] in keep])
        index = self._store.index(field)
        ids: set[str] = set()
        for value in wanted:
            ids |= index.get(value, _EMPTY)
        base, pos = self._base(), self._store.pos
        return _clone([base[rid] for rid in sorted(ids, key=pos.__getitem__)])

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
        self._raw: dict[str, bytes] = {}
        self._open = True

    def _require_open(self) -> None:
        if not self._open:
            raise StorageError(_("This transaction is finished; start a new one."))

    def _lookup(self, record_id: str) -> dict | None:
        self._require_open()
        return super()._lookup(record_id)

    def _base(self) -> Mapping[str, dict]:
        self._require_open()
        return super()._base()

    def _put(self, record_id: str, doc: dict) -> dict:
        doc["_v"] = SCHEMA_VERSION
        for field in self._collection.unique:
            self._check_unique(record_id, field, doc.get(field))
        raw = _serialise(doc)
        self._changes[record_id] = doc
        self._raw[record_id] = raw
        return orjson.loads(raw)

    def _check_unique(self, record_id: str, field: str, value: Any) -> None:
        """Refuse a second record with the same value of a field declared unique (None is no value)."""
        if value is None or not _hashable(value):
            return
        for other in self._store.index(field).get(value, _EMPTY):
            if other != record_id and other not in self._changes:
                raise UniqueViolation(self._collection.name, field, value)
        for other, doc in self._changes.items():
            if other != record_id and doc is not None and doc.get(field) == value:
                raise UniqueViolation(self._collection.name, field, value)

    def insert(self, record: Mapping) -> dict:
        """Add a new record; generates a uuid4-hex ``id`` if it has none."""
        doc = _prepare(record)
        if doc.get("id") is None:
            doc["id"] = uuid.uuid4().hex
        record_id = _check_id(doc["id"])
        if self._lookup(record_id) is not None:
            raise DuplicateIdError(
                _(
                    "A record with id %(id)s already exists in collection %(collection)s.",
                    id=repr(record_id),
                    collection=repr(self._collection.name),
                )
            )
        return self._put(record_id, doc)

    def insert_many(self, records: list[Mapping]) -> int:
        """Insert many new records (all or nothing with the rest of the transaction)."""
        for record in records:
            self.insert(record)
        return len(records)

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
                _(
                    "No record with id %(id)s in collection %(collection)s.",
                    id=repr(record_id),
                    collection=repr(self._collection.name),
                )
            )
        doc = _clone(current)
        doc.update(fields)
        return self._put(record_id, doc)

    def upsert(self, record: Mapping) -> dict:
        """Insert the record, or replace the whole stored record with the same id."""
        doc = _prepare(record)
        if doc.get("id") is None:
            doc["id"] = uuid.uuid4().hex
        record_id = _check_id(doc["id"])
        self._require_open()
        return self._put(record_id, doc)

    def delete(self, id: str) -> bool:
        """Delete a record; returns False if there was none."""
        record_id = _check_id(id)
        if self._lookup(record_id) is None:
            return False
        self._changes[record_id] = None
        self._raw.pop(record_id, None)
        return True

    def _commit(self) -> None:
        if self._changes:
            self._collection._table.apply(self._changes, self._raw)

    def _close(self) -> None:
        self._open = False
        self._changes = {}
        self._raw = {}


def refuse_nested(colls) -> None:
    """Transactions do not nest: refuse a new one on a collection this thread is already writing."""
    for coll in colls:
        if getattr(coll._local, "transaction", None) is not None:
            raise StorageError(
                _(
                    "A transaction on collection %(collection)s is already open in this thread; "
                    "use its transaction object for writes (transactions do not nest).",
                    collection=repr(coll.name),
                )
            )


class UnitOfWorkParts:
    """``uow[name]``: the transaction of one collection of a unit of work (both backends)."""

    _tx: dict

    def __getitem__(self, name: str):
        try:
            return self._tx[name]
        except KeyError:
            raise StorageError(
                _("Collection %(collection)s is not part of this unit of work.", collection=repr(name))
            ) from None

    collection = __getitem__


class UnitOfWork(UnitOfWorkParts):
    """The transactions of one ``Storage.unit_of_work()`` block, one per collection.

    ``uow["people"]`` is a :class:`Transaction` (get, find, insert, update, upsert, delete).
    """

    def __init__(self, storage: "Storage", colls: list["Collection"]):
        self._storage = storage
        self._tx = {c.name: Transaction(c) for c in colls}

    def _commit(self) -> None:
        parts = [tx for tx in self._tx.values() if tx._changes]
        if not parts:
            return
        if len(parts) == 1:
            self._hook(parts[0])
            parts[0]._commit()
            return
        txid = uuid.uuid4().hex
        journal = self._storage._journal
        plan = {}
        for tx in parts:
            store = tx._collection._store
            store.prepare_append()  # so that the offset recorded is where the line will start
            # a new snapshot mtime before anything else: a reader of this collection that finds its
            # files as it left them knows no unit of work touching it began since (and need not
            # look at the journal); one that finds it changed catches up under the lock, where a
            # unit of work left open by a crash is completed first
            store._bump_mtime()
            plan[tx._collection.name] = {"g": store.gen, "o": store.log_offset, "c": tx._changes}
        journal.begin(txid, plan)  # the one sync of the commit
        written: list[tuple[_LogStorage, int]] = []
        try:
            for tx in parts:
                self._hook(tx)
                store = tx._collection._store
                written.append((store, tx._collection._table.apply(tx._changes, tx._raw, txid)))
        except BaseException:
            try:  # undo the parts written so far, then abort: nothing was committed
                for store, offset in reversed(written):
                    store.rollback_to(offset)
                journal.abort(txid)
            except OSError:  # the journal entry stays open: the next process completes the unit of work
                journal.leave()
                for tx in parts:
                    tx._collection._store.loaded = False
            raise
        journal.end(txid)
        for tx in parts:
            tx._collection._store.tidy()

    def _hook(self, tx: Transaction) -> None:
        if self._storage.before_part is not None:
            self._storage.before_part(tx._collection.name)

    def _close(self) -> None:
        for tx in self._tx.values():
            tx._close()


JOURNAL_DIR = ".kbp-journal"
JOURNAL_FILE = "uow.log"
#: once the journal is bigger than this, the next unit of work that finds no other in flight
#: makes the logs durable and starts an empty journal (a checkpoint)
JOURNAL_CHECKPOINT_BYTES = _env_int("KBP_STORAGE_JOURNAL_BYTES", 1024 * 1024)
_LIVE_JOURNALS: "weakref.WeakSet[_Journal]" = weakref.WeakSet()


def _boot_id() -> str:
    """This boot of the machine (Linux); a journal written in another boot is checked in full."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:  # pragma: no cover - not Linux: every process checks the journal in full
        return f"unknown-{os.getpid()}-{uuid.uuid4().hex}"


class _Entry:
    """A unit of work in the journal that may have to be completed: one that was begun and neither
    ended nor aborted (its process died), or, after the machine restarted, any one at all."""

    __slots__ = ("txid", "pos", "names", "moved")

    def __init__(self, txid: str, pos: int, names: frozenset[str]):
        self.txid = txid
        self.pos = pos  # byte offset of its begin record in the journal file
        self.names = names
        self.moved: dict[str, dict] = {}  # parts written again by a recovery: name -> {"g", "o"}


class _Journal:
    """The write-ahead journal of units of work that span several collections.

    ``<data>/.kbp-journal/uow.log``: a header ``{"kbp_journal": 1, "boot": <boot id>}`` and then
    one record per line (each written as ``\\n<json>\\n``, so that a torn record left by a crash
    stays a line of its own and is ignored):

    ``{"b": txid, "p": {collection: {"g": generation, "o": log offset, "c": changes}}}``
        *begin*: every change of the unit of work and where each collection's line will start.
        Written and ``fdatasync``\\ ed before any collection's log is touched: the one sync of a
        commit. The collections' log lines are then written without a sync of their own.
    ``{"e": txid}``
        *end*: every part is in its log (in the page cache: visible to every process, and safe
        from a crash of any process; not yet from a crash of the machine). Not synced.
    ``{"a": txid}``
        *abort*: the parts written so far were cut back (an error, not a crash). Synced.

    A begun unit of work that did not end was interrupted by a crash of its process: its writer
    held the locks of all its collections until the end record, so the next process to hold one
    of those locks and find it open completes it - each part whose line is not at its recorded
    place is written again - and ends it. A journal whose header names another boot of the
    machine may have lost log lines that were never synced: then every unit of work in it is
    checked that way, by the first process that touches one of its collections.

    *Checkpoint*: when the journal has grown past ``JOURNAL_CHECKPOINT_BYTES`` and no unit of work
    is in flight (its exclusive ``flock`` on ``uow.lock``; writers hold it shared from begin to
    end), the logs named in it are ``fsync``\\ ed and it is replaced by an empty one.

    Journals of earlier versions (one ``<txid>.uow`` file per unit of work in flight) are still
    completed if a crash left one behind.
    """

    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir) / JOURNAL_DIR
        self.path = self.dir / JOURNAL_FILE
        self.lock_path = self.dir / "uow.lock"
        self._boot = _boot_id()
        self._legacy_seen: bool | None = None
        self._reset_state()
        _LIVE_JOURNALS.add(self)

    def _reset_state(self) -> None:
        self._mutex = threading.RLock()
        self._read_fd: int | None = None  # the journal file we follow
        self._id: tuple[int, int] | None = None
        self._parsed = 0  # bytes of complete lines read
        self._header: bool | None = None  # None: not read yet; True: written in this boot
        self._open: dict[str, _Entry] = {}  # begun, neither ended nor aborted
        self._suspect: dict[str, _Entry] = {}  # written in another boot: to check once
        self._names: set[str] = set()  # collections named in the journal (for a checkpoint)
        self._append_fd: int | None = None
        self._append_id: tuple[int, int] | None = None
        self._lock_fd: int | None = None
        self._inflight = 0

    def _after_fork(self) -> None:  # pragma: no cover - runs in forked children
        self._reset_state()  # inherited descriptors share the parent's file offsets and locks

    # ------------------------------------------------------------------ reading

    def _catch_up(self) -> None:
        """Read what was appended since we last looked (mutex held)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._id is not None:
                self._forget()
            return
        if (st.st_dev, st.st_ino) != self._id:
            self._forget()
            fd = os.open(self.path, os.O_RDONLY)
            fst = os.fstat(fd)
            self._read_fd, self._id = fd, (fst.st_dev, fst.st_ino)
        if st.st_size <= self._parsed:
            return
        raw = _pread_all(self._read_fd, st.st_size - self._parsed, self._parsed)
        end = raw.rfind(b"\n")
        if end < 0:
            return
        pos = self._parsed
        for line in raw[: end + 1].split(b"\n")[:-1]:
            self._read_line(line, pos)
            pos += len(line) + 1
        self._parsed += end + 1

    def _forget(self) -> None:
        if self._read_fd is not None:
            with suppress(OSError):
                os.close(self._read_fd)
        self._read_fd, self._id, self._parsed, self._header = None, None, 0, None
        self._open, self._suspect, self._names = {}, {}, set()

    def _read_line(self, line: bytes, pos: int) -> None:
        if not line:
            return
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            # a torn record: its writer died before the sync, so nothing of it reached a log
            if self._header is None:
                self._header = False
            return
        if not isinstance(rec, dict):
            return
        if self._header is None:
            if rec.get("kbp_journal") == 1:
                self._header = rec.get("boot") == self._boot
                return
            self._header = False  # no header: check everything
        if "b" in rec:
            parts = rec.get("p")
            if not isinstance(parts, dict):
                raise CorruptDataError(self.path, _("a begin record without its parts"))
            entry = _Entry(rec["b"], pos, frozenset(parts))
            self._open[entry.txid] = entry
            self._names |= entry.names
            if self._header is False:
                self._suspect[entry.txid] = entry
        elif "e" in rec:
            self._open.pop(rec["e"], None)
            moved = rec.get("p")
            entry = self._suspect.get(rec["e"])
            if entry is not None and isinstance(moved, dict):
                entry.moved.update(moved)
        elif "a" in rec:
            self._open.pop(rec["a"], None)
            self._suspect.pop(rec["a"], None)

    def _needing(self, names: set[str] | None) -> list:
        """Entries that may need completing (mutex held, caught up), touching ``names`` (or any)."""
        if self._suspect:
            names = None  # after a restart of the machine the first check covers the whole journal
        found: list = [
            e for e in (*self._open.values(), *(s for s in self._suspect.values() if s.txid not in self._open))
            if names is None or names & e.names
        ]
        if self._legacy_seen is not False:
            for path in self._legacy():
                parts = self.read_legacy(path)
                if parts is not None and (names is None or names & set(parts[1])):
                    found.append(path)
        return found

    def pending(self) -> list:
        """Every unit of work that may need completing: begun and not ended (in flight, or its
        process died), checked after a restart of the machine, or an old-style journal file."""
        with self._mutex:
            self._catch_up()
            return self._needing(None)

    def pending_for(self, names: set[str]) -> list:
        with self._mutex:
            self._catch_up()
            return self._needing(set(names))

    def still_needed(self, entry) -> bool:
        """Whether ``entry`` (from :meth:`pending`) still needs completing, now that its
        collections' locks are held."""
        if isinstance(entry, Path):
            return self.read_legacy(entry) is not None
        with self._mutex:
            self._catch_up()
            return entry.txid in self._open or entry.txid in self._suspect

    def read_entry(self, entry: _Entry) -> dict[str, dict]:
        """The parts of a begun unit of work: ``{collection: {"g", "o", "c"}}``."""
        with self._mutex:
            self._catch_up()
            entry = self._open.get(entry.txid) or self._suspect[entry.txid]  # as in the current file
            raw = _pread_all(self._read_fd, self._parsed - entry.pos, entry.pos)
        rec = orjson.loads(raw[: raw.index(b"\n")])
        parts = rec["p"]
        for name, where in entry.moved.items():
            parts[name] = {**parts[name], **where}
        return parts

    # ------------------------------------------------------------------ writing

    def _ensure_file(self) -> None:
        """Create the folder and the journal with its header, once (mutex held)."""
        if self._append_fd is not None:
            return
        self.dir.mkdir(exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except FileExistsError:
            pass
        else:
            try:
                _write_all(fd, orjson.dumps({"kbp_journal": 1, "boot": self._boot}) + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(self.dir)
            _fsync_dir(self.dir.parent)

    def _lock(self, how: int) -> None:
        if self._lock_fd is None:
            self.dir.mkdir(exist_ok=True)
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, how)

    def _writer(self) -> int:
        """The append descriptor of the current journal file (mutex and shared flock held)."""
        self._ensure_file()
        st = os.stat(self.path)
        if (st.st_dev, st.st_ino) != self._append_id:  # first use, or replaced by a checkpoint
            if self._append_fd is not None:
                os.close(self._append_fd)
            self._append_fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            fst = os.fstat(self._append_fd)
            self._append_id = (fst.st_dev, fst.st_ino)
        return self._append_fd

    def _record(self, rec: dict, sync: bool) -> None:
        fd = self._writer()
        _write_all(fd, b"\n" + orjson.dumps(rec) + b"\n")
        if sync:
            os.fdatasync(fd)

    def begin(self, txid: str, parts: Mapping[str, dict]) -> None:
        """Durably record a unit of work before its parts are written (its collections' locks held)."""
        with self._mutex:
            if not self._inflight:
                self._lock(fcntl.LOCK_SH)
            self._inflight += 1
            try:
                self._record({"b": txid, "p": parts}, sync=True)
            except BaseException:
                with suppress(OSError):  # the record may have reached the file: never complete it
                    self._record({"a": txid}, sync=True)
                self._leave()
                raise

    def end(self, txid: str) -> None:
        """Every part is in its log (not synced: see the class's docstring)."""
        with self._mutex:
            try:
                self._record({"e": txid}, sync=False)
            finally:
                self._leave()
            if os.fstat(self._append_fd).st_size > JOURNAL_CHECKPOINT_BYTES and not self._inflight:
                self.checkpoint()

    def abort(self, txid: str) -> None:
        """The parts written so far were cut back: never complete this unit of work."""
        with self._mutex:
            try:
                self._record({"a": txid}, sync=True)
            finally:
                self._leave()

    def leave(self) -> None:
        """Give up a begun unit of work without an end (it stays open: the next process completes it)."""
        with self._mutex:
            self._leave()

    def _leave(self) -> None:
        self._inflight -= 1
        if not self._inflight and self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def complete(self, entry: _Entry, moved: Mapping[str, dict]) -> bool:
        """``entry`` was checked (its collections' locks held) and its missing parts written again
        (``moved``: where). Ends it if it was open, or records where the parts went (synced: a
        later check must look there); returns whether a record was written."""
        with self._mutex:
            self._catch_up()
            self._suspect.pop(entry.txid, None)  # checked: not again in this process
            if not moved and entry.txid not in self._open:
                return False
            if not self._inflight:
                self._lock(fcntl.LOCK_SH)
            self._inflight += 1
            try:
                self._record({"e": entry.txid, "p": dict(moved)} if moved else {"e": entry.txid}, sync=True)
            finally:
                self._leave()
            return True

    def checkpoint(self, force: bool = False, wait: bool = False) -> bool:
        """Make every log named in the journal durable and start an empty journal. Only when no
        unit of work is in flight (or would need completing); ``wait`` waits for those in flight to
        end; ``force`` also waits, and drops everything (a restore replaced the data). Returns
        whether it was done."""
        with self._mutex:
            if self._inflight:
                return False
            try:
                self._lock(fcntl.LOCK_EX if force or wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            try:
                self._catch_up()
                if not force and (self._open or self._suspect):
                    return False
                if not force:
                    for name in sorted(self._names):
                        log_path = self.dir.parent / f"{name}.json{LOG_SUFFIX}"
                        try:
                            fd = os.open(log_path, os.O_RDONLY)
                        except FileNotFoundError:
                            continue  # replaced by a compaction, whose snapshot was synced
                        try:
                            os.fsync(fd)
                        finally:
                            os.close(fd)
                if self._id is None and not force:
                    return True
                self.dir.mkdir(exist_ok=True)
                atomic_write(self.path, orjson.dumps({"kbp_journal": 1, "boot": self._boot}) + b"\n", mode=0o600)
                return True
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._mutex:
            if self._inflight:
                return
            for fd in (self._append_fd, self._lock_fd):
                if fd is not None:
                    with suppress(OSError):
                        os.close(fd)
            self._append_fd = self._lock_fd = None
            self._forget()
            self._append_id = None

    # ------------------------------------------------------------------ journals of earlier versions

    def _legacy(self) -> list[Path]:
        try:
            found = sorted(Path(e.path) for e in os.scandir(self.dir) if e.name.endswith(".uow"))
        except FileNotFoundError:
            found = []
        self._legacy_seen = bool(found)
        return found

    def read_legacy(self, path: Path) -> tuple[str, dict[str, dict]] | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = orjson.loads(raw)
            return data["tx"], data["parts"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise CorruptDataError(path, _("not a valid unit-of-work journal: %(reason)s", reason=exc)) from None

    def remove_legacy(self, path: Path) -> None:
        with suppress(FileNotFoundError):
            os.unlink(path)
        _fsync_dir(self.dir)


def _reinit_journals_after_fork() -> None:  # pragma: no cover - runs in forked children
    for journal in list(_LIVE_JOURNALS):
        journal._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_journals_after_fork)


class SingleWrites:
    """Writes of one operation, each its own transaction (``self.transaction()``): shared by the
    collections of both backends."""

    def insert(self, record: Mapping) -> dict:
        """Add a new record (``id`` generated if missing); ``DuplicateIdError`` if taken."""
        with self.transaction() as tx:
            return tx.insert(record)

    def insert_many(self, records: list[Mapping]) -> int:
        """Insert many new records in one commit."""
        with self.transaction() as tx:
            return tx.insert_many(records)

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


#: :meth:`Collection._unchanged_read`'s answer when the read must catch up with the files first
_CATCH_UP = object()


class Collection(SingleWrites):
    """A set of records stored in ``<data_dir>/<name>.json`` (snapshot) and ``<name>.json.log``.

    Every method holds the collection's lock and sees the latest data
    written by any process. Returned dicts are copies.
    """

    def __init__(
        self,
        data_dir: Path,
        name: str,
        lock_timeout: float = _DEFAULT_LOCK_TIMEOUT,
        *,
        journal: "_Journal | None" = None,
        recover=None,
        unique: tuple[str, ...] = (),
    ):
        self.name = name
        self._journal = journal
        self._recover = recover
        #: fields whose values no two records may share (declared with ``Storage.declare_unique``)
        self.unique: tuple[str, ...] = tuple(unique)
        self.path = Path(data_dir) / f"{name}.json"
        self.log_path = Path(f"{self.path}{LOG_SUFFIX}")
        self.lock_timeout = lock_timeout
        self._lock = _Lock(Path(f"{self.path}.lock"), lock_timeout, self.path)
        self._db = _DocumentDB(str(self.path), storage=_LogStorage)
        self._store: _LogStorage = self._db.storage  # type: ignore[assignment]
        self._table: _RecordTable = self._db.table(_TABLE)  # type: ignore[assignment]
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"<Collection {self.name!r} at {self.path}>"

    def _settled(self, exclusive: bool) -> list[Path]:
        """With this collection's lock held: the journals of crashed units of work touching it.

        A unit of work holds the locks of all its collections until its journal is gone, so a
        journal naming this collection, seen while we hold its lock, belongs to a writer that died.
        """
        return self._journal.pending_for({self.name}) if self._journal is not None else []

    @contextmanager
    def _reading(self) -> Iterator[_View]:
        """Shared lock while catching up with the files; the thread mutex for the whole read.

        When the files are exactly as this process last read them, there is nothing to catch up
        with and the lock is not taken (most reads): every commit, and every unit of work before it
        writes its journal record, gives the snapshot a new mtime first."""
        while True:
            with self._lock.mutex():
                if not self._lock._depth and self._store.unchanged():
                    yield _View(self)
                    return
                with self._lock.hold(exclusive=False):
                    crashed = [] if self._lock._depth > 1 else self._settled(False)
                    if not crashed:
                        self._store.refresh()
                if not crashed:
                    yield _View(self)
                    return
            self._storage_recover(crashed)

    def _storage_recover(self, journals: list[Path]) -> None:
        if self._recover is None:  # pragma: no cover - collections are made by Storage
            raise StorageError(_("A unit of work on %(collection)s was interrupted.", collection=repr(self.name)))
        self._recover(journals)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Hold the lock for the block and write all changes once at its end.

        If the block raises, nothing is written. Use the yielded object for
        writes; calling this collection's write methods inside the block
        raises ``StorageError``. This collection's read methods inside the
        block show the data as it was before the block.
        """
        refuse_nested([self])
        while True:
            with self._lock.hold(exclusive=True):
                crashed = self._settled(True)
                if not crashed:
                    self._store.refresh()
                    tx = Transaction(self)
                    self._local.transaction = tx
                    try:
                        yield tx
                        tx._commit()
                    finally:
                        tx._close()
                        self._local.transaction = None
                    return
            self._storage_recover(crashed)

    # -- reads

    def _unchanged_read(self, read):
        """``read(view)`` when the files are exactly as this process last read them (most reads),
        under the thread mutex as :meth:`_reading` does, without its two generator context managers
        (a few microseconds each, several times a request); :data:`_CATCH_UP` when the caller must
        go through :meth:`_reading` (something changed, or this thread holds the lock)."""
        lock = self._lock
        if not lock._mutex.acquire(timeout=lock.timeout):
            raise lock._timeout_error()
        try:
            if not lock._depth and self._store.unchanged():
                return read(_View(self))
        finally:
            lock._mutex.release()
        return _CATCH_UP

    def get(self, id: str) -> dict | None:
        """The record with this id (a copy), or None."""
        found = self._unchanged_read(lambda view: view.get(id))
        if found is not _CATCH_UP:
            return found
        with self._reading() as view:
            return view.get(id)

    def all(self) -> list[dict]:
        """All records (copies), in insertion order."""
        with self._reading() as view:
            return view.all()

    def map_readonly(self, fn) -> list:
        """``[fn(record) for record in all records]`` without copying them: for read paths over many
        records (e.g. rebuilding a search index). ``fn`` must neither change a record nor keep a
        reference to it or to anything inside it — copy what you keep."""
        with self._reading() as view:
            return [fn(doc) for doc in view._iter()]

    def find(self, **equals: Any) -> list[dict]:
        """Records (copies) whose fields equal all the given values (indexed for hashable values)."""
        with self._reading() as view:
            return view.find(**equals)

    def find_any(self, field: str, values) -> list[dict]:
        """Records (copies) whose ``field`` equals any of ``values`` (indexed), in insertion order."""
        with self._reading() as view:
            return view.find_any(field, values)

    def count(self) -> int:
        """Number of records."""
        with self._reading() as view:
            return view.count()

    def revision(self) -> tuple:
        """A value that changes whenever the records change (in any process)."""
        found = self._unchanged_read(lambda _view: self._store.revision())
        if found is not _CATCH_UP:
            return found
        with self._reading():
            return self._store.revision()

    def build_indexes(self, *fields: str) -> None:
        """Load the records and build the hash indexes of ``fields`` now instead of at the first
        ``find`` (``kbp serve`` does it before the workers fork, so they share them)."""
        with self._reading():
            for field in fields:
                self._store.index(field)

    # -- maintenance

    def compact(self) -> bool:
        """Fold the log into a new snapshot now (also converts the old file format).

        Returns False when there was nothing to do (no data, or already compact).
        """
        while True:
            with self._lock.hold(exclusive=True):
                crashed = self._settled(True)
                if not crashed:
                    return self._compact_locked()
            self._storage_recover(crashed)

    def _compact_locked(self) -> bool:
        self._store.refresh()
        store = self._store
        if store.snap.key is None:
            return False
        if store.gen is not None and store.log_state == "ok" and store.log_offset == self._header_size():
            return False
        store.compact()
        return True

    def _header_size(self) -> int:
        return len(orjson.dumps({"kbp_log": 1, "gen": self._store.gen})) + 1

    def version_counts(self) -> dict[Any, int]:
        """How many records carry each ``"_v"`` (``None``: no ``_v``), without copying them."""
        counts: dict[Any, int] = {}
        with self._reading() as view:
            for doc in view._iter():
                v = doc.get("_v")
                counts[v] = counts.get(v, 0) + 1
        return counts

    def storage_format(self) -> int | None:
        """1 for the old single-file format, 2 for snapshot + log, None when there is no data."""
        with self._reading():
            if self._store.snap.key is None:
                return None
            return STORAGE_FORMAT if self._store.gen is not None else 1

    def close(self) -> None:
        """Release file handles and the in-memory copy (the collection stays usable)."""
        with self._lock.hold(exclusive=False):
            self._store.close()
        self._lock.close()


class Storage:
    """Entry point: a folder of collections."""

    def __init__(self, data_dir: str | os.PathLike, *, lock_timeout: float = _DEFAULT_LOCK_TIMEOUT):
        self.data_dir = Path(data_dir)
        self.lock_timeout = lock_timeout
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                _("Cannot create the data folder %(folder)s: %(reason)s", folder=self.data_dir, reason=exc)
            ) from exc
        self._collections: dict[str, Collection] = {}
        self._unique: dict[str, tuple[str, ...]] = {}
        self._guard = threading.Lock()
        self._journal = _Journal(self.data_dir)
        #: test hook: called with the collection name before each part of a unit of work is written
        self.before_part = None

    def __repr__(self) -> str:
        return f"<Storage at {self.data_dir}>"

    backend = "embedded"

    @property
    def location(self) -> str:
        """Where the data is, for messages."""
        return str(self.data_dir)

    def schema_marker(self) -> dict | None:
        """The data's schema marker (``{"schema_version", ...}``), or None when there is none."""
        return read_schema_marker(self.data_dir)

    def healthy(self) -> bool:
        """Whether the data folder can be written (for /healthz)."""
        return os.access(self.data_dir, os.W_OK)

    def shared_secret(self, name: str) -> str:
        """A random secret made once per data folder and kept in the file ``name`` (mode 0600):
        the session-signing key every worker shares. Never logged."""
        path = self.data_dir / name
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        key = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker made it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        return key

    def put_shared_secret(self, name: str, value: str) -> None:
        """Replace a shared secret (``kbp db copy`` brings the session key along)."""
        atomic_write(self.data_dir / name, value.encode(), mode=0o600)

    def write_schema_marker(self, marker: Mapping[str, Any]) -> None:
        atomic_write(self.data_dir / SCHEMA_FILE, json.dumps(dict(marker)).encode())

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """Held while the schema is checked or upgraded: one migrating process at a time."""
        from filelock import FileLock

        with FileLock(str(self.data_dir / f"{SCHEMA_FILE}.lock")):
            yield

    def declare_unique(self, name: str, *fields: str) -> None:
        """Declare fields of collection ``name`` whose values no two records may share.

        Enforced by every write (``UniqueViolation``) in the same lock as the write itself.
        """
        with self._guard:
            merged = tuple(dict.fromkeys(self._unique.get(name, ()) + fields))
            self._unique[name] = merged
            coll = self._collections.get(name)
            if coll is not None:
                coll.unique = merged

    @contextmanager
    def unit_of_work(self, *names: str) -> Iterator["UnitOfWork"]:
        """Transactions on several collections at once, committed all or nothing.

        ``with storage.unit_of_work("plans", "plan_history") as uow: uow["plans"].update(...)``.
        The collections' locks are held (exclusive) for the block; nothing is written unless it
        ends without an exception. A commit touching two or more collections first appends every
        change to the journal (:class:`_Journal`, synced: the commit's one sync), then one log line
        per collection, then an end record: a crash part-way is completed from the journal by the
        next process that touches any of those collections, and an error part-way cuts back the
        lines already written and records an abort.
        """
        colls = [self.collection(n) for n in sorted(set(names))]
        if not colls:
            raise ValueError("A unit of work needs at least one collection.")
        refuse_nested(colls)
        locks = [c._lock for c in colls]
        wanted = {c.name for c in colls}
        while True:
            lock_all(locks, True, self.lock_timeout)
            try:
                crashed = self._journal.pending_for(wanted)
            except BaseException:
                unlock_all(locks)
                raise
            if not crashed:
                break
            unlock_all(locks)
            self._recover(crashed)
        uow = None
        try:
            for coll in colls:
                coll._store.refresh()
            uow = UnitOfWork(self, colls)
            for coll in colls:
                coll._local.transaction = uow[coll.name]
            yield uow
            uow._commit()
        finally:
            if uow is not None:
                uow._close()
            for coll in colls:
                coll._local.transaction = None
            unlock_all(locks)

    def purge_history(self) -> None:
        """Rewrite every collection as a fresh snapshot with an empty log, and empty the journal of
        units of work (which holds the records they wrote until a checkpoint): afterwards no file of
        the data folder keeps an earlier version of any record (an erase needs this)."""
        for name in self.collection_names():
            self.collection(name).compact()
        for _attempt in range(5):
            self.recover()  # a unit of work left open by a crash is completed, never dropped
            if self._journal.checkpoint(wait=True):
                return
        raise StorageError(_("The journal of units of work could not be emptied; try the erase again."))

    def recover(self) -> int:
        """Complete every unit of work a crashed process left half-written; returns how many
        (not those still in flight in a live process: they end by themselves)."""
        pending = self._journal.pending()
        return self._recover(pending) if pending else 0

    def _recover(self, entries: list) -> int:
        """Complete units of work whose process died part-way (and, after a restart of the
        machine, check every one in the journal): each part whose line is not where the journal
        says is written again, under the locks of all the unit's collections."""
        journal = self._journal
        completed = 0
        for entry in entries:
            if isinstance(entry, Path):
                self._recover_legacy(entry)
                completed += 1
                continue
            colls = [self.collection(n) for n in sorted(entry.names)]
            locks = [c._lock for c in colls]
            lock_all(locks, True, self.lock_timeout)
            try:
                if not journal.still_needed(entry):
                    continue  # ended meanwhile, or completed by someone else
                completed += 1
                parts = journal.read_entry(entry)
                moved: dict[str, dict] = {}
                for coll in colls:
                    store = coll._store
                    store.refresh()
                    where = parts[coll.name]
                    if store.has_line(where["g"], where["o"], entry.txid):
                        continue  # this part made it to the log
                    part = where["c"]
                    raw = {rid: _serialise(doc) for rid, doc in part.items() if doc is not None}
                    offset = store.commit(part, raw, txid=entry.txid, tidy=False)
                    moved[coll.name] = {"g": store.gen, "o": offset}
                if journal.complete(entry, moved):
                    log.warning(
                        "Completed a unit of work (%s) interrupted by a crash: %s written again",
                        entry.txid, ", ".join(sorted(moved)) or "no part",
                    )
            finally:
                unlock_all(locks)
        if entries:
            journal.checkpoint()  # after a restart: start a journal of this boot once all is checked
        return completed

    def _recover_legacy(self, path: Path) -> None:
        """Complete a unit of work from a journal file of an earlier version (``<txid>.uow``)."""
        parts = self._journal.read_legacy(path)
        if parts is None:
            return  # already completed by someone else
        txid, changes = parts
        colls = [self.collection(n) for n in sorted(changes)]
        locks = [c._lock for c in colls]
        lock_all(locks, True, self.lock_timeout)
        try:
            if self._journal.read_legacy(path) is None:
                return
            for coll in colls:
                store = coll._store
                store.refresh()
                if store.last_tx == txid:
                    continue  # this part made it to the log before the crash
                part = changes[coll.name]
                raw = {rid: _serialise(doc) for rid, doc in part.items() if doc is not None}
                store.commit(part, raw, txid=txid, tidy=False)
            self._journal.remove_legacy(path)
            log.warning("Completed a unit of work (%s) interrupted by a crash: %s", txid, ", ".join(sorted(changes)))
        finally:
            unlock_all(locks)

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
                coll = Collection(
                    self.data_dir,
                    name,
                    self.lock_timeout,
                    journal=self._journal,
                    recover=self._recover,
                    unique=self._unique.get(name, ()),
                )
                self._collections[name] = coll
            return coll

    def collection_names(self) -> list[str]:
        """Names of the collections that have data files in the folder, sorted."""
        names = set()
        with suppress(FileNotFoundError):
            for entry in os.scandir(self.data_dir):
                name = entry.name
                if name.endswith(LOG_SUFFIX):
                    name = name[: -len(LOG_SUFFIX)]
                if name.endswith(".json") and _NAME_RE.fullmatch(name[:-5]) and entry.is_file():
                    names.add(name[:-5])
        return sorted(names)

    @contextmanager
    def locked(self, names: list[str] | None = None, *, exclusive: bool = False) -> Iterator[list[Collection]]:
        """Hold the locks of several collections at once (all or none, sorted), e.g. for a backup."""
        self.recover()
        colls = [self.collection(n) for n in sorted(set(self.collection_names() if names is None else names))]
        locks = [c._lock for c in colls]
        lock_all(locks, exclusive, self.lock_timeout)
        try:
            yield colls
        finally:
            unlock_all(locks)

    def frozen_files(self, names: list[str] | None = None) -> list[tuple[str, Any, int]]:
        """A consistent view of the collections' files for copying while other processes write.

        Takes every collection's lock (shared) at once, opens each snapshot and log and notes
        how many bytes are complete: snapshots are never changed in place and logs only grow
        behind their last complete line, so reading ``length`` bytes from each open handle later
        gives exactly the state at this moment. Returns ``(file name, open binary file,
        length)``; the caller closes the files.
        """
        frozen: list[tuple[str, Any, int]] = []
        try:
            with self.locked(names) as colls:
                for coll in colls:
                    for path in (coll.path, coll.log_path):
                        try:
                            handle = open(path, "rb")
                        except FileNotFoundError:
                            continue
                        size = os.fstat(handle.fileno()).st_size
                        if path == coll.log_path:
                            size = _last_newline_end(handle.fileno(), size)
                        frozen.append((path.name, handle, size))
        except BaseException:
            for _name, handle, _size in frozen:
                handle.close()
            raise
        return frozen

    def close(self) -> None:
        """Release file handles of all collections."""
        with self._guard:
            for coll in self._collections.values():
                coll.close()
        self._journal.close()


def read_schema_marker(data_dir: str | os.PathLike) -> dict | None:
    """The schema marker of a data folder (``kbp-schema.json``), or None when there is none."""
    path = Path(data_dir) / SCHEMA_FILE
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise CorruptDataError(path, _("not valid JSON: %(reason)s", reason=exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("schema_version"), int):
        raise CorruptDataError(path, _("it has no schema_version"))
    return data


def _last_newline_end(fd: int, size: int) -> int:
    """Offset just after the last newline in the first ``size`` bytes (0 if none)."""
    end = size
    while end > 0:
        start = max(0, end - 65536)
        chunk = os.pread(fd, end - start, start)
        i = chunk.rfind(b"\n")
        if i >= 0:
            return start + i + 1
        end = start
    return 0
