"""Moodle import: a folder of Moodle competency-framework CSV files becomes KBP frameworks.

Put files exported by Moodle (*Site administration → Competencies → Export competency framework*)
into the folder named by ``MOODLE_IMPORT_DIR`` (``KBP_MOODLE_IMPORT_DIR``); without the setting the
folder is ``<DATA_DIR>/moodle-frameworks`` when it exists. At start-up every ``*.csv`` file in it
(hidden files ignored) becomes one framework; restart KBP after changing the folder. The file
format, the checks and the mapping of Moodle's deeper trees onto groups → competencies are
documented in :mod:`plugins.moodle_csv.csvformat`.

Moodle files carry no language: the text is taken to be in ``MOODLE_IMPORT_LANGUAGE``, default
``DEFAULT_LOCALE``. The frameworks use the gettext domain ``moodle_import`` (no catalogs): their
text is shown as written in every UI language.

**Errors, one file at a time**: a file that cannot be imported is skipped and logged with file,
row and column; the others are imported. :func:`problems` returns the messages of the last
start-up, :func:`notices` what was read by position, re-encoded, cleaned or ignored. A configured
folder that does not exist fails the plugin. Framework ids are the slug of the framework's id
number (``-2``, ``-3`` … for repeats, in file-name order). The plugin declares
``IMPORTS_FRAMEWORKS``: the core assembles it after every other plugin, and a file whose framework
id is already provided (a built-in always wins) or that would provide a licensed framework is
skipped with a message naming the file (:mod:`core.imports`); the plugin stays active.

This module is its own plugin (entry point ``moodle_csv_import``), separate from the exporter.
Its messages about files are in the package's catalog ``moodle_csv`` (``locales/``), which the
exporter plugin ``moodle_csv`` declares (a translation domain has one owner): with that plugin
disabled they are shown in English.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from core import hookimpl, imports
from core.content import import_folder, load_framework_files
from core.registry import ContentError

from .csvformat import MoodleCsvError, read_moodle_csv, to_framework

__version__ = "1.0.0"
log = logging.getLogger(__name__)

DIR_SETTING = "MOODLE_IMPORT_DIR"
LANGUAGE_SETTING = "MOODLE_IMPORT_LANGUAGE"
DEFAULT_DIR_NAME = "moodle-frameworks"
#: the core assembles this plugin after the others and skips its files one by one (core.imports)
IMPORTS_FRAMEWORKS = True
#: what core.imports.preview_file hands this plugin
FILE_SUFFIXES = (".csv",)
FORMAT = "moodle-csv"
_language = "en"

_problems: list[str] = []
_sources = imports.SourceFiles()


def problems() -> list[str]:
    """The files skipped at the last start-up, one message each (file, row, column, reason)."""
    return list(_problems)


def notices() -> list[str]:
    """What the last start-up read by position, re-encoded, cleaned or ignored, one message each."""
    return list(_sources.notices)


def source_file(framework_id: str) -> str | None:
    """The file a framework of the last start-up came from."""
    return _sources.files.get(framework_id)


def import_dir(config) -> Path | None:
    """The folder to read, or None when there is none; a ContentError for a configured folder that is missing."""
    return import_folder(config, DIR_SETTING, DEFAULT_DIR_NAME)


def load_folder(folder: Path, source_language: str = "en") -> tuple[list[dict], list[str]]:
    """(frameworks, problems) for every ``*.csv`` in ``folder``: bad files are skipped, not fatal."""
    paths = sorted(p for p in folder.glob("*.csv") if p.is_file() and not p.name.startswith("."))

    def load(path: Path) -> dict:
        parsed = read_moodle_csv(path.read_bytes(), name=path.name)
        _sources.notices.extend(parsed.notices)
        framework = imports.validate_framework(to_framework(parsed, source_language), path.name, MoodleCsvError)
        return _sources.loaded(framework, path.name)

    frameworks, skipped = load_framework_files(paths, load, (MoodleCsvError,), "Moodle CSV", log)
    _sources.settle(frameworks)
    return frameworks, skipped


def read_file(name: str, data: bytes) -> tuple[dict, list[str]]:
    """(framework, notices) of one file, for a preview (core.imports.preview_file)."""
    parsed = read_moodle_csv(bytes(data), name=name)
    return to_framework(parsed, _language), parsed.notices


@hookimpl
def kbp_frameworks(config):
    global _language
    language = (config or {}).get(LANGUAGE_SETTING) or (config or {}).get("DEFAULT_LOCALE") or "en"
    if not re.match(r"^[a-z]{2,3}(?:_[A-Z]{2})?$", language):
        raise ContentError(f"{LANGUAGE_SETTING} must be a locale code such as 'sv' or 'en', not {language!r}")
    _language = language
    folder = import_dir(config)
    _sources.reset()
    if folder is None:
        _problems[:] = []
        return []
    frameworks, skipped = load_folder(folder, language)
    _problems[:] = skipped
    return frameworks
