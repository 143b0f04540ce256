"""Preview of one framework file: what importing it would give, without importing it.

Used by ``POST /api/v1/framework-imports/preview`` and the page ``/admin/framework-import``, and by
the import itself (:mod:`core.services.framework_imports`), which refuses what the preview reports. The
file is read by the import plugin that declares its suffix (``FILE_SUFFIXES``) and offers
``read_file(name, data) -> (framework dict, notices)``; the core then applies the same checks as
for a file in an import folder (:mod:`core.imports`): the content schema, licensed content, id
clashes.
"""
from __future__ import annotations

from pathlib import Path

from marshmallow import ValidationError

from core import schemas
from core.imports import MESSAGES, LicensedIndex, SchemaProblems, is_importer, localize, source_label
from core.registry import ContentError


def _outline(framework: dict) -> tuple[list[dict], int, int, int]:
    """(tree, competencies, headings, depth below the document) of a framework dict."""
    tree: list[dict] = []
    count = headings = deepest = 0
    for group in framework["groups"]:
        nodes: dict[str, dict] = {}
        top: list[dict] = []
        level: dict[str, int] = {}
        for comp in group["competencies"]:
            node = {"id": comp["id"], "name": comp["name"], "code": comp.get("code", ""),
                    "selectable": comp.get("selectable", True), "children": []}
            nodes[comp["id"]] = node
            parent = comp.get("parent") or ""
            (nodes[parent]["children"] if parent in nodes else top).append(node)
            level[comp["id"]] = level.get(parent, 0) + 1 if parent else 1
            deepest = max(deepest, level[comp["id"]] + 1)
            count += 1
            headings += 0 if node["selectable"] else 1
        tree.append({"id": group["id"], "name": group["name"], "code": group.get("code", ""), "children": top})
    return tree, count, headings, deepest


def preview_file(registry, manager, filename: str, data: bytes) -> dict:
    """What importing ``filename`` would give (see :func:`read_and_check`), without importing it."""
    return read_and_check(registry, manager, filename, data)[0]


def read_and_check(registry, manager, filename: str, data: bytes) -> tuple[dict, dict | None]:
    """(report, framework dict): the framework's tree and counts, every problem (refusals included:
    invalid, clashing, licensed) and every notice; the framework dict as the plugin read it (None
    when the file could not be read).

    The file is read by the active import plugin that declares its suffix in ``FILE_SUFFIXES`` and
    offers ``read_file(name, data) -> (framework dict, notices)``. ``ok`` is False when the file
    would be skipped; ``format`` is None when no import plugin reads such files.
    """
    suffix = Path(filename).suffix.lower()
    for name in manager.active():
        plugin = manager.pm.get_plugin(name)
        if is_importer(plugin) and suffix in getattr(plugin, "FILE_SUFFIXES", ()) and callable(
                getattr(plugin, "read_file", None)):
            break
    else:
        return {"ok": False, "format": None, "plugin": None, "framework": None, "tree": [], "problems": [],
                "notices": []}, None
    report: dict = {"ok": False, "format": getattr(plugin, "FORMAT", name), "plugin": name, "framework": None,
                    "tree": [], "problems": [], "notices": []}
    try:
        framework, notices = plugin.read_file(filename, data)
    except ContentError as exc:
        report["problems"].append(exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc))
        return report, None
    report["notices"] = list(notices)
    tree, count, headings, deepest = _outline(framework)
    report["tree"] = tree
    report["framework"] = {"id": framework["id"], "name": framework["name"], "groups": len(framework["groups"]),
                           "competencies": count, "headings": headings, "depth": deepest}
    try:
        candidate = schemas.FrameworkSchema().load(framework)
    except ValidationError as exc:  # reported like the import does
        report["problems"].append(MESSAGES.gettext("%(file)s: %(problems)s", file=filename,
                                                   problems=SchemaProblems(exc.messages)))
        return report, framework
    reason = LicensedIndex(registry.frameworks.values(), registry.locale_dirs).refusal(candidate)
    if reason:
        report["problems"].append(MESSAGES.gettext(
            "%(file)s: %(reason)s; a licensed framework cannot be imported as a framework of its own — install its "
            "licence instead", file=filename, reason=reason))
    owner = registry.owner.get(("framework", candidate.id))
    stored = getattr(registry, "stored_imports", {}).get(candidate.id)
    if stored is not None:  # imported through the page or API before: importing again replaces it
        # Translators: %(source)s is the name of the file the framework was imported from before
        report["notices"].append(MESSAGES.gettext("%(file)s: replaces the framework '%(id)s' imported from "
                                                  "'%(source)s' (same id)", file=filename, id=candidate.id,
                                                  source=stored.get("filename", "")))
    elif owner and owner != name:
        report["problems"].append(MESSAGES.gettext("%(file)s: the framework id '%(id)s' is already provided by plugin "
                                                   "'%(plugin)s' (give the file another title or id number)",
                                                   file=filename, id=candidate.id, plugin=owner))
    elif owner:
        # Translators: %(source)s is a file name (or "framework 'id'"), %(plugin)s the import plugin's name
        report["problems"].append(MESSAGES.gettext(
            "%(file)s: the framework id '%(id)s' is already imported from %(source)s in %(plugin)s's import folder: "
            "replace that file (and restart), or give this file another title or id number", file=filename,
            id=candidate.id, source=source_label(plugin, candidate.id), plugin=name))
    report["ok"] = not report["problems"]
    return report, framework


def localized(report: dict, locale_dirs: dict[str, str], locale: str | None = None) -> dict:
    """A copy of ``report`` with its problems and notices in ``locale`` (default: the reader's — the
    request's language, or the CLI's), translated in the catalogs of ``locale_dirs`` (the registry's);
    the report itself keeps them as :class:`core.imports.FileMessage`."""
    result = dict(report)
    result["problems"] = localize(list(report.get("problems") or ()), locale, locale_dirs)
    result["notices"] = localize(list(report.get("notices") or ()), locale, locale_dirs)
    return result
