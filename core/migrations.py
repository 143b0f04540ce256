"""Schema versions and migrations of stored records; consistent backups and verified restores.

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

Backups
=======

:func:`backup` writes one ``.tar.gz`` file: ``manifest.json`` first (format, creation time,
KBP and schema version, and every file with its size and SHA-256), then ``data/...``: each
collection's snapshot and log, and the other files of the data folder (``secret_key``,
``licences/`` ...). It is consistent while the server runs: the locks of all collections are
taken at once (shared: readers go on, writers wait a moment) just long enough to open the
files and note their complete length; snapshots are never modified in place and logs only
grow, so the copy is exactly the state at that moment. The archive is written to a temp file,
synced and renamed into place.

:func:`restore` verifies before it replaces anything: the manifest's format and schema version
(newer than ours: refused), that the archive holds exactly the listed files (no absolute paths,
no ``..``, regular files only) with the right sizes and checksums, and that every collection in
it loads. The files are unpacked into a staging folder inside the data folder; then, holding
the locks of all collections exclusively, the current files are moved aside into
``replaced-<time>/`` and the staged ones renamed into place (each rename is atomic; a server
still running sees the new files on its next operation). An interrupted restore can simply be
run again. Stop the server for a restore all the same: caches outside the storage (search
index, sessions signed with the old ``secret_key``) are only rebuilt at start.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock

from core.i18n import gettext as _
from core.storage import (
    _NAME_RE,
    LOG_SUFFIX,
    SCHEMA_FILE,
    SCHEMA_VERSION,
    CorruptDataError,
    Storage,
    StorageError,
    _fsync_dir,
    read_schema_marker,
)

BACKUP_FORMAT = "kbp-backup/1"
MANIFEST = "manifest.json"
_SKIP_DIRS = (".restore-", "replaced-")


class SchemaTooNewError(StorageError):
    """The data was written by a newer KBP than this one."""


class BackupError(StorageError):
    """A backup archive cannot be used (it is never partly restored)."""


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
    from core import __version__

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


# --------------------------------------------------------------------------- backup


def _collection_of(name: str) -> str | None:
    """The collection a top-level file name belongs to (snapshot or log), else None."""
    base = name[: -len(LOG_SUFFIX)] if name.endswith(LOG_SUFFIX) else name
    if base.endswith(".json") and _NAME_RE.fullmatch(base[:-5]):
        return base[:-5]
    return None


def _is_collection_file(name: str) -> bool:
    return _collection_of(name) is not None


def _other_files(data_dir: Path, exclude: set[Path]) -> list[Path]:
    """Regular files of the data folder that are not collections, locks or temp files."""
    found = []
    for root, dirs, files in os.walk(data_dir):
        rootp = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not d.startswith(_SKIP_DIRS))
        for name in sorted(files):
            path = rootp / name
            if name.startswith(".") or name.endswith(".lock") or name.endswith(".tmp"):
                continue
            if rootp == data_dir and (_is_collection_file(name) or name == SCHEMA_FILE):
                continue
            if path.resolve() in exclude or not path.is_file() or path.is_symlink():
                continue
            found.append(path)
    return found


class _Slice(io.RawIOBase):
    """The first ``length`` bytes of an open file, read with pread (its own position)."""

    def __init__(self, handle, length: int):
        self.fd, self.remaining, self.offset = handle.fileno(), length, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.remaining)
        if n <= 0:
            return 0
        chunk = os.pread(self.fd, n, self.offset)
        if len(chunk) != n:
            raise BackupError(_("A file shrank while it was being backed up."))
        buffer[:n] = chunk
        self.offset += n
        self.remaining -= n
        return n


def _sha256(handle, length: int) -> str:
    digest = hashlib.sha256()
    reader = _Slice(handle, length)
    while chunk := reader.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def backup(data_dir: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Write a consistent backup of the data folder to ``out`` (see the module docstring)."""
    from core import __version__

    data_dir = Path(data_dir)
    out = Path(out).absolute()
    storage = Storage(data_dir)
    with _marker_lock(data_dir):
        marker = read_marker(data_dir)
        frozen = storage.frozen_files()
    schema_version = marker["schema_version"] if marker else SCHEMA_VERSION
    entries: list[tuple[str, Any, int]] = list(frozen)
    try:
        for path in _other_files(data_dir, {out}):
            handle = open(path, "rb")
            entries.append((path.relative_to(data_dir).as_posix(), handle, os.fstat(handle.fileno()).st_size))
        if marker is not None:
            handle = open(data_dir / SCHEMA_FILE, "rb")
            entries.append((SCHEMA_FILE, handle, os.fstat(handle.fileno()).st_size))
        files = [{"path": name, "size": size, "sha256": _sha256(handle, size)} for name, handle, size in entries]
        manifest = {
            "format": BACKUP_FORMAT,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "kbp_version": __version__,
            "schema_version": schema_version,
            "collections": sorted({n[:-5] for n, _h, _s in frozen if n.endswith(".json")}),
            "files": files,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        try:
            with os.fdopen(fd, "wb") as raw:
                with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=5) as tar:
                    data = json.dumps(manifest, indent=2).encode()
                    info = tarfile.TarInfo(MANIFEST)
                    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
                    tar.addfile(info, io.BytesIO(data))
                    for name, handle, size in entries:
                        info = tarfile.TarInfo(f"data/{name}")
                        info.size, info.mtime, info.mode = size, int(time.time()), 0o600
                        tar.addfile(info, io.BufferedReader(_Slice(handle, size)))
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(tmp, out)
        except BaseException:
            with_suppress_unlink(tmp)
            raise
        _fsync_dir(out.parent)
    finally:
        for _name, handle, _size in entries:
            handle.close()
    return manifest


def with_suppress_unlink(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# --------------------------------------------------------------------------- restore


def read_manifest(archive: str | os.PathLike) -> dict:
    """The manifest of a backup archive, checked for format and schema version."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise BackupError(
                    _("%(archive)s is not a KBP backup: it does not start with %(manifest)s.", archive=archive, manifest=MANIFEST)
                )
            manifest = json.loads(tar.extractfile(first).read())
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(_("Cannot read the backup %(archive)s: %(reason)s", archive=archive, reason=exc)) from exc
    except ValueError as exc:
        raise BackupError(_("The manifest of %(archive)s is not valid JSON: %(reason)s", archive=archive, reason=exc)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise BackupError(_("%(archive)s is not a KBP backup in format %(format)s.", archive=archive, format=BACKUP_FORMAT))
    version = manifest.get("schema_version")
    if not isinstance(version, int):
        raise BackupError(_("The manifest of %(archive)s has no schema version.", archive=archive))
    if version > SCHEMA_VERSION:
        raise _too_new(
            _(
                "The backup %(archive)s was written by a newer version of KBP "
                "(schema version %(version)d; this KBP understands up to %(supported)d).",
                archive=archive,
                version=version,
                supported=SCHEMA_VERSION,
            )
        )
    if not isinstance(manifest.get("files"), list):
        raise BackupError(_("The manifest of %(archive)s lists no files.", archive=archive))
    return manifest


def _safe_relative(name: str) -> Path:
    rel = Path(name)
    if not name or rel.is_absolute() or any(part in ("", ".", "..") for part in rel.parts) or "\\" in name:
        raise BackupError(_("The backup holds an unsafe file name %(name)s.", name=repr(name)))
    return rel


def verify(archive: str | os.PathLike, staging: Path | None = None) -> dict:
    """Check a backup completely (manifest, file list, sizes, checksums, every collection loads).

    With ``staging``, the files are also unpacked there (synced). Returns the manifest.
    """
    manifest = read_manifest(archive)
    expected = {}
    for entry in manifest["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise BackupError(_("The manifest lists an invalid file entry."))
        _safe_relative(entry["path"])
        expected[f"data/{entry['path']}"] = entry
    seen = set()
    scratch = staging or Path(tempfile.mkdtemp(prefix="kbp-verify-"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            for position, member in enumerate(tar):
                if position == 0:
                    continue  # the manifest, read above
                entry = expected.get(member.name)
                if entry is None or member.name in seen:
                    raise BackupError(
                        _("The backup holds a file its manifest does not list: %(name)s.", name=repr(member.name))
                    )
                if not member.isfile():
                    raise BackupError(_("The backup entry %(name)s is not a regular file.", name=repr(member.name)))
                seen.add(member.name)
                target = scratch / _safe_relative(entry["path"])
                target.parent.mkdir(parents=True, exist_ok=True)
                digest, size = hashlib.sha256(), 0
                src = tar.extractfile(member)
                with open(target, "wb") as fh:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
                        fh.write(chunk)
                    fh.flush()
                    os.fsync(fh.fileno())
                if size != entry.get("size") or digest.hexdigest() != entry.get("sha256"):
                    raise BackupError(
                        _("The backup is damaged: %(file)s does not match its checksum.", file=entry["path"])
                    )
        missing = set(expected) - seen
        if missing:
            raise BackupError(_("The backup is incomplete: %(file)s is missing.", file=sorted(missing)[0]))
        check = Storage(scratch)
        for name in check.collection_names():
            try:
                check.collection(name).count()
            except CorruptDataError as exc:
                raise BackupError(
                    _("Collection %(collection)s in the backup does not load: %(reason)s", collection=repr(name), reason=exc.reason)
                ) from exc
        check.close()
        for folder, _dirs, _files in os.walk(scratch):
            _fsync_dir(Path(folder))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(_("Cannot read the backup %(archive)s: %(reason)s", archive=archive, reason=exc)) from exc
    finally:
        if staging is None:
            shutil.rmtree(scratch, ignore_errors=True)
    return manifest


@dataclass
class RestoreReport:
    manifest: dict
    restored: list[str]
    moved_aside: Path | None


def restore(data_dir: str | os.PathLike, archive: str | os.PathLike, *, keep_replaced: bool = True) -> RestoreReport:
    """Replace the data folder's contents with a verified backup (see the module docstring)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = data_dir / f".restore-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        manifest = verify(archive, staging)
        storage = Storage(data_dir)
        staged = sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())
        staged_names = {_collection_of(rel.name) for rel in staged if len(rel.parts) == 1 and _is_collection_file(rel.name)}
        names = sorted(set(storage.collection_names()) | staged_names)
        aside = data_dir / f"replaced-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        moved = False
        with _marker_lock(data_dir), storage.locked(names, exclusive=True):
            aside.mkdir()
            for name in names:  # collections not in the backup disappear with the rest
                for suffix in (".json", f".json{LOG_SUFFIX}"):
                    current = data_dir / f"{name}{suffix}"
                    if current.exists():
                        os.replace(current, aside / current.name)
                        moved = True
            for rel in staged:
                target = data_dir / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists() and not _is_collection_file(rel.name):
                    (aside / rel).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(target, aside / rel)
                    moved = True
                os.replace(staging / rel, target)
            for folder in {data_dir, *((data_dir / rel).parent for rel in staged)}:
                _fsync_dir(folder)
        if not moved or not keep_replaced:
            shutil.rmtree(aside, ignore_errors=True)
            aside_result = None
        else:
            aside_result = aside
        storage.close()
        return RestoreReport(manifest, [str(rel) for rel in staged], aside_result)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
