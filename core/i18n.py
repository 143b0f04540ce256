"""Languages: choosing the reader's locale, translating UI strings and plugin content.

Two kinds of text, one mechanism (gettext catalogs that translators edit as ``.po`` files):

* **UI strings** are English msgids in the core domain ``messages`` (``locales/`` at the top of the
  repository). Flask-Babel translates them in templates (``_()``) and Python (:func:`gettext`).
* **Content** (framework names, definitions, questions, activities) is written in the plugin's
  declared *source language* and translated in the plugin's own domain, whose folder the plugin
  declares with ``kbp_locale_dirs``. :func:`content` picks the catalog by domain, so two plugins
  never collide, and falls back to the source text — never to an empty string.

Every core catalog can be read with ``?lang=``; the language switcher and ``Accept-Language`` offer
only those at least ``I18N_SWITCHER_MIN_PERCENT`` translated (:func:`offered_locales`), and a
browser asking for ``no``/``nn`` gets ``nb`` when it exists. A licensee's content pack may bring
its own catalogs (``core.app.use_content_pack_locales``).

Compiled ``.mo`` files are build output: :func:`compile_stale` rebuilds any that are missing or
older than their ``.po`` at start-up (and ``kbp i18n compile`` does it on demand).
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import current_app, g, has_app_context, has_request_context, request, session

log = logging.getLogger(__name__)

CORE_DOMAIN = "messages"
#: the UI catalogs: ``locales/`` in the repository, ``core/locales/`` in an installed wheel (setup.py)
CORE_LOCALES_DIR = next((p for p in (Path(__file__).resolve().parent / "locales",
                                     Path(__file__).resolve().parent.parent / "locales") if p.is_dir()),
                        Path(__file__).resolve().parent.parent / "locales")
#: the language UI msgids are written in
UI_SOURCE_LANGUAGE = "en"

_catalog_lock = threading.Lock()
_catalogs: dict[tuple[str, str, str], NullTranslations] = {}


# --------------------------------------------------------------------------- UI strings


def gettext(message: str, /, **variables) -> str:
    """Translate a UI string into the current locale and fill in ``%(name)s`` placeholders.

    Outside a request (CLI, start-up) the locale is ``KBP_CLI_LOCALE``/``LANG``-based, see
    :func:`cli_locale`; without a catalog the English source text is used.
    """
    if has_request_context():
        from flask_babel import gettext as _flask_gettext

        return _flask_gettext(message, **variables)
    translated = _translations(CORE_DOMAIN, str(CORE_LOCALES_DIR), cli_locale()).gettext(message)
    return translated % variables if variables else translated


def ngettext(singular: str, plural: str, num: int, /, **variables) -> str:
    if has_request_context():
        from flask_babel import ngettext as _flask_ngettext

        return _flask_ngettext(singular, plural, num, **variables)
    variables.setdefault("num", num)
    translated = _translations(CORE_DOMAIN, str(CORE_LOCALES_DIR), cli_locale()).ngettext(singular, plural, num)
    return translated % variables


_ = gettext


def lazy_gettext(message: str, **variables):
    from flask_babel import lazy_gettext as _lazy

    return _lazy(message, **variables)


def cli_locale() -> str:
    """Locale for text printed outside a request: ``KBP_LOCALE`` or ``LANG`` (``sv_SE.UTF-8`` → ``sv``)."""
    raw = os.environ.get("KBP_LOCALE") or os.environ.get("LANG") or UI_SOURCE_LANGUAGE
    code = raw.split(".")[0].split("_")[0].lower()
    return code if code and code not in ("c", "posix") else UI_SOURCE_LANGUAGE


# --------------------------------------------------------------------------- locale choice


def available_locales() -> list[str]:
    """Locales the UI can be shown in: the source language plus every core catalog (``?lang=``
    serves each, so a translator can look at a partial language)."""
    name = str(current_app.config["LOCALES_DIR"]) if has_app_context() else str(CORE_LOCALES_DIR)
    try:
        mtime = os.stat(name).st_mtime_ns
    except OSError:
        mtime = None
    # asked in most requests: the folder is read again when it changed, and at least every 10 s
    key = (mtime, int(time.monotonic() // 10))
    cached = _AVAILABLE.get(name)
    if cached is not None and cached[0] == key:
        return list(cached[1])
    folder = Path(name)
    locales = {UI_SOURCE_LANGUAGE}
    if folder.is_dir():
        for child in folder.iterdir():
            if (child / "LC_MESSAGES" / f"{CORE_DOMAIN}.po").is_file():
                locales.add(child.name)
    found = sorted(locales)
    _AVAILABLE[name] = (key, tuple(found))
    return found


_AVAILABLE: dict[str, tuple[tuple, tuple[str, ...]]] = {}


def offered_locales() -> list[str]:
    """Locales offered in the language switcher and chosen from ``Accept-Language``: those whose UI
    catalog is at least ``I18N_SWITCHER_MIN_PERCENT`` translated (the required ones always)."""
    config = current_app.config if has_app_context() else {}
    minimum = float(config.get("I18N_SWITCHER_MIN_PERCENT") or 0)
    required = set(required_languages(config))
    folder = Path(config.get("LOCALES_DIR") or CORE_LOCALES_DIR)
    result = []
    for code in available_locales():
        if code == UI_SOURCE_LANGUAGE or code in required or minimum <= 0:
            result.append(code)
        elif translated_percent(folder / code / "LC_MESSAGES" / f"{CORE_DOMAIN}.po") >= minimum:
            result.append(code)
    return result


def required_languages(config) -> list[str]:
    """``I18N_REQUIRED_LANGUAGES``: the languages whose catalogs must be complete (``sv,en``)."""
    value = (config or {}).get("I18N_REQUIRED_LANGUAGES", "sv,en")
    if isinstance(value, str):
        value = value.replace(";", ",").split(",")
    return [str(v).strip() for v in value or () if str(v).strip()]


_percent_cache: dict[str, tuple[int, float]] = {}


def translated_percent(po_path: Path) -> float:
    """Share of a catalog's entries translated and not fuzzy (cached until the file changes)."""
    try:
        mtime = po_path.stat().st_mtime_ns
    except OSError:
        return 0.0
    cached = _percent_cache.get(str(po_path))
    if cached is not None and cached[0] == mtime:
        return cached[1]
    with open(po_path, "rb") as fh:
        catalog = read_po(fh)
    messages = [m for m in catalog if m.id]
    done = sum(1 for m in messages if not m.fuzzy and (all(m.string) if isinstance(m.string, (list, tuple)) else m.string))
    percent = 100.0 * done / len(messages) if messages else 100.0
    _percent_cache[str(po_path)] = (mtime, percent)
    return percent


def locale_name(code: str) -> str:
    """A language's name in that language (``sv`` → ``svenska``), for the language switcher."""
    try:
        return Locale.parse(code).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):
        return code


#: languages a browser may ask for that another available language serves (Norwegian → Bokmål)
LANGUAGE_FALLBACKS = {"no": "nb", "nn": "nb"}


def select_locale() -> str:
    """The reader's locale: user preference → ``?lang=`` → session → ``Accept-Language`` → default."""
    available = available_locales()
    user = getattr(g, "user_locale", None)
    if user in available:
        return user
    args = request.args
    asked = args.get("lang") if "lang" in args else None  # (a miss costs werkzeug an exception)
    if asked in available:
        if not request.path.startswith("/api/"):  # the API is stateless; the web remembers the choice
            session["lang"] = asked
        return asked
    remembered = session.get("lang")
    if remembered in available:
        return remembered
    accept = request.accept_languages
    # offered_locales looks at the catalogs: only when the request names languages (API clients often do not)
    return (accept and accepted_locale(accept, offered_locales())) or current_app.config["DEFAULT_LOCALE"]


def accepted_locale(accept_languages, offered: list[str]) -> str | None:
    """The first language of ``Accept-Language`` (by quality) that is offered: exactly, by its
    base language (``sv-FI`` → ``sv``), or through :data:`LANGUAGE_FALLBACKS` (``nn`` → ``nb``)."""
    for value, _quality in accept_languages:
        if value == "*":
            return offered[0] if offered else None
        code = value.replace("-", "_")
        base = code.split("_")[0].lower()
        for candidate in (code, base, LANGUAGE_FALLBACKS.get(base)):
            if candidate in offered:
                return candidate
    return None


# --------------------------------------------------------------------------- content


def content(text: str, source_language: str, domain: str, locale: str, locale_dirs: dict[str, str]) -> str:
    """Translate a piece of plugin content into ``locale``; fall back to the source text."""
    if not text or locale == source_language:
        return text
    folder = locale_dirs.get(domain)
    if folder is None and domain == CORE_DOMAIN:
        folder = current_app.config["LOCALES_DIR"] if has_app_context() else str(CORE_LOCALES_DIR)
    if folder is None:
        return text
    translated = _translations(domain, folder, locale).gettext(text)
    return translated or text


def domain_translations(domain: str, locale: str, locale_dirs: dict[str, str]) -> NullTranslations:
    """The catalog of ``domain`` in ``locale``: a plugin's (``locale_dirs``, from ``kbp_locale_dirs``)
    or the core UI's; without one, a catalog that gives every text back unchanged."""
    folder = locale_dirs.get(domain)
    if folder is None and domain == CORE_DOMAIN:
        folder = current_app.config["LOCALES_DIR"] if has_app_context() else str(CORE_LOCALES_DIR)
    if folder is None:
        return NullTranslations()
    return _translations(domain, folder, locale)


def current_locale() -> str:
    """The reader's locale: the request's (:func:`select_locale`, via Flask-Babel) or, outside a
    request, the CLI's (:func:`cli_locale`)."""
    if has_request_context():
        from flask_babel import get_locale

        found = get_locale()
        if found is not None:
            return str(found)
    return cli_locale()


def _translations(domain: str, folder: str, locale: str) -> NullTranslations:
    key = (domain, folder, locale)
    cached = _catalogs.get(key)
    if cached is not None:
        return cached
    with _catalog_lock:
        cached = _catalogs.get(key)
        if cached is None:
            cached = Translations.load(folder, [locale], domain)
            _catalogs[key] = cached
    return cached


def reset_cache() -> None:
    """Forget loaded catalogs (after ``kbp i18n compile`` or in tests)."""
    with _catalog_lock:
        _catalogs.clear()
    if has_app_context():
        try:
            from flask_babel import refresh

            refresh()
        except Exception:  # noqa: BLE001 - outside a request there is nothing to refresh
            pass
        ext = current_app.extensions.get("babel")
        if ext is not None:
            try:
                ext.domain_instance.translations.clear()
            except AttributeError:
                pass


# --------------------------------------------------------------------------- catalogs on disk


def po_files(folder: str | Path, domain: str) -> Iterable[Path]:
    folder = Path(folder)
    if folder.is_dir():
        yield from sorted(folder.glob(f"*/LC_MESSAGES/{domain}.po"))


def compile_po(po_path: Path) -> Path:
    """Compile one ``.po`` into its ``.mo`` atomically (no fuzzy entries); return the ``.mo`` path."""
    mo_path = po_path.with_suffix(".mo")
    with open(po_path, "rb") as fh:
        catalog = read_po(fh, locale=po_path.parent.parent.name)
    fd, tmp = tempfile.mkstemp(prefix=".kbp-", suffix=".mo", dir=po_path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        os.replace(tmp, mo_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return mo_path


def compile_stale(locale_dirs: dict[str, str]) -> list[Path]:
    """Compile every catalog whose ``.mo`` is missing or older than its ``.po``."""
    compiled = []
    for domain, folder in locale_dirs.items():
        for po in po_files(folder, domain):
            mo = po.with_suffix(".mo")
            if not mo.exists() or mo.stat().st_mtime_ns < po.stat().st_mtime_ns:
                try:
                    compiled.append(compile_po(po))
                except OSError as exc:  # a read-only install: the build step should have compiled it
                    log.warning("could not compile %s: %s", po, exc)
    if compiled:
        reset_cache()
    return compiled
