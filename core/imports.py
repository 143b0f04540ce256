"""Frameworks imported from files (CASE packages, Moodle CSV): the rules the core applies to them.

A plugin whose frameworks come from files another system wrote declares ``IMPORTS_FRAMEWORKS =
True`` (and may offer ``source_file(framework_id) -> str | None`` for messages). The registry then
treats each of its frameworks as a file of its own (:func:`core.registry.build_registry`):

* import plugins are assembled **after** every other plugin, so built-in and installed plugins
  always win an id clash;
* a framework whose id is already taken, or that would provide a **licensed** framework
  (:func:`licensed_refusal`), is skipped with a message naming that file — the plugin's other files
  load and the plugin stays active.

**Licensed content.** Exports of a licensed framework carry :func:`marker` (``kbp-licensed:<id>``)
in the format's own fields, and import plugins refuse a file that carries it. A file without the
marker is refused too when it would provide the licensed framework's id, at least
:data:`MATCH_THRESHOLD` of its competency ids, or at least :data:`MATCH_THRESHOLD` of its
definitions (compared by a fingerprint: the text case-folded, with punctuation and white space
ignored, in the source language and every language of the framework's catalogs). This stops an
accidental re-distribution between installations; it cannot stop someone who rewrites the texts —
the licence agreement is the protection against that.
"""
from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from pathlib import Path
from typing import Iterable

from babel.messages.pofile import read_po
from marshmallow import ValidationError

from core import model, schemas

log = logging.getLogger(__name__)

#: the attribute by which a plugin says its frameworks come from files
IMPORTER_FLAG = "IMPORTS_FRAMEWORKS"
#: how many shared competency ids or definitions make a file a copy of a licensed framework
MATCH_THRESHOLD = 3
MARKER_PREFIX = "kbp-licensed:"
_MARKER_RE = re.compile(r"kbp-licensed:([a-z0-9]+(?:[-_][a-z0-9]+)*)")


def marker(framework_id: str) -> str:
    """The machine-readable mark every export of a licensed framework carries."""
    return f"{MARKER_PREFIX}{framework_id}"


def find_marker(*texts: str | None) -> str | None:
    """The licensed framework id named by a marker in any of ``texts``; None when unmarked."""
    for text in texts:
        found = _MARKER_RE.search(text or "") if isinstance(text, str) else None
        if found:
            return found.group(1)
    return None


def marked_refusal(label: str, framework_id: str, where: str) -> str:
    """The message for a file that carries the licensed marker (one wording for every format)."""
    return (f"{label}: {where}: this file is an export of the licensed framework '{framework_id}' "
            f"(marked '{marker(framework_id)}'); a licensed framework cannot be imported as a framework of "
            "its own — install its licence instead")


def fingerprint(text: str) -> str:
    """A definition text reduced to what survives re-typing: letters and digits, case-folded."""
    words = re.findall(r"\w+", unicodedata.normalize("NFKC", text or "").casefold())
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest() if words else ""


def _catalog_texts(framework: model.Framework, locale_dirs: dict[str, str]) -> dict[str, list[str]]:
    """msgid -> translations of the framework's domain, read from its ``.po`` files."""
    folder = locale_dirs.get(framework.text.domain)
    found: dict[str, list[str]] = {}
    if not folder:
        return found
    for po in sorted(Path(folder).glob(f"*/LC_MESSAGES/{framework.text.domain}.po")):
        try:
            with po.open("rb") as fh:
                catalog = read_po(fh)
        except Exception:  # noqa: BLE001 - a broken catalog must not stop the guard
            log.warning("cannot read %s for the licensed-content fingerprint", po)
            continue
        for message in catalog:
            if message.id and isinstance(message.string, str) and message.string:
                found.setdefault(message.id, []).append(message.string)
    return found


class LicensedIndex:
    """What identifies every licensed framework of the catalogue: ids and definition fingerprints."""

    @classmethod
    def lazy(cls, frameworks: Iterable[model.Framework], locale_dirs: dict[str, str]) -> "LicensedIndex":
        """An index that reads the catalogs only when the first imported framework is checked."""
        index = cls.__new__(cls)
        index._pending = (list(frameworks), dict(locale_dirs))
        return index

    def _load(self) -> None:
        pending = getattr(self, "_pending", None)
        if pending is not None:
            del self._pending
            self.__init__(*pending)

    def __init__(self, frameworks: Iterable[model.Framework], locale_dirs: dict[str, str]):
        self.frameworks: dict[str, model.Framework] = {}
        self.competency_ids: dict[str, set[str]] = {}
        self.prints: dict[str, set[str]] = {}
        for fw in frameworks:
            if fw.licence is None:
                continue
            self.frameworks[fw.id] = fw
            translations = _catalog_texts(fw, locale_dirs)
            self.competency_ids[fw.id] = {c.id for c in fw.competencies()}
            prints: set[str] = set()
            for comp in fw.competencies():
                for text in (comp.definition, *translations.get(comp.definition, ())):
                    if fingerprint(text):
                        prints.add(fingerprint(text))
            self.prints[fw.id] = prints

    def refusal(self, candidate: model.Framework) -> str | None:
        """Why ``candidate`` would provide a licensed framework, naming it; None when it would not."""
        self._load()
        for fw_id, fw in self.frameworks.items():
            name = f"'{fw.name}' ({fw_id})"
            if candidate.id == fw_id:
                return f"its framework id '{fw_id}' is the id of the licensed framework {name}"
            ids = {c.id for c in candidate.competencies()}
            shared_ids = ids & self.competency_ids[fw_id]
            needed = min(MATCH_THRESHOLD, len(self.competency_ids[fw_id]))
            if needed and len(shared_ids) >= needed:
                return (f"{len(shared_ids)} of its competency ids ({', '.join(sorted(shared_ids)[:3])}, …) are "
                        f"competency ids of the licensed framework {name}")
            prints = {fingerprint(c.definition) for c in candidate.competencies()} - {""}
            shared = prints & self.prints[fw_id]
            needed = min(MATCH_THRESHOLD, len(self.prints[fw_id]))
            if needed and len(shared) >= needed:
                return (f"{len(shared)} of its definitions are the text of the licensed framework {name}")
        return None


def is_importer(plugin: object) -> bool:
    return bool(getattr(plugin, IMPORTER_FLAG, False))


def source_label(plugin: object, framework_id: str) -> str:
    """The file a framework came from, for messages (the framework id when the plugin cannot say)."""
    lookup = getattr(plugin, "source_file", None)
    try:
        name = lookup(framework_id) if callable(lookup) else None
    except Exception:  # noqa: BLE001
        name = None
    return name or f"framework '{framework_id}'"


def validate_framework(data: dict, label: str, error: type[Exception]) -> dict:
    """``data`` if the core would accept it from ``kbp_frameworks``; else ``error`` naming the file.

    Import plugins check each file's framework themselves, so one bad file fails only that file.
    """
    try:
        schemas.FrameworkSchema().load(data)
    except ValidationError as exc:
        raise error(f"{label}: {schemas.format_errors(exc.messages)}") from None
    return data


class SourceFiles:
    """Which file each imported framework came from (for ``source_file``) and the notices per file."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.notices: list[str] = []
        self._pending: dict[int, str] = {}

    def reset(self) -> None:
        self.files.clear()
        self.notices.clear()
        self._pending.clear()

    def loaded(self, framework: dict, name: str) -> dict:
        self._pending[id(framework)] = name
        return framework

    def settle(self, frameworks: Iterable[dict]) -> None:
        """Record the final ids (after the folder made them unique)."""
        for fw in frameworks:
            name = self._pending.pop(id(fw), None)
            if name:
                self.files[fw["id"]] = name
        self._pending.clear()
