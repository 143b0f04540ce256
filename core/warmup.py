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
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


def warm_up(app) -> dict[str, float]:
    """Load what the first requests of each kind would; returns seconds per step.

    The cyclic garbage collector is off meanwhile: loading creates millions of objects and no
    cycles worth finding, and its passes over an ever bigger heap took about half the time. It is
    turned back on only if it was on before: ``kbp serve`` keeps it off (:func:`collector_off`)
    until :func:`freeze`, because every object allocated with it off is still in its youngest
    generation, so the first allocation after turning it on walks all of them (a second at
    10k people / 20k plans / 50k activities)."""
    enabled = gc.isenabled()
    gc.disable()
    gc.collect()  # what building the app left (about 12,000 objects in cycles), while the heap is small
    try:
        return _warm_up(app)
    finally:
        if enabled:
            gc.enable()


@contextmanager
def collector_off() -> Iterator[None]:
    """The cyclic garbage collector off from here until :func:`freeze` (``kbp serve`` builds the
    app and warms up inside); turned back on only if the block fails."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    except BaseException:
        if enabled:
            gc.enable()
        raise


def _warm_up(app) -> dict[str, float]:
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
        if getattr(source, "lean", False):
            continue  # keeps no activities in the worker (PostgreSQL): the search index below reads them
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

    t = time.perf_counter()
    warm_requests(app, locales)
    timings["read paths"] = time.perf_counter() - t
    return timings


def warm_requests(app, locales) -> int:
    """Send the main read paths once through the app, in every language: whatever they build
    lazily (framework and competency documents, schema and serialiser instances, the plan list's
    look-ups, pages) is then built here, once, instead of in each worker's first request of each
    kind. The requests run as a coach who has plans (else as the first account); they only read.
    Returns how many answered 200; a path that fails is only logged."""
    from flask.testing import FlaskClient

    from core import auth

    state = app.extensions["kbp"]
    storage, registry = state.storage, state.registry
    accounts, plans = storage.collection("accounts"), storage.collection("plans")
    coaches = [a for a in accounts.find(role="coach") if a.get("active", True) and a.get("person_id")]
    record = next((a for a in coaches[:50] if plans.find(coach_id=a["person_id"])), None)
    if record is None:
        found = accounts.all()[:1]
        record = found[0] if found else None
    if record is None:
        return 0  # a fresh installation: nothing to warm that matters
    account = auth.Account(record["id"], record["username"], record["role"], record.get("person_id"))
    paths = ["/", "/api/v1/frameworks", "/api/v1/plans", "/plans"]
    mine = plans.find(coach_id=account.person_id)[:1] if account.person_id else []
    for plan in mine:
        paths += [f"/api/v1/plans/{plan['id']}", f"/plans/{plan['id']}"]
    for fw_id in registry.frameworks:
        if not registry.is_available(fw_id):
            continue
        paths += [f"/frameworks/{fw_id}", f"/api/v1/frameworks/{fw_id}"]
        for comp in list(registry.frameworks[fw_id].competencies())[:1]:
            paths += [f"/frameworks/{fw_id}/{comp.id}", f"/api/v1/frameworks/{fw_id}/competencies/{comp.id}"]
    paths.append("/api/v1/activities/search?q=ledarskap")
    client = FlaskClient(app)  # not app.test_client_class: the requests carry only the warm-up account
    answered = 0
    for locale in locales:
        for path in paths:
            try:
                response = client.get(path + ("&" if "?" in path else "?") + f"lang={locale}",
                                      headers={"Accept-Language": locale},
                                      environ_base={auth.WARM_UP_ACCOUNT: account})
                answered += response.status_code == 200
            except Exception:  # noqa: BLE001 - the worker's request will report it
                log.warning("Warming up %s failed", path, exc_info=True)
    return answered


def warm_worker(app) -> int:
    """In a freshly forked worker, before it takes its first request: send the main read paths once
    more. The data is there already (shared with the master); what this pays for is the worker's
    first touch of it — the pages a read copies on write, the CPU caches — which would otherwise
    land on the first real request of each kind (the search, the competency page). Reads only;
    a failure is logged and the worker serves anyway."""
    from core import i18n

    try:
        with app.app_context():
            locales = i18n.available_locales()
        answered = warm_requests(app, locales)
        # the sign-in checks a real request makes and the warm-up account skips: an API token and a
        # session cookie, both unknown (answered 401 / sent to the sign-in page; nothing is written)
        from flask.testing import FlaskClient

        client = FlaskClient(app)
        client.get("/api/v1/plans", headers={"Authorization": "Bearer kbp-warm-up-not-a-token"})
        client.set_cookie(app.config.get("SESSION_COOKIE_NAME", "session"), "warm-up-not-a-session")
        client.get("/plans")
        return answered
    except Exception:  # noqa: BLE001 - never keep a worker from serving
        log.warning("Warming up the worker failed", exc_info=True)
        return 0


def freeze() -> None:
    """Move everything allocated so far out of the garbage collector's reach (before forking), and
    turn the collector on (for the master and the workers it forks).

    With the collector off since the app was built (:func:`collector_off`) there is no
    ``gc.collect()`` first: everything allocated is in the youngest generation, so it would walk
    every loaded record (about a second at 10k people / 20k plans / 50k activities) to find the
    objects of cyclic garbage the warm-up's requests left (measured: about 1,100; what
    building the app left is collected at the start of :func:`warm_up`), which are frozen with the
    rest. This is the order the ``gc.freeze()`` documentation gives for a parent that forks:
    collector off early, freeze right before the fork, on in the children.
    Called with the collector on, it collects first, as before."""
    if gc.isenabled():
        gc.collect()
    gc.freeze()
    gc.enable()
