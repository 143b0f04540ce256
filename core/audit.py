"""The audit log: who created, changed, exported or deleted what, and when — ids and actions only.

Entries never hold content (no names, no notes), so the log itself is not a second copy of
personal data. Erasing a person replaces their ids with an anonymised id.
"""
from __future__ import annotations

import time
from typing import Iterable

AUDIT = "audit"
ACTIONS = ("create", "update", "delete", "export", "erase", "import", "sign_in", "sign_out", "token_create",
           "token_revoke", "licence_install", "sign_out_everywhere", "password_change", "view",
           "role_change")


def record(storage, action: str, subject_type: str, subject_id: str | None, actor: str | None = None) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if actor is None:
        actor = current_actor()
    storage.collection(AUDIT).insert(
        {"at": time.time(), "actor": actor, "action": action, "subject_type": subject_type, "subject_id": subject_id}
    )


def current_actor() -> str:
    """The signed-in account's id, or ``cli`` outside a request."""
    from core.auth import current_account

    try:
        acct = current_account()
    except RuntimeError:  # outside a request: the CLI
        acct = None
    return acct.id if acct else "cli"


def entries_about(storage, ids: Iterable[str]) -> list[dict]:
    wanted = set(ids)
    return [e for e in storage.collection(AUDIT).all() if e.get("actor") in wanted or e.get("subject_id") in wanted]


def anonymise(storage, replacements: dict[str, str]) -> None:
    with storage.collection(AUDIT).transaction() as tx:
        anonymise_in(tx, replacements)


def anonymise_in(tx, replacements: dict[str, str]) -> None:
    """Replace ids in actors and subjects, in the caller's transaction or unit of work (an erase)."""
    for entry in tx.all():
        changes = {k: replacements[entry[k]] for k in ("actor", "subject_id") if entry.get(k) in replacements}
        if changes:
            tx.update(entry["id"], changes)
