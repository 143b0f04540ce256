"""Doing the first requests' work once, before the workers fork (``kbp serve`` preloads the app).

Without it every gunicorn worker loads every collection, converts every activity source and builds
its own search index at its first requests (seconds each, at organisation scale), and holds its own
copy of all of it. Preloaded, the master does the work once; the workers fork with it already in
memory and share those pages copy-on-write (``gc.freeze()`` keeps the garbage collector from
touching, and so copying, them). Each worker still sees every other process's writes: the
embedded store replays the logs, caches compare revisions.
"""
from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def warm_up(app) -> dict[str, float]:
    """Load what the first requests of each kind would; returns seconds per step."""
    from core import i18n
    from core.activity_search import searcher

    state = app.extensions["kbp"]
    timings: dict[str, float] = {}
    t = time.perf_counter()
    if getattr(state.storage, "backend", "") == "embedded":  # PostgreSQL keeps the records, not us
        from core.store import SCHEMA

        for name in state.storage.collection_names():
            # with the indexes of the declared look-ups: built in a worker, an index touches
            # every record (and so copies the pages holding them) besides being private
            state.storage.collection(name).build_indexes(*SCHEMA.get(name, {}).get("indexed", ()))
    timings["collections"] = time.perf_counter() - t

    t = time.perf_counter()
    for source in state.registry.activity_sources.values():
        try:
            source.loaded()
        except Exception:  # noqa: BLE001 - a failing source is reported when it is used
            log.warning("Activity source %s could not be loaded in advance", source.id, exc_info=True)
    timings["activity sources"] = time.perf_counter() - t

    t = time.perf_counter()
    with app.app_context():
        locales = i18n.available_locales()
    for locale in locales:
        searcher(app).search("", locale=locale, limit=1)
    timings["search index"] = time.perf_counter() - t

    t = time.perf_counter()
    with app.test_request_context():
        for locale in locales:
            for domain, folder in state.registry.locale_dirs.items():
                i18n._translations(domain, folder, locale)
    timings["catalogs"] = time.perf_counter() - t

    t = time.perf_counter()
    for name in app.jinja_env.list_templates(extensions=("html", "txt")):
        try:
            app.jinja_env.get_template(name)  # compiled once here instead of in every worker
        except Exception:  # noqa: BLE001 - a broken template is reported when it is used
            log.warning("Template %s could not be compiled in advance", name, exc_info=True)
    timings["templates"] = time.perf_counter() - t
    return timings


def freeze() -> None:
    """Move everything allocated so far out of the garbage collector's reach (before forking)."""
    gc.collect()
    gc.freeze()
