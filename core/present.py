"""Turn catalogue objects into plain dicts in the reader's language, for the API and the pages.

One place decides what a framework, competency, question or activity looks like to a reader, so
the REST API and the HTML pages never disagree.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import i18n, model
from core.registry import Registry


class Presenter:
    def __init__(self, registry: Registry, locale: str):
        self.registry = registry
        self.locale = locale
        self._deep: dict[str, bool] = {}  # framework id -> is_deep
        self._source_titles: dict[int, tuple[model.ActivitySource, str]] = {}  # once per source, not per activity

    def tr(self, text: str, domain: model.TextDomain) -> str:
        return i18n.content(text, domain.source_language, domain.domain, self.locale, self.registry.locale_dirs)

    # ------------------------------------------------------------------ frameworks
    def framework_summary(self, fw: model.Framework) -> dict[str, Any]:
        return {
            "id": fw.id,
            "name": self.tr(fw.name, fw.text),
            "description": self.tr(fw.description, fw.text),
            "version": fw.version,
            "plugin": fw.plugin,
            "language": self.locale,
            "licensed": self.registry.is_available(fw.id),
            "competency_count": sum(len(g.competencies) for g in fw.groups),
        }

    def competency_brief(self, comp: model.Competency) -> dict[str, Any]:
        return {
            "id": comp.id,
            "global_id": comp.global_id,
            "name": self.tr(comp.name, comp.text),
            "definition": self.tr(comp.definition, comp.text),
            "code": comp.code,
            "parent": comp.parent,
            "depth": comp.depth,
            "selectable": comp.selectable,
            "related": list(comp.related),
            "levels": list(comp.levels),
        }

    def competency_traits(self, comp: model.Competency) -> dict[str, Any]:
        """Behavioural indicators ("so you notice it") and signs the strength is overdone."""
        return {
            "indicators": [self.tr(t, comp.text) for t in comp.indicators],
            "overdone": [self.tr(t, comp.text) for t in comp.overdone],
        }

    def group(self, fw: model.Framework, group: model.Group) -> dict[str, Any]:
        return {
            "id": group.id,
            "name": self.tr(group.name, fw.text),
            "description": self.tr(group.description, fw.text),
            "code": group.code,
            "competencies": [self.competency_brief(c) for c in group.competencies],
        }

    def framework_detail(self, fw: model.Framework) -> dict[str, Any]:
        data = self.framework_summary(fw)
        data["licence_notice"] = self.tr(fw.licence_notice, fw.text)
        data["groups"] = [self.group(fw, g) for g in fw.groups]
        return data

    # ------------------------------------------------------------------ competencies
    def question(self, qs: model.QuestionSet, q: model.Question) -> dict[str, Any]:
        return {
            "id": q.id,
            "question_set": qs.id,
            "question_set_title": self.tr(qs.title, qs.text),
            "kind": q.kind,
            "text": self.tr(q.text, qs.text),
            "direction": q.direction,
            "situations": list(q.situations),
            "probes": [self.tr(p, qs.text) for p in q.probes],
        }

    def activity_text(self, a: model.Activity, locale: str | None = None) -> tuple[str, str]:
        """Title and description in ``locale``: the source's own per-language text when it has
        some (organisation content), else the plugin's catalog; always falling back to the source text."""
        locale = locale or self.locale
        if a.translations:
            own = a.translations.get(locale) or {}
            return own.get("title") or a.title, own.get("description") or a.description
        if locale == self.locale:
            return self.tr(a.title, a.text), self.tr(a.description, a.text)
        return (
            i18n.content(a.title, a.text.source_language, a.text.domain, locale, self.registry.locale_dirs),
            i18n.content(a.description, a.text.source_language, a.text.domain, locale, self.registry.locale_dirs),
        )

    def activity(self, a: model.Activity) -> dict[str, Any]:
        title, description = self.activity_text(a)
        source = self.registry.activity_sources.get(a.source)
        return {
            "id": a.id,
            "source": a.source,
            "source_title": self.source_title(source) if source is not None else a.source,
            "competencies": list(a.competencies),
            "title": title,
            "description": description,
            "kind": a.kind,
            "effort": a.effort,
            "situations": list(a.situations),
            "provider": a.provider,
            "url": a.url,
            "tags": list(a.tags),
            "cost": a.cost,
            "duration": a.duration,
            "owner": a.owner,
            "archived": a.archived,
        }

    def path(self, comp: model.Competency) -> list[dict[str, str]]:
        """The competencies above ``comp`` in its group, outermost first (empty for two-level frameworks)."""
        by_id = {c.id: c for c in self.registry.frameworks[comp.framework_id].competencies() if c.group_id == comp.group_id}
        above: list[dict[str, str]] = []
        parent = by_id.get(comp.parent)
        while parent is not None and len(above) < 50:
            above.insert(0, {"id": parent.id, "name": self.tr(parent.name, parent.text), "code": parent.code})
            parent = by_id.get(parent.parent)
        return above

    def is_deep(self, fw: model.Framework) -> bool:
        """Whether a framework is a tree deeper than groups → competencies (some competency sits under another)."""
        if fw.id not in self._deep:
            self._deep[fw.id] = any(c.parent for c in fw.competencies())
        return self._deep[fw.id]

    def trail(self, comp: model.Competency) -> list[str]:
        """What a competency of a deep framework sits in, outermost first: the framework, the group and
        the competencies above it (``[]`` for two-level frameworks, which name a competency as before)."""
        fw = self.registry.frameworks.get(comp.framework_id)
        if fw is None or not self.is_deep(fw):
            return []
        group = next((g for g in fw.groups if g.id == comp.group_id), None)
        above = [p["name"] for p in self.path(comp)]
        return [self.tr(fw.name, fw.text), *([self.tr(group.name, fw.text)] if group is not None else []), *above]

    def label(self, comp: model.Competency) -> str:
        """A competency's name as lists and search results show it: with its trail in a deep framework
        ("Framework › Group › … › Name"), the name alone in a two-level one."""
        return " › ".join([*self.trail(comp), self.tr(comp.name, comp.text)])

    def competency_detail(self, comp: model.Competency, activity_limit: int | None = None,
                          listing: Callable[[list[str], int], tuple[list[model.Activity], int]] | None = None) -> dict[str, Any]:
        """A competency with its questions and activities; an organisation may have thousands of
        activities, so ``activity_limit`` keeps the first ones (read-only sources, i.e. the
        framework's own, first) and ``activity_total`` says how many there are. ``listing(global_ids,
        limit) -> (activities, total)`` gives that page without reading every activity
        (:meth:`core.activity_search.ActivitySearch.for_competencies`)."""
        fw = self.registry.frameworks[comp.framework_id]
        group = next(g for g in fw.groups if g.id == comp.group_id)
        data = self.competency_brief(comp)
        data.update(self.competency_traits(comp))
        data["framework"] = fw.id
        data["group"] = {"id": group.id, "name": self.tr(group.name, fw.text)}
        data["path"] = self.path(comp)
        related = (self.registry.competency(f"{comp.framework_id}:{r}") for r in comp.related)
        data["related_competencies"] = [{"id": r.id, "name": self.tr(r.name, r.text), "code": r.code}
                                        for r in related if r is not None]
        data["questions"] = [self.question(qs, q) for qs, q in self.registry.questions_for(comp.global_id)]
        if activity_limit is not None and listing is not None:
            # the page of activities from ``listing`` (core.activity_search: the framework's own
            # first, then the editable sources' counted and paged by the search index), so a worker
            # need not read a competency's thousands of activities to show the first ones
            found, total = listing([comp.global_id], activity_limit)
            data["activity_total"] = total
            data["activities"] = [self.activity(a) for a in found]
            return data
        sources = self.registry.activity_sources
        found = self.registry.activities_for([comp.global_id])
        found.sort(key=lambda a: bool(getattr(sources.get(a.source), "writable", False)))
        data["activity_total"] = len(found)
        data["activities"] = [self.activity(a) for a in (found if activity_limit is None else found[:activity_limit])]
        return data

    # ------------------------------------------------------------------ plugins, exporters
    def source_title(self, source: model.ActivitySource) -> str:
        """The source's title in the reader's language, translated in the source's own domain."""
        known = self._source_titles.get(id(source))
        if known is not None and known[0] is source:
            return known[1]
        if source.domain == i18n.CORE_DOMAIN:
            title = i18n.gettext(source.title)
        else:
            title = self.tr(source.title, model.TextDomain(source.domain, source.source_language))
        self._source_titles[id(source)] = (source, title)
        return title

    def exporter(self, exp: model.Exporter, plugin: str) -> dict[str, Any]:
        return {
            "id": exp.id,
            "title": self.tr(exp.title, model.TextDomain(exp.domain, getattr(exp, "source_language", "")
                                                         or i18n.UI_SOURCE_LANGUAGE)),
            "subject": exp.subject,
            "media_type": exp.media_type,
            "extension": exp.extension,
            "plugin": plugin,
        }
