"""Copying every collection between two stores (``kbp db copy``): embedded ⇄ PostgreSQL.

Records are copied in this version's schema (the source is migrated first), in insertion order,
in batches; each collection is then read back and compared with the source by count and SHA-256
of its records. The session key travels along, so people stay signed in after a move.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable

import orjson

from core.i18n import gettext as _
from core.storage import StorageError

BATCH = 2000


class TargetNotEmpty(StorageError):
    """The target holds data and ``force`` was not given: nothing was copied."""


def digest(records: list[dict]) -> str:
    """SHA-256 over the records sorted by id, keys sorted: equal for equal contents on any backend."""
    h = hashlib.sha256()
    for record in sorted(records, key=lambda r: r["id"]):
        h.update(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
        h.update(b"\n")
    return h.hexdigest()


def copy_store(src, dst, *, force: bool = False, progress: Callable[[str], None] = lambda _line: None) -> int:
    """Copy ``src`` into ``dst``; returns the number of collections copied."""
    from core.migrations import migrate

    migrate(src)
    names = src.collection_names()
    occupied = [n for n in dst.collection_names() if dst.collection(n).count()]
    if occupied and not force:
        raise TargetNotEmpty(_(
            "The target already holds data (%(collections)s). Nothing was copied. "
            "Use --force to replace those collections.", collections=", ".join(occupied)))
    for name in sorted(set(names) | set(occupied)):
        records = src.collection(name).all() if name in names else []
        with dst.unit_of_work(name) as uow:
            tx = uow[name]
            for old in tx.all():
                tx.delete(old["id"])
            for start in range(0, len(records), BATCH):
                tx.insert_many(records[start : start + BATCH])
        copied = dst.collection(name).all()
        if len(copied) != len(records) or digest(copied) != digest(records):
            raise StorageError(_(
                "Collection %(collection)s did not arrive intact (%(copied)d of %(total)d records, or different "
                "contents). The target is incomplete: run the copy again.",
                collection=name, copied=len(copied), total=len(records)))
        progress(_("%(collection)s: %(num)d records copied and verified", collection=name, num=len(records)))
    dst.put_shared_secret("secret_key", src.shared_secret("secret_key"))
    analyze = getattr(dst, "analyze", None)
    if analyze is not None:  # PostgreSQL: statistics of the new rows now, so the first requests use the indexes
        analyze(sorted(set(names) | set(occupied)))
    migrate(dst)
    return len(names)
