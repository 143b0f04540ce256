"""Schema versions and migrations of stored records (``kbp migrate``, and at every start).

Schema versions
===============

Every record carries ``"_v"``: the schema version it was written in (:data:`core.storage.
SCHEMA_VERSION`, stamped by the storage on every write). The data folder also holds
``kbp-schema.json`` (``{"schema_version": N, ...}``): the version *all* records have been
migrated to. :func:`migrate` (``kbp migrate``, and at every start of the app) reads it first:

* equal to ours: nothing to do (a start costs one small file read);
* newer than ours: :class:`SchemaTooNewError` - this KBP refuses to touch data written by a
  newer one (upgrade KBP, or restore a backup this version made);
* missing or older: every collection is scanned; any record newer than ours also refuses
  (before anything is changed); older records go through :data:`STEPS` one version at a time
  (``STEPS[v]`` turns a version-``v`` record into a version-``v + 1`` one), are written back in
  one transaction per collection, and collections still in the old single-file format are
  converted (compacted) to snapshot + log. Then the marker is written.

Version history
---------------

``0``
    Records written before schema versions existed: no ``"_v"``. People named their coach
    ``manager_id``; plans had no ``version`` (optimistic locking) and no ``follow_ups``.
``1``
    Every record has ``"_v": 1``; ``people.coach_id``; ``plans.version`` starts at 1,
    ``plans.follow_ups`` is a list.

To change the schema: raise ``SCHEMA_VERSION`` in :mod:`core.storage`, add ``STEPS[old]``
here, add a fixture written by the old version under ``tests/fixtures/`` and a test.

Backups and restores of the embedded data folder are in :mod:`core.backup`.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from filelock import FileLock

from core.i18n import gettext as _
from core.storage import (
    SCHEMA_FILE,
    SCHEMA_VERSION,
    Storage,
    StorageError,
    read_schema_marker,
)



class SchemaTooNewError(StorageError):
    """The data was written by a newer KBP than this one."""


# --------------------------------------------------------------------------- the steps


def _v0_to_v1(collection: str, record: dict) -> dict:
    record = dict(record)
    if collection == "people" and "manager_id" in record:
        manager = record.pop("manager_id")
        record.setdefault("coach_id", manager)
    if collection == "plans":
        record.setdefault("version", 1)
        if not isinstance(record.get("follow_ups"), list):
            record["follow_ups"] = []
    return record


#: STEPS[v](collection_name, record) -> the record in version v + 1
STEPS: dict[int, Callable[[str, dict], dict]] = {0: _v0_to_v1}


def upgrade_record(collection: str, record: dict) -> dict:
    """``record`` brought to :data:`SCHEMA_VERSION` (its ``_v`` is stamped when it is written)."""
    version = record_version(collection, record)
    while version < SCHEMA_VERSION:
        record = STEPS[version](collection, record)
        version += 1
    return record


def record_version(collection: str, record: dict) -> int:
    v = record.get("_v", 0)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise StorageError(
            _(
                "Record %(id)s in collection %(collection)s has an invalid schema version %(version)s.",
                id=repr(record.get("id")),
                collection=repr(collection),
                version=repr(v),
            )
        )
    return v


# --------------------------------------------------------------------------- the marker


read_marker = read_schema_marker


def _marker(version: int) -> dict:
    from core.version import __version__

    return {"schema_version": version, "kbp_version": __version__, "migrated_at": time.time()}


def _too_new(what: str) -> SchemaTooNewError:
    """``what``: the translated first sentence, saying what was written by a newer KBP."""
    return SchemaTooNewError(
        what + " " + _("Nothing was changed. Upgrade KBP, or restore a backup made with this version.")
    )


def _data_too_new(data_dir: str | os.PathLike, version: int) -> SchemaTooNewError:
    return _too_new(
        _(
            "The data in %(folder)s was written by a newer version of KBP "
            "(schema version %(version)d; this KBP understands up to %(supported)d).",
            folder=data_dir,
            version=version,
            supported=SCHEMA_VERSION,
        )
    )


def data_schema_version(data_dir: str | os.PathLike) -> int | None:
    marker = read_marker(data_dir)
    return None if marker is None else marker["schema_version"]


# --------------------------------------------------------------------------- migrate


@dataclass
class MigrationReport:
    schema_from: int | None  # the marker's version before (None: no marker)
    schema_to: int
    upgraded: dict[str, int] = field(default_factory=dict)  # collection -> records upgraded
    converted: list[str] = field(default_factory=list)  # collections converted to snapshot + log
    current: bool = False  # nothing had to be done

    def lines(self) -> list[str]:
        if self.current:
            return [_("The data is up to date (schema version %(version)d).", version=self.schema_to)]
        out = [
            _(
                "%(collection)s: %(num)d record(s) upgraded to schema version %(version)d",
                collection=name,
                num=n,
                version=self.schema_to,
            )
            for name, n in self.upgraded.items()
        ]
        out += [
            _("%(collection)s: converted to the snapshot + log storage format", collection=name)
            for name in self.converted
        ]
        out.append(_("The data is at schema version %(version)d.", version=self.schema_to))
        return out


def _marker_lock(data_dir: Path) -> FileLock:
    return FileLock(str(data_dir / f"{SCHEMA_FILE}.lock"))


def _storage_format(coll) -> int | None:
    fmt = getattr(coll, "storage_format", None)
    return fmt() if fmt is not None else None


def migrate(storage: Storage, *, full: bool = False, dry_run: bool = False) -> MigrationReport:
    """Upgrade every record to :data:`SCHEMA_VERSION` (see the module docstring).

    ``full`` scans the collections even when the marker says they are current; ``dry_run``
    only reports what would be done. Raises :class:`SchemaTooNewError` without changing
    anything when data from a newer KBP is found.
    """
    data_dir = storage.location
    with storage.migration_lock():
        marker = storage.schema_marker()
        before = None if marker is None else marker["schema_version"]
        if before is not None and before > SCHEMA_VERSION:
            raise _data_too_new(data_dir, before)
        report = MigrationReport(before, SCHEMA_VERSION)
        if before == SCHEMA_VERSION and not full:
            report.current = True
            return report
        names = storage.collection_names()
        todo: dict[str, int] = {}
        for name in names:  # check everything before changing anything
            coll = storage.collection(name)
            for v, n in coll.version_counts().items():
                version = record_version(name, {"_v": 0 if v is None else v})
                if version > SCHEMA_VERSION:
                    raise _too_new(
                        _(
                            "Collection %(collection)s in %(folder)s was written by a newer version of KBP "
                            "(schema version %(version)d; this KBP understands up to %(supported)d).",
                            collection=repr(name),
                            folder=data_dir,
                            version=version,
                            supported=SCHEMA_VERSION,
                        )
                    )
                if version < SCHEMA_VERSION:
                    todo[name] = todo.get(name, 0) + n
            if _storage_format(coll) == 1:
                report.converted.append(name)
        report.upgraded = todo
        if dry_run:
            report.current = not todo and not report.converted and before == SCHEMA_VERSION
            return report
        for name in todo:
            coll = storage.collection(name)
            with coll.transaction() as tx:
                for record in tx.all():
                    if record_version(name, record) < SCHEMA_VERSION:
                        tx.upsert(upgrade_record(name, record))
            coll.compact()
        for name in report.converted:
            storage.collection(name).compact()
        storage.write_schema_marker(_marker(SCHEMA_VERSION))
        report.current = not todo and not report.converted and before == SCHEMA_VERSION
        return report


def check_schema(data_dir: str | os.PathLike) -> None:
    """Refuse (``SchemaTooNewError``) when the data folder's marker is newer than this KBP."""
    version = data_schema_version(data_dir)
    if version is not None and version > SCHEMA_VERSION:
        raise _data_too_new(data_dir, version)
