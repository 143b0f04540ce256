"""CASE import: a folder of CASE 1.0 / 1.1 packages (CFPackage JSON) becomes KBP frameworks.

Put packages exported by a CASE server (OpenSALT, …) or by KBP's own ``case`` exporter into the
folder named by ``CASE_IMPORT_DIR`` (``KBP_CASE_IMPORT_DIR``); without the setting the folder is
``<DATA_DIR>/case-packages`` when it exists. At start-up every ``*.json`` file in it (not in
subfolders; hidden files ignored) becomes one framework that in-house activities, questions and
plans can use like any other. Restart KBP after adding or changing a package.

How a package becomes a framework — validation, the item tree, the mapping of deeper trees onto
KBP's groups → competencies, text and ids — is documented in :mod:`plugins.import_case.reader`.
Imported frameworks use the gettext domain ``case_import``, which has no catalogs: their text is
shown as written, in every UI language. The plugin's own messages about packages (refusals, repairs,
what is left out) are in its catalog ``import_case`` (``locales/``, declared with ``kbp_locale_dirs``
like any plugin's) and shown in the reader's language.

**Errors, one file at a time.** A package that cannot be imported (not JSON, invalid against the
schema, an ``isChildOf`` cycle, no items) is skipped and logged with the file name and the JSON
path of the problem; the other packages are imported and the app starts. :func:`problems` returns
the messages of the last start-up. Only a broken *configuration* fails the plugin as a whole
(``CASE_IMPORT_DIR`` set to a folder that does not exist, ``CASE_SCHEMA_FILE`` missing, or the
``jsonschema`` package not installed while there are packages to read).

Two packages with the same framework id (e.g. the same title) get ``-2``, ``-3`` … in file-name
order. The plugin declares ``IMPORTS_FRAMEWORKS``, so the core assembles it after every other
plugin and treats each package as a file of its own (:mod:`core.imports`): a package whose
framework id another plugin already provides (a built-in always wins), or that would provide a
licensed framework, is skipped with a message naming the file; the plugin stays active.
:func:`problems` lists the skipped files, :func:`notices` the repairs and what was ignored.

Settings: ``CASE_IMPORT_DIR`` (folder), ``CASE_SCHEMA_FILE`` (the official CASE 1.1 CFPackage JSON
Schema; default: the copy next to this module if the distribution bundles one, else the
development checkout's ``shared/interop/case/``; without it 1.1 packages get the structural check).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from core import hookimpl, imports
from core.content import import_folder, load_framework_files

from .reader import (  # noqa: F401 - public API
    MESSAGES_DOMAIN,
    CaseImportError,
    CaseSetupError,
    ImportedPackage,
    import_package,
    read_package,
)

__version__ = "1.0.0"
log = logging.getLogger(__name__)

DIR_SETTING = "CASE_IMPORT_DIR"
SCHEMA_SETTING = "CASE_SCHEMA_FILE"
DEFAULT_DIR_NAME = "case-packages"
#: the core assembles this plugin after the others and skips its packages one by one (core.imports)
IMPORTS_FRAMEWORKS = True
#: what core.imports.preview_file hands this plugin
FILE_SUFFIXES = (".json",)
FORMAT = "case"
LOCALES = Path(__file__).resolve().parent / "locales"

_problems: list[str] = []
_sources = imports.SourceFiles()


def problems() -> list[str]:
    """The packages skipped at the last start-up, one message each (file, JSON path, reason)."""
    return list(_problems)


def notices() -> list[str]:
    """Repairs made and content ignored at the last start-up, one message each (file, JSON path)."""
    return list(_sources.notices)


def source_file(framework_id: str) -> str | None:
    """The package a framework of the last start-up came from."""
    return _sources.files.get(framework_id)


def import_dir(config: Any) -> Path | None:
    """The folder to read, or None when there is none; a ContentError for a configured folder that is missing."""
    return import_folder(config, DIR_SETTING, DEFAULT_DIR_NAME)


def package_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith("."))


def load_folder(folder: Path, schema_file: str | None = None) -> tuple[list[dict], list[str]]:
    """(frameworks, problems) for every package in ``folder``: bad packages are skipped, not fatal."""
    # CaseSetupError is not skipped: it would fail every package, so it fails the plugin
    def load(path: Path) -> dict:
        imported = read_package(path, schema_file=schema_file)
        _sources.notices.extend(imported.notices)
        return _sources.loaded(imports.validate_framework(imported.framework, path.name, CaseImportError), path.name)

    frameworks, skipped = load_framework_files(package_files(folder), load, (CaseImportError,), "CASE package", log)
    _sources.settle(frameworks)
    return frameworks, skipped


def read_file(name: str, data: bytes) -> tuple[dict, list[str]]:
    """(framework, notices) of one package, for a preview (core.imports.preview_file)."""
    imported = read_package(bytes(data), name=name)
    return imported.framework, imported.notices


@hookimpl
def kbp_frameworks(config):
    folder = import_dir(config)
    _sources.reset()
    if folder is None:
        _problems[:] = []
        return []
    frameworks, skipped = load_folder(folder, (config or {}).get(SCHEMA_SETTING) or None)
    _problems[:] = skipped
    if skipped:
        log.warning("CASE import: %d of %d package(s) in %s skipped", len(skipped), len(skipped) + len(frameworks), folder)
    return frameworks


@hookimpl
def kbp_locale_dirs():
    """The plugin's own catalog: its messages about packages, in the reader's language."""
    return [{"domain": MESSAGES_DOMAIN, "path": str(LOCALES), "source_language": "en"}]
