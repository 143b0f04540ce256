"""The app factory: one straight sequence, each step a small function.

    config → storage → plugins → i18n → registry → stored imports → blueprints

* **config**: defaults, then an optional TOML file (``KBP_CONFIG``), then ``KBP_*`` environment
  variables, then the ``config`` argument (tests). ``DATA_DIR`` defaults to Flask's instance folder;
  demo mode (``DEMO``) uses a data folder of its own.
* **storage**: :class:`core.storage.Storage` on ``DATA_DIR``.
* **plugins**: :class:`core.plugins.PluginManager` loads every enabled plugin in isolation.
* **i18n**: Flask-Babel for UI strings with :func:`core.i18n.select_locale`.
* **registry**: :func:`core.registry.build_registry` calls the hooks and assembles the catalogue;
  stale ``.mo`` files of every domain are compiled.
* **stored imports**: frameworks imported through the page or API, kept in the store, joined to the
  catalogue at the start and before each request when another server imported one
  (:mod:`core.services.framework_imports`).
* **blueprints**: the REST API (``/api/v1``, OpenAPI) and the web pages.

Everything a request needs is on ``app.extensions["kbp"]`` (:class:`KBP`), reached with
:func:`kbp`.
"""
from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from flask import Flask, Request, current_app
from flask_babel import Babel

from core import i18n
from core.api import fastdump
from core.context import KBP, kbp  # noqa: F401 - kbp re-exported for older imports
from core.entitlements import Entitlements
from core.plugins import PLUGIN_STATE_COLLECTION, PluginManager, disabled_plugins
from core.registry import Registry, build_registry
from core.storage import Storage

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "DATA_DIR": None,  # default: Flask's instance folder (demo: <instance>/demo)
    "DATABASE_URL": None,  # postgresql://user:pass@host:5432/kbp selects PostgreSQL; unset: the embedded store
    "DATABASE_SCHEMA": None,  # PostgreSQL schema for KBP's tables (default: the search_path's first, public)
    "DEMO": False,
    "DEFAULT_LOCALE": "sv",
    "TIMEZONE": "Europe/Stockholm",  # the organisation's time zone: every time on pages and in e-mails is shown in it
    "LOCALES_DIR": str(i18n.CORE_LOCALES_DIR),
    "I18N_REQUIRED_LANGUAGES": "sv,en",  # catalogs that must be complete (tests, `kbp i18n stats --check`)
    "I18N_SWITCHER_MIN_PERCENT": 80,  # a UI language less translated than this is not offered in the switcher
    "PLUGINS": [],  # extra plugins by module path: ["name=package.module"]
    "SECRET_KEY": None,  # default: generated once and kept with the data (DATA_DIR/secret_key or the database)
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "MAX_CONTENT_LENGTH": 1024 * 1024,  # request bodies; a plan at every limit is far smaller (413 beyond)
    "MAX_IMPORT_LENGTH": 16 * 1024 * 1024,  # bodies of views marked @accepts_large_body (file imports)
    "ADMIN_EXPORT_PRIVATE_NOTES": False,  # an admin's export of a person includes private self-reflection notes
    # flask-smorest / OpenAPI
    "API_TITLE": "KBP",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.1.0",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
}


class KbpRequest(Request):
    """Flask's request with the body limit of the view it is routed to (see :func:`core.context.accepts_large_body`)."""

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and current_app and self.endpoint:
            view = current_app.view_functions.get(self.endpoint)
            if getattr(view, "kbp_large_body", False):
                return current_app.config["MAX_IMPORT_LENGTH"]
        return Request.max_content_length.fget(self)

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


def remembered_ensure_sync(app: Flask):
    """Flask's ``ensure_sync``, remembered per function: Flask asks it for every hook and view of
    every request (a dozen ``inspect`` calls each time) and the answer never changes."""
    known: dict = {}
    original = app.ensure_sync

    def ensure_sync(func):
        try:
            return known[func]
        except (KeyError, TypeError):  # TypeError: an unhashable callable, asked every time
            wrapped = original(func)
            if len(known) < 4096:  # hooks, views and error handlers: a bounded set
                try:
                    known[func] = wrapped
                except TypeError:
                    pass
            return wrapped

    return ensure_sync


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask("core", static_folder="web/static", template_folder="web/templates")
    app.json = fastdump.JSONProvider(app)
    app.request_class = KbpRequest
    app.ensure_sync = remembered_ensure_sync(app)
    configure(app, config)
    storage = open_storage(app)
    if not app.config["SECRET_KEY"]:  # one key for every worker and server: kept with the data
        app.config["SECRET_KEY"] = storage.shared_secret("secret_key")
    plugins = load_plugins(app, storage)
    setup_i18n(app)
    registry = assemble_registry(app, plugins, storage)
    attach_sources(registry, storage)
    app.extensions["kbp"] = KBP(storage, plugins, registry, MappingProxyType(dict(app.config)))
    follow_stored_imports(app)
    register_blueprints(app)
    watch_catalogue(app)
    scope_revisions(app)
    return app


# --------------------------------------------------------------------------- steps


def configure(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    app.config.update(DEFAULTS)
    config_file = os.environ.get("KBP_CONFIG") or (overrides or {}).get("CONFIG_FILE")
    if config_file:
        app.config.update(read_config_file(config_file))
    app.config.from_prefixed_env("KBP")
    app.config.update(overrides or {})
    plugins = app.config["PLUGINS"]
    if isinstance(plugins, str):  # KBP_PLUGINS="a=pkg.a,b=pkg.b"
        app.config["PLUGINS"] = [p for p in (s.strip() for s in plugins.split(",")) if p]
    app.config["DATA_DIR"] = str(data_dir(app))
    Path(app.config["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=app.config.get("LOG_LEVEL", "INFO"))


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML config file; keys are the setting names without the ``KBP_`` prefix."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SystemExit(f"Config file {path} does not exist (set by KBP_CONFIG).") from None
    except tomllib.TOMLDecodeError as exc:
        raise SystemExit(f"Config file {path} is not valid TOML: {exc}") from None
    return {key.upper(): value for key, value in data.items()}


def data_dir(app: Flask) -> Path:
    if app.config.get("DATA_DIR"):
        base = Path(app.config["DATA_DIR"])
    else:
        base = Path(app.instance_path)
    if app.config.get("DEMO") and not app.config.get("DEMO_DATA_DIR_IS_DATA_DIR"):
        return Path(app.config.get("DEMO_DATA_DIR") or base / "demo")
    return base


def open_storage(app: Flask):
    """The store (``DATABASE_URL``: PostgreSQL; else the embedded store in ``DATA_DIR``), upgraded to
    this version's schema first (a no-op when it is current)."""
    from core import migrations

    storage = open_store(app.config)
    migrations.migrate(storage)
    return storage


def open_store(config: Mapping[str, Any]):
    """The backend the configuration names, with the declared schema: PostgreSQL when
    ``DATABASE_URL`` is set, else the embedded store in ``DATA_DIR``. The CLI uses this too."""
    from core.store import apply_schema

    url = config.get("DATABASE_URL")
    if url:
        from core.store.postgres import PostgresStore

        return apply_schema(PostgresStore(url, schema=config.get("DATABASE_SCHEMA") or None))
    return apply_schema(Storage(config["DATA_DIR"]))


def load_plugins(app: Flask, storage: Storage) -> PluginManager:
    manager = PluginManager(disabled=disabled_plugins(storage), extra=app.config["PLUGINS"])
    manager.load_all()
    return manager


def setup_i18n(app: Flask) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(app.config["TIMEZONE"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise SystemExit(f"KBP_TIMEZONE: unknown time zone {app.config['TIMEZONE']!r} "
                         "(an IANA name such as Europe/Stockholm)") from None
    Babel(
        app,
        locale_selector=parsed_locale,
        default_locale=app.config["DEFAULT_LOCALE"],
        default_timezone=str(app.config["TIMEZONE"]),
        default_translation_directories=app.config["LOCALES_DIR"],
        default_domain=i18n.CORE_DOMAIN,
    )
    i18n.compile_stale({i18n.CORE_DOMAIN: app.config["LOCALES_DIR"]})


_PARSED_LOCALES: dict[str, Any] = {}


def parsed_locale():
    """:func:`core.i18n.select_locale` as the Babel ``Locale`` Flask-Babel wants, parsed once per
    code (Flask-Babel parses the code it is given on every request)."""
    from babel import Locale

    code = i18n.select_locale()
    found = _PARSED_LOCALES.get(code)
    if found is None and code is not None:  # None: Flask-Babel's default locale
        found = _PARSED_LOCALES[code] = Locale.parse(code)
    return found


def assemble_registry(app: Flask, plugins: PluginManager, storage=None) -> Registry:
    registry = build_registry(plugins, MappingProxyType(dict(app.config)))
    licences = None
    if storage is not None and getattr(storage, "backend", "embedded") != "embedded":
        from core.licensing import StoredLicences

        licences = StoredLicences(storage)  # every server sees an installed licence at once
    registry.entitlements = Entitlements(app.config["DATA_DIR"], demo_mode=bool(app.config["DEMO"]),
                                         config=MappingProxyType(dict(app.config)), licences=licences)
    check_published_keys(app, registry)
    use_content_pack_locales(app, registry)
    i18n.compile_stale(registry.locale_dirs)
    return registry


def check_published_keys(app: Flask, registry: Registry) -> None:
    """A licensor's keys file named by ``KBP_<PRODUCT>_TRUSTED_KEYS`` that cannot be used stops
    the start with the reason (a server silently ignoring it would refuse every licence)."""
    from core.entitlements import trusted_keys_setting

    for fw in registry.frameworks.values():
        if fw.licence is not None and app.config.get(trusted_keys_setting(fw.licence.product)):
            try:
                registry.entitlements.trusted_keys(fw.licence)
            except ValueError as exc:
                raise SystemExit(f"KBP_{trusted_keys_setting(fw.licence.product)}: {exc}") from None


def use_content_pack_locales(app: Flask, registry: Registry) -> None:
    """A licensee's content pack (``<PLUGIN>_CONTENT_DIR``) with its own ``locales/`` brings its
    translations: they win over the plugin's. The plugin's own folders are kept for ``kbp i18n``."""
    from core import translations

    builtin = dict(registry.locale_dirs)
    app.extensions["kbp_builtin_locale_dirs"] = builtin
    for domain, folder in builtin.items():
        owner = registry.owner.get(("translation domain", domain), domain)
        registry.locale_dirs[domain] = str(translations.pack_locales(folder, translations.content_pack(app.config, owner)))


def attach_sources(registry: Registry, storage) -> None:
    """Writable activity sources keep their records in the app's store (either backend)."""
    for source in registry.activity_sources.values():
        attach = getattr(source, "attach", None)
        if getattr(source, "writable", False) and attach is not None:
            attach(storage)


def follow_stored_imports(app: Flask) -> None:
    """Frameworks imported through the page or API are in the store: in the catalogue from the start,
    and before each request any another server imported since (one revision look-up while none was).
    Runs after :func:`watch_catalogue`'s check, so a catalogue rebuilt for a plugin change gets them
    too; an import changes only the imported frameworks, so it does not rebuild the whole catalogue."""
    from core.services import framework_imports

    framework_imports.sync(app.extensions["kbp"])

    @app.before_request
    def _sync_stored_imports():
        from flask import request

        if request.endpoint != "static":
            framework_imports.sync(app.extensions["kbp"])


#: Collections whose records shape the catalogue (which plugins are enabled; a plugin or the core may
#: add its own, e.g. frameworks imported from a page). A change made by any process or server rebuilds
#: the catalogue of every worker at its next request: no restart.
CATALOGUE_COLLECTIONS: list[str] = [PLUGIN_STATE_COLLECTION]

#: app.extensions entries built from the catalogue: dropped when it is rebuilt
CATALOGUE_CACHES = ("kbp_search", "kbp_documents")


def catalogue_revision(storage) -> tuple:
    return tuple(storage.collection(name).revision() for name in CATALOGUE_COLLECTIONS)


def rebuild_catalogue(app: Flask) -> None:
    """Load the plugins and build the catalogue again from the stored plugin state, then swap them in
    at once (a request in another thread sees the old catalogue or the new one, never half of each)."""
    state: KBP = app.extensions["kbp"]
    with app.app_context():
        plugins = load_plugins(app, state.storage)
        registry = assemble_registry(app, plugins, state.storage)
        attach_sources(registry, state.storage)
    for key in CATALOGUE_CACHES:
        app.extensions.pop(key, None)
    state.plugins, state.registry = plugins, registry
    log.info("catalogue rebuilt: plugin state changed (%d plugins active)",
             sum(1 for r in plugins.listing() if r.state == "active"))


def watch_catalogue(app: Flask) -> None:
    """Before each request, compare the catalogue collections' revision with the one this worker built
    from; when another process or server changed them (``kbp plugins disable X``), rebuild first."""
    import threading

    state: KBP = app.extensions["kbp"]
    seen = {"revision": catalogue_revision(state.storage)}
    lock = threading.Lock()

    def check_catalogue() -> None:
        revision = catalogue_revision(state.storage)
        if revision == seen["revision"]:
            return
        with lock:
            revision = catalogue_revision(state.storage)
            if revision != seen["revision"]:
                rebuild_catalogue(app)
                seen["revision"] = revision

    app.before_request_funcs.setdefault(None, []).insert(0, check_catalogue)


def scope_revisions(app: Flask) -> None:
    """A backend that reads revisions from a database (PostgreSQL) reads them once per request:
    the catalogue, imports, licences and search checks of one request share that read (see
    ``PostgresStore.begin_request``). Runs before every other check."""
    storage = app.extensions["kbp"].storage
    begin, end = getattr(storage, "begin_request", None), getattr(storage, "end_request", None)
    if begin is None or end is None:
        return

    def begin_revisions() -> None:
        begin()

    def end_revisions(_exc: BaseException | None = None) -> None:
        end()

    app.before_request_funcs.setdefault(None, []).insert(0, begin_revisions)
    app.teardown_request(end_revisions)


def register_blueprints(app: Flask) -> None:
    from core.access import init_access
    from core.api import register_api
    from core.web import register_web

    init_access(app)
    register_api(app)
    register_web(app)
