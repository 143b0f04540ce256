"""One search across every activity source: keeps :class:`core.search.ActivityIndex` in step with them.

The index is built at the first search of a worker from every source's activities, with their text
in every available language (the source's own per-language text, or the plugin's catalog). Before
each search, sources that can change while the app runs (they have a ``revision()``: writable
sources, the activity-files source) are compared with the revision that was indexed and re-indexed
when they changed — also when another worker process made the change. Sources of a framework whose
licence is not valid are left out of the results.

**A query that names a competency** (its name in any language, e.g. ``självständighet`` or
``independence``; the last word may be the start of a name word, ``självständ``) finds that
competency's activities too, and ranks them first — the activities whose text matches follow.
Exact names win over partial ones; a query that partly matches more than
:data:`MAX_NAMED` competencies names none (``för`` is not a name).
"""
from __future__ import annotations

import threading
from typing import Any, Iterable

from core import i18n, model
from core.present import Presenter
from core.registry import Registry
from core.search import ActivityIndex, SearchDoc, tokenize

#: a query matching more competency names than this (only partly) is not taken as naming any
MAX_NAMED = 3


class ActivitySearch:
    def __init__(self, registry: Registry, locales: Iterable[str]):
        self.registry = registry
        self.locales = list(locales)
        self.index: ActivityIndex | None = None
        self.revisions: dict[str, Any] = {}
        self.by_key: dict[tuple[str, str], model.Activity] = {}
        self._doc_cache: dict[tuple[str, str], tuple[model.Activity, SearchDoc]] = {}
        self._lock = threading.Lock()
        self._names: dict[str, tuple[str, list[tuple[str, ...]]]] | None = None
        self._names_of: object = None  # the registry's competencies the names were taken from

    def _docs(self, source: model.ActivitySource) -> list[SearchDoc]:
        """Search documents for a source; an activity object the source hands back unchanged keeps
        its document, so re-indexing after one edit costs little more than a comparison."""
        presenter = Presenter(self.registry, self.locales[0] if self.locales else "sv")
        if _lean(source):  # nothing kept per activity: the index compares fingerprints instead
            def doc_of(a: model.Activity) -> SearchDoc:
                return SearchDoc(key=(source.id, a.id), competencies=a.competencies, kind=a.kind, effort=a.effort,
                                 situations=a.situations, texts={loc: presenter.activity_text(a, loc) for loc in self.locales},
                                 fallback_locale=a.text.source_language, archived=a.archived)

            return source.map_activities(doc_of)
        docs = []
        cache = self._doc_cache
        for a in source.loaded():
            key = (source.id, a.id)
            hit = cache.get(key)
            if hit is not None and hit[0] is a:
                doc = hit[1]
            else:
                texts = {loc: presenter.activity_text(a, loc) for loc in self.locales}
                doc = SearchDoc(key=key, competencies=a.competencies, kind=a.kind, effort=a.effort,
                                situations=a.situations, texts=texts, fallback_locale=a.text.source_language,
                                archived=a.archived)
                cache[key] = (a, doc)
            self.by_key[key] = a
            docs.append(doc)
        return docs

    def _refresh(self) -> ActivityIndex:
        with self._lock:
            if self.index is None:
                self.index = ActivityIndex()
                for source in self.registry.activity_sources.values():
                    rev = _revision(source)
                    if self._index_source(source):
                        self.revisions[source.id] = rev
                return self.index
            for source in self.registry.activity_sources.values():
                rev = _revision(source)
                if rev is not None and rev != self.revisions.get(source.id) and self._index_source(source):
                    self.revisions[source.id] = rev
            return self.index

    def _index_source(self, source: model.ActivitySource) -> bool:
        """(Re-)index one source; a source failing now keeps what was indexed before and is reported
        on /plugins, and the search goes on with the others (it is tried again at the next search)."""
        try:
            docs = self._docs(source)
            if _lean(source):  # streamed from the database into the index; nothing kept here
                self.index.replace_source(source.id, docs)
                return True
        except Exception as exc:  # noqa: BLE001 - one source must not take the search down
            self.registry.problem(self.registry.owner.get(("activity source", source.id), ""),
                                  f"activity source '{source.id}' could not be searched: {type(exc).__name__}: {exc}")
            return False
        current = {doc.key for doc in docs}
        self.by_key = {k: v for k, v in self.by_key.items() if k[0] != source.id or k in current}
        self._doc_cache = {k: v for k, v in self._doc_cache.items() if k[0] != source.id or k in current}
        self.index.replace_source(source.id, docs)
        return True

    def search(self, text: str = "", *, locale: str, competencies=(), kinds=(), efforts=(), situations=(), sources=(),
               include_archived: bool = False, limit: int = 50, offset: int = 0):
        index = self._refresh()
        allowed = [s for s in self.registry.activity_sources if self.registry.source_available(s)]
        wanted = [s for s in (sources or allowed) if s in allowed]
        if not wanted:
            return [], 0
        filters = {"kinds": kinds, "efforts": efforts, "situations": situations, "sources": wanted,
                   "include_archived": include_archived}
        named = self.named_competencies(text)
        chosen = [competencies] if isinstance(competencies, str) else list(competencies or ())
        if chosen:  # a competency the catalogue no longer has (its framework was removed) matches nothing
            chosen = [c for c in chosen if c in self.registry.competencies]
            if not chosen:
                return [], 0
            competencies = chosen
            named = [c for c in named if c in chosen]
        if not named:
            result = index.search(text, locale=locale, competencies=competencies, limit=limit, offset=offset, **filters)
            return self._with_activities(result.hits), result.total
        # the named competencies' activities first, then the other text matches; a competency has
        # thousands of activities, so only the page's share of them is asked for — when the page
        # reaches past them, that share is all of them
        need = offset + limit
        first = index.search("", locale=locale, competencies=named, limit=need, **filters)
        both = index.search(text, locale=locale, competencies=named, limit=0, **filters).total
        rest = []
        if need > first.total:
            first_keys = {hit.key for hit in first.hits}
            more = index.search(text, locale=locale, competencies=competencies, limit=need - first.total + both, **filters)
            rest = [hit for hit in more.hits if hit.key not in first_keys]
            total = first.total + more.total - both
        else:
            total = first.total + index.search(text, locale=locale, competencies=competencies, limit=0, **filters).total - both
        page = (first.hits + rest)[offset:need]
        return self._with_activities(page), total

    def _with_activities(self, hits) -> list[tuple[Any, model.Activity]]:
        """``(hit, activity)`` for the hits whose activity still exists: kept objects, or one query
        per :func:`_lean` source for the page's activities."""
        by_key = self.by_key
        fetched: dict[tuple[str, str], model.Activity] = {}
        wanted: dict[str, list[str]] = {}
        for hit in hits:
            if hit.key not in by_key:
                wanted.setdefault(hit.key[0], []).append(hit.key[1])
        for source_id, ids in wanted.items():
            source = self.registry.activity_sources.get(source_id)
            if source is not None and _lean(source):
                fetched.update(((source_id, i), a) for i, a in source.activities_by_id(ids).items())
        out = []
        for hit in hits:
            activity = by_key.get(hit.key) or fetched.get(hit.key)
            if activity is not None:
                out.append((hit, activity))
        return out

    def for_competencies(self, global_ids, limit: int) -> tuple[list[model.Activity], int]:
        """The first ``limit`` activities of every available source for these competencies (not
        archived) and how many there are: the read-only sources' (the framework's own, in their
        order) first, then the writable sources' in key order, counted by the search index — a
        worker that keeps no activities reads only the page's from the database (a competency may
        have thousands)."""
        wanted = [g for g in global_ids if self.registry._competency_available(g)]
        if not wanted:
            return [], 0
        found = self.registry.activities_for(wanted, writable=False)
        total = len(found)
        page = found[:limit]
        sources = self.registry.activity_sources
        writable = [s for s in sources if getattr(sources[s], "writable", False) and self.registry.source_available(s)]
        if writable:
            result = self._refresh().search("", locale=self.locales[0] if self.locales else "sv", competencies=wanted,
                                            sources=writable, limit=max(0, limit - len(page)))
            total += result.total
            page.extend(a for _hit, a in self._with_activities(result.hits))
        return page, total

    def named_competencies(self, text: str) -> list[str]:
        """Global ids of the competencies that ``text`` names (see the module docstring)."""
        tokens = tokenize(text or "")[:16]
        if not tokens or len("".join(tokens)) < 4:
            return []
        exact, partial = [], []
        available: dict[str, bool] = {}  # asked once per framework: on PostgreSQL each asks the database
        for gid, (framework_id, variants) in self._competency_names().items():
            ok = available.get(framework_id)
            if ok is None:
                ok = available[framework_id] = self.registry.is_available(framework_id)
            if not ok:  # no names of a framework without a valid licence
                continue
            for words in variants:
                if tuple(tokens) == words:
                    exact.append(gid)
                    break
                if all(t in words or (i == len(tokens) - 1 and len(t) >= 4 and any(w.startswith(t) for w in words))
                       for i, t in enumerate(tokens)):
                    partial.append(gid)
                    break
        if exact:
            return exact
        return partial if len(partial) <= MAX_NAMED else []

    def _competency_names(self) -> dict[str, tuple[str, list[tuple[str, ...]]]]:
        """Per competency: its framework and the words of its name in every language. Taken again when
        the catalogue's competencies change (a framework imported or removed at run time replaces the dict)."""
        competencies = self.registry.competencies
        if self._names is None or self._names_of is not competencies:
            names: dict[str, tuple[str, list[tuple[str, ...]]]] = {}
            presenters = [Presenter(self.registry, loc) for loc in self.locales]
            for gid, comp in competencies.items():
                if not comp.selectable:
                    continue
                variants = {tuple(tokenize(p.tr(comp.name, comp.text))) for p in presenters} | {tuple(tokenize(comp.name))}
                names[gid] = (comp.framework_id, [v for v in variants if v])
            self._names, self._names_of = names, competencies
        return self._names


def _lean(source: model.ActivitySource) -> bool:
    """A source that keeps no activity objects in the worker (its records stay in the database)."""
    return bool(getattr(source, "lean", False)) and callable(getattr(source, "map_activities", None))


def _revision(source: model.ActivitySource):
    getter = getattr(source, "revision", None)
    try:
        return getter() if callable(getter) else None
    except Exception:  # noqa: BLE001 - a source that cannot tell is re-read next time
        return object()


def searcher(app) -> ActivitySearch:
    ext = app.extensions.get("kbp_search")
    if ext is None:
        with app.app_context():
            ext = ActivitySearch(app.extensions["kbp"].registry, i18n.available_locales())
        app.extensions["kbp_search"] = ext
    return ext
