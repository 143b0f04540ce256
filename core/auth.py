"""Accounts, sign-in, API tokens and who-is-asking for every request.

* **Accounts** (collection ``accounts``) link a sign-in name to a role — ``admin``, ``coach`` or
  ``employee`` — and to a person. Passwords are hashed with scrypt (Werkzeug's
  ``generate_password_hash``); a clear-text password is never stored or logged.
* **Sessions** are Flask's signed cookie (``HttpOnly``, ``SameSite=Lax``, ``Secure`` when the
  request came over HTTPS) carrying the account id and the account's ``session_epoch``: signing
  out everywhere, a password change or an erase bumps the epoch and old cookies stop working.
* **API tokens** (collection ``api_tokens``) look like ``kbp_<id>_<secret>``; only a SHA-256 of the
  secret is stored. A token acts with a role no higher than its account's and can be revoked.
* **Brute force**: failed sign-ins are counted per account name and per client address
  (collection ``login_throttle``); after ``LOGIN_MAX_FAILURES`` within ``LOGIN_WINDOW_SECONDS`` both
  are locked for ``LOGIN_LOCK_SECONDS`` with a message saying how long. Unknown names cost the same
  hash work as known ones and get the same message, so sign-in reveals nothing about who exists.

:func:`load_user` runs before every request and sets ``g.account`` (or ``None``); the permission
checks in :mod:`core.access` decide what that account may see.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, request, session
from werkzeug.security import check_password_hash, generate_password_hash

from core.i18n import gettext as _

ROLES = ("employee", "coach", "admin")
ROLE_RANK = {role: i for i, role in enumerate(ROLES)}
ACCOUNTS = "accounts"
TOKENS = "api_tokens"
THROTTLE = "login_throttle"
HASH_METHOD = "scrypt:32768:8:1"
MIN_PASSWORD_LENGTH = 10
#: spent on unknown names so that timing does not tell whether an account exists
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8), method=HASH_METHOD)


class AuthError(Exception):
    """A sign-in or account problem a person can act on (the message is translated)."""


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    role: str
    person_id: str | None
    locale: str | None = None
    via_token: bool = False

    def at_least(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def _storage():
    from core.context import kbp

    return kbp().storage


def _now() -> float:
    return time.time()


# ----------------------------------------------------------------------------- passwords and accounts


def hash_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(_("A password needs at least %(num)d characters.", num=MIN_PASSWORD_LENGTH))
    return generate_password_hash(password, method=HASH_METHOD)


def normalise_username(username: str) -> str:
    return (username or "").strip().lower()


def create_account(storage, *, username: str, password: str, role: str, person_id: str | None = None) -> dict:
    username = normalise_username(username)
    if not username or len(username) > 200:
        raise AuthError(_("Give a sign-in name (usually an e-mail address)."))
    if role not in ROLES:
        raise AuthError(_("Unknown role '%(role)s'. Use one of: %(roles)s.", role=role, roles=", ".join(ROLES)))
    accounts = storage.collection(ACCOUNTS)
    with accounts.transaction() as tx:
        if tx.find(username=username):
            raise AuthError(_("An account named '%(name)s' exists already.", name=username))
        if person_id and tx.find(person_id=person_id):
            raise AuthError(_("That person already has an account."))
        return tx.insert(
            {
                "username": username,
                "password_hash": hash_password(password),
                "role": role,
                "person_id": person_id,
                "active": True,
                "session_epoch": 0,
                "created_at": _now(),
            }
        )


def set_password(storage, account_id: str, password: str) -> None:
    accounts = storage.collection(ACCOUNTS)
    with accounts.transaction() as tx:
        record = tx.get(account_id)
        if record is None:
            raise AuthError(_("No such account."))
        tx.update(account_id, {"password_hash": hash_password(password), "session_epoch": record["session_epoch"] + 1})


def public_account(record: dict) -> dict:
    """An account as the API shows it: never the hash."""
    return {k: record.get(k) for k in ("id", "username", "role", "person_id", "active", "created_at")}


# ----------------------------------------------------------------------------- throttling


def _throttle_keys(username: str, address: str) -> list[str]:
    digest = hashlib.sha256(username.encode("utf-8")).hexdigest()[:24]  # no names in the throttle file
    return [f"acct-{digest}", f"addr-{hashlib.sha256(address.encode()).hexdigest()[:24]}"]


def locked_for(username: str, address: str) -> int:
    """Seconds until sign-in is allowed again for this name or address (0: allowed)."""
    throttle = _storage().collection(THROTTLE)
    now = _now()
    wait = 0.0
    for key in _throttle_keys(username, address):
        rec = throttle.get(key)
        if rec and rec.get("locked_until", 0) > now:
            wait = max(wait, rec["locked_until"] - now)
    return int(wait + 0.999)


def _record_failure(username: str, address: str) -> None:
    cfg = current_app.config
    throttle = _storage().collection(THROTTLE)
    now = _now()
    with throttle.transaction() as tx:
        for key in _throttle_keys(username, address):
            rec = tx.get(key) or {"id": key, "failures": 0, "first": now, "locked_until": 0}
            if now - rec["first"] > cfg["LOGIN_WINDOW_SECONDS"]:
                rec.update(failures=0, first=now)
            rec["failures"] += 1
            if rec["failures"] >= cfg["LOGIN_MAX_FAILURES"]:
                rec.update(locked_until=now + cfg["LOGIN_LOCK_SECONDS"], failures=0, first=now)
            tx.upsert(rec)


def _clear_failures(username: str) -> None:
    throttle = _storage().collection(THROTTLE)
    throttle.delete(_throttle_keys(username, "")[0])


def client_address() -> str:
    return request.remote_addr or "unknown"


def authenticate(username: str, password: str) -> dict:
    """Check a sign-in; return the account record or raise :class:`AuthError` with a safe message."""
    username = normalise_username(username)
    address = client_address()
    wait = locked_for(username, address)
    if wait:
        minutes = max(1, (wait + 59) // 60)
        raise AuthError(
            _("Too many failed sign-in attempts. Try again in %(num)d minutes.", num=minutes)
        )
    record = None
    if username:
        found = _storage().collection(ACCOUNTS).find(username=username)
        record = found[0] if found else None
    hashed = record["password_hash"] if record else _DUMMY_HASH
    ok = check_password_hash(hashed, password or "")
    if not ok or record is None or not record.get("active", True):
        _record_failure(username, address)
        raise AuthError(_("The sign-in name or password is wrong."))
    _clear_failures(username)
    return record


def start_session(record: dict) -> None:
    """A fresh session for the account (no fixation); the language chosen before signing in stays."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session["account"] = record["id"]
    session["epoch"] = record.get("session_epoch", 0)
    session.permanent = True


def end_session() -> None:
    session.clear()


# ----------------------------------------------------------------------------- API tokens


def create_token(storage, account: dict, name: str, role: str | None = None) -> tuple[dict, str]:
    """Create a token; returns (record, the token text shown once)."""
    role = role or account["role"]
    if role not in ROLES or ROLE_RANK[role] > ROLE_RANK[account["role"]]:
        raise AuthError(_("A token cannot have a higher role than its account."))
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise AuthError(_("Give the token a name of at most 100 characters."))
    secret = secrets.token_urlsafe(32)
    record = storage.collection(TOKENS).insert(
        {
            "account_id": account["id"],
            "name": name,
            "role": role,
            "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(),
            "created_at": _now(),
            "revoked": False,
        }
    )
    return record, f"kbp_{record['id']}_{secret}"


def public_token(record: dict) -> dict:
    return {k: record.get(k) for k in ("id", "name", "role", "created_at", "revoked")}


def _account_from_token(header: str) -> Account | None:
    token = header[len("Bearer "):].strip()
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "kbp":
        return None
    storage = _storage()
    record = storage.collection(TOKENS).get(parts[1]) if parts[1].isalnum() else None
    expected = record["secret_sha256"] if record else hashlib.sha256(b"-").hexdigest()
    given = hashlib.sha256(parts[2].encode()).hexdigest()
    if not hmac.compare_digest(expected, given) or record is None or record.get("revoked"):
        return None
    acct = storage.collection(ACCOUNTS).get(record["account_id"])
    if not acct or not acct.get("active", True):
        return None
    role = record["role"] if ROLE_RANK[record["role"]] <= ROLE_RANK[acct["role"]] else acct["role"]
    return Account(acct["id"], acct["username"], role, acct.get("person_id"), via_token=True)


# ----------------------------------------------------------------------------- per request


def load_user() -> None:
    """Before every request: who is asking (``g.account``), and their preferred language."""
    g.account = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        g.account = _account_from_token(header)
        g.auth_failed = g.account is None
    elif "account" in session:
        record = _storage().collection(ACCOUNTS).get(session["account"])
        if record and record.get("active", True) and record.get("session_epoch", 0) == session.get("epoch"):
            g.account = Account(record["id"], record["username"], record["role"], record.get("person_id"))
        else:
            session.clear()
    if g.account and g.account.person_id:
        person = _storage().collection("people").get(g.account.person_id)
        if person and person.get("locale"):
            g.user_locale = person["locale"]


def current_account() -> Account | None:
    return getattr(g, "account", None)


def configure_session_security(app) -> None:
    """Session cookie flags: HttpOnly and SameSite=Lax always; Secure whenever the request is HTTPS."""
    from flask.sessions import SecureCookieSessionInterface

    class _Interface(SecureCookieSessionInterface):
        def get_cookie_secure(self, app_) -> bool:  # noqa: D401 - flask API
            try:
                return bool(app_.config.get("SESSION_COOKIE_SECURE")) or request.is_secure
            except RuntimeError:
                return bool(app_.config.get("SESSION_COOKIE_SECURE"))

    app.session_interface = _Interface()


def settings_defaults() -> dict[str, Any]:
    return {
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_WINDOW_SECONDS": 15 * 60,
        "LOGIN_LOCK_SECONDS": 15 * 60,
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
    }
