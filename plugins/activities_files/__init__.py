"""Activities from a folder of files, for organisations that keep them in version control.

Set ``ACTIVITY_FILES_DIR`` (``KBP_ACTIVITY_FILES_DIR``) to a folder. Every ``*.yaml``, ``*.yml`` or
``*.json`` file in it (subfolders included, hidden files ignored) holds either one activity or
``{"activities": [...]}``, each in the record shape of :mod:`core.activities` with an ``id``::

    # activities/mentorprogram.yaml
    id: mentorprogrammet
    source_language: sv
    title: {sv: Mentorprogrammet, en: The mentoring programme}
    description: {sv: "Ett halvår med en erfaren mentor …", en: "Six months with an experienced mentor …"}
    competencies: [malin-lindelow:ledarskap]
    kind: learning_from_others
    effort: months

The folder is re-read when a file changes (checked at most once a second), so a ``git pull`` is
live without a restart. A file that does not validate at start-up fails the plugin with file and
reason; one that breaks later is logged and the last good version stays in use.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import yaml
from marshmallow import ValidationError

from core import hookimpl
from core.activities import ActivityRecordSchema, record_to_activity
from core.model import ActivitySource
from core.registry import ContentError
from core.schemas import format_errors

__version__ = "1.0.0"
log = logging.getLogger(__name__)
PATTERNS = ("*.yaml", "*.yml", "*.json")


class FileActivities(ActivitySource):
    id = "files"
    title = "Activity files"
    domain = "messages"
    writable = False

    def __init__(self, folder: str, source_language: str = "sv", check_interval: float = 1.0):
        self.folder = Path(folder)
        self.source_language = source_language
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._checked = 0.0
        self._revision = None
        self._activities: list = []
        self.problems: list[str] = []

    def files(self) -> list[Path]:
        found = set()
        for pattern in PATTERNS:
            found.update(p for p in self.folder.rglob(pattern) if not any(part.startswith(".") for part in p.relative_to(self.folder).parts))
        return sorted(found)

    def revision(self):
        return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in self.files())

    def read_all(self) -> list:
        """Read and validate every file; raise ContentError naming the file on the first problem."""
        records, seen = [], {}
        for path in self.files():
            try:
                text = path.read_text(encoding="utf-8")
                data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
                raise ContentError(f"{where}: cannot read: {getattr(exc, 'problem', None) or exc}") from None
            items = data.get("activities") if isinstance(data, dict) and "activities" in data else [data]
            if not isinstance(items, list):
                raise ContentError(f"{path}: 'activities' must be a list")
            for index, item in enumerate(items):
                try:
                    record = ActivityRecordSchema().load(item if isinstance(item, dict) else {})
                except ValidationError as exc:
                    raise ContentError(f"{path}: activity {index + 1}: {format_errors(exc.messages)}") from None
                if not record.get("id"):
                    raise ContentError(f"{path}: activity {index + 1}: id: every activity in a file needs an id")
                if record["id"] in seen:
                    raise ContentError(f"{path}: activity id '{record['id']}' is also used in {seen[record['id']]}")
                seen[record["id"]] = path
                records.append(record)
        return [record_to_activity(r, self.id) for r in records]

    def activities(self):
        return self.loaded()

    def loaded(self):
        now = time.monotonic()
        with self._lock:
            if self._revision is not None and now - self._checked < self.check_interval:
                return self._activities
            self._checked = now
            revision = self.revision()
            if revision == self._revision:
                return self._activities
            try:
                self._activities = self.read_all()
                self.problems = []
            except ContentError as exc:
                if self._revision is None:
                    raise  # at start-up: the plugin manager reports it
                log.error("activity files: %s (keeping the last good version)", exc)
                self.problems = [str(exc)]
            self._revision = revision
            return self._activities


@hookimpl
def kbp_activity_sources(config):
    folder = config.get("ACTIVITY_FILES_DIR")
    if not folder:
        return []
    if not os.path.isdir(folder):
        raise ContentError(f"ACTIVITY_FILES_DIR {folder} is not a folder")
    return [FileActivities(folder, config.get("DEFAULT_LOCALE", "sv"))]
