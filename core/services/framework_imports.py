"""Importing a framework file (CASE package, Moodle competency CSV) while KBP runs: preview, then confirm.

The page ``/admin/framework-import`` and the API (``POST /api/v1/framework-imports/preview``, ``POST
/api/v1/framework-imports``) call these functions; the rules are here once:

* administrators only; every import is an audit entry (``import`` / ``framework``);
* the file is checked exactly as a file in an import folder (:func:`core.import_preview.read_and_check`:
  the import plugin's own checks, the content schema, licensed content, id clashes), and a file with
  any problem is refused with those problems — nothing is written;
* the problems and notices come back in the reader's language (the request's, or the CLI's:
  :func:`core.import_preview.localized`); a stored import keeps its notices in English, the
  source text;
* a previewed file is kept in the store (collection ``framework_uploads``) until it is imported or a
  day has passed, so "Import" after "Check" imports exactly the file that was checked, through
  whichever server the confirmation reaches;
* the imported framework is kept in the store (collection ``framework_imports``, one record per
  framework id; importing the same id again replaces it) and every server's catalogue picks it up at
  its next request through the collection's revision (:meth:`core.registry.Registry.sync_stored_imports`)
  — no restart. Import folders stay for automation;
* a framework imported this way can be removed again (:func:`remove`, admin): only such a framework
  (a plugin's, or one from a file in an import folder, is refused with what to do instead); while plans
  or in-house activities use its competencies only with ``confirmed`` (the page asks first, the API
  answers 409 ``framework_in_use`` with the counts, the command line asks unless ``--yes``). Plans keep
  their copies of the names, so they stay readable and exportable; in-house activities keep their links
  (they no longer show under its competencies, and do again if the framework is imported again). The
  record and the ``delete`` / ``framework`` audit entry are one commit; every server's catalogue (and
  its search) drops the framework at its next request.
"""
from __future__ import annotations

import base64
import secrets
import time

from core import import_preview, imports
from core.i18n import gettext as _, ngettext
from core.services import audit
from core.services.errors import Conflict, Invalid, NotFound

IMPORTS = "framework_imports"
UPLOADS = "framework_uploads"
#: how long a checked file waits for its confirmation
UPLOAD_LIFETIME = 24 * 3600


def sync(state) -> bool:
    """Bring this server's catalogue up to date with the stored imports (cheap when nothing changed)."""
    return state.registry.sync_stored_imports(state.storage.collection(IMPORTS))


def _unsupported(filename: str) -> Invalid:
    return Invalid(_("'%(name)s' is neither a CASE package (.json) nor a Moodle competency CSV (.csv).", name=filename),
                   {"file": [filename]})


def preview(state, actor, filename: str, data: bytes, keep: bool = True) -> dict:
    """What importing the file would give (admin), without importing it. A file that can be imported
    is kept for its confirmation (unless ``keep`` is False): ``upload`` is the id to confirm it with."""
    audit.require(actor, "admin")
    sync(state)
    report, _framework = import_preview.read_and_check(state.registry, state.plugins, filename, data)
    if report["format"] is None:
        raise _unsupported(filename)
    report["upload"] = None
    if report["ok"] and keep:
        uploads = state.storage.collection(UPLOADS)
        now = time.time()
        for old in uploads.all():  # forgotten checks do not pile up
            if old.get("at", 0) < now - UPLOAD_LIFETIME:
                uploads.delete(old["id"])
        report["upload"] = secrets.token_urlsafe(16)
        uploads.insert({"id": report["upload"], "filename": filename, "data": base64.b64encode(bytes(data)).decode("ascii"),
                        "by": audit.actor_id(actor), "at": now})
    return import_preview.localized(report, state.registry.locale_dirs)


def uploaded_file(state, actor, upload_id: str) -> tuple[str, bytes]:
    """(file name, bytes) of a checked file waiting for its confirmation."""
    audit.require(actor, "admin")
    record = state.storage.collection(UPLOADS).get(upload_id or "") if upload_id else None
    if record is None or record.get("at", 0) < time.time() - UPLOAD_LIFETIME:
        raise NotFound(_("The checked file is no longer waiting to be imported (after a day it is forgotten); "
                         "check the file again."))
    return record["filename"], base64.b64decode(record["data"])


def confirm(state, actor, *, upload_id: str | None = None, filename: str = "", data: bytes = b"") -> dict:
    """Import a file (admin): a checked one by its ``upload_id``, or ``filename`` and ``data`` directly.

    The file is checked again (the catalogue may have changed since the preview); a file with any
    problem is refused with the problems (``errors["file"]``) and nothing is written. Returns the
    preview report of what was imported. The framework is in this server's catalogue at once and in
    every other server's at its next request.
    """
    audit.require(actor, "admin")
    if upload_id:
        filename, data = uploaded_file(state, actor, upload_id)
    if not filename or not data:
        raise Invalid(_("Send a CASE package (.json) or a Moodle competency CSV (.csv) as the form field 'file'."),
                      {"file": [""]})
    sync(state)
    report, framework = import_preview.read_and_check(state.registry, state.plugins, filename, data)
    if report["format"] is None:
        raise _unsupported(filename)
    if not report["ok"] or framework is None:
        problems = import_preview.localized(report, state.registry.locale_dirs)["problems"]
        raise Invalid(_("'%(name)s' cannot be imported: %(problems)s", name=filename, problems=" ".join(problems)),
                      {"file": problems})
    storage = state.storage
    record = {"id": framework["id"], "filename": filename, "format": report["format"], "plugin": report["plugin"],
              "framework": framework, "notices": list(report["notices"]), "imported_by": audit.actor_id(actor),
              "imported_at": time.time()}
    with storage.unit_of_work(IMPORTS, UPLOADS, audit.AUDIT) as uow:
        uow[IMPORTS].upsert(record)
        if upload_id:
            uow[UPLOADS].delete(upload_id)
        uow[audit.AUDIT].insert(audit.entry(actor, "import", "framework", framework["id"]))
    sync(state)
    report["upload"] = None
    return import_preview.localized(report, state.registry.locale_dirs)


# ----------------------------------------------------------------------------- removing an imported framework


def listing(state, actor) -> list[dict]:
    """The frameworks imported in KBP (admin), oldest first: ``id``, ``name``, ``filename``, ``imported_at``
    and ``in_use`` (False when the catalogue leaves it out: a plugin or licence now provides its id)."""
    audit.require(actor, "admin")
    sync(state)
    shown = state.registry.stored_imports
    return [{"id": r["id"], "name": (r.get("framework") or {}).get("name") or r["id"], "filename": r.get("filename", ""),
             "imported_at": r.get("imported_at", 0), "in_use": r["id"] in shown}
            for r in sorted(state.storage.collection(IMPORTS).all(), key=lambda r: (r.get("imported_at", 0), r["id"]))]


def _uses(state, framework_id: str) -> dict[str, int]:
    """How many plans, recruitment records and in-house activities (archived ones included) refer
    to a competency of ``framework_id``."""
    from core.recruitment import RECORDS

    prefix = framework_id + ":"

    def refers(items, key: str | None) -> bool:
        return any(str(item.get(key, "") if key else item).startswith(prefix) for item in items or ())

    storage = state.storage
    plans = sum(storage.collection("plans").map_readonly(lambda plan: refers(plan.get("focus"), "competency")))
    records = sum(storage.collection(RECORDS).map_readonly(lambda rec: refers(rec.get("competencies"), "competency")))
    activities = 0
    for source in state.registry.activity_sources.values():
        if getattr(source, "writable", False):
            activities += sum(1 for record in source.records(include_archived=True)
                              if refers(record.get("competencies"), None))
    return {"plans": plans, "recruitment": records, "activities": activities}


def removal(state, actor, framework_id: str) -> dict:
    """What removing ``framework_id`` would touch (admin), asked before :func:`remove`: ``id``,
    ``name``, ``filename``, ``plans``, ``recruitment`` and ``activities`` (how many use its competencies). A framework
    that is not imported through KBP is a :class:`Conflict` (``framework_from_plugin``) saying what to
    do instead; an unknown id a :class:`NotFound`."""
    audit.require(actor, "admin")
    sync(state)
    registry = state.registry
    record = state.storage.collection(IMPORTS).get(framework_id) if framework_id else None
    if record is None:
        fw = registry.frameworks.get(framework_id)
        if fw is None:
            raise NotFound(_("There is no framework '%(id)s'.", id=framework_id))
        plugin = registry.owner.get(("framework", framework_id), fw.plugin) or ""
        if imports.is_importer(state.plugins.pm.get_plugin(plugin) if state.plugins.pm.has_plugin(plugin) else None):
            raise Conflict(_("The framework '%(name)s' comes from a file in an import folder, not from an import "
                             "in KBP: remove the file from the folder and restart KBP.", name=fw.name),
                           code="framework_from_plugin")
        raise Conflict(_("The framework '%(name)s' is provided by the plugin '%(plugin)s', not imported in KBP, so "
                         "it cannot be removed here: disable the plugin instead (kbp plugins disable %(plugin)s).",
                         name=fw.name, plugin=plugin), code="framework_from_plugin")
    # a record the catalogue leaves out (a plugin or licence now provides its id) changes nothing for them
    uses = (_uses(state, framework_id) if framework_id in registry.stored_imports
            else {"plans": 0, "recruitment": 0, "activities": 0})
    return {"id": framework_id, "name": (record.get("framework") or {}).get("name") or framework_id,
            "filename": record.get("filename", ""), **uses}


def usage_sentence(found: dict) -> str:
    """"2 plans use its competencies, and 1 in-house activity." (with recruitment records when any
    do: "..., 1 recruitment record and 1 in-house activity.") — the counts as every caller says them."""
    plans = ngettext("%(num)d plan uses its competencies", "%(num)d plans use its competencies", found["plans"])
    activities = ngettext("%(num)d in-house activity", "%(num)d in-house activities", found["activities"])
    if found.get("recruitment"):
        return _("%(plans)s, %(records)s and %(activities)s.", plans=plans, activities=activities,
                 records=ngettext("%(num)d recruitment record", "%(num)d recruitment records", found["recruitment"]))
    return _("%(plans)s, and %(activities)s.", plans=plans, activities=activities)


def in_use(found: dict) -> bool:
    return bool(found["plans"] or found["recruitment"] or found["activities"])


def remove(state, actor, framework_id: str, confirmed: bool = False) -> dict:
    """Remove a framework imported through the page, the API or the command line (admin); returns
    what :func:`removal` says about it. While plans, recruitment records or in-house activities use its competencies, only
    when ``confirmed`` (else a :class:`Conflict` ``framework_in_use`` with the counts; nothing is
    removed). Plans keep their copies of its names; activities keep their links. The removal and its
    audit entry are one commit; the framework is gone from this server's catalogue at once and from
    every other server's at its next request."""
    found = removal(state, actor, framework_id)
    if in_use(found) and not confirmed:
        raise Conflict(_("The framework '%(name)s' is in use: %(uses)s Plans and recruitment records keep their copies "
                         "of its names and in-house activities keep their links. Confirm to remove it anyway (API: "
                         "confirm=true).",
                         name=found["name"], uses=usage_sentence(found)),
                       {"confirm": [usage_sentence(found)]}, code="framework_in_use")
    with state.storage.unit_of_work(IMPORTS, audit.AUDIT) as uow:
        uow[IMPORTS].delete(framework_id)
        uow[audit.AUDIT].insert(audit.entry(actor, "delete", "framework", framework_id))
    sync(state)
    return found
