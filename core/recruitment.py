"""Rules of the recruitment record and the preparation sheet that the privacy functions of
:mod:`core.people` (export) share with the services (:mod:`core.services.recruitment`,
:mod:`core.services.preparation`): what each reader may see. No permissions or audit here — the
services add those."""
from __future__ import annotations

RECORDS = "recruitment_records"
PREPARATIONS = "preparations"

#: what the employee sees of their own recruitment record: never the ratings or interview notes
EMPLOYEE_RECORD_FIELDS = ("id", "person_id", "role_title", "plans", "version", "created_at", "updated_at")
EMPLOYEE_COMPETENCY_FIELDS = ("competency", "name", "framework", "need")


def record_for_viewer(record: dict, rel: str) -> dict:
    """The record as ``rel`` may see it: the coach and admins everything, the employee the
    competencies and agreed needs only (``interview_notes`` says which)."""
    if rel in ("coach", "admin"):
        return {**record, "interview_notes": "included"}
    return {**{k: record.get(k) for k in EMPLOYEE_RECORD_FIELDS}, "interview_notes": "excluded",
            "competencies": [{k: c.get(k) for k in EMPLOYEE_COMPETENCY_FIELDS} for c in record["competencies"]]}


def visible_answers(sheet: dict | None, rel: str) -> list[dict]:
    """Preparation answers as ``rel`` may see them: the employee all, anyone else the shared ones."""
    answers = (sheet or {}).get("answers", [])
    return answers if rel == "employee" else [a for a in answers if a.get("shared")]


def sheet_for_viewer(sheet: dict, rel: str) -> dict:
    return {**sheet, "answers": visible_answers(sheet, rel)}
