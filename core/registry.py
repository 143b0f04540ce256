"""The catalogue: everything the enabled plugins contribute, assembled from their hook results.

:func:`build_registry` calls every hook of one plugin, validates the results with
:mod:`core.schemas`, checks ids against what earlier plugins contributed, and only then adds the
plugin's contributions — so a plugin is either in the catalogue completely or not at all, and a
duplicate id fails the later plugin with a message that names both.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import Any, Iterable

from marshmallow import ValidationError

from core import imports, model, schemas
from core.plugins import PluginManager

log = logging.getLogger(__name__)

#: Ids the built-in plugins provide, reserved for them whether they are enabled, disabled or
#: unlicensed: another plugin (third-party or an import) providing one of them is the newcomer and
#: fails with a message naming both plugins. A licensed framework's competencies are reserved with it
#: (their global ids start with the framework id). ``tests/test_plugin_contract.py`` checks that this
#: table is exactly what the built-ins provide, so it cannot drift.
RESERVED_IDS: dict[str, dict[str, tuple[str, ...]]] = {
    "sample_framework": {
        "framework": ("kbp-sample",),
        "question set": ("kbp-sample-coaching", "kbp-sample-self-reflection", "kbp-sample-interview", "kbp-sample-follow-up"),
        "activity source": ("kbp-sample",),
        "translation domain": ("kbp_sample",),
    },
    "malin_lindelow": {
        "framework": ("malin-lindelow",),
        "question set": ("malin-lindelow-coaching", "malin-lindelow-self-reflection", "malin-lindelow-interview",
                         "malin-lindelow-follow-up"),
        "activity source": ("malin-lindelow",),
        "translation domain": ("malin_lindelow",),
    },
    "activities_inhouse": {"activity source": ("inhouse",)},
    "activities_files": {"activity source": ("files",)},
    "export_case": {"exporter": ("case",)},
    "import_case": {"translation domain": ("import_case",)},
    "moodle_csv": {"exporter": ("moodle-csv",), "translation domain": ("moodle_csv",)},
    "export_plan_docx": {"exporter": ("guide-docx", "plan-docx")},
    "export_plan_pdf": {"exporter": ("guide-pdf", "plan-pdf")},
    "export_plan_text": {"exporter": ("plan-csv", "plan-md")},
    "export_plan_ical": {"exporter": ("plan-ics",)},
    "export_plan_json": {"exporter": ("plan-json",)},
}
#: (kind, id) -> the built-in plugin it is reserved for
RESERVED: dict[tuple[str, str], str] = {
    (kind, ident): plugin for plugin, kinds in RESERVED_IDS.items() for kind, ids in kinds.items() for ident in ids
}

class Registry:
    def __init__(self) -> None:
        self.frameworks: dict[str, model.Framework] = {}
        self.competencies: dict[str, model.Competency] = {}
        self.question_sets: dict[str, model.QuestionSet] = {}
        self.activity_sources: dict[str, model.ActivitySource] = {}
        self.exporters: dict[str, model.Exporter] = {}
        self.locale_dirs: dict[str, str] = {}  # gettext domain -> folder
        self.locale_languages: dict[str, str] = {}  # gettext domain -> language of its msgids
        #: (kind, id) -> name of the plugin that contributed it
        self.owner: dict[tuple[str, str], str] = {}
        #: decides whether a licensed framework may be served (set by the app; None: all open)
        self.entitlements = None
        #: plugin name -> what an import plugin repaired, read by position or ignored, one message each
        self.import_notices: dict[str, list[str]] = {}
        #: the plugin manager, told about run-time failures of plugins (None in bare unit tests)
        self.manager: PluginManager | None = None
        #: frameworks imported through the page or API and kept in the store (:meth:`sync_stored_imports`):
        #: framework id -> its record without the framework itself (file, format, who, when)
        self.stored_imports: dict[str, dict] = {}
        #: the revision of the stored imports the catalogue shows (changes when another server imports)
        self.stored_revision: Any = None
        self._stored_lock = threading.Lock()
        self._base: tuple[dict, dict, dict] | None = None
        self._licensed_index: "imports.LicensedIndex | None" = None

    def problem(self, plugin: str, message: str) -> None:
        """A plugin failed at run time (or its content deserves a warning): log it, show it on /plugins."""
        if self.manager is not None:
            self.manager.problem(plugin, message)
        else:
            log.error("plugin %s: %s", plugin, message)

    # ------------------------------------------------------------------ licence gate
    def is_available(self, framework_id: str) -> bool:
        """False while a licensed framework has no valid licence: its content is then not served."""
        fw = self.frameworks.get(framework_id)
        if fw is None:
            return False
        return self.entitlements is None or self.entitlements.available(fw)

    def _competency_available(self, global_id: str) -> bool:
        return self.is_available(global_id.split(":", 1)[0])

    # ------------------------------------------------------------------ look-ups
    def framework(self, framework_id: str) -> model.Framework | None:
        return self.frameworks.get(framework_id)

    def competency(self, global_id: str) -> model.Competency | None:
        return self.competencies.get(global_id)

    def questions_for(self, global_id: str, kind: str | None = None) -> list[tuple[model.QuestionSet, model.Question]]:
        result: list[tuple[model.QuestionSet, model.Question]] = []
        if not self._competency_available(global_id):
            return result
        for qs in self.question_sets.values():
            for q in qs.questions:
                if q.competency == global_id and (kind is None or q.kind == kind):
                    result.append((qs, q))
        return result

    def source_available(self, source_id: str) -> bool:
        """False while the plugin that provides the source has a framework without a valid licence."""
        plugin = self.owner.get(("activity source", source_id))
        return all(self.is_available(fw.id) for fw in self.frameworks.values() if fw.plugin == plugin)

    def activities_for(self, global_ids: Iterable[str], include_archived: bool = False,
                       writable: bool | None = None) -> list[model.Activity]:
        """Activities of every available source for these competencies; archived ones only when asked;
        ``writable`` True/False: of the writable / read-only sources only."""
        wanted = [g for g in global_ids if self._competency_available(g)]
        found: list[model.Activity] = []
        for source in self.activity_sources.values() if wanted else ():
            if not self.source_available(source.id):
                continue
            if writable is not None and bool(getattr(source, "writable", False)) != writable:
                continue
            try:
                answer = source.for_competencies(wanted)
                if isinstance(answer, (dict, str, bytes)) or answer is None:
                    result, problems = [], [f"returned a {type(answer).__name__}, not a list of core.model.Activity objects"]
                else:
                    result = list(answer)
                    problems = schemas.activity_objects_problems(result)
            except Exception as exc:  # noqa: BLE001 - a source failing at run time must not break the page
                log.exception("activity source %s failed", source.id)
                problems = [f"raised {type(exc).__name__}: {exc}"]
            if problems:
                self.problem(self.owner.get(("activity source", source.id), ""),
                             f"activity source '{source.id}': for_competencies() " + "; ".join(problems)
                             + " — its activities were left out.")
                continue
            found.extend(a for a in result if include_archived or not a.archived)
        return found

    def exporters_for(self, subject: str) -> list[model.Exporter]:
        return [e for e in self.exporters.values() if e.subject == subject]

    # ------------------------------------------------------------------ frameworks imported at run time
    def sync_stored_imports(self, collection) -> bool:
        """Show exactly the frameworks kept in ``collection`` (imported through the page or the API,
        :mod:`core.services.framework_imports`) next to what the plugins provide; True when it changed.

        Cheap while nothing changed (one revision look-up), so every request calls it: an import through
        any server is in every server's catalogue at its next request, without a restart. Stored
        frameworks get the same checks as a file in an import folder (:func:`_skip_imported`), each
        time, since plugins and licences may have changed since: a record that would provide a
        licensed framework, or whose id a plugin provides, is left out with a problem on ``/plugins``.
        The new dictionaries replace the old ones whole, so a request reading them never sees half a change.
        """
        revision = collection.revision()
        if revision == self.stored_revision and revision is not None:
            return False
        with self._stored_lock:
            if revision == self.stored_revision and revision is not None:
                return False
            if self._base is None:  # what the plugins provide, fixed since the start
                self._base = (dict(self.frameworks), dict(self.competencies), dict(self.owner))
                self._licensed_index = imports.LicensedIndex.lazy(self._base[0].values(), self.locale_dirs)
            frameworks, competencies, owner = (dict(part) for part in self._base)
            kept: dict[str, dict] = {}
            for record in sorted(collection.all(), key=lambda r: (r.get("imported_at", 0), r["id"])):
                plugin, label = record.get("plugin", ""), record.get("filename") or record["id"]
                try:
                    fw = dataclasses.replace(schemas.FrameworkSchema().load(record["framework"]), plugin=plugin)
                except ValidationError as exc:
                    self.problem(plugin, imports.MESSAGES.gettext(
                        "%(file)s (imported through the page): %(problems)s; left out", file=label,
                        problems=imports.SchemaProblems(exc.messages)))
                    continue
                reason = self._licensed_index.refusal(fw)
                taken = RESERVED.get(("framework", fw.id)) or owner.get(("framework", fw.id))
                if reason is not None:
                    self.problem(plugin, imports.MESSAGES.gettext(
                        "%(file)s (imported through the page): %(reason)s; a licensed framework cannot be imported as a "
                        "framework of its own — install its licence instead. Left out.", file=label, reason=reason))
                    continue
                if taken is not None:
                    self.problem(plugin, imports.MESSAGES.gettext(
                        "%(file)s (imported through the page): the framework id '%(id)s' is now provided by plugin "
                        "'%(plugin)s'; left out", file=label, id=fw.id, plugin=taken))
                    continue
                owner[("framework", fw.id)] = plugin
                frameworks[fw.id] = fw
                for comp in fw.competencies():
                    competencies[comp.global_id] = comp
                kept[fw.id] = {k: v for k, v in record.items() if k != "framework"}
            self.frameworks, self.competencies, self.owner = frameworks, competencies, owner
            self.stored_imports = kept
            self.stored_revision = revision
            return True


class _Staged:
    """One plugin's validated contributions, not yet in the registry."""

    def __init__(self) -> None:
        self.frameworks: list[model.Framework] = []
        self.question_sets: list[model.QuestionSet] = []
        self.sources: list[model.ActivitySource] = []
        self.exporters: list[model.Exporter] = []
        self.locale_dirs: list[tuple[str, str, str]] = []

    def ids(self) -> Iterable[tuple[str, str]]:
        yield from (("framework", f.id) for f in self.frameworks)
        yield from (("question set", q.id) for q in self.question_sets)
        yield from (("activity source", s.id) for s in self.sources)
        yield from (("exporter", e.id) for e in self.exporters)
        yield from (("translation domain", d) for d, _, _ in self.locale_dirs)


class ContentError(Exception):
    """Raised by plugins (e.g. content loaders) for a problem a person can fix; shown as is."""


def _stage(manager: PluginManager, name: str, config: Any) -> _Staged:
    staged = _Staged()
    for data in manager.call(name, "kbp_frameworks", config):
        fw = _load("framework", schemas.FrameworkSchema(), data)
        staged.frameworks.append(dataclasses.replace(fw, plugin=name))
    for data in manager.call(name, "kbp_question_sets", config):
        qs = _load("question set", schemas.QuestionSetSchema(), data)
        staged.question_sets.append(dataclasses.replace(qs, plugin=name))
    for source in manager.call(name, "kbp_activity_sources", config):
        if not isinstance(source, model.ActivitySource):
            raise ContentError(f"kbp_activity_sources returned {type(source).__name__}, not an ActivitySource")
        _meta("activity source", schemas.ActivitySourceMetaSchema(), source)
        if not source.writable:
            try:
                activities = source.loaded()  # validate read-only content now, not on the first request
            except ValidationError as exc:
                raise ContentError(f"activity source '{source.id}': {schemas.format_errors(exc.messages)}") from None
            # and what for_competencies() answers, so an override returning dicts fails now, by name
            ids = sorted({c for a in activities for c in a.competencies})
            result = source.for_competencies(ids)
            problems = (
                [f"returned a {type(result).__name__}, not a list of core.model.Activity objects"]
                if isinstance(result, (dict, str, bytes)) or result is None
                else schemas.activity_objects_problems(list(result))
            )
            if problems:
                raise ContentError(f"activity source '{source.id}': for_competencies() " + "; ".join(problems))
        staged.sources.append(source)
    for exporter in manager.call(name, "kbp_exporters", config):
        if not isinstance(exporter, model.Exporter):
            raise ContentError(f"kbp_exporters returned {type(exporter).__name__}, not an Exporter")
        _meta("exporter", schemas.ExporterMetaSchema(), exporter)
        if not callable(getattr(exporter, "export", None)):
            raise ContentError(f"exporter '{exporter.id}' has no export(document, locale) method")
        staged.exporters.append(exporter)
    for data in manager.call(name, "kbp_locale_dirs", config):
        loc = _load("locale dir", schemas.LocaleDirSchema(), data)
        if not os.path.isdir(loc["path"]):
            raise ContentError(f"translation folder {loc['path']} for domain '{loc['domain']}' does not exist")
        staged.locale_dirs.append((loc["domain"], loc["path"], loc["source_language"]))
    return staged


def _load(what: str, schema, data: Any):
    if not isinstance(data, dict):
        raise ContentError(f"each {what} must be a dict (see the README's hook reference), not a {type(data).__name__}")
    try:
        return schema.load(data)
    except ValidationError as exc:
        ident = data.get("id") if isinstance(data, dict) else None
        label = f"{what} '{ident}'" if ident else what
        raise ContentError(f"{label} is invalid: {schemas.format_errors(_name_items(exc.messages, data))}") from None


_SINGULAR = {"questions": "question", "groups": "group", "competencies": "competency"}


def _name_items(messages: Any, data: Any) -> Any:
    """Replace list indexes in marshmallow's errors by the items' ids: ``question 'q3'.direction``
    instead of ``questions.2.direction`` (an item without an id keeps its position, counted from 1)."""
    if not isinstance(messages, dict) or not isinstance(data, dict):
        return messages
    named: dict[str, Any] = {}
    for key, value in messages.items():
        items = data.get(key)
        if isinstance(items, list) and isinstance(value, dict) and all(isinstance(i, int) for i in value):
            for index, problem in value.items():
                item = items[index] if index < len(items) else None
                ident = item.get("id") if isinstance(item, dict) else None
                label = f"{_SINGULAR.get(key, key)} '{ident}'" if isinstance(ident, str) and ident else f"{key} number {index + 1}"
                named[label] = _name_items(problem, item)
        else:
            named[key] = _name_items(value, items)
    return named


def _meta(what: str, schema, obj: Any) -> None:
    try:
        schemas.object_meta(obj, schema)
    except ValidationError as exc:
        ident = getattr(obj, "id", None) or type(obj).__name__
        raise ContentError(f"{what} '{ident}' is invalid: {schemas.format_errors(exc.messages)}") from None


def build_registry(manager: PluginManager, config: Any) -> Registry:
    """Stage every active plugin, then add them to the catalogue in a fixed order.

    The order decides who keeps an id two plugins provide, so it does not depend on plugin names
    alone: built-in plugins first, then plugins providing a licensed framework, then the rest (by
    name). Ids in :data:`RESERVED` are kept for their built-in plugin in any case, even when it is
    disabled or unlicensed.
    """
    registry = Registry()
    registry.manager = manager
    staged_by_name: dict[str, _Staged] = {}
    for name in manager.active():
        try:
            staged_by_name[name] = _stage(manager, name, config)
        except ContentError as exc:
            manager.fail(name, str(exc))
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the app
            log.exception("plugin %s raised in a hook", name)
            manager.fail(name, f"A hook raised {type(exc).__name__}: {exc}")

    def importer(name: str) -> bool:
        return imports.is_importer(manager.pm.get_plugin(name))

    def precedence(name: str) -> tuple[int, int, int, str]:
        record = manager.records[name]
        licensed = any(fw.licence is not None for fw in staged_by_name[name].frameworks)
        # frameworks imported from files come last: every plugin's own content wins (core.imports)
        return (1 if importer(name) else 0, 0 if record.builtin else 1, 0 if licensed else 1, name)

    licensed_index = None
    for name in sorted(staged_by_name, key=precedence):
        staged = staged_by_name[name]
        if importer(name):  # one file at a time: a clashing or licensed file is skipped, not the plugin
            if licensed_index is None:  # built on first use: most installations import nothing
                licensed_index = imports.LicensedIndex.lazy(registry.frameworks.values(), registry.locale_dirs)
            _skip_imported(registry, manager, name, staged, licensed_index)
        clashes, seen = [], set()
        for kind, ident in staged.ids():
            if (kind, ident) in seen:
                clashes.append(f"{kind} id '{ident}' is provided twice by this plugin")
            seen.add((kind, ident))
            reserved_for = RESERVED.get((kind, ident))
            if reserved_for is not None and reserved_for != name:
                clashes.append(f"{kind} id '{ident}' is reserved for the built-in plugin '{reserved_for}'")
            elif (kind, ident) in registry.owner:
                clashes.append(f"{kind} id '{ident}' is already provided by plugin '{registry.owner[(kind, ident)]}'")
        if clashes:
            manager.fail(name, "Duplicate id: " + "; ".join(clashes) + f" — plugin '{name}' was skipped.")
            continue
        _commit(registry, staged, name)
    _warn_unknown_competencies(registry)
    return registry


def _warn_unknown_competencies(registry: Registry) -> None:
    """Warn (on /plugins) about questions and read-only activities whose competencies no installed
    framework has: a typo, or a framework that is not installed or is disabled."""
    for qs in registry.question_sets.values():
        unknown = sorted({q.competency for q in qs.questions if q.competency not in registry.competencies})
        if unknown:
            registry.problem(qs.plugin, f"warning: question set '{qs.id}' refers to competencies no installed framework "
                                        f"has (not shown): {', '.join(unknown)}")
    for source in registry.activity_sources.values():
        if source.writable:
            continue  # people edit these in KBP, which checks the competencies there
        try:
            activities = source.loaded()
        except Exception:  # noqa: BLE001 - validated at start-up; a later failure is reported when it happens
            continue
        unknown = sorted({c for a in activities for c in a.competencies if c not in registry.competencies})
        if unknown:
            registry.problem(registry.owner.get(("activity source", source.id), ""),
                             f"warning: activity source '{source.id}' refers to competencies no installed framework "
                             f"has: {', '.join(unknown)}")


def _skip_imported(registry: Registry, manager: PluginManager, name: str, staged: _Staged,
                   licensed: "imports.LicensedIndex") -> None:
    """Drop the imported frameworks (one per file) that clash or would provide a licensed framework;
    each skipped file (and each file the plugin itself could not read) is a problem on /plugins."""
    plugin = manager.pm.get_plugin(name)
    own = getattr(plugin, "problems", None)
    for message in (own() if callable(own) else ()):
        registry.problem(name, message)
    notices = getattr(plugin, "notices", None)
    registry.import_notices[name] = list(notices()) if callable(notices) else []
    kept = []
    for fw in staged.frameworks:
        label = imports.source_label(plugin, fw.id)
        reason = licensed.refusal(fw)  # first: the message must name the licensed framework
        reserved_for = RESERVED.get(("framework", fw.id))
        owner = registry.owner.get(("framework", fw.id))
        if reason is not None:
            registry.problem(name, imports.MESSAGES.gettext(
                "%(file)s: %(reason)s; a licensed framework cannot be imported as a framework of its own — install its "
                "licence instead. This file was skipped.", file=label, reason=reason))
        elif reserved_for is not None:
            registry.problem(name, imports.MESSAGES.gettext(
                "%(file)s: the framework id '%(id)s' is reserved for the built-in plugin '%(plugin)s'; this file was "
                "skipped (give it another title or id number)", file=label, id=fw.id, plugin=reserved_for))
        elif owner is not None:
            registry.problem(name, imports.MESSAGES.gettext(
                "%(file)s: the framework id '%(id)s' is already provided by plugin '%(plugin)s'; this file was skipped "
                "(give it another title or id number)", file=label, id=fw.id, plugin=owner))
        else:
            kept.append(fw)
    staged.frameworks = kept


def _commit(registry: Registry, staged: _Staged, name: str) -> None:
    for kind, ident in staged.ids():
        registry.owner[(kind, ident)] = name
    for fw in staged.frameworks:
        registry.frameworks[fw.id] = fw
        for comp in fw.competencies():
            registry.competencies[comp.global_id] = comp
    for qs in staged.question_sets:
        registry.question_sets[qs.id] = qs
    for source in staged.sources:
        registry.activity_sources[source.id] = source
    for exporter in staged.exporters:
        registry.exporters[exporter.id] = exporter
    for domain, path, language in staged.locale_dirs:
        registry.locale_dirs[domain] = path
        registry.locale_languages[domain] = language
