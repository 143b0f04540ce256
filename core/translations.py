"""The translator's workflow behind ``kbp i18n``: extract, update, init, compile, stats.

A *catalog domain* is one gettext domain with its folder: the core UI (``messages`` in
``locales/``, English msgids) and each plugin's own domain declared with ``kbp_locale_dirs``
(content in the plugin's source language). Everything goes through Babel's API, so the result is
what ``pybabel`` would produce; framework content files are read by the ``kbp_content`` extractor
(:func:`core.content.babel_extract`).

Sources per domain:

* core: ``core/**.py``, ``plugins/**.py`` that use the core domain, ``core/web/templates/**.html``;
* a plugin: the package folder holding its ``locales/``: ``**.py``, ``templates/**.html`` and
  ``content/**.yaml``;
* a framework plugin with a licensee's content pack (``<PLUGIN>_CONTENT_DIR``): the content files
  actually served, and its catalogs live in ``<pack>/locales/`` (see :func:`plugin_domains`).

Catalogs are written in GNU gettext's own layout (:func:`format_po`), so ``msgcat``, ``msgmerge``,
Poedit, polib and Weblate read them and leave them as they are. ``stats`` counts against a fresh
extraction and rounds down; which languages must be complete is the app's
``I18N_REQUIRED_LANGUAGES`` (:func:`core.i18n.required_languages`).
"""
from __future__ import annotations

import io
import math
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import escape, read_po, unescape

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
    #: content files read by the ``kbp_content`` extractor (a licensee's pack and what it keeps of ours)
    content_files: tuple[Path, ...] = ()
    #: catalogs to start from when ``folder`` does not exist yet (a content pack's first update)
    seed_folder: Path | None = None

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


def content_pack(config, plugin: str) -> Path | None:
    """The licensee's content pack for ``plugin`` (setting ``<PLUGIN>_CONTENT_DIR``), if one is set."""
    value = (config or {}).get(f"{plugin.upper()}_CONTENT_DIR") or ""
    return Path(value) if value else None


def pack_locales(builtin: str | Path, pack: str | Path | None) -> Path:
    """Where a framework's catalogs are read from: the content pack's own ``locales/`` when it has
    one (the pack's translations then win), else the plugin's."""
    if pack and (Path(pack) / "locales").is_dir():
        return Path(pack) / "locales"
    return Path(builtin)


def plugin_domains(app) -> list[CatalogDomain]:
    """The domains declared through ``kbp_locale_dirs`` by the app's plugins.

    A framework plugin with a ``content/`` package and a content pack set (``<PLUGIN>_CONTENT_DIR``)
    is extracted from the files actually served — the pack's, and ours where the pack has none —
    and its catalogs live in the pack's ``locales/`` (started from the plugin's on the first update),
    so they travel with the pack and survive an upgrade of KBP.
    """
    from core import content

    state = app.extensions["kbp"]
    registry = state.registry
    result = []
    builtin_dirs = app.extensions.get("kbp_builtin_locale_dirs") or registry.locale_dirs
    for domain, folder in sorted(builtin_dirs.items()):
        owner = registry.owner.get(("translation domain", domain), domain)
        source_language = registry.locale_languages.get(domain, i18n.UI_SOURCE_LANGUAGE)
        folder = Path(folder)
        pack = content_pack(app.config, owner)
        base = folder.parent / "content"
        if pack is not None and (base / "framework.yaml").is_file():
            files = tuple(content.load_package(base, pack).files)
            result.append(CatalogDomain(owner, domain, pack / "locales", source_language,
                                        ((folder.parent, (PY, HTML)),), content_files=files, seed_folder=folder))
        else:
            result.append(CatalogDomain(owner, domain, folder, source_language, ((folder.parent, (PY, HTML, CONTENT)),)))
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


def extract(dom: CatalogDomain, write: bool = True) -> Catalog:
    """Extract every message of ``dom`` into its ``.pot`` template (written atomically unless
    ``write`` is false)."""
    from core.content import babel_extract

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
            location = (_location(root / filename), lineno)
            catalog.add(message, None, [location], auto_comments=comments, context=context)
    for path in dom.content_files:
        with open(path, "rb") as fh:
            for lineno, _funcname, message, comments in babel_extract(fh, KEYWORDS, COMMENT_TAGS, {}):
                catalog.add(message, None, [(_location(path), lineno)], auto_comments=comments)
    if write:
        _seed(dom)
        _write_po(dom.pot, catalog, omit_header=False)
    return catalog


def _location(path: Path) -> str:
    """A source reference: relative to the repository, or for a content pack elsewhere to the
    pack's parent folder (``official-pack/groups/x.yaml``)."""
    path = Path(path).resolve()
    if path.is_relative_to(REPO_ROOT):
        return path.relative_to(REPO_ROOT).as_posix()
    pack = next((p for p in path.parents if (p / "framework.yaml").is_file()), path.parent)
    return path.relative_to(pack.parent).as_posix()


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
    """Read a catalog, with the previous msgids (``#|``) that Babel's reader drops into comments."""
    text = path.read_text(encoding="utf-8")
    clean, previous = _split_previous(text)
    catalog = read_po(io.StringIO(clean), locale=locale)
    for message in catalog:
        if message.id:
            key = (message.context, message.id[0] if isinstance(message.id, (list, tuple)) else message.id)
            if key in previous:
                message.previous_id = previous[key]
    return catalog


# ----------------------------------------------------------------------------- the PO format
#
# Babel's writer breaks a ``#| msgid`` comment in the middle of a string, its reader keeps ``#|``
# lines as translator comments (written back as ``# |``), and it wraps at 76/100 columns where
# GNU gettext and Poedit wrap at 79 — so every Poedit save rewrapped the file. Catalogs are
# therefore written here in GNU gettext's layout (``msgmerge --previous``): strings wrapped at
# 79 columns after spaces (and after ``-``/``/`` before a letter), a new line after each ``\n``,
# previous msgids as ``#|`` lines, comments and references as gettext writes them.

WIDTH = 79
#: what Babel made of ``#|`` lines (translator comments ``# |``, some split mid-string): dropped
_LEGACY_PREVIOUS = re.compile(r"^# \|")
#: where GNU gettext may break a line (Unicode line breaking as libunistring does it): after spaces
#: (not before closing punctuation, nor between a quote and an opening parenthesis), and after
#: ``. , ? ! - / : ; – — …`` before a letter, before ``—``, and around CJK ideographs
_BREAK_AFTER = re.compile(r"(?<= )(?=[^ !?)\]},.:;/])(?!(?<=[\"'\u201c\u201d\u00ab\u00bb] )[(\[{])|(?<=[.,?!\-/:;\u2013\u2014\u2026])(?=[^\W\d_])|(?<=[^ ])(?=\u2014)"
                          r"|(?<=[\u2e80-\u9fff\uf900-\ufaff])(?=[^ !?)\]},.:;/])|(?<=[^ ])(?=[\u2e80-\u9fff\uf900-\ufaff])")


def _width(text: str) -> int:
    """Display columns, as gettext counts them (East Asian wide characters take two)."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _split_previous(text: str) -> tuple[str, dict[tuple[str | None, str], list[str]]]:
    """Remove ``#|`` lines (and the ``# |`` comments an older KBP wrote) from ``text``; return the
    cleaned text and the previous msgids by (context, msgid) of the entry they precede."""
    previous: dict[tuple[str | None, str], list[str]] = {}
    out: list[str] = []
    pending: list[str] = []
    field = None
    current: dict[str, str] = {}
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("#|"):
            pending.append(stripped[2:].strip())
            continue
        if _LEGACY_PREVIOUS.match(stripped) or stripped.startswith("#~|"):  # an obsolete entry's previous msgid: dropped
            continue
        out.append(line)
        if stripped.startswith("#~"):
            continue
        keyword, _sep, rest = stripped.partition(" ")
        if keyword in ("msgctxt", "msgid") and rest.startswith('"'):
            field = keyword
            current[field] = unescape(rest)
        elif stripped.startswith('"') and field is not None:
            current[field] += unescape(stripped)
        elif keyword == "msgid_plural" or keyword.startswith("msgstr"):
            if field is not None and pending:
                previous[(current.get("msgctxt"), current.get("msgid", ""))] = _previous_ids(pending)
            if field is not None:
                pending, field, current = [], None, {}
    return "".join(out), previous


def _previous_ids(lines: list[str]) -> list[str]:
    fields: dict[str, str] = {}
    name = None
    for line in lines:
        keyword, _sep, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid", "msgid_plural") and rest.startswith('"'):
            name = keyword
            fields[name] = unescape(rest)
        elif line.startswith('"') and name is not None:
            fields[name] += unescape(line)
    ids = [fields.get("msgid", "")]
    if "msgid_plural" in fields:
        ids.append(fields["msgid_plural"])
    return ids


def _escape(text: str) -> str:
    return escape(text)[1:-1]


def _string_lines(keyword: str, text: str, prefix: str = "") -> list[str]:
    """``keyword "text"`` in gettext's layout, each line starting with ``prefix``."""
    escaped = _escape(text)
    segments = _split_after_newlines(escaped)
    single = f'{prefix}{keyword} "{escaped}"'
    if len(segments) <= 1 and _width(single) <= WIDTH:
        return [single]
    lines = [f'{prefix}{keyword} ""']
    room = WIDTH - _width(prefix) - 2
    for segment in segments:
        line = ""
        for word in _BREAK_AFTER.split(segment):
            if line and _width(line) + _width(word) > room:
                lines.append(f'{prefix}"{line}"')
                line = ""
            line += word
        lines.append(f'{prefix}"{line}"')
    return lines


def _split_after_newlines(escaped: str) -> list[str]:
    """Split an escaped string after each ``\n`` escape (not after an escaped backslash + n)."""
    segments, start, i = [], 0, 0
    while i < len(escaped):
        if escaped[i] == "\\" and i + 1 < len(escaped):
            if escaped[i + 1] == "n" and i + 2 < len(escaped):
                segments.append(escaped[start:i + 2])
                start = i + 2
            i += 2
            continue
        i += 1
    segments.append(escaped[start:])
    return [seg for seg in segments if seg] or [""]


def _wrapped_words(prefix: str, words: list[str]) -> list[str]:
    lines, line = [], prefix
    for word in words:
        if line != prefix and len(line) + 1 + len(word) > WIDTH:
            lines.append(line)
            line = prefix
        line = f"{line} {word}"
    if line != prefix:
        lines.append(line)
    return lines


#: header values Babel fills in for a template: not information, and Poedit asks to replace them
_BOILERPLATE = ("FIRST AUTHOR", "EMAIL@ADDRESS", "ORGANIZATION", "LL@li.org", "YEAR-MO-DA", "FULL NAME", "PROJECT VERSION")


def _header_lines(catalog: Catalog) -> list[str]:
    comment = [line for line in (catalog.header_comment or "").splitlines()
               if not any(b in line for b in _BOILERPLATE)]
    if comment and comment[-1].strip() != "#":
        comment.append("#")
    values = []
    for name, value in catalog.mime_headers:
        value = str(value).strip()
        if not value or any(b in value for b in _BOILERPLATE):
            continue
        values.append(f"{name}: {value}\n")
    lines = [*comment, 'msgid ""', 'msgstr ""']
    lines += [f'"{_escape(v)}"' for v in values]
    return lines


def format_po(catalog: Catalog) -> str:
    """The catalog as GNU gettext writes it (what ``msgcat``/``msgmerge --previous`` and Poedit produce)."""
    out: list[str] = _header_lines(catalog) + [""]
    for message in catalog:
        if not message.id:
            continue
        out += _entry_lines(message, catalog.num_plurals)
        out.append("")
    for message in catalog.obsolete.values():
        out += [f"# {c}" if c else "#" for c in message.user_comments if not _LEGACY_PREVIOUS.match(f"# {c}")]
        if message.fuzzy:  # (Babel guesses format flags for obsolete entries too: not written)
            out.append("#, fuzzy")
        out += _message_lines(message, catalog.num_plurals, prefix="#~ ")
        out.append("")
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def _entry_lines(message, num_plurals: int) -> list[str]:
    lines = [f"# {c}" if c else "#" for c in message.user_comments if not _LEGACY_PREVIOUS.match(f"# {c}")]
    lines += [f"#. {c}" if c else "#." for c in message.auto_comments]
    if message.locations:
        refs = []
        for filename, lineno in message.locations:
            ref = filename.replace(os.sep, "/") + (f":{lineno}" if lineno else "")
            if ref not in refs:
                refs.append(ref)
        lines += _wrapped_words("#:", refs)
    if message.flags:
        lines.append("#, " + ", ".join(sorted(message.flags, key=_flag_order)))
    if message.previous_id and message.fuzzy:
        previous = list(message.previous_id)
        lines += _string_lines("msgid", previous[0], "#| ")
        if len(previous) > 1:
            lines += _string_lines("msgid_plural", previous[1], "#| ")
    return lines + _message_lines(message, num_plurals)


#: GNU gettext writes ``fuzzy`` first, then format flags in the order of its table of languages
_FORMATS = ("c", "objc", "cplusplus", "python", "python-brace", "java", "java-printf", "csharp", "javascript",
            "scheme", "lisp", "elisp", "librep", "rust", "go", "ruby", "sh", "sh-printf", "awk", "lua",
            "object-pascal", "modula2", "d", "smalltalk", "qt", "qt-plural", "kde", "boost", "tcl", "perl",
            "perl-brace", "php", "gcc-internal", "gfc-internal", "ycp")


def _flag_order(flag: str) -> tuple[int, int, str]:
    if flag == "fuzzy":
        return (0, 0, flag)
    name = flag[3:] if flag.startswith("no-") else flag
    if name.endswith("-format") and name[:-7] in _FORMATS:
        return (1, _FORMATS.index(name[:-7]), flag)
    return (2, 0, flag)


def _message_lines(message, num_plurals: int, prefix: str = "") -> list[str]:
    lines = []
    if message.context:
        lines += _string_lines("msgctxt", message.context, prefix)
    if isinstance(message.id, (list, tuple)):
        lines += _string_lines("msgid", message.id[0], prefix)
        lines += _string_lines("msgid_plural", message.id[1], prefix)
        strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
        count = max(len(strings), num_plurals)
        for i in range(count):
            lines += _string_lines(f"msgstr[{i}]", strings[i] if i < len(strings) and strings[i] else "", prefix)
    else:
        lines += _string_lines("msgid", message.id, prefix)
        lines += _string_lines("msgstr", message.string or "", prefix)
    return lines


def _write_po(path: Path, catalog: Catalog, omit_header: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = format_po(catalog).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=".kbp-", suffix=".po", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _template(dom: CatalogDomain) -> Catalog:
    _seed(dom)
    if not dom.pot.exists():
        return extract(dom)
    return _read(dom.pot)


def _seed(dom: CatalogDomain) -> None:
    """A content pack's first update starts from the plugin's catalogs, so every string the pack
    shares with the built-in content keeps its translation."""
    if dom.seed_folder is None or dom.folder.is_dir() or not dom.seed_folder.is_dir():
        return
    for po in i18n.po_files(dom.seed_folder, dom.domain):
        target = dom.folder / po.relative_to(dom.seed_folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(po.read_bytes())


def init(dom: CatalogDomain, locale: str) -> Path | None:
    """Create ``<locale>`` catalog for ``dom``; returns None if it already exists or is the source language."""
    if locale == dom.source_language:
        return None
    path = dom.po(locale)
    if path.exists():
        return None
    template = extract(dom)  # refreshed first: a new catalog starts from the current text
    catalog = Catalog(locale=locale, project=template.project, version=template.version, fuzzy=False,
                      msgid_bugs_address="", last_translator="", language_team="")
    catalog.creation_date = catalog.revision_date = datetime.now(timezone.utc)
    try:
        language = Locale.parse(locale).english_name
    except (ValueError, UnknownLocaleError):
        language = locale
    catalog.header_comment = (f"# {language} translation of {template.project} (gettext domain {dom.domain}).\n"
                              "# This file is distributed under the same license as KBP.\n#")
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
        previous = {m.id: list(m.previous_id) for m in catalog if m.id and m.previous_id}
        catalog.update(template, update_header_comment=False, keep_user_comments=True)
        for message in catalog:
            # an entry still fuzzy from an earlier update keeps its previous msgid (msgmerge --previous)
            if message.id and message.fuzzy and not message.previous_id and message.id in previous:
                message.previous_id = previous[message.id]
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

    @property
    def complete(self) -> bool:
        return self.translated == self.total

    def done(self) -> str:
        """The share done, rounded down: 591 of 592 is 99 %, never 100 % until it is complete."""
        return f"{math.floor(self.percent) if not self.complete else 100} %"


def stats(dom: CatalogDomain, template: Catalog | None = None) -> list[Stats]:
    """Counts per language against what the sources contain now (a fresh extraction, so text not
    yet merged into a catalog — e.g. a new content pack's — counts as untranslated)."""
    template = template if template is not None else extract(dom, write=False)
    if dom.seed_folder is not None and not dom.folder.is_dir():  # a pack not yet updated: the plugin's catalogs
        dom = replace(dom, folder=dom.seed_folder, seed_folder=None)
    wanted = [(m.context, m.id[0] if isinstance(m.id, (list, tuple)) else m.id) for m in template if m.id]
    result = []
    for locale in dom.locales():
        if locale == dom.source_language:
            continue
        catalog = _read(dom.po(locale), locale)
        have = {(m.context, m.id[0] if isinstance(m.id, (list, tuple)) else m.id): m for m in catalog if m.id}
        fuzzy = translated = 0
        for key in wanted:
            m = have.get(key)
            if m is not None and m.fuzzy:
                fuzzy += 1
            elif m is not None and _is_translated(m):
                translated += 1
        result.append(Stats(dom.domain, locale, len(wanted), translated, fuzzy, len(wanted) - translated - fuzzy))
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
