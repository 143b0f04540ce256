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
from collections import defaultdict
from typing import Any, Iterable

from marshmallow import ValidationError

from core import imports, model, schemas
from core.plugins import PluginManager

log = logging.getLogger(__name__)


class Registry:
    def __init__(self) -> None:
        self.frameworks: dict[str, model.Framework] = {}
        self.competencies: dict[str, model.Competency] = {}
        self.question_sets: dict[str, model.QuestionSet] = {}
        self.questions_by_competency: dict[str, list[model.Question]] = defaultdict(list)
        self.activity_sources: dict[str, model.ActivitySource] = {}
        self.exporters: dict[str, model.Exporter] = {}
        self.locale_dirs: dict[str, str] = {}  # gettext domain -> folder
        self.locale_languages: dict[str, str] = {}  # gettext domain -> language of its msgids
        #: (kind, id) -> name of the plugin that contributed it
        self.owner: dict[tuple[str, str], str] = {}
        #: decides whether a licensed framework may be served (set by the app; None: all open)
        self.entitlements = None
        #: plugin name -> files of an import plugin that were skipped, one message each
        self.import_problems: dict[str, list[str]] = {}
        #: plugin name -> what an import plugin repaired, read by position or ignored, one message each
        self.import_notices: dict[str, list[str]] = {}

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

    def activities_for(self, global_ids: Iterable[str], include_archived: bool = False) -> list[model.Activity]:
        """Activities of every available source for these competencies; archived ones only when asked."""
        wanted = [g for g in global_ids if self._competency_available(g)]
        found: list[model.Activity] = []
        for source in self.activity_sources.values() if wanted else ():
            if not self.source_available(source.id):
                continue
            try:
                found.extend(a for a in source.for_competencies(wanted) if include_archived or not a.archived)
            except Exception:  # a source failing at run time must not break the page
                log.exception("activity source %s failed", source.id)
        return found

    def exporters_for(self, subject: str) -> list[model.Exporter]:
        return [e for e in self.exporters.values() if e.subject == subject]


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
                source.loaded()  # validate read-only content now, not on the first request
            except ValidationError as exc:
                raise ContentError(f"activity source '{source.id}': {schemas.format_errors(exc.messages)}") from None
        staged.sources.append(source)
    for exporter in manager.call(name, "kbp_exporters", config):
        if not isinstance(exporter, model.Exporter):
            raise ContentError(f"kbp_exporters returned {type(exporter).__name__}, not an Exporter")
        _meta("exporter", schemas.ExporterMetaSchema(), exporter)
        staged.exporters.append(exporter)
    for data in manager.call(name, "kbp_locale_dirs", config):
        loc = _load("locale dir", schemas.LocaleDirSchema(), data)
        if not os.path.isdir(loc["path"]):
            raise ContentError(f"translation folder {loc['path']} for domain '{loc['domain']}' does not exist")
        staged.locale_dirs.append((loc["domain"], loc["path"], loc["source_language"]))
    return staged


def _load(what: str, schema, data: Any):
    try:
        return schema.load(data)
    except ValidationError as exc:
        ident = data.get("id") if isinstance(data, dict) else None
        label = f"{what} '{ident}'" if ident else what
        raise ContentError(f"{label} is invalid: {schemas.format_errors(exc.messages)}") from None


def _meta(what: str, schema, obj: Any) -> None:
    try:
        schemas.object_meta(obj, schema)
    except ValidationError as exc:
        ident = getattr(obj, "id", None) or type(obj).__name__
        raise ContentError(f"{what} '{ident}' is invalid: {schemas.format_errors(exc.messages)}") from None


def build_registry(manager: PluginManager, config: Any) -> Registry:
    registry = Registry()
    importers = []
    for name in manager.active():
        if imports.is_importer(manager.pm.get_plugin(name)):
            importers.append(name)  # after every other plugin: built-ins always win (core.imports)
            continue
        _add_plugin(registry, manager, name, config)
    if importers:  # built on first use: most installations import nothing
        licensed = imports.LicensedIndex.lazy(registry.frameworks.values(), registry.locale_dirs)
        for name in importers:
            _add_plugin(registry, manager, name, config, licensed)
    return registry


def _add_plugin(registry: Registry, manager: PluginManager, name: str, config: Any,
                licensed: "imports.LicensedIndex | None" = None) -> None:
    try:
        staged = _stage(manager, name, config)
    except ContentError as exc:
        manager.fail(name, str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the app
        log.exception("plugin %s raised in a hook", name)
        manager.fail(name, f"A hook raised {type(exc).__name__}: {exc}")
        return
    if licensed is not None:
        _skip_imported(registry, manager, name, staged, licensed)
    clashes = [
        f"{kind} id '{ident}' is already provided by plugin '{registry.owner[(kind, ident)]}'"
        for kind, ident in staged.ids()
        if (kind, ident) in registry.owner
    ]
    if clashes:
        manager.fail(name, "Duplicate id: " + "; ".join(clashes) + f" — plugin '{name}' was skipped.")
        return
    _commit(registry, staged, name)


def _skip_imported(registry: Registry, manager: PluginManager, name: str, staged: _Staged,
                   licensed: "imports.LicensedIndex") -> None:
    """Drop the imported frameworks (one per file) that clash or would provide a licensed framework."""
    plugin = manager.pm.get_plugin(name)
    own = getattr(plugin, "problems", None)
    problems = registry.import_problems.setdefault(name, list(own()) if callable(own) else [])
    notices = getattr(plugin, "notices", None)
    registry.import_notices[name] = list(notices()) if callable(notices) else []
    kept = []
    for fw in staged.frameworks:
        label = imports.source_label(plugin, fw.id)
        reason = licensed.refusal(fw)  # first: the message must name the licensed framework
        if reason is not None:
            problems.append(f"{label}: {reason}; a licensed framework cannot be imported as a framework of its own "
                            "— install its licence instead. This file was skipped.")
        elif ("framework", fw.id) in registry.owner:
            owner = registry.owner[("framework", fw.id)]
            problems.append(f"{label}: the framework id '{fw.id}' is already provided by plugin '{owner}'; "
                            "this file was skipped (give it another title or id number)")
        else:
            kept.append(fw)
            continue
        log.error("plugin %s: %s", name, problems[-1])
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
        for q in qs.questions:
            registry.questions_by_competency[q.competency].append(q)
    for source in staged.sources:
        registry.activity_sources[source.id] = source
    for exporter in staged.exporters:
        registry.exporters[exporter.id] = exporter
    for domain, path, language in staged.locale_dirs:
        registry.locale_dirs[domain] = path
        registry.locale_languages[domain] = language
