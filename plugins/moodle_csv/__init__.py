"""Moodle competency frameworks: export any KBP framework as Moodle's competency-framework CSV.

Exporter id ``moodle-csv`` (subject ``framework``, ``text/csv``, ``.csv``), reached through
``GET /api/v1/frameworks/<id>/export/moodle-csv?lang=sv|en``. Import the file in Moodle under
*Site administration → Competencies → Import competency framework*. The format and the mapping are
documented in :mod:`plugins.moodle_csv.csvformat`; the importer (a folder of Moodle CSV files as
frameworks) is the separate plugin :mod:`plugins.moodle_csv.source`, so a bad file there can never
take the exporter down.

Settings (optional):

* ``MOODLE_SCALE_VALUES`` — the framework's scale, a comma list (default ``Not yet
  competent,Competent``: Moodle's default competency scale, which Moodle's importer finds by these
  values instead of creating a new scale);
* ``MOODLE_SCALE_CONFIGURATION`` — its JSON configuration (default
  ``[{"scaleid":"2"},{"id":2,"scaledefault":1,"proficient":1}]``; Moodle replaces the scale id);
* ``MOODLE_TAXONOMY`` — the terms for groups and competencies (default ``domain,competency``).

A licensed framework's export carries its licence notice and the marker
``kbp-licensed:<framework id>`` in the framework's description, and the marker as the framework's
id number; KBP's importers refuse such files (:mod:`core.imports`).
"""
from __future__ import annotations

import json
from pathlib import Path

from core import N_, hookimpl, i18n, imports
from core.model import Exporter
from core.registry import ContentError

from .csvformat import (  # noqa: F401 - public API of the plugin
    DEFAULT_SCALE_CONFIGURATION,
    DEFAULT_SCALE_VALUES,
    DEFAULT_TAXONOMY,
    HEADER,
    MESSAGES_DOMAIN,
    TAXONOMY_TERMS,
    ExportOptions,
    MoodleCsvError,
    framework_rows,
    import_moodle_csv,
    read_moodle_csv,
    write_csv,
)

__version__ = "1.0.0"
#: the package's catalogs (domain ``moodle_csv``): the exporter's title, the messages about imported files
LOCALES = Path(__file__).resolve().parent / "locales"

TITLE = N_("Moodle competency framework (CSV)")
DEMO_NOTE = N_("Exported from a KBP demonstration installation: not for use in production.")


def _translate(locale: str, message: str) -> str:
    """``message`` in the export's language, from the plugin's own catalog (no Flask needed)."""
    return i18n.content(message, i18n.UI_SOURCE_LANGUAGE, MESSAGES_DOMAIN, locale, {MESSAGES_DOMAIN: str(LOCALES)})


def options_from_config(config) -> ExportOptions:
    """Export options from the settings; a ContentError names a bad setting."""
    config = config or {}
    values = config.get("MOODLE_SCALE_VALUES") or DEFAULT_SCALE_VALUES
    scale_config = config.get("MOODLE_SCALE_CONFIGURATION") or DEFAULT_SCALE_CONFIGURATION
    try:
        parsed = json.loads(scale_config)
    except ValueError:
        parsed = None
    if not isinstance(parsed, list) or not parsed or not isinstance(parsed[0], dict):
        raise ContentError(f"MOODLE_SCALE_CONFIGURATION must be a JSON list such as {DEFAULT_SCALE_CONFIGURATION}")
    taxonomy = config.get("MOODLE_TAXONOMY") or DEFAULT_TAXONOMY
    if isinstance(taxonomy, str):
        taxonomy = [t.strip() for t in taxonomy.split(",") if t.strip()]
    unknown = [t for t in taxonomy if t not in TAXONOMY_TERMS]
    if unknown or not taxonomy:
        raise ContentError(f"MOODLE_TAXONOMY: '{', '.join(unknown)}' is not a Moodle taxonomy term ({', '.join(TAXONOMY_TERMS)})")
    return ExportOptions(scale_values=values, scale_configuration=scale_config, taxonomy=tuple(taxonomy))


class MoodleCsvExporter(Exporter):
    id = "moodle-csv"
    title = TITLE
    subject = "framework"
    media_type = "text/csv"
    extension = "csv"
    domain = MESSAGES_DOMAIN

    def __init__(self, options: ExportOptions | None = None):
        self.options = options or ExportOptions()

    def rows(self, document: dict, locale: str) -> list[list]:
        notes = []
        if (document.get("meta") or {}).get("demo"):
            notes.append("DEMO: " + _translate(locale, DEMO_NOTE))
        if document.get("licence_notice"):
            notes.append(document["licence_notice"])
        idnumber = None
        if document.get("licensed"):  # the machine-readable mark importers refuse (core.imports)
            notes.append(imports.marker(document["id"]))
            idnumber = imports.marker(document["id"])
        return framework_rows(document, self.options, notes, framework_idnumber=idnumber)

    def export(self, obj, locale: str) -> bytes:
        return write_csv(self.rows(obj, locale))


@hookimpl
def kbp_exporters(config):
    return [MoodleCsvExporter(options_from_config(config))]


@hookimpl
def kbp_locale_dirs():
    """The package's own catalog, as any plugin declares one; the importer (``moodle_csv_import``,
    :mod:`plugins.moodle_csv.source`) writes its messages in it too."""
    return [{"domain": MESSAGES_DOMAIN, "path": str(LOCALES), "source_language": "en"}]
