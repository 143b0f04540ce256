"""Labels of fixed values (situations, kinds, roles, states …) for the pages, translated per request."""
from __future__ import annotations

from flask import g

from core.i18n import gettext as _

SITUATION_LABELS = {
    "role_changes": "The role changes",
    "new_role": "Growing into a new role",
    "recruited_need": "Recruited with a development need",
    "grow_further": "Growing further",
}
KIND_LABELS = {
    "on_the_job": "On the job",
    "learning_from_others": "Learning from others",
    "training": "Training",
    "reflection": "Reflection",
}
EFFORT_LABELS = {
    "hours": "A few hours",
    "days": "A few days",
    "weeks": "A few weeks",
    "months": "A few months",
}
DIRECTION_LABELS = {"back": "Looking back", "now": "Now", "ahead": "Looking ahead"}
QUESTION_KIND_LABELS = {"coaching": "Coaching questions", "self_reflection": "Self-reflection questions",
                        "interview": "Interview questions", "follow_up": "Follow-up questions"}
COMPETENCY_PAGE_ACTIVITIES = 30  # the rest are one click away in the search
PLAN_SUGGESTIONS_SHOWN = 30  # suggested activities on the plan's activity step, and how many more a click shows
HISTORY_LABELS = {"create": "started", "update": "changed", "note": "note saved", "agree": "confirmed",
                  "activity_status": "activity status changed", "follow_up": "follow-up recorded",
                  "coach_change": "coach changed"}
FIELD_LABELS = {"focus": "focus competencies", "questions": "questions", "activities": "activities", "goals": "goals",
                "activity_status": "activity status",
                "follow_up_date": "follow-up date", "follow_ups": "follow-ups", "status": "status", "agreed": "agreement",
                "coach_id": "coach"}
ROLE_LABELS = {"admin": "Administrator", "coach": "Coach", "employee": "Employee"}
STATE_LABELS = {
    "active": "Active",
    "disabled": "Disabled",
    "failed": "Failed",
    "unlicensed": "Installed, not licensed",
    "pending": "Pending",
}


def _mark_for_extraction() -> None:
    """Label values are msgids: listed here so ``kbp i18n extract`` finds them."""
    _("The role changes"), _("Growing into a new role"), _("Recruited with a development need")
    _("Growing further"), _("On the job"), _("Learning from others"), _("Training"), _("Reflection")
    _("A few hours"), _("A few days"), _("A few weeks"), _("A few months")
    _("Looking back"), _("Now"), _("Looking ahead"), _("Coaching questions"), _("Self-reflection questions")
    _("Interview questions"), _("Follow-up questions")
    _("Active"), _("Disabled"), _("Failed"), _("Installed, not licensed"), _("Pending")
    _("Administrator"), _("Coach"), _("Employee"), _("In-house activities"), _("Activity files")
    _("started"), _("changed"), _("note saved"), _("confirmed"), _("activity status changed"), _("follow-up recorded"), _("coach changed")
    _("focus competencies"), _("questions"), _("activities"), _("goals"), _("follow-up date"), _("follow-ups"), _("status")
    _("agreement"), _("activity status"), _("coach")


def label(table: dict[str, str], key: str) -> str:
    """The translated label for ``key``; memoised per request (long lists call it thousands of times)."""
    if key not in table:
        return key
    cache = g.setdefault("_kbp_labels", {})
    msgid = table[key]
    if msgid not in cache:
        cache[msgid] = _(msgid)
    return cache[msgid]
