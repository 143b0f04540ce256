"""Accounts, passwords, sessions, sign-in and API tokens: the service the API, the pages and the CLI call.

The rules (password strength, throttling, token format, session lifetimes) stay in :mod:`core.auth`
and :mod:`core.sessions`; this module adds who may do it, the audit entry, and units of work: an
account change and the end of its sessions (and, on a password reset, the revocation of its
tokens) are ONE commit.
"""
from __future__ import annotations

from typing import Any

from core import auth, sessions
from core.auth import ACCOUNTS, TOKENS, Account
from core.i18n import gettext as _
from core.services import audit
from core.services.errors import Conflict, Forbidden, Invalid, NotFound, translated

#: the operator at the console (``kbp users …``): acts with an administrator's rights, logged as ``cli``
CLI = Account(id="cli", username="cli", role="admin", person_id=None)

PEOPLE = "people"
SESSIONS = sessions.SESSIONS
AUDIT = audit.AUDIT


def _signed_in(actor: Account | None) -> Account:
    audit.require(actor, "employee")
    return actor


def _get_account(reader, account_id: Any) -> dict:
    record = reader.get(account_id) if isinstance(account_id, str) and account_id else None
    if record is None:
        raise NotFound(_("No such account."))
    return record


# ----------------------------------------------------------------------------- me


def me(storage, actor: Account | None) -> dict:
    """The signed-in account (public fields) and its person."""
    actor = _signed_in(actor)
    record = _get_account(storage.collection(ACCOUNTS), actor.id)
    person = storage.collection(PEOPLE).get(actor.person_id) if actor.person_id else None
    return {"account": auth.public_account(record), "person": person}


# ----------------------------------------------------------------------------- accounts (admin)


def list_accounts(storage, actor: Account | None) -> list[dict]:
    audit.require(actor, "admin")
    return [auth.public_account(a) for a in storage.collection(ACCOUNTS).all()]


def accounts_overview(storage, actor: Account | None) -> dict:
    """What the accounts page shows: every account, person names, the people to link to (admin)."""
    audit.require(actor, "admin")
    everyone = storage.collection(PEOPLE).all()
    return {"accounts": storage.collection(ACCOUNTS).all(),
            "names": {p["id"]: p["name"] for p in everyone},
            "people": sorted(everyone, key=lambda p: p["name"].lower())}


def create_account(storage, actor: Account | None, *, username: str, password: str, role: str,
                   person_id: str | None = None) -> dict:
    """Create an account (admin), linked to an existing person or to none. Returns the public account."""
    audit.require(actor, "admin")
    with translated():
        record = auth.new_account(username=username, password=password, role=role, person_id=person_id or None)
    with storage.unit_of_work(ACCOUNTS, PEOPLE, AUDIT) as uow:
        if record["person_id"] and uow[PEOPLE].get(record["person_id"]) is None:
            raise Invalid(_("No such person."), {"person_id": [_("No person with this id.")]})
        with translated():
            stored = auth.insert_account(uow[ACCOUNTS], record)
        uow[AUDIT].insert(audit.entry(actor, "create", "account", stored["id"]))
    return auth.public_account(stored)


def person_account(storage, actor: Account | None, person_email: str) -> str:
    """The id of the person with this e-mail address, for linking an account to them (admin)."""
    audit.require(actor, "admin")
    found = storage.collection(PEOPLE).find(email=(person_email or "").strip().lower())
    if not found:
        raise Invalid(_("No person with the e-mail address %(email)s.", email=person_email),
                      {"person_id": [_("No person with this id.")]})
    return found[0]["id"]


def update_account(storage, actor: Account | None, account_id: str, changes: dict) -> dict:
    """Change an account's role, active flag or password (admin). Any change ends its sessions; a
    password reset also revokes its tokens — in the same commit as the change. Returns the public account."""
    audit.require(actor, "admin")
    changes = dict(changes)
    current = _get_account(storage.collection(ACCOUNTS), account_id)
    allowed = {k: v for k, v in changes.items() if k in ("role", "active")}
    with translated():
        if "role" in allowed:
            auth.check_role(allowed["role"])
        if "password" in changes:  # the slow hash before any lock is taken
            allowed["password_hash"] = auth.new_password_hash(changes["password"], current["username"])
    with storage.unit_of_work(ACCOUNTS, SESSIONS, TOKENS, AUDIT) as uow:
        _get_account(uow[ACCOUNTS], account_id)
        if allowed:
            updated = uow[ACCOUNTS].update(account_id, allowed)
            sessions.end_all_in(uow[SESSIONS], account_id)
        else:
            updated = current
        if "password_hash" in allowed:
            auth.revoke_tokens_in(uow[TOKENS], account_id)
        uow[AUDIT].insert(audit.entry(actor, "update", "account", account_id))
    return auth.public_account(updated)


def reset_password(storage, actor: Account | None, username: str, password: str) -> dict:
    """An administrator's (or the console's) password reset by sign-in name: every session ends and
    every API token is revoked."""
    audit.require(actor, "admin")
    with translated():
        record = auth.find_account(storage, username)
    update_account(storage, actor, record["id"], {"password": password})
    return auth.public_account(record)


def delete_account(storage, actor: Account | None, account_id: str) -> None:
    """Delete an account with its tokens and sessions, in one commit (admin); the person stays."""
    audit.require(actor, "admin")
    if account_id == actor.id:
        raise Conflict(_("You cannot delete your own account."))
    with storage.unit_of_work(ACCOUNTS, TOKENS, SESSIONS, AUDIT) as uow:
        if not (isinstance(account_id, str) and account_id and uow[ACCOUNTS].delete(account_id)):
            raise NotFound(_("No such account."))
        auth.delete_tokens_in(uow[TOKENS], account_id)
        sessions.end_all_in(uow[SESSIONS], account_id)
        uow[AUDIT].insert(audit.entry(actor, "delete", "account", account_id))


def end_sessions_of(storage, actor: Account | None, username: str) -> int:
    """End every session of an account by sign-in name (an administrator's *sign out everywhere*)."""
    audit.require(actor, "admin")
    with translated():
        record = auth.find_account(storage, username)
    with storage.unit_of_work(SESSIONS, AUDIT) as uow:
        ended = sessions.end_all_in(uow[SESSIONS], record["id"])
        uow[AUDIT].insert(audit.entry(actor, "sign_out_everywhere", "account", record["id"]))
    return ended


def set_overview_grant(storage, actor: Account | None, username: str, granted: bool) -> dict:
    """Give (or take back) the overview — the "HR" permission — for an account by sign-in name
    (admin): the change and its audit entry are one commit. Returns the public account."""
    from core import overview

    audit.require(actor, "admin")
    with storage.unit_of_work(ACCOUNTS, AUDIT) as uow:
        try:
            updated = overview.set_grant(uow[ACCOUNTS], username, granted)
        except overview.OverviewError as exc:
            raise NotFound(str(exc)) from None
        uow[AUDIT].insert(audit.entry(actor, "update", "account", updated["id"]))
    return auth.public_account(updated)


# ----------------------------------------------------------------------------- sign-in and own sessions


def sign_in(storage, username: str, password: str) -> dict:
    """Check a sign-in (throttled), start a fresh server-side session, audit it. Returns the account."""
    with translated():
        record = auth.authenticate(username, password)
    auth.start_session(record, method="password")
    audit.record(storage, record["id"], "sign_in", "account", record["id"], {"method": "password"})
    return record


def sign_out(storage, actor: Account | None) -> None:
    """End this session (on the server too)."""
    if actor is not None:
        audit.record(storage, actor, "sign_out", "account", actor.id)
    auth.end_session()


def sign_out_everywhere(storage, actor: Account | None) -> int:
    """End every session of the actor's account, this one included; returns how many ended."""
    actor = _signed_in(actor)
    if actor.via_token:
        raise Forbidden(_("Sign out everywhere while signed in, not with an API token."))
    with storage.unit_of_work(SESSIONS, AUDIT) as uow:
        ended = sessions.end_all_in(uow[SESSIONS], actor.id)
        uow[AUDIT].insert(audit.entry(actor, "sign_out_everywhere", "account", actor.id))
    return ended


def change_own_password(storage, actor: Account | None, current: Any, new: Any, *, keep_session: str | None,
                        again: Any = None) -> None:
    """Self-service password change (``again``: the repeated new password from a form, when asked).
    The account's other sessions end in the same commit; ``keep_session`` (the caller's) goes on."""
    actor = _signed_in(actor)
    if again is not None and again != new:
        message = _("The two new passwords do not match.")
        raise Invalid(message, {"new_password_again": [message]})
    with translated():
        password_hash = auth.check_own_password_change(storage, actor, current, new)
    with storage.unit_of_work(ACCOUNTS, SESSIONS, AUDIT) as uow:
        uow[ACCOUNTS].update(actor.id, {"password_hash": password_hash})
        sessions.end_all_in(uow[SESSIONS], actor.id, keep=keep_session)
        uow[AUDIT].insert(audit.entry(actor, "password_change", "account", actor.id))


# ----------------------------------------------------------------------------- API tokens


def tokens(storage, actor: Account | None) -> list[dict]:
    """The actor's own tokens (never their secrets), each with its ``state``."""
    actor = _signed_in(actor)
    return [{**auth.public_token(t), "state": auth.token_state(t)}
            for t in storage.collection(TOKENS).find(account_id=actor.id)]


def issue_token(storage, actor: Account | None, name: str, role: str | None = None,
                expires_in_days: int | None = None, *, account_id: str | None = None) -> tuple[dict, str]:
    """Create an API token for the actor's own account — or, for the console, for ``account_id``.
    A token cannot mint tokens. Returns (the public token, its text shown once)."""
    actor = _signed_in(actor)
    if actor.via_token:
        raise Forbidden(_("Create API tokens while signed in, not with another token."))
    if account_id is not None and account_id != actor.id:
        audit.require(actor, "admin")
    account = _get_account(storage.collection(ACCOUNTS), account_id or actor.id)
    with translated():
        record, text = auth.new_token(account, name, role, expires_in_days)
    with storage.unit_of_work(TOKENS, AUDIT) as uow:
        uow[TOKENS].insert(record)
        uow[AUDIT].insert(audit.entry(actor, "token_create", "api_token", record["id"]))
    return auth.public_token(record), text


def issue_token_for(storage, actor: Account | None, username: str, name: str, role: str | None = None) -> tuple[dict, str]:
    """The console's ``kbp tokens create --user NAME``."""
    audit.require(actor, "admin")
    found = storage.collection(ACCOUNTS).find(username=auth.normalise_username(username))
    if not found or not found[0].get("active", True):
        raise NotFound(_("There is no active account '%(name)s' (kbp users create makes one).", name=username))
    return issue_token(storage, actor, name, role, account_id=found[0]["id"])


def revoke_token(storage, actor: Account | None, token_id: Any) -> None:
    """Revoke one of the actor's own tokens; anyone else's answers like a missing one (404)."""
    actor = _signed_in(actor)
    with storage.unit_of_work(TOKENS, AUDIT) as uow:
        record = uow[TOKENS].get(token_id) if isinstance(token_id, str) and token_id else None
        if record is None or record["account_id"] != actor.id:
            raise NotFound(_("No such token."))
        uow[TOKENS].update(token_id, {"revoked": True})
        uow[AUDIT].insert(audit.entry(actor, "token_revoke", "api_token", token_id))
