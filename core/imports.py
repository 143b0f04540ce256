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


# ----------------------------------------------------------------------------- messages about a file


class FileMessage(str):
    """A message about an imported file (a refusal, a notice), shown in the reader's language.

    It *is* its English text, so logs, comparisons, ``" ".join`` and older callers see a plain
    string; it also keeps its msgid, gettext domain and values, so :func:`localize` can show it in
    any language at the moment someone reads it (a page, the API, the CLI, ``/plugins``). Values
    that are FileMessages (a column's name, a nested reason) are translated too, and a list or
    tuple of values is listed with ", ". Make them with :class:`FileMessages`.
    """

    msgid: str
    domain: str
    values: dict
    plural: tuple[str, int] | None

    def __new__(cls, text: str = "", domain: str = "messages", values: dict | None = None,
                plural: tuple[str, int] | None = None):
        obj = super().__new__(cls, _fill(text if plural is None or plural[1] == 1 else plural[0],
                                         values or {}, _english))
        obj.msgid, obj.domain, obj.values, obj.plural = text, domain, dict(values or {}), plural
        return obj

    def translate(self, locale: str, locale_dirs: dict[str, str]) -> str:
        from core import i18n

        catalog = i18n.domain_translations(self.domain, locale, locale_dirs)
        if self.plural is None:
            template = catalog.gettext(self.msgid)
        else:
            template = catalog.ngettext(self.msgid, self.plural[0], self.plural[1])
        values = {key: _render(value, locale, locale_dirs) for key, value in self.values.items()}
        try:
            return _fill(template, values, lambda v: v)
        except (KeyError, ValueError, TypeError):  # a broken translation: the English text rather than none
            return _fill(self.msgid if self.plural is None or self.plural[1] == 1 else self.plural[0], values,
                         lambda v: v)


def _fill(template: str, values: dict, convert) -> str:
    return template % {key: convert(value) for key, value in values.items()} if values else template


def _english(value):
    return ", ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value


def _render(value, locale: str, locale_dirs: dict[str, str]):
    if isinstance(value, FileMessage):
        return value.translate(locale, locale_dirs)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(_render(v, locale, locale_dirs)) for v in value)
    return value


class FileMessages:
    """Messages about files in one gettext domain: an import plugin's own (declared with
    ``kbp_locale_dirs``, like any plugin's catalog) or the core's ``messages``.

    ``gettext`` and ``ngettext`` are named so that ``kbp i18n extract`` (Babel's default keywords)
    finds their messages; they return a :class:`FileMessage` — the English text now, the reader's
    language when shown::

        MESSAGES = imports.FileMessages("acme_import")
        raise AcmeError(MESSAGES.gettext("%(file)s: row %(row)d: no title", file=name, row=row))
    """

    def __init__(self, domain: str):
        self.domain = domain

    def gettext(self, message: str, /, **values) -> FileMessage:
        return FileMessage(message, self.domain, values)

    def ngettext(self, singular: str, plural: str, num: int, /, **values) -> FileMessage:
        values.setdefault("num", num)
        return FileMessage(singular, self.domain, values, (plural, num))


class SchemaProblems(FileMessage):
    """The content schema's problems with a framework (marshmallow's error dict), in the reader's language."""

    def __new__(cls, errors):
        obj = super().__new__(cls, schemas.format_errors(errors))
        obj.errors = errors
        return obj

    def translate(self, locale: str, locale_dirs: dict[str, str]) -> str:
        """In the current locale (the request's or the CLI's), as :mod:`core.validation_i18n` translates."""
        from core.validation_i18n import translate_errors

        return schemas.format_errors(translate_errors(self.errors))


def localize(message, locale: str | None = None, locale_dirs: dict[str, str] | None = None):
    """``message`` in ``locale`` (default: the reader's — the request's, or the CLI's): a
    :class:`FileMessage` translated, a list of them each, any other text unchanged."""
    from core import i18n

    if isinstance(message, (list, tuple)):
        return [localize(m, locale, locale_dirs) for m in message]
    if not isinstance(message, FileMessage):
        return message
    if locale is None:
        locale = i18n.current_locale()
    if locale_dirs is None:
        locale_dirs = _current_locale_dirs()
    return message.translate(locale, locale_dirs)


def _current_locale_dirs() -> dict[str, str]:
    from flask import current_app, has_app_context

    state = current_app.extensions.get("kbp") if has_app_context() else None
    return state.registry.locale_dirs if state is not None else {}


#: the core's messages about files (licensed content, id clashes, the content schema)
MESSAGES = FileMessages("messages")


def decoding_reason(reason: str) -> str:
    """Python's reason why bytes are not UTF-8 (English) in the reader's language when known."""
    known = {
        "invalid start byte": MESSAGES.gettext("invalid start byte"),
        "invalid continuation byte": MESSAGES.gettext("invalid continuation byte"),
        "unexpected end of data": MESSAGES.gettext("unexpected end of data"),
    }
    return known.get(reason, reason)


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
    # Translators: %(where)s is a JSON path or "row 2, column 'ID number'"; %(marker)s is kbp-licensed:<id>
    return MESSAGES.gettext("%(file)s: %(where)s: this file is an export of the licensed framework '%(framework)s' "
                            "(marked '%(marker)s'); a licensed framework cannot be imported as a framework of "
                            "its own — install its licence instead", file=label, where=where, framework=framework_id,
                            marker=marker(framework_id))


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
            name = MESSAGES.gettext("'%(name)s' (%(id)s)", name=fw.name, id=fw_id)
            if candidate.id == fw_id:
                return MESSAGES.gettext("its framework id '%(id)s' is the id of the licensed framework %(framework)s",
                                        id=fw_id, framework=name)
            ids = {c.id for c in candidate.competencies()}
            shared_ids = ids & self.competency_ids[fw_id]
            needed = min(MATCH_THRESHOLD, len(self.competency_ids[fw_id]))
            if needed and len(shared_ids) >= needed:
                # Translators: %(ids)s lists three of the shared competency ids
                return MESSAGES.gettext("%(num)d of its competency ids (%(ids)s, …) are competency ids of the "
                                        "licensed framework %(framework)s", num=len(shared_ids),
                                        ids=", ".join(sorted(shared_ids)[:3]), framework=name)
            prints = {fingerprint(c.definition) for c in candidate.competencies()} - {""}
            shared = prints & self.prints[fw_id]
            needed = min(MATCH_THRESHOLD, len(self.prints[fw_id]))
            if needed and len(shared) >= needed:
                return MESSAGES.gettext("%(num)d of its definitions are the text of the licensed framework "
                                        "%(framework)s", num=len(shared), framework=name)
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
    return name or MESSAGES.gettext("framework '%(id)s'", id=framework_id)


def validate_framework(data: dict, label: str, error: type[Exception]) -> dict:
    """``data`` if the core would accept it from ``kbp_frameworks``; else ``error`` naming the file.

    Import plugins check each file's framework themselves, so one bad file fails only that file.
    """
    try:
        schemas.FrameworkSchema().load(data)
    except ValidationError as exc:
        raise error(MESSAGES.gettext("%(file)s: %(problems)s", file=label, problems=SchemaProblems(exc.messages))) from None
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
