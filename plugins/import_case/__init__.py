"""CASE import: a folder of CASE 1.0 / 1.1 packages (CFPackage JSON) becomes KBP frameworks.

Put packages exported by a CASE server (OpenSALT, …) or by KBP's own ``case`` exporter into the
folder named by ``CASE_IMPORT_DIR`` (``KBP_CASE_IMPORT_DIR``); without the setting the folder is
``<DATA_DIR>/case-packages`` when it exists. At start-up every ``*.json`` file in it (not in
subfolders; hidden files ignored) becomes one framework that in-house activities, questions and
plans can use like any other. Restart KBP after adding or changing a package.

How a package becomes a framework — validation, the item tree, the mapping of deeper trees onto
KBP's groups → competencies, text and ids — is documented in :mod:`plugins.import_case.reader`.
Imported frameworks use the gettext domain ``case_import``, which has no catalogs: their text is
shown as written, in every UI language.

**Errors, one file at a time.** A package that cannot be imported (not JSON, invalid against the
schema, an ``isChildOf`` cycle, no items) is skipped and logged with the file name and the JSON
path of the problem; the other packages are imported and the app starts. :func:`problems` returns
the messages of the last start-up. Only a broken *configuration* fails the plugin as a whole
(``CASE_IMPORT_DIR`` set to a folder that does not exist, ``CASE_SCHEMA_FILE`` missing, or the
``jsonschema`` package not installed while there are packages to read).

Two packages with the same framework id (e.g. the same title) get ``-2``, ``-3`` … in file-name
order. A framework id that another plugin already provides fails this plugin (the core refuses
duplicate ids): rename the package's title.

Settings: ``CASE_IMPORT_DIR`` (folder), ``CASE_SCHEMA_FILE`` (the official CASE 1.1 CFPackage JSON
Schema; default: the copy next to this module if the distribution bundles one, else the
development checkout's ``shared/interop/case/``; without it 1.1 packages get the structural check).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from core import hookimpl
from core.content import import_folder, load_framework_files

from .reader import CaseImportError, CaseSetupError, ImportedPackage, import_package, read_package  # noqa: F401 - public API

__version__ = "1.0.0"
log = logging.getLogger(__name__)

DIR_SETTING = "CASE_IMPORT_DIR"
SCHEMA_SETTING = "CASE_SCHEMA_FILE"
DEFAULT_DIR_NAME = "case-packages"

_problems: list[str] = []


def problems() -> list[str]:
    """The packages skipped at the last start-up, one message each (file, JSON path, reason)."""
    return list(_problems)


def import_dir(config: Any) -> Path | None:
    """The folder to read, or None when there is none; a ContentError for a configured folder that is missing."""
    return import_folder(config, DIR_SETTING, DEFAULT_DIR_NAME)


def package_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith("."))


def load_folder(folder: Path, schema_file: str | None = None) -> tuple[list[dict], list[str]]:
    """(frameworks, problems) for every package in ``folder``: bad packages are skipped, not fatal."""
    # CaseSetupError is not skipped: it would fail every package, so it fails the plugin
    return load_framework_files(package_files(folder), lambda path: import_package(path, schema_file=schema_file),
                                (CaseImportError,), "CASE package", log)


@hookimpl
def kbp_frameworks(config):
    folder = import_dir(config)
    if folder is None:
        _problems[:] = []
        return []
    frameworks, skipped = load_folder(folder, (config or {}).get(SCHEMA_SETTING) or None)
    _problems[:] = skipped
    if skipped:
        log.warning("CASE import: %d of %d package(s) in %s skipped", len(skipped), len(skipped) + len(frameworks), folder)
    return frameworks
