"""The catalogue: frameworks and competencies as they may be served (the licence gate), exporters,
and framework exports with their audit entry. The API, the pages and the CLI call it.

What is installed is :class:`core.registry.Registry`'s; whether a licensed framework may be served
is :mod:`core.entitlements`' (checked on every call, never cached); running a plugin's exporter
safely is :func:`core.exports.run_exporter`'s.
"""
from __future__ import annotations

from typing import Any

from core.exports import ExporterFailed, framework_document, run_exporter
from core.i18n import gettext as _
from core.services import audit
from core.services.errors import ExportFailed, Forbidden, NotFound


def framework(registry, framework_id: str, content: bool = True):
    """The framework; :class:`NotFound` when none has the id and, with ``content``,
    :class:`Forbidden` (code ``licence_required``) while its licence is missing or invalid."""
    fw = registry.framework(framework_id)
    if fw is None:
        raise NotFound(_("There is no framework '%(id)s'. GET /api/v1/frameworks lists them.", id=framework_id))
    if content and not registry.is_available(fw.id):
        check = registry.entitlements.check(fw)
        raise Forbidden(_("The framework '%(id)s' is installed but not licensed. %(reason)s", id=fw.id, reason=check.message),
                        code="licence_required")
    return fw


def competency(registry, framework_id: str, competency_id: str):
    """A competency of a framework that may be served (:func:`framework`), or :class:`NotFound`."""
    fw = framework(registry, framework_id)
    comp = registry.competency(f"{fw.id}:{competency_id}")
    if comp is None:
        raise NotFound(_("Framework '%(framework)s' has no competency '%(id)s'.", framework=framework_id, id=competency_id))
    return comp


def framework_exporter(registry, exporter_id: str):
    exporter = registry.exporters.get(exporter_id)
    if exporter is None or exporter.subject != "framework":
        raise NotFound(_("There is no framework exporter '%(id)s'. GET /api/v1/exporters lists them.", id=exporter_id))
    return exporter


def plan_exporter(registry, exporter_id: str):
    exporter = registry.exporters.get(exporter_id)
    if exporter is None or exporter.subject not in ("plan", "dialogue_guide"):
        raise NotFound(_("There is no plan exporter '%(id)s'. GET /api/v1/exporters lists them.", id=exporter_id))
    return exporter


def run_export(registry, exporter, document: dict, locale: str) -> bytes:
    """Run a plugin's exporter; when it fails, :class:`ExportFailed` names the exporter and its plugin."""
    try:
        return run_exporter(registry, exporter, document, locale)
    except ExporterFailed as exc:
        raise ExportFailed(_(
            "The exporter '%(exporter)s' of the plugin '%(plugin)s' failed; an administrator finds the reason "
            "on /plugins. Try another format.", exporter=exc.exporter_id, plugin=exc.plugin)) from None


def export_framework(storage, registry, actor, framework_id: str, exporter_id: str, locale: str,
                     demo: bool = False) -> tuple[bytes, Any, Any]:
    """Export a framework that may be served with an exporter of subject ``framework``: (the file,
    the framework, the exporter). The file carries the licence notice; the export is audited."""
    fw = framework(registry, framework_id)
    exporter = framework_exporter(registry, exporter_id)
    body = run_export(registry, exporter, framework_document(registry, fw, locale, demo), locale)
    audit.record(storage, actor, "export", "framework", fw.id)
    return body, fw, exporter
