"""What exporters receive: plain, translated documents built by the core.

An exporter (``kbp_exporters``) gets ``export(document, locale) -> bytes`` where ``document`` is

* subject ``framework``: :func:`framework_document` — the framework in the reader's language with
  every group and competency (id, global id, name, definition, position), the licence notice, and
  ``meta`` (KBP version, demo flag, export time);
* subject ``plan`` / ``dialogue_guide``: :func:`core.plans.plan_document` (a plan's snapshot).

Documents are plain dicts of strings, numbers and lists — an exporter needs no access to the
registry, storage or Flask, and tests can call it directly.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from core import model
from core.version import __version__
from core.present import Presenter
from core.registry import Registry
from core.schemas import SPREADSHEET_FORMULA_START, sanitised, spreadsheet_text  # noqa: F401 - re-exported


def meta(demo: bool) -> dict[str, Any]:
    return {"generator": f"KBP {__version__}", "demo": demo, "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def framework_document(registry: Registry, framework: model.Framework, locale: str, demo: bool = False) -> dict[str, Any]:
    p = Presenter(registry, locale)
    groups = []
    for gi, group in enumerate(framework.groups, start=1):
        groups.append({
            "id": group.id,
            "name": p.tr(group.name, framework.text),
            "description": p.tr(group.description, framework.text),
            "code": group.code,
            "position": gi,
            "competencies": [
                {"id": c.id, "global_id": c.global_id, "name": p.tr(c.name, c.text), "definition": p.tr(c.definition, c.text),
                 "code": c.code, "parent": c.parent, "depth": c.depth, "selectable": c.selectable,
                 "related": list(c.related), "levels": list(c.levels), "position": ci}
                for ci, c in enumerate(group.competencies, start=1)
            ],
        })
    return sanitised({  # imported frameworks may carry characters a document cannot hold
        "id": framework.id,
        "name": p.tr(framework.name, framework.text),
        "description": p.tr(framework.description, framework.text),
        "version": framework.version,
        "language": locale,
        "source_language": framework.text.source_language,
        "licence_notice": p.tr(framework.licence_notice, framework.text),
        "licensed": framework.licence is not None,
        "groups": groups,
        "meta": meta(demo),
    })


class ExporterFailed(Exception):
    """An exporter raised or returned something other than bytes; already reported on /plugins."""

    def __init__(self, exporter_id: str, plugin: str, problem: str):
        super().__init__(f"exporter '{exporter_id}' of plugin '{plugin}' {problem}")
        self.exporter_id, self.plugin, self.problem = exporter_id, plugin, problem


def run_exporter(registry: Registry, exporter: model.Exporter, document: dict[str, Any], locale: str) -> bytes:
    """``exporter.export(document, locale)``, checked: a failure is noted on the plugin (``/plugins``)
    and raised as :class:`ExporterFailed`, which the API answers with a JSON error naming both."""
    plugin = registry.owner.get(("exporter", exporter.id), "")
    try:
        data = exporter.export(document, locale)
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not become a bare 500
        problem = f"raised {type(exc).__name__}: {exc}"
        registry.problem(plugin, f"exporter '{exporter.id}' {problem}")
        raise ExporterFailed(exporter.id, plugin, problem) from exc
    if not isinstance(data, (bytes, bytearray)):
        problem = f"returned a {type(data).__name__}, not bytes"
        registry.problem(plugin, f"exporter '{exporter.id}' {problem}")
        raise ExporterFailed(exporter.id, plugin, problem)
    return bytes(data)
