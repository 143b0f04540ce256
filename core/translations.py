"""The translator's workflow behind ``kbp i18n``: extract, update, init, compile, stats.

A *catalog domain* is one gettext domain with its folder: the core UI (``messages`` in
``locales/``, English msgids) and each plugin's own domain declared with ``kbp_locale_dirs``
(content in the plugin's source language). Everything goes through Babel's API, so the result is
what ``pybabel`` would produce; framework content files are read by the ``kbp_content`` extractor
(:func:`core.content.babel_extract`).

Sources per domain:

* core: ``core/**.py``, ``plugins/**.py`` that use the core domain, ``core/web/templates/**.html``;
* a plugin: the package folder holding its ``locales/``: ``**.py``, ``templates/**.html`` and
  ``content/**.yaml``.
"""
from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from core import i18n
from core.version import __version__

KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}
COMMENT_TAGS = ("Translators:", "TRANSLATORS:")
REPO_ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdfr]|%[sdfr]|\{(\w*)\}")


@dataclass(frozen=True)
class CatalogDomain:
    name: str  # "core" or the plugin name
    domain: str
    folder: Path  # the locales folder
    source_language: str
    sources: tuple[tuple[Path, tuple[tuple[str, str], ...]], ...]  # (root dir, method map)

    @property
    def pot(self) -> Path:
        return self.folder / f"{self.domain}.pot"

    def po(self, locale: str) -> Path:
        return self.folder / locale / "LC_MESSAGES" / f"{self.domain}.po"

    def locales(self) -> list[str]:
        return sorted(p.parent.parent.name for p in i18n.po_files(self.folder, self.domain))


PY = ("**.py", "python")
HTML = ("**/templates/**.html", "jinja2")
CONTENT = ("**/content/**.yaml", "kbp_content")


def core_domain(locales_dir: str | Path | None = None) -> CatalogDomain:
    return CatalogDomain(
        name="core",
        domain=i18n.CORE_DOMAIN,
        folder=Path(locales_dir or i18n.CORE_LOCALES_DIR),
        source_language=i18n.UI_SOURCE_LANGUAGE,
        sources=((REPO_ROOT / "core", (PY, HTML)), (REPO_ROOT / "plugins", (PY, HTML))),
    )


def plugin_domains(app) -> list[CatalogDomain]:
    """The domains declared through ``kbp_locale_dirs`` by the app's plugins."""
    state = app.extensions["kbp"]
    registry = state.registry
    result = []
    for domain, folder in sorted(registry.locale_dirs.items()):
        owner = registry.owner.get(("translation domain", domain), domain)
        source_language = registry.locale_languages.get(domain, i18n.UI_SOURCE_LANGUAGE)
        root = Path(folder).parent
        result.append(CatalogDomain(owner, domain, Path(folder), source_language, ((root, (PY, HTML, CONTENT)),)))
    return result


def all_domains(app, plugin: str | None = None) -> list[CatalogDomain]:
    domains = [core_domain(app.config["LOCALES_DIR"])] + plugin_domains(app)
    if plugin:
        domains = [d for d in domains if d.name == plugin or d.domain == plugin]
        if not domains:
            known = ", ".join(sorted({"core"} | {d.name for d in plugin_domains(app)}))
            raise LookupError(i18n.gettext("No translation domain for '%(name)s'. Known: %(known)s.", name=plugin, known=known))
    return domains


# ----------------------------------------------------------------------------- extract


def extract(dom: CatalogDomain) -> Catalog:
    """Extract every message of ``dom`` into its ``.pot`` template (written atomically)."""
    catalog = Catalog(
        project="KBP" if dom.name == "core" else dom.name,
        version=__version__,
        msgid_bugs_address="",
        copyright_holder="",
        charset="utf-8",
        fuzzy=False,
    )
    catalog.locale = None
    for root, method_map in dom.sources:
        if not root.is_dir():
            continue
        for filename, lineno, message, comments, context in extract_from_dir(
            str(root),
            method_map=list(method_map),
            options_map={"**/templates/**.html": {"encoding": "utf-8"}},
            keywords=KEYWORDS,
            comment_tags=COMMENT_TAGS,
            strip_comment_tags=True,
        ):
            if _skip(root / filename, dom):
                continue
            location = (os.path.relpath(root / filename, REPO_ROOT), lineno)
            catalog.add(message, None, [location], auto_comments=comments, context=context)
    _write_po(dom.pot, catalog, omit_header=False)
    return catalog


def _skip(path: Path, dom: CatalogDomain) -> bool:
    """Don't put one plugin's own-domain strings into the core catalog (and vice versa)."""
    if dom.name != "core":
        return False
    # a plugin with its own locales folder translates its own strings
    for parent in path.parents:
        if parent == REPO_ROOT / "plugins" or parent == REPO_ROOT:
            break
        if (parent / "locales").is_dir():
            return True
    return False


# ----------------------------------------------------------------------------- init / update


def _read(path: Path, locale: str | None = None) -> Catalog:
    with open(path, "rb") as fh:
        return read_po(fh, locale=locale)


def _write_po(path: Path, catalog: Catalog, omit_header: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, omit_header=omit_header, sort_output=False, include_previous=True)
    fd, tmp = tempfile.mkstemp(prefix=".kbp-", suffix=".po", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _template(dom: CatalogDomain) -> Catalog:
    if not dom.pot.exists():
        return extract(dom)
    return _read(dom.pot)


def init(dom: CatalogDomain, locale: str) -> Path | None:
    """Create ``<locale>`` catalog for ``dom``; returns None if it already exists or is the source language."""
    if locale == dom.source_language:
        return None
    path = dom.po(locale)
    if path.exists():
        return None
    template = extract(dom)  # refreshed first: a new catalog starts from the current text
    catalog = Catalog(locale=locale, project=template.project, version=template.version, fuzzy=False)
    catalog.creation_date = catalog.revision_date = datetime.now(timezone.utc)
    for message in template:
        if message.id:
            catalog.add(message.id, None, list(message.locations), auto_comments=message.auto_comments,
                        flags=message.flags, context=message.context)
    _write_po(path, catalog)
    return path


def update(dom: CatalogDomain) -> list[Path]:
    """Merge the template into every catalog of ``dom`` (new strings empty, changed ones fuzzy)."""
    template = _template(dom)
    written = []
    for locale in dom.locales():
        path = dom.po(locale)
        catalog = _read(path, locale)
        catalog.update(template, update_header_comment=False, keep_user_comments=True)
        _write_po(path, catalog)
        written.append(path)
    return written


def compile_all(dom: CatalogDomain) -> list[Path]:
    return [i18n.compile_po(po) for po in i18n.po_files(dom.folder, dom.domain)]


# ----------------------------------------------------------------------------- stats and checks


@dataclass
class Stats:
    domain: str
    locale: str
    total: int
    translated: int
    fuzzy: int
    untranslated: int

    @property
    def percent(self) -> float:
        return 100.0 * self.translated / self.total if self.total else 100.0


def stats(dom: CatalogDomain) -> list[Stats]:
    result = []
    for locale in dom.locales():
        if locale == dom.source_language:
            continue
        catalog = _read(dom.po(locale), locale)
        messages = [m for m in catalog if m.id]
        fuzzy = sum(1 for m in messages if m.fuzzy)
        translated = sum(1 for m in messages if _is_translated(m) and not m.fuzzy)
        result.append(Stats(dom.domain, locale, len(messages), translated, fuzzy, len(messages) - translated - fuzzy))
    return result


def _is_translated(message) -> bool:
    if isinstance(message.string, (list, tuple)):
        return all(s for s in message.string)
    return bool(message.string)


def placeholders(text: str) -> list[str]:
    return sorted(m.group(0) for m in PLACEHOLDER.finditer(text or ""))


def placeholder_problems(path: Path) -> list[str]:
    """Entries whose translation does not use exactly the msgid's placeholders."""
    problems = []
    catalog = _read(path)
    for m in catalog:
        if not m.id or not m.string:
            continue
        ids = m.id if isinstance(m.id, (list, tuple)) else (m.id,)
        strings = m.string if isinstance(m.string, (list, tuple)) else (m.string,)
        expected = placeholders(ids[-1])
        for s in strings:
            if s and placeholders(s) != expected and not (len(ids) > 1 and placeholders(s) == placeholders(ids[0])):
                problems.append(f"{path}: {ids[0]!r}: placeholders {placeholders(s)} != {expected}")
    return problems


def iter_po(domains: Iterable[CatalogDomain]) -> Iterable[Path]:
    for dom in domains:
        yield from i18n.po_files(dom.folder, dom.domain)
