"""Consistent backups and verified restores of the embedded data folder (``kbp backup`` / ``kbp restore``).


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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.i18n import gettext as _
from core.migrations import _marker_lock, _too_new
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


class BackupError(StorageError):
    """A backup archive cannot be used (it is never partly restored)."""


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
    from core.version import __version__

    data_dir = Path(data_dir)
    out = Path(out).absolute()
    storage = Storage(data_dir)
    with _marker_lock(data_dir):
        marker = read_schema_marker(data_dir)
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
            # the journal's units of work describe the replaced data: never check them against these
            storage._journal.checkpoint(force=True)
        if not moved or not keep_replaced:
            shutil.rmtree(aside, ignore_errors=True)
            aside_result = None
        else:
            aside_result = aside
        storage.close()
        return RestoreReport(manifest, [str(rel) for rel in staged], aside_result)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
