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
  — no restart. Import folders stay for automation.
"""
from __future__ import annotations

import base64
import secrets
import time

from core import import_preview
from core.i18n import gettext as _
from core.services import audit
from core.services.errors import Invalid, NotFound

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
