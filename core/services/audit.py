"""The audit log as a service: entries are written by the service that made the change (through
:func:`record`, or :func:`entry` inside its unit of work) and read by administrators."""
from __future__ import annotations

import time

from core import audit as rules
from core.i18n import gettext as _
from core.services.errors import Forbidden, Unauthenticated

AUDIT = rules.AUDIT


def actor_id(actor) -> str:
    """The id the log shows for ``actor``: an account id, or ``cli`` for the console."""
    if actor is None:
        return rules.current_actor()
    return actor if isinstance(actor, str) else actor.id


def require(actor, role: str) -> None:
    """The permission check every service makes: signed in, and at least ``role``."""
    if actor is None:
        raise Unauthenticated(_("Sign in to continue."))
    if not actor.at_least(role):
        raise Forbidden(_("You do not have permission to do this."))


def entry(actor, action: str, subject_type: str, subject_id: str | None, details: dict | None = None) -> dict:
    """An audit record to insert in the caller's own unit of work (``uow["audit"].insert(...)``).
    ``details``: a few words about how, never content (a sign-in's method and provider, a role's change)."""
    if action not in rules.ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    record = {"at": time.time(), "actor": actor_id(actor), "action": action, "subject_type": subject_type,
              "subject_id": subject_id}
    if details:
        record["details"] = dict(details)
    return record


def record(storage, actor, action: str, subject_type: str, subject_id: str | None, details: dict | None = None) -> None:
    """Write one audit entry on its own (for actions that change nothing else)."""
    storage.collection(AUDIT).insert(entry(actor, action, subject_type, subject_id, details))


def entries(storage, actor, limit: int = 200) -> list[dict]:
    """The newest ``limit`` entries (admin)."""
    require(actor, "admin")
    return sorted(storage.collection(AUDIT).all(), key=lambda e: e["at"], reverse=True)[:limit]
