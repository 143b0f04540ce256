"""The PostgreSQL backend of the storage interface (:mod:`core.store`): psycopg 3 with a pool.

Selected by ``KBP_DATABASE_URL=postgresql://user:pass@host:5432/kbp``. Every collection is a
table ``kbp_<name>``::

    id       text primary key
    doc      jsonb   the document, in the same shape as in the embedded store
    version  bigint  bumped by every write of the row (optimistic concurrency, diagnostics)
    seq      bigint  insertion order (``all()`` and ``find()`` return records in it, as embedded does)
    f_<field> text   generated from ``doc->>'<field>'`` for every field :data:`core.store.SCHEMA`
                     looks records up by, with an index, and a unique constraint where declared

and ``kbp_revisions(collection, rev)`` counts the commits per collection, so caches on every
server notice a change at their next request (``Collection.revision()``).

Semantics are the embedded store's, so services behave the same on both:

* A ``transaction()`` / ``unit_of_work()`` is one database transaction. Writers of a collection
  are serialised by a transaction-scoped advisory lock per collection, taken in name order (as the
  embedded store takes its file locks): "read, decide, write" inside a unit of work cannot race
  with another server's. Readers never wait.
* Reads return copies; ``find(field=value)`` is jsonb equality (an indexed column where there is
  one); records carry ``_v``.
* Reads for a request: the revision table is read once per request (:meth:`PostgresStore.begin_request`);
  finds in :data:`LARGE_DOCUMENTS` collections (plans) fetch only the documents a worker does not
  already keep at the row's current version (``xmin`` and ``version``, asked at every read).
* A lost connection or an exhausted pool raises :class:`core.store.UnavailableError` after a short
  wait (``KBP_DATABASE_POOL_TIMEOUT``, 5 s), never hangs; the pool reconnects by itself when the
  database is back.
"""
from __future__ import annotations

import contextvars
import os
import re
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.types.json import Jsonb, set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from core.i18n import gettext as _
from core.storage import (
    SCHEMA_VERSION,
    DuplicateIdError,
    NotFoundError,
    SingleWrites,
    StorageError,
    UnitOfWorkParts,
    UniqueViolation,
    _check_id,
    _prepare,
    refuse_nested,
)

__all__ = ["PostgresStore"]

#: stores open in this process (tests close the ones each test opened)
_OPEN: "weakref.WeakSet[PostgresStore]" = weakref.WeakSet()

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_FIELD_RE = re.compile(r"[a-z][a-z0-9_]*")


def _loads(value: Any) -> dict:
    # psycopg returns jsonb already decoded; a fresh decode keeps callers from sharing objects
    return value if isinstance(value, dict) else orjson.loads(value)


def _configure(conn: psycopg.Connection) -> None:
    """Every pooled connection decodes jsonb with orjson (the standard library's decoder took most of
    the time of reading a page of plans or activities)."""
    set_json_loads(orjson.loads, conn)


def _dumps(doc: Mapping) -> Jsonb:
    return Jsonb(doc, dumps=lambda obj: orjson.dumps(obj).decode())


def _unavailable(exc: BaseException) -> StorageError:
    from core.store import UnavailableError

    reason = " ".join(str(exc).split()) or type(exc).__name__
    return UnavailableError(_("The database cannot be reached (KBP_DATABASE_URL): %(reason)s", reason=reason))


class _Tx:
    """Reads and writes of one collection inside a database transaction (own writes visible)."""

    def __init__(self, store: "PostgresStore", conn: psycopg.Connection, name: str):
        self._store = store
        self._conn = conn
        self.name = name
        self._table = store._table(name)
        self._fields = store._fields(name)
        self.changed = False

    # -- reads

    def get(self, id: str) -> dict | None:
        if not isinstance(id, str) or not id or "\x00" in id:  # PostgreSQL text holds no NUL: no such record
            return None
        row = self._conn.execute(sql.SQL("SELECT doc FROM {} WHERE id = %s").format(self._table), (id,)).fetchone()
        return None if row is None else _loads(row[0])

    def all(self) -> list[dict]:
        rows = self._conn.execute(sql.SQL("SELECT doc FROM {} ORDER BY seq").format(self._table)).fetchall()
        return [_loads(r[0]) for r in rows]

    def find(self, **equals: Any) -> list[dict]:
        return self._select(self._store._find_condition(self.name, equals))

    def find_any(self, field: str, values) -> list[dict]:
        return self._select(self._store._any_condition(self.name, field, values))

    def _select(self, condition: tuple[sql.Composable, list] | None) -> list[dict]:
        if condition is None:
            return []
        query = sql.SQL("SELECT doc FROM {} WHERE {} ORDER BY seq").format(self._table, condition[0])
        return [_loads(r[0]) for r in self._conn.execute(query, condition[1]).fetchall()]

    def count(self) -> int:
        return self._conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._table)).fetchone()[0]

    def find_containing(self, field: str, values) -> list[dict]:
        wanted = [v for v in dict.fromkeys(values) if isinstance(v, str) and "\x00" not in v]
        if not wanted or not _FIELD_RE.fullmatch(field):
            return []
        query = sql.SQL("SELECT doc FROM {} WHERE doc->{} ?| %s::text[] ORDER BY seq").format(self._table, sql.Literal(field))
        return [_loads(r[0]) for r in self._conn.execute(query, (wanted,)).fetchall()]

    # -- writes

    def _write(self, query: sql.Composable, params: tuple, record_id: str) -> None:
        try:
            with self._conn.transaction():  # a savepoint: a refused write leaves the transaction usable
                self._conn.execute(query, params)
        except pg_errors.UniqueViolation as exc:
            constraint = getattr(exc.diag, "constraint_name", "") or ""
            field = constraint.rpartition("__")[2] if "__" in constraint else ""
            if field and field != "pkey":
                raise UniqueViolation(self.name, field, None) from None
            raise DuplicateIdError(
                _(
                    "A record with id %(id)s already exists in collection %(collection)s.",
                    id=repr(record_id),
                    collection=repr(self.name),
                )
            ) from None
        self.changed = True

    def insert(self, record: Mapping) -> dict:
        doc = _prepare(record)
        if doc.get("id") is None:
            doc["id"] = uuid.uuid4().hex
        record_id = _check_id(doc["id"])
        doc["_v"] = SCHEMA_VERSION
        self._write(sql.SQL("INSERT INTO {} (id, doc) VALUES (%s, %s)").format(self._table), (record_id, _dumps(doc)), record_id)
        return _prepare(doc)

    def insert_many(self, records: list[Mapping]) -> int:
        """Insert many new records in one round trip per batch (copies, imports); a clash with an
        existing id or a unique value aborts the whole unit of work."""
        rows = []
        for record in records:
            doc = _prepare(record)
            if doc.get("id") is None:
                doc["id"] = uuid.uuid4().hex
            doc["_v"] = SCHEMA_VERSION
            rows.append((_check_id(doc["id"]), _dumps(doc)))
        if rows:
            with self._conn.cursor() as cur:
                cur.executemany(sql.SQL("INSERT INTO {} (id, doc) VALUES (%s, %s)").format(self._table), rows)
            self.changed = True
        return len(rows)

    def update(self, id: str, changes: Mapping) -> dict:
        record_id = _check_id(id)
        fields = _prepare(changes, "changes")
        if "id" in fields and fields["id"] != record_id:
            raise ValueError(f"Cannot change the id of record {record_id!r} to {fields['id']!r}.")
        current = self.get(record_id)  # None for an id PostgreSQL cannot hold (NUL)
        if current is None:
            raise NotFoundError(
                _(
                    "No record with id %(id)s in collection %(collection)s.",
                    id=repr(record_id),
                    collection=repr(self.name),
                )
            )
        current.update(fields)
        current["_v"] = SCHEMA_VERSION
        self._write(
            sql.SQL("UPDATE {} SET doc = %s, version = version + 1 WHERE id = %s").format(self._table),
            (_dumps(current), record_id),
            record_id,
        )
        return _prepare(current)

    def upsert(self, record: Mapping) -> dict:
        doc = _prepare(record)
        if doc.get("id") is None:
            doc["id"] = uuid.uuid4().hex
        record_id = _check_id(doc["id"])
        doc["_v"] = SCHEMA_VERSION
        self._write(
            sql.SQL(
                "INSERT INTO {} (id, doc) VALUES (%s, %s) "
                "ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, version = {}.version + 1"
            ).format(self._table, self._table),
            (record_id, _dumps(doc)),
            record_id,
        )
        return _prepare(doc)

    def delete(self, id: str) -> bool:
        record_id = _check_id(id)
        if "\x00" in record_id:
            return False
        cur = self._conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(self._table), (record_id,))
        if cur.rowcount:
            self.changed = True
        return bool(cur.rowcount)


#: collections whose documents are large (a plan with its text snapshots in every language is ~5 KB
#: of JSON): PostgreSQL's conversion of jsonb to text, not the look-up, is most of the time of listing
#: a coach's hundred plans, so a worker keeps the recently read ones (:class:`_KeptDocuments`)
LARGE_DOCUMENTS = frozenset({"plans"})

#: small, read-mostly collections that nearly every request reads (who is asking: the token or the
#: session, the account, the person; a page's unread notifications): within a request, a record
#: read while the collection had the revision the request read is not asked for again while that
#: revision is still the current one, so an edit on any server (a sign-out everywhere, a reminder
#: sent) is seen at the next request, as with every other cache
BY_REVISION = frozenset({"accounts", "api_tokens", "people", "sessions", "notifications"})

#: a row of ``kbp_revisions`` that is not a collection (no collection name has a colon): counts the
#: erasures (:meth:`PostgresStore.purge_history`); a worker that sees it change drops every
#: document it keeps, so an erased person's plans, sessions and notifications leave the memory of
#: every worker on every server at its next request, not when they happen to be evicted
PURGED = "kbp:purged"


class _KeptDocuments:
    """Recently read documents as their JSON bytes, each with the stamp of the row it was read from
    (``xmin``, the transaction that wrote that row version, and the ``version`` column): a document is
    only served for a row with the same stamp, i.e. the very row version it was read from. Least
    recently used ones go first beyond ``max_bytes`` (``KBP_DATABASE_DOC_CACHE_MB``, 16 MB; 0 keeps none)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self.generation = 0  # counted up by clear()
        self._docs: OrderedDict[tuple, tuple[tuple, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, stamp: tuple) -> bytes | None:
        with self._lock:
            kept = self._docs.get(key)
            if kept is None or kept[0] != stamp:
                return None
            self._docs.move_to_end(key)
            return kept[1]

    def clear(self) -> None:
        """Drop everything, including what a read that began before is about to put."""
        with self._lock:
            self._docs.clear()
            self.size = 0
            self.generation += 1

    def put(self, key: tuple, stamp: tuple, data: bytes, generation: int) -> None:
        """Keep ``data``, read from the database after :attr:`generation` was ``generation``:
        not when a :meth:`clear` came in between (an erase: the read may predate it)."""
        if len(data) > self.max_bytes // 8:
            return  # a huge document would push out many others
        with self._lock:
            if generation != self.generation:
                return
            old = self._docs.pop(key, None)
            if old is not None:
                self.size -= len(old[1])
            self._docs[key] = (stamp, data)
            self.size += len(data)
            while self.size > self.max_bytes and self._docs:
                _key, (_stamp, dropped) = self._docs.popitem(last=False)
                self.size -= len(dropped)


class _UnitOfWork(UnitOfWorkParts):
    def __init__(self, txs: dict[str, _Tx]):
        self._tx = txs


class PgCollection(SingleWrites):
    """A collection on PostgreSQL (same methods as the embedded ``core.storage.Collection``)."""

    def __init__(self, store: "PostgresStore", name: str):
        self._store = store
        self.name = name
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"<PgCollection {self.name!r}>"

    @contextmanager
    def _read(self) -> Iterator[_Tx]:
        open_tx = getattr(self._local, "transaction", None)
        if open_tx is not None:  # reads inside our own transaction see its writes
            yield open_tx
            return
        with self._store._connection() as conn:
            yield _Tx(self._store, conn, self.name)

    def get(self, id: str) -> dict | None:
        if self.name in BY_REVISION and isinstance(id, str):
            return self._by_revision(("get", id), lambda tx: tx.get(id))
        with self._read() as tx:
            return tx.get(id)

    def all(self) -> list[dict]:
        with self._read() as tx:
            return tx.all()

    def find(self, **equals: Any) -> list[dict]:
        if self._store._docs is not None and self.name in LARGE_DOCUMENTS and self._local_tx() is None:
            return self._find_kept(self._store._find_condition(self.name, equals))
        if self.name in BY_REVISION and all(v is None or isinstance(v, str) for v in equals.values()):
            return self._by_revision(("find", *sorted(equals.items())), lambda tx: tx.find(**equals))
        with self._read() as tx:
            return tx.find(**equals)

    def _by_revision(self, question: tuple, read: Callable[[_Tx], Any]) -> Any:
        """The answer to ``question`` (a get or find of a :data:`BY_REVISION` collection) from
        memory while the request's revision of the collection is the one it was read at."""
        docs = self._store._docs
        revision = self._store._request_revision(self.name) if docs is not None and self._local_tx() is None else None
        if revision is None:  # outside a request (or inside a transaction): ask the database
            with self._read() as tx:
                return read(tx)
        key = (self.name, *question)
        data = docs.get(key, revision)
        if data is not None:
            return orjson.loads(data)
        generation = docs.generation
        with self._read() as tx:  # read after the revision: a commit in between only makes it look older
            answer = read(tx)
        docs.put(key, revision, orjson.dumps(answer), generation)
        return answer

    def find_any(self, field: str, values) -> list[dict]:
        if self._store._docs is not None and self.name in LARGE_DOCUMENTS and self._local_tx() is None:
            return self._find_kept(self._store._any_condition(self.name, field, values))
        with self._read() as tx:
            return tx.find_any(field, values)

    def _local_tx(self) -> "_Tx | None":
        return getattr(self._local, "transaction", None)

    def _find_kept(self, condition: tuple[sql.Composable, list] | None) -> list[dict]:
        """A find of a :data:`LARGE_DOCUMENTS` collection: first the matching rows' ids and row
        stamps (no document leaves the database), then in one more query only the documents this
        worker does not keep at that stamp. Every read asks the database which rows match and what
        their current version is, so a change by any server is seen at once; a document is never
        served from memory unless the row is still exactly the one it was read from."""
        if condition is None:
            return []
        cond, params = condition
        table = self._store._table(self.name)
        docs = self._store._docs
        generation = docs.generation
        found: dict[str, bytes] = {}
        with self._store._connection() as conn:
            stamps = conn.execute(
                sql.SQL("SELECT id, xmin::text, version FROM {} WHERE {} ORDER BY seq").format(table, cond), params
            ).fetchall()
            missing = []
            for record_id, xmin, version in stamps:
                data = docs.get((self.name, record_id), (xmin, version))
                if data is None:
                    missing.append(record_id)
                else:
                    found[record_id] = data
            if missing:  # the same condition again: a row changed in between so that it no longer matches is left out
                rows = conn.execute(
                    sql.SQL("SELECT id, xmin::text, version, doc::text FROM {} WHERE id = ANY(%s) AND ({})").format(table, cond),
                    [missing, *params],
                ).fetchall()
                for record_id, xmin, version, text in rows:
                    found[record_id] = data = text.encode()
                    docs.put((self.name, record_id), (xmin, version), data, generation)
        return [orjson.loads(found[r[0]]) for r in stamps if r[0] in found]

    def count(self) -> int:
        with self._read() as tx:
            return tx.count()

    def find_containing(self, field: str, values) -> list[dict]:
        """Records whose list ``field`` holds any of ``values``, in insertion order (a GIN index
        where :data:`core.store.SCHEMA` declares the field under ``contains``). PostgreSQL only:
        a worker that does not keep the records asks the database for the few it shows."""
        with self._read() as tx:
            return tx.find_containing(field, values)

    def map_readonly(self, fn: Callable[[dict], Any]) -> list:
        """``fn`` over every record, streamed from a server-side cursor in batches: a worker never
        holds every decoded record at once (rebuilding a search index over 50,000 activities)."""
        return [fn(doc) for doc in self.iter_readonly()]

    def iter_readonly(self, batch: int = 500) -> Iterator[dict]:
        """Every record, in insertion order, decoded ``batch`` at a time from a server-side cursor
        (a connection of the pool is held until the iteration ends or the generator is closed)."""
        if getattr(self._local, "transaction", None) is not None:
            yield from self.all()
            return
        table = self._store._table(self.name)
        self._store._ensure(self.name)
        with self._store._connection() as conn, conn.transaction():
            with conn.cursor(name=f"kbp_scan_{uuid.uuid4().hex[:12]}") as cur:
                cur.itersize = batch
                cur.execute(sql.SQL("SELECT doc FROM {} ORDER BY seq").format(table))
                for (doc,) in cur:
                    yield _loads(doc)

    def revision(self) -> tuple:
        return self._store.revisions([self.name])[self.name]

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        with self._store.unit_of_work(self.name) as uow:
            yield uow[self.name]

    def compact(self) -> bool:
        return False  # PostgreSQL's autovacuum does this job

    def storage_format(self) -> None:
        return None  # no file format to convert

    def version_counts(self) -> dict[Any, int]:
        with self._store._connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT doc->'_v', count(*) FROM {} GROUP BY 1").format(self._store._table(self.name))
            ).fetchall()
        return {row[0]: row[1] for row in rows}

    def close(self) -> None:
        pass


class PostgresStore:
    """The storage interface on PostgreSQL (see the module docstring)."""

    backend = "postgresql"

    def __init__(self, url: str, *, schema: str | None = None, pool_size: int | None = None, timeout: float | None = None):
        from core.store import SCHEMA

        self.url = url
        self.schema = schema
        self.timeout = float(timeout if timeout is not None else os.environ.get("KBP_DATABASE_POOL_TIMEOUT", 5))
        size = int(pool_size if pool_size is not None else os.environ.get("KBP_DATABASE_POOL_SIZE", 10))
        kept_mb = float(os.environ.get("KBP_DATABASE_DOC_CACHE_MB", 16))
        self._docs: _KeptDocuments | None = _KeptDocuments(int(kept_mb * 2**20)) if kept_mb > 0 else None
        self._purged_seen: int | None = None  # the PURGED count at the last revision read (None: not read yet)
        kwargs: dict[str, Any] = {"autocommit": True}
        if schema:
            if not _NAME_RE.fullmatch(schema):
                raise ValueError(f"Invalid schema name {schema!r}.")
            kwargs["options"] = f"-c search_path={schema}"
        self._declared: dict[str, tuple[str, ...]] = {n: spec["unique"] for n, spec in SCHEMA.items()}
        self._indexed: dict[str, tuple[str, ...]] = {
            n: tuple(dict.fromkeys(spec["indexed"] + spec["unique"])) for n, spec in SCHEMA.items()
        }
        self._contains: dict[str, tuple[str, ...]] = {n: spec.get("contains", ()) for n, spec in SCHEMA.items()}
        self._collections: dict[str, PgCollection] = {}
        #: the revisions read once for the request in hand (see :meth:`begin_request`)
        self._scope: contextvars.ContextVar[list | None] = contextvars.ContextVar(f"kbp_revisions_{id(self)}", default=None)
        self._ready: set[str] = set()
        self._guard = threading.RLock()
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max(1, size), timeout=self.timeout, kwargs=kwargs, open=False, name="kbp",
            configure=_configure,
        )
        self._pid = os.getpid()
        _OPEN.add(self)
        try:
            self._pool.open(wait=True, timeout=self.timeout)
        except PoolTimeout as exc:
            self._pool.close()
            reason: BaseException = exc
            try:  # the pool only says it timed out: one direct attempt gives the real reason
                psycopg.connect(url, connect_timeout=max(1, int(self.timeout)), **kwargs).close()
            except psycopg.Error as direct:
                reason = direct
            raise _unavailable(reason) from None
        with self._connection() as conn, conn.transaction():
            # servers starting at once take turns: concurrent CREATE ... IF NOT EXISTS can still clash
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('kbp-ddl'))")
            if schema:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS kbp_revisions (collection text PRIMARY KEY, rev bigint NOT NULL DEFAULT 0)"
            )
            conn.execute("CREATE TABLE IF NOT EXISTS kbp_meta (key text PRIMARY KEY, value jsonb NOT NULL)")

    def __repr__(self) -> str:
        return f"<PostgresStore {self.schema or 'public'}>"

    # -- connections

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        if self._pid != os.getpid():  # a forked worker must not share the parent's sockets
            self._reopen()
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise _unavailable(exc) from None
        except psycopg.OperationalError as exc:
            try:
                self._pool.check()  # drop broken connections now, so the next request gets a fresh one
            except Exception:  # noqa: BLE001 - the database is away; the pool retries by itself
                pass
            raise _unavailable(exc) from None

    def _reopen(self) -> None:
        with self._guard:
            if self._pid == os.getpid():
                return
            old = self._pool
            self._pool = ConnectionPool(
                old.conninfo, min_size=1, max_size=old.max_size, timeout=self.timeout, kwargs=old.kwargs, open=True, name="kbp",
                configure=_configure,
            )
            self._pid = os.getpid()

    # -- schema

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(f"kbp_{name}")

    def _fields(self, name: str) -> tuple[str, ...]:
        return self._indexed.get(name, ())

    def _ensure(self, name: str) -> None:
        if name in self._ready:
            return
        with self._guard:
            if name in self._ready:
                return
            table = self._table(name)
            cols = [
                sql.SQL("{} text GENERATED ALWAYS AS (doc->>{}) STORED").format(sql.Identifier(f"f_{f}"), sql.Literal(f))
                for f in self._fields(name)
            ]
            ddl = sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id text PRIMARY KEY, doc jsonb NOT NULL, "
                "version bigint NOT NULL DEFAULT 1, seq bigint GENERATED ALWAYS AS IDENTITY{})"
            ).format(table, sql.SQL("").join(sql.SQL(", ") + c for c in cols))
            with self._connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('kbp-ddl'))")
                conn.execute(ddl)
                conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (seq)").format(sql.Identifier(f"kbp_{name}__seq"), table))
                for f in self._fields(name):
                    unique = f in self._declared.get(name, ())
                    conn.execute(
                        sql.SQL("CREATE {} INDEX IF NOT EXISTS {} ON {} ({})").format(
                            sql.SQL("UNIQUE") if unique else sql.SQL(""),
                            sql.Identifier(f"kbp_{name}__{f}"),
                            table,
                            sql.Identifier(f"f_{f}"),
                        )
                    )
                for f in self._contains.get(name, ()):
                    conn.execute(
                        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin ((doc->{}))").format(
                            sql.Identifier(f"kbp_{name}__{f}_gin"), table, sql.Literal(f)
                        )
                    )
                conn.execute(
                    "INSERT INTO kbp_revisions (collection) VALUES (%s) ON CONFLICT DO NOTHING", (name,)
                )
            self._ready.add(name)

    def declare_unique(self, name: str, *fields: str) -> None:
        for f in fields:
            if not _FIELD_RE.fullmatch(f):
                raise ValueError(f"Invalid field name {f!r}.")
        with self._guard:
            self._declared[name] = tuple(dict.fromkeys(self._declared.get(name, ()) + fields))
            self._indexed[name] = tuple(dict.fromkeys(self._indexed.get(name, ()) + fields))
            self._ready.discard(name)  # add the column and constraint at next use

    def _find_condition(self, name: str, equals: Mapping[str, Any]) -> tuple[sql.Composable, list] | None:
        """``find(**equals)``'s WHERE clause and parameters; None when nothing can match."""
        if any("\x00" in v for v in equals.values() if isinstance(v, str)):
            return None  # PostgreSQL text holds no NUL: nothing can match
        return self._where(name, equals)

    def _any_condition(self, name: str, field: str, values) -> tuple[sql.Composable, list] | None:
        """``find_any(field, values)``'s WHERE clause and parameters; None when nothing can match."""
        wanted = [v for v in dict.fromkeys(values) if isinstance(v, str) and "\x00" not in v]
        if not wanted or not _FIELD_RE.fullmatch(field):
            return None
        if field == "id":  # the primary key
            cond = sql.SQL("id = ANY(%s)")
        elif field in self._fields(name):
            cond = sql.SQL("{} = ANY(%s)").format(sql.Identifier(f"f_{field}"))
        else:
            cond = sql.SQL("doc->>{} = ANY(%s) AND jsonb_typeof(doc->{}) = 'string'").format(sql.Literal(field), sql.Literal(field))
        return cond, [wanted]

    def _where(self, name: str, equals: Mapping[str, Any]) -> tuple[sql.Composable, list]:
        if not equals:
            return sql.SQL("TRUE"), []
        parts, params = [], []
        indexed = self._fields(name)
        for field, value in equals.items():
            if field in indexed and isinstance(value, str):
                parts.append(sql.SQL("{} = %s").format(sql.Identifier(f"f_{field}")))
                params.append(value)
            elif field in indexed and value is None:
                parts.append(sql.SQL("doc->{} = 'null'::jsonb").format(sql.Literal(field)))
            else:
                parts.append(sql.SQL("doc->{} = %s").format(sql.Literal(field)))
                params.append(_dumps(value))
        return sql.SQL(" AND ").join(parts), params

    # -- the interface

    def collection(self, name: str) -> PgCollection:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(
                f"Invalid collection name {name!r}: use a lowercase letter followed by "
                f"lowercase letters, digits or underscores."
            )
        self._ensure(name)
        with self._guard:
            coll = self._collections.get(name)
            if coll is None:
                coll = self._collections[name] = PgCollection(self, name)
            return coll

    def collection_names(self) -> list[str]:
        with self._connection() as conn:
            rows = conn.execute("SELECT collection FROM kbp_revisions ORDER BY collection").fetchall()
        names = []
        for (name,) in rows:
            if not _NAME_RE.fullmatch(name):  # PURGED
                continue
            self._ensure(name)
            if self.collection(name).count():
                names.append(name)
        return names

    @contextmanager
    def unit_of_work(self, *names: str) -> Iterator[_UnitOfWork]:
        wanted = sorted(set(names))
        if not wanted:
            raise ValueError("A unit of work needs at least one collection.")
        colls = [self.collection(n) for n in wanted]
        refuse_nested(colls)
        with self._connection() as conn:
            try:
                with conn.transaction():
                    for n in wanted:  # writers of a collection take turns, as with the embedded locks
                        conn.execute("SELECT pg_advisory_xact_lock(hashtext('kbp-collection'), hashtext(%s))", (n,))
                    txs = {n: _Tx(self, conn, n) for n in wanted}
                    for coll in colls:
                        coll._local.transaction = txs[coll.name]
                    try:
                        yield _UnitOfWork(txs)
                    finally:
                        for coll in colls:
                            coll._local.transaction = None
                    touched = [n for n, tx in txs.items() if tx.changed]
                    if touched:
                        conn.execute(
                            "UPDATE kbp_revisions SET rev = rev + 1 WHERE collection = ANY(%s)", (touched,)
                        )
            except psycopg.OperationalError as exc:
                raise _unavailable(exc) from None
        if touched:  # committed: this request's later revision checks see its own writes
            held = self._scope.get()
            if held is not None:
                held[0] = None

    def revisions(self, names: list[str]) -> dict[str, tuple]:
        held = self._scope.get()
        if held is None:
            with self._connection() as conn:
                rows = conn.execute("SELECT collection, rev FROM kbp_revisions WHERE collection = ANY(%s)", (names,)).fetchall()
            found = dict(rows)
        else:
            if held[0] is None:
                with self._connection() as conn:
                    held[0] = dict(conn.execute("SELECT collection, rev FROM kbp_revisions").fetchall())
                self._notice_purge(held[0].get(PURGED, 0))
            found = held[0]
        return {n: ("pg", found.get(n, 0)) for n in names}

    def _notice_purge(self, purged: int) -> None:
        """Drop every kept document when an erasure happened (here or on another server) since the
        last revision read."""
        if purged != self._purged_seen:
            if self._docs is not None:
                self._docs.clear()
            self._purged_seen = purged

    def _request_revision(self, name: str) -> tuple | None:
        """The revision of ``name`` in the request's snapshot, or None outside a request."""
        if self._scope.get() is None:
            return None
        return self.revisions([name])[name]

    def begin_request(self) -> None:
        """From now until :meth:`end_request` (in this thread / context), every ``revision()`` is
        answered from one read of the whole revision table, made at the first check: a request
        asks the database once instead of once per cache it checks (catalogue, imports, licences,
        the search index …). Another server's commit is seen at the next request, as before; this
        process's own commits drop the snapshot, so the request sees its own writes."""
        self._scope.set([None])

    def end_request(self) -> None:
        self._scope.set(None)

    def analyze(self, names: list[str]) -> None:
        """Vacuum these collections and refresh the planner's statistics now (after a bulk load such
        as ``kbp db copy``). Until autovacuum gets round to it, PostgreSQL knows nothing of the new
        rows and plans "any of these 70 people" as a scan of every plan instead of an index look-up;
        and autovacuum's later pass over every new row (setting hint bits and the visibility map)
        would compete with the first requests. ``VACUUM`` runs outside a transaction."""
        for name in names:
            self._ensure(name)
        with self._connection() as conn:
            conn.commit()
            conn.autocommit = True
            try:
                for name in names:
                    conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(self._table(name)))
            finally:
                conn.autocommit = False

    def purge_history(self) -> None:
        """After an erase. A deleted or replaced row is no longer readable by any query (autovacuum
        reclaims it), but workers keep recently read documents in memory (never served once the
        row changed, yet held until evicted): this worker drops them now, and :data:`PURGED` is
        counted up so that every other worker drops its own at its next request."""
        with self._connection() as conn:
            row = conn.execute(
                "INSERT INTO kbp_revisions (collection, rev) VALUES (%s, 1) "
                "ON CONFLICT (collection) DO UPDATE SET rev = kbp_revisions.rev + 1 RETURNING rev", (PURGED,)
            ).fetchone()
        held = self._scope.get()
        if held is not None:
            held[0] = None
        self._notice_purge(row[0])

    def recover(self) -> int:
        return 0  # PostgreSQL finishes or rolls back every transaction itself

    # -- schema management (kbp migrate)

    @property
    def location(self) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self.url)
        where = info.get("host") or "localhost"
        return f"PostgreSQL database {info.get('dbname', '')!s} on {where}" + (f" (schema {self.schema})" if self.schema else "")

    def schema_marker(self) -> dict | None:
        with self._connection() as conn:
            row = conn.execute("SELECT value FROM kbp_meta WHERE key = 'schema'").fetchone()
        return None if row is None else _loads(row[0])

    def shared_secret(self, name: str) -> str:
        """A random secret made once per database (the first server to ask makes it): every
        server signs sessions with the same key, so sticky sessions are not needed."""
        import secrets

        with self._connection() as conn:
            conn.execute(
                "INSERT INTO kbp_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                (name, _dumps(secrets.token_hex(32))),
            )
            row = conn.execute("SELECT value FROM kbp_meta WHERE key = %s", (name,)).fetchone()
        return row[0]

    def put_shared_secret(self, name: str, value: str) -> None:
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO kbp_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (name, _dumps(value)),
            )

    def write_schema_marker(self, marker: Mapping[str, Any]) -> None:
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO kbp_meta (key, value) VALUES ('schema', %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (_dumps(dict(marker)),),
            )

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """A session advisory lock: two servers starting at once migrate one after the other."""
        with self._connection() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext('kbp-migrate'))")
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext('kbp-migrate'))")

    def healthy(self) -> bool:
        try:
            with self._connection() as conn:
                conn.execute("SELECT 1")
            return True
        except StorageError:
            return False

    def close(self) -> None:
        _OPEN.discard(self)
        self._pool.close()
