"""Server-side sign-in sessions: revocable, with an idle and an absolute timeout.

The session cookie (signed by Flask) carries the account id and a random session secret; the
collection ``sessions`` holds one record per signed-in browser, keyed by a SHA-256 of that secret
(the data folder alone is not enough to forge a session)::

    {id, account_id, created_at, last_seen}

A request's session is valid while its record exists, belongs to the cookie's account, was used
within ``SESSION_IDLE_SECONDS`` (default 8 hours) and is younger than ``SESSION_MAX_SECONDS``
(default 7 days). Ending a session deletes its record, so a copied cookie stops working at once
and in every gunicorn worker (they share the storage). ``last_seen`` is written at most once per
:data:`TOUCH_SECONDS`, so an ordinary request costs one indexed read and no write.

:func:`now` is the clock for sessions, sign-in throttling and token expiry (tests replace it).
"""
from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any, Mapping

from core.storage import NotFoundError

SESSIONS = "sessions"
#: how stale ``last_seen`` may get before a request writes it again (idle timeout precision)
TOUCH_SECONDS = 60


def now() -> float:
    return time.time()


def settings_defaults() -> dict[str, Any]:
    return {"SESSION_IDLE_SECONDS": 8 * 3600, "SESSION_MAX_SECONDS": 7 * 24 * 3600}


def check_settings(config: Mapping[str, Any]) -> None:
    """Refuse to start with lifetimes that are not positive whole seconds (idle ≤ absolute)."""
    for key in ("SESSION_IDLE_SECONDS", "SESSION_MAX_SECONDS"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise SystemExit(f"{key} must be a positive number of seconds, got {value!r} (KBP_{key}).")
    if config["SESSION_IDLE_SECONDS"] > config["SESSION_MAX_SECONDS"]:
        raise SystemExit("SESSION_IDLE_SECONDS cannot be longer than SESSION_MAX_SECONDS.")


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def open_session(storage, account_id: str, **about: str) -> str:
    """Record a new session for the account; returns the secret for the cookie (shown nowhere else).
    ``about``: how it was signed in (``method``: ``password`` or ``oidc``, ``provider``)."""
    secret = secrets.token_urlsafe(32)
    t = now()
    storage.collection(SESSIONS).insert({"id": _key(secret), "account_id": account_id, "created_at": t, "last_seen": t,
                                         **about})
    return secret


def get_session(storage, secret: Any) -> dict | None:
    """The session record of a cookie's secret (``None`` when it has ended)."""
    if not isinstance(secret, str) or not secret:
        return None
    return storage.collection(SESSIONS).get(_key(secret))


def _expired(record: Mapping, t: float, config: Mapping[str, Any]) -> bool:
    return t - record["last_seen"] > config["SESSION_IDLE_SECONDS"] or t - record["created_at"] > config["SESSION_MAX_SECONDS"]


def check_session(storage, secret: Any, account_id: Any, config: Mapping[str, Any]) -> bool:
    """Whether the cookie's session is alive; an expired one is deleted, a used one kept fresh."""
    if not isinstance(secret, str) or not secret or not isinstance(account_id, str):
        return False
    sessions = storage.collection(SESSIONS)
    key = _key(secret)
    record = sessions.get(key)
    if record is None or record["account_id"] != account_id:
        return False
    t = now()
    if _expired(record, t, config):
        sessions.delete(key)
        return False
    if t - record["last_seen"] > TOUCH_SECONDS:
        try:
            sessions.update(key, {"last_seen": t})
        except NotFoundError:  # ended by another request in the meantime
            return False
    return True


def end_session(storage, secret: Any) -> None:
    if isinstance(secret, str) and secret:
        storage.collection(SESSIONS).delete(_key(secret))


def end_all(storage, account_id: str, *, keep: str | None = None) -> int:
    """End every session of the account (but ``keep``, the caller's own, when given); returns how many."""
    with storage.collection(SESSIONS).transaction() as tx:
        return end_all_in(tx, account_id, keep=keep)


def end_all_in(tx, account_id: str, *, keep: str | None = None) -> int:
    """:func:`end_all` inside the caller's transaction or unit of work (``uow["sessions"]``)."""
    keep_key = _key(keep) if keep else None
    ended = 0
    for record in tx.find(account_id=account_id):
        if record["id"] != keep_key:
            tx.delete(record["id"])
            ended += 1
    return ended


def prune(storage, config: Mapping[str, Any], account_id: str | None = None) -> int:
    """Delete expired session records (of one account, or all): housekeeping at sign-in."""
    t = now()
    removed = 0
    with storage.collection(SESSIONS).transaction() as tx:
        records = tx.find(account_id=account_id) if account_id else tx.all()
        for record in records:
            if _expired(record, t, config):
                tx.delete(record["id"])
                removed += 1
    return removed
