"""Plan exporter to versioned JSON (``plan-json``) and the way back into the KBP API.

``GET /api/v1/plans/<id>/export/plan-json?lang=sv|en`` returns ``application/json``::

    {"format": "kbp-plan/1", "id": …, "language": "sv", "person": {…}, "focus": [...], "activities": [...], …}

The shape is published as a JSON Schema (draft 2020-12) at
``docs/schemas/plan-export-v1.schema.json``; the test suite validates every export against it with
format checking on. Text is in the export's ``language`` (the plan's snapshot in that language);
codes (``situation``, ``mode``, ``status``, ``kind``, ``effort``) are KBP's stable codes, not
labels; dates are ``YYYY-MM-DD``; timestamps ISO 8601 in UTC. A change of shape gets a new
``format`` (``kbp-plan/2``) and a new schema file — ``kbp-plan/1`` files stay readable.

:func:`import_plan_document` turns an export back into the bodies of the API calls that recreate
the plan (on this or another installation)::

    calls = import_plan_document(exported)
    plan = client.post("/api/v1/plans", json=calls["create"]).json()
    client.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], **calls["update"]})

What comes back: person, situation, mode, focus competencies, goals, the chosen questions (own
questions as text), activities (title, description, kind, competency, owner, due date, status) and
the next follow-up date. What does not: ids and timestamps (new ones are made), question notes,
agreement and held follow-ups (they happen in the new plan's own history), an activity's effort
(the API takes none; written activities get the default) and the link to the activity source
(activities come back as written text, so they survive a framework that is no longer installed).
"""
from __future__ import annotations

import json
from typing import Any

from core import hookimpl
from core.model import Exporter
from plugins.export_plan_text.plandoc import N_, iso_datetime

__version__ = "1.0.0"

FORMAT = "kbp-plan/1"
SCHEMA_ID = "urn:kbp:schemas:plan-export-v1"
SCHEMA_PATH = "docs/schemas/plan-export-v1.schema.json"


def to_export(document: dict[str, Any]) -> dict[str, Any]:
    """The ``kbp-plan/1`` object for a plan document (no translation needed: text comes translated)."""
    meta = document.get("meta") or {}
    coach = document.get("coach")
    agreed = document.get("agreed") or {}
    return {
        "format": FORMAT,
        "id": document["id"],
        "version": document["version"],
        "language": document["language"],
        "person": {"id": document["person"]["id"], "name": document["person"].get("name", ""),
                   "job_title": document["person"].get("job_title", "")},
        "coach": {"id": coach["id"], "name": coach.get("name", "")} if coach else None,
        "mode": document["mode"],
        "situation": document["situation"],
        "status": document["status"],
        "agreed": {"employee": iso_datetime(agreed.get("employee")), "coach": iso_datetime(agreed.get("coach"))},
        "follow_up_date": document.get("follow_up_date"),
        "focus": [{"competency": f["competency"], "framework": f.get("framework", ""), "name": f.get("name", ""),
                   "definition": f.get("definition", ""), "goal": f.get("goal", ""),
                   **({"path": list(f["path"])} if f.get("path") else {})} for f in document.get("focus", [])],
        "questions": [{"id": q["id"], "competency": q.get("competency", ""), "kind": q["kind"], "text": q.get("text", ""),
                       "note": q.get("note", ""), "shared": bool(q.get("shared", True))} for q in document.get("questions", [])],
        "activities": [{"id": a["id"], "competency": a.get("competency", ""), "title": a.get("title", ""),
                        "description": a.get("description", ""), "kind": a["kind"], "effort": a.get("effort", ""),
                        "owner": a.get("owner", ""), "due": a.get("due"), "status": a["status"],
                        "source": a.get("source", "")} for a in document.get("activities", [])],
        "follow_ups": [{"at": iso_datetime(f.get("at")), "note": f.get("note", "")} for f in document.get("follow_ups", [])],
        "created_at": iso_datetime(document.get("created_at")),
        "updated_at": iso_datetime(document.get("updated_at")),
        "meta": {"generator": meta.get("generator", ""), "demo": bool(meta.get("demo")),
                 "exported_at": meta.get("exported_at", "")},
    }


class PlanJSON(Exporter):
    id = "plan-json"
    title = N_("Development plan (JSON)")
    subject = "plan"
    media_type = "application/json"
    extension = "json"
    domain = "messages"

    def export(self, document: dict, locale: str) -> bytes:
        return json.dumps(to_export(document), ensure_ascii=False, indent=2).encode("utf-8")


class PlanImportError(ValueError):
    """Not a ``kbp-plan/1`` export (the message says what is wrong)."""


def import_plan_document(document: dict[str, Any], person_id: str | None = None, questions: bool = True) -> dict[str, Any]:
    """The API bodies that recreate an exported plan: ``{"create": …, "update": …}``.

    ``create`` is the body of ``POST /api/v1/plans``; ``update`` that of ``PATCH /api/v1/plans/<id>``
    (add the new plan's ``version``). ``person_id`` replaces the exported person's id (another
    installation has other ids). ``questions=False`` leaves the chosen questions out: suggested
    questions are referred to by id, so they must be installed where the plan is recreated; own
    questions come back as text either way when ``questions`` is true.
    Raises :class:`ValueError` for anything that is not a ``kbp-plan/1`` document.
    """
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise PlanImportError(f"not a {FORMAT} document (format: {found!r})")
    for key in ("person", "situation", "mode", "focus", "activities"):
        if key not in document:
            raise PlanImportError(f"{FORMAT} document without '{key}'")
    focus = [f["competency"] for f in document["focus"]]
    create = {"person_id": person_id or document["person"]["id"], "situation": document["situation"], "mode": document["mode"]}
    update: dict[str, Any] = {}
    if focus:
        update["focus"] = focus
        update["goals"] = {f["competency"]: f.get("goal", "") for f in document["focus"] if f.get("goal")}
    if questions:
        update["questions"] = [q["id"] for q in document.get("questions", []) if q.get("kind") != "own"]
        update["own_questions"] = [{"text": q["text"], "competency": q.get("competency", "")}
                                   for q in document.get("questions", []) if q.get("kind") == "own" and q.get("text")]
    update["activities"] = [
        {key: value for key, value in (
            ("title", a["title"]),
            ("description", a.get("description", "")),
            ("kind", a.get("kind")),
            ("competency", a.get("competency") or None),
            ("owner", a.get("owner", "")),
            ("due", a.get("due")),
            ("status", a.get("status")),
        ) if value is not None}
        for a in document["activities"]
    ]
    update["follow_up_date"] = document.get("follow_up_date")
    return {"create": create, "update": update}


@hookimpl
def kbp_exporters():
    return [PlanJSON()]
