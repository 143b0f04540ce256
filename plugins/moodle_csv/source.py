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
start-up. A configured folder that does not exist fails the plugin. Framework ids are the slug of
the framework's id number (``-2``, ``-3`` … for repeats, in file-name order); one that another
plugin already provides fails this plugin — change the id number in the file.

This module is its own plugin (entry point ``moodle_csv_import``), separate from the exporter.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from core import hookimpl
from core.content import import_folder, load_framework_files
from core.registry import ContentError

from .csvformat import MoodleCsvError, import_moodle_csv

__version__ = "1.0.0"
log = logging.getLogger(__name__)

DIR_SETTING = "MOODLE_IMPORT_DIR"
LANGUAGE_SETTING = "MOODLE_IMPORT_LANGUAGE"
DEFAULT_DIR_NAME = "moodle-frameworks"

_problems: list[str] = []


def problems() -> list[str]:
    """The files skipped at the last start-up, one message each (file, row, column, reason)."""
    return list(_problems)


def import_dir(config) -> Path | None:
    """The folder to read, or None when there is none; a ContentError for a configured folder that is missing."""
    return import_folder(config, DIR_SETTING, DEFAULT_DIR_NAME)


def load_folder(folder: Path, source_language: str = "en") -> tuple[list[dict], list[str]]:
    """(frameworks, problems) for every ``*.csv`` in ``folder``: bad files are skipped, not fatal."""
    paths = sorted(p for p in folder.glob("*.csv") if p.is_file() and not p.name.startswith("."))
    return load_framework_files(
        paths, lambda path: import_moodle_csv(path.read_bytes(), name=path.name, source_language=source_language),
        (MoodleCsvError,), "Moodle CSV", log)


@hookimpl
def kbp_frameworks(config):
    folder = import_dir(config)
    if folder is None:
        _problems[:] = []
        return []
    language = (config or {}).get(LANGUAGE_SETTING) or (config or {}).get("DEFAULT_LOCALE") or "en"
    if not re.match(r"^[a-z]{2,3}(?:_[A-Z]{2})?$", language):
        raise ContentError(f"{LANGUAGE_SETTING} must be a locale code such as 'sv' or 'en', not {language!r}")
    frameworks, skipped = load_folder(folder, language)
    _problems[:] = skipped
    return frameworks
