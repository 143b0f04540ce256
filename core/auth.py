"""Accounts, sign-in, sessions, passwords, API tokens and who-is-asking for every request.

Every rule about accounts lives here (or in :mod:`core.sessions`); the REST API, the pages and the
CLI only call these functions and render what they return or raise.

* **Accounts** (collection ``accounts``) link a sign-in name to a role — ``admin``, ``coach`` or
  ``employee`` — and to a person. Passwords are hashed with scrypt (Werkzeug's
  ``generate_password_hash``); a clear-text password is never stored or logged.
* **Passwords** (:func:`check_password_rules`): at least :data:`MIN_PASSWORD_LENGTH` characters,
  not a common password (the lists in ``core/data``), not built on one (``Password2024!``), not a
  repetition or a run (``abcabcabc…``, ``123456789…``), and not containing the sign-in name.
* **Sessions** are server-side records (:mod:`core.sessions`): signing out ends that session;
  *sign out everywhere*, deactivation, a role change and an admin's password reset end all of the
  account's sessions; changing one's own password ends the others.
* **API tokens** (collection ``api_tokens``) look like ``kbp_<id>_<secret>``; only a SHA-256 of the
  secret is stored. A token acts with a role no higher than its account's *current* role, expires
  (default :data:`TOKEN_DEFAULT_DAYS` days), can be revoked, cannot create tokens or change the
  password, and every token of an account is revoked when an admin resets its password.
* **Sign-in throttling** (collection ``login_throttle``, shared by every gunicorn worker through
  the storage): see :func:`throttle_settings_defaults` for the numbers. Failures are counted per
  (name, address) and per name, each with exponential back-off, and per address only against
  password spraying. Unknown names cost the same hash work as known ones and get the same message.

:func:`load_user` runs before every request and sets ``g.account`` (or ``None``); the permission
checks in :mod:`core.access` decide what that account may see.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

from flask import current_app, g, request, session
from werkzeug.security import check_password_hash, generate_password_hash

from core import sessions
from core.i18n import gettext as _
from core.i18n import ngettext

ROLES = ("employee", "coach", "admin")
ROLE_RANK = {role: i for i, role in enumerate(ROLES)}
ACCOUNTS = "accounts"
TOKENS = "api_tokens"
THROTTLE = "login_throttle"
HASH_METHOD = "scrypt:32768:8:1"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MIN_DISTINCT_CHARACTERS = 5
TOKEN_DEFAULT_DAYS = 365
TOKEN_MAX_DAYS = 3650
DAY = 86400
#: spent on unknown names so that timing does not tell whether an account exists
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8), method=HASH_METHOD)


class AuthError(Exception):
    """A sign-in or account problem a person can act on (the message is translated).

    ``status`` is the HTTP status the API answers with, ``errors`` maps fields to messages and
    ``retry_after`` (seconds) is set when sign-in is throttled.
    """

    def __init__(self, message: str, *, status: int = 422, errors: dict | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.errors = errors or {}
        self.retry_after = retry_after


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
    return sessions.now()


def _config() -> dict[str, Any]:
    try:
        return current_app.config
    except RuntimeError:  # the CLI outside an app context: the defaults
        return {**throttle_settings_defaults(), **sessions.settings_defaults()}


# ----------------------------------------------------------------------------- passwords


def _read_list(name: str) -> frozenset[str]:
    text = files("core").joinpath("data", name).read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped lists of common passwords and of the words they are built on (lower case)."""
    return _read_list("common_passwords.txt") | _read_list("common_passwords_sv.txt")


def _is_run(text: str) -> bool:
    """``abcdefg…``, ``987654…``, ``1234567890123`` (digits wrap around)."""
    if len(text) < 3:
        return False
    if text.isdigit():
        steps = {(int(b) - int(a)) % 10 for a, b in zip(text, text[1:])}
        return steps in ({1}, {9})
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:])}
    return steps in ({1}, {-1})


def _unit(text: str) -> str:
    """The shortest piece that ``text`` repeats (``passwordpassword`` → ``password``)."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return text


def password_problem(password: Any, username: str = "") -> str | None:
    """Why ``password`` is refused, or ``None`` when it is acceptable."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return _("A password needs at least %(num)d characters.", num=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        return _("A password can have at most %(num)d characters.", num=MAX_PASSWORD_LENGTH)
    lowered = password.lower()
    core_part = lowered.strip("0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    common = common_passwords()
    if (
        len(set(lowered)) < MIN_DISTINCT_CHARACTERS
        or _is_run(lowered)
        or lowered in common
        or _unit(lowered) in common
        or not core_part
        or core_part in common
        or _unit(core_part) in common
    ):
        return _("This password is too common or too easy to guess. Choose a longer phrase of your own, "
                 "for example a few unrelated words.")
    return _username_problem(password, username)


def _username_problem(password: str, username: str) -> str | None:
    name = normalise_username(username)
    local = name.split("@", 1)[0]
    lowered = password.lower() if isinstance(password, str) else ""
    if name and (name in lowered or (len(local) >= 4 and local in lowered)):
        return _("A password must not contain your sign-in name.")
    return None


def check_password_rules(password: Any, username: str = "", field: str = "password") -> None:
    problem = password_problem(password, username)
    if problem:
        raise AuthError(problem, errors={field: [problem]})


def hash_password(password: str) -> str:
    """The scrypt hash of an acceptable password (length and common-password rules checked here)."""
    check_password_rules(password)
    return generate_password_hash(password, method=HASH_METHOD)


def _new_password_hash(password: str, username: str) -> str:
    """Every password rule, then the hash: for new accounts and resets."""
    password_hash = hash_password(password)
    problem = _username_problem(password, username)
    if problem:
        raise AuthError(problem, errors={"password": [problem]})
    return password_hash


# ----------------------------------------------------------------------------- accounts


def normalise_username(username: str) -> str:
    return (username or "").strip().lower()


def username_taken(username: str) -> AuthError:
    message = _("An account named '%(name)s' exists already.", name=username)
    return AuthError(message, status=409, errors={"username": [message]})


def person_has_account() -> AuthError:
    message = _("That person already has an account.")
    return AuthError(message, status=409, errors={"person_id": [message]})


def new_account(*, username: str, password: str, role: str, person_id: str | None = None) -> dict:
    """A new account record, every rule checked (name, role, password); not stored yet."""
    username = normalise_username(username)
    if not username or len(username) > 200:
        message = _("Give a sign-in name (usually an e-mail address).")
        raise AuthError(message, errors={"username": [message]})
    check_role(role)
    return {
        "username": username,
        "password_hash": _new_password_hash(password, username),
        "role": role,
        "person_id": person_id,
        "active": True,
        "session_epoch": 0,
        "created_at": _now(),
    }


def insert_account(tx, record: dict) -> dict:
    """Store a new account in the caller's transaction or unit of work. The sign-in name is unique
    by declaration (:data:`core.store.SCHEMA`): the store refuses a duplicate in the write itself."""
    from core.storage import UniqueViolation

    if record.get("person_id") and tx.find(person_id=record["person_id"]):
        raise person_has_account()
    try:
        return tx.insert(record)
    except UniqueViolation:
        raise username_taken(record["username"]) from None


def create_account(storage, *, username: str, password: str, role: str, person_id: str | None = None) -> dict:
    """Create an account directly (seed data, tests); people and the CLI go through
    :func:`core.services.accounts.create_account`, which also checks permissions and audits."""
    record = new_account(username=username, password=password, role=role, person_id=person_id)
    with storage.collection(ACCOUNTS).transaction() as tx:
        return insert_account(tx, record)


def check_role(role) -> None:
    if role not in ROLES:
        message = _("Unknown role '%(role)s'. Use one of: %(roles)s.", role=role, roles=", ".join(ROLES))
        raise AuthError(message, errors={"role": [message]})


def new_password_hash(password: str, username: str) -> str:
    """Every password rule for a new password of ``username`` (an admin's reset), then the hash."""
    return _new_password_hash(password, username)


def revoke_tokens_in(tx, account_id: str) -> int:
    """Revoke every token of an account, in the caller's transaction or unit of work."""
    revoked = 0
    for token in tx.find(account_id=account_id):
        if not token.get("revoked"):
            tx.update(token["id"], {"revoked": True})
            revoked += 1
    return revoked


def delete_tokens_in(tx, account_id: str) -> int:
    tokens = tx.find(account_id=account_id)
    for token in tokens:
        tx.delete(token["id"])
    return len(tokens)


def find_account(storage, username: str) -> dict:
    found = storage.collection(ACCOUNTS).find(username=normalise_username(username))
    if not found:
        raise AuthError(_("No account named '%(name)s'.", name=normalise_username(username)), status=404)
    return found[0]


def public_account(record: dict) -> dict:
    """An account as the API shows it: never the hash."""
    shown = {k: record.get(k) for k in ("id", "username", "role", "person_id", "created_at")}
    return {**shown, "active": record.get("active", True)}  # no "active" field: active, as sign-in reads it


# ----------------------------------------------------------------------------- throttling


def throttle_settings_defaults() -> dict[str, Any]:
    """Sign-in throttling, all overridable as ``KBP_<NAME>``.

    * per (name, address): ``LOGIN_MAX_FAILURES`` (5) failures are free; the next failure locks
      that pair for ``LOGIN_LOCK_SECONDS`` (60 s), each further one doubles it, at most
      ``LOGIN_MAX_LOCK_SECONDS`` (1 hour);
    * per name from every address together: ``LOGIN_ACCOUNT_MAX_FAILURES`` (20), then the same
      back-off — this is what stops an attacker who changes address;
    * per address, against trying one password on many names: ``LOGIN_ADDRESS_MAX_FAILURES`` (100)
      failures within ``LOGIN_ADDRESS_WINDOW_SECONDS`` (15 minutes) lock the address until the
      window ends — far above what a whole office behind one NAT address mistypes;
    * failures are forgotten after ``LOGIN_RESET_SECONDS`` (24 hours) without one; a successful
      sign-in forgets the name's failures (not the address's).
    """
    return {
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_ACCOUNT_MAX_FAILURES": 20,
        "LOGIN_LOCK_SECONDS": 60,
        "LOGIN_MAX_LOCK_SECONDS": 3600,
        "LOGIN_ADDRESS_MAX_FAILURES": 100,
        "LOGIN_ADDRESS_WINDOW_SECONDS": 15 * 60,
        "LOGIN_RESET_SECONDS": 24 * 3600,
    }


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:32]  # no names or addresses on disk


def _throttle_keys(username: str, address: str) -> dict[str, str]:
    return {"pair": "p-" + _digest(username, address), "account": "a-" + _digest(username), "address": "i-" + _digest(address)}


def locked_for(username: str, address: str) -> int:
    """Seconds until sign-in is allowed again for this name from this address (0: allowed)."""
    throttle = _storage().collection(THROTTLE)
    t = _now()
    wait = 0.0
    for key in _throttle_keys(normalise_username(username), address).values():
        rec = throttle.get(key)
        if rec and rec.get("locked_until", 0) > t:
            wait = max(wait, rec["locked_until"] - t)
    return int(wait + 0.999)


def _record_failure(username: str, address: str) -> None:
    cfg = _config()
    t = _now()
    keys = _throttle_keys(username, address)
    limits = {"pair": cfg["LOGIN_MAX_FAILURES"], "account": cfg["LOGIN_ACCOUNT_MAX_FAILURES"]}
    with _storage().collection(THROTTLE).transaction() as tx:
        for kind, key in keys.items():
            rec = tx.get(key) or {"id": key, "failures": 0, "first": t, "last": t, "locked_until": 0}
            if kind == "address":
                if t - rec["first"] > cfg["LOGIN_ADDRESS_WINDOW_SECONDS"]:
                    rec.update(failures=0, first=t)
                rec["failures"] += 1
                if rec["failures"] >= cfg["LOGIN_ADDRESS_MAX_FAILURES"]:
                    rec["locked_until"] = rec["first"] + cfg["LOGIN_ADDRESS_WINDOW_SECONDS"]
            else:
                if t - max(rec["last"], rec["locked_until"]) > cfg["LOGIN_RESET_SECONDS"]:
                    rec["failures"] = 0
                rec["failures"] += 1
                over = rec["failures"] - limits[kind]
                if over >= 0:
                    lock = min(cfg["LOGIN_MAX_LOCK_SECONDS"], cfg["LOGIN_LOCK_SECONDS"] * 2 ** min(over, 32))
                    rec["locked_until"] = t + lock
            rec["last"] = t
            tx.upsert(rec)


def _clear_failures(username: str, address: str) -> None:
    keys = _throttle_keys(username, address)
    with _storage().collection(THROTTLE).transaction() as tx:
        for kind in ("pair", "account"):
            tx.delete(keys[kind])


def client_address() -> str:
    """The client's address: the peer, or what a trusted proxy forwarded (see :func:`trust_proxies`)."""
    return request.remote_addr or "unknown"


def _locked_error(wait: int) -> AuthError:
    minutes = max(1, (wait + 59) // 60)
    return AuthError(
        ngettext("Too many failed sign-in attempts. Try again in %(num)d minute.",
                 "Too many failed sign-in attempts. Try again in %(num)d minutes.", minutes),
        status=429, retry_after=wait,
    )


def _verify(username: str, password: str, address: str) -> dict | None:
    """The account if the password is right; counts a failure otherwise. Raises when locked."""
    wait = locked_for(username, address)
    if wait:
        raise _locked_error(wait)
    record = None
    if username:
        found = _storage().collection(ACCOUNTS).find(username=username)
        record = found[0] if found else None
    hashed = (record or {}).get("password_hash") or _DUMMY_HASH  # accounts made by single sign-on have none
    ok = check_password_hash(hashed, password or "") if isinstance(password, str) else False
    if not ok or record is None or not record.get("active", True):
        _record_failure(username, address)
        return None
    _clear_failures(username, address)
    return record


def local_login() -> str:
    """``KBP_LOCAL_LOGIN``: who may sign in with a password — ``all`` (default), ``admins`` (the
    break-glass way in when the identity provider is away), ``off`` (single sign-on only)."""
    return _config().get("LOCAL_LOGIN", "all")


def authenticate(username: str, password: str) -> dict:
    """Check a sign-in; return the account record or raise :class:`AuthError` with a safe message.

    With ``LOCAL_LOGIN=admins`` a right password of anyone but an administrator gets the same answer
    as a wrong one (so the answer does not tell a right password); with ``off`` no password is checked."""
    mode = local_login()
    if mode == "off":
        raise AuthError(_("Signing in with a password is switched off here. Use your organisation's sign-in."), status=403)
    record = _verify(normalise_username(username), password, client_address())
    if record is not None and mode == "admins" and record.get("role") != "admin":
        record = None
    if record is not None and record.get("person_id"):  # someone who has left signs in no more
        person = _storage().collection("people").get(record["person_id"])
        record = None if person and person.get("status") == "left" else record
    if record is None:
        if mode == "admins":
            raise AuthError(_("The sign-in name or password is wrong. Only administrators sign in with a password here; "
                              "everyone else uses their organisation's sign-in."), status=401)
        raise AuthError(_("The sign-in name or password is wrong."), status=401)
    return record


# ----------------------------------------------------------------------------- sessions


def start_session(record: dict, **about: str) -> None:
    """A fresh session for the account (no fixation); the language chosen before signing in stays.
    ``about`` records how (``method``, ``provider``) with the session."""
    storage = _storage()
    _housekeeping(storage)
    lang = session.get("lang")
    end_session()
    if lang:
        session["lang"] = lang
    session["account"] = record["id"]
    session["sid"] = sessions.open_session(storage, record["id"], **about)
    session.permanent = True


def _housekeeping(storage) -> None:
    """At each sign-in: drop expired sessions and throttle counters nobody needs any more."""
    cfg = _config()
    sessions.prune(storage, cfg)
    t = _now()
    horizon = max(cfg["LOGIN_RESET_SECONDS"], cfg["LOGIN_ADDRESS_WINDOW_SECONDS"])
    with storage.collection(THROTTLE).transaction() as tx:
        for rec in tx.all():
            if t - max(rec.get("last", 0), rec.get("locked_until", 0)) > horizon:
                tx.delete(rec["id"])


def end_session() -> None:
    """Sign out: this session ends on the server too, so a copy of the cookie is worthless."""
    sessions.end_session(_storage(), session.get("sid"))
    session.clear()


def check_own_password_change(storage, actor: Account, current: Any, new: Any) -> str:
    """Self-service password change: the current password is checked (and throttled like a
    sign-in) and the new one against every rule; returns the new hash (nothing is written here)."""
    if actor.via_token:
        raise AuthError(_("Change your password while signed in, not with an API token."), status=403)
    record = storage.collection(ACCOUNTS).get(actor.id)
    if record is None:
        raise AuthError(_("No such account."), status=404)
    check_password_rules(new, record["username"], field="new_password")
    if _verify(record["username"], current, client_address()) is None:
        message = _("Your current password is wrong.")
        raise AuthError(message, errors={"current_password": [message]})
    if current == new:
        message = _("Choose a password different from the current one.")
        raise AuthError(message, errors={"new_password": [message]})
    return generate_password_hash(new, method=HASH_METHOD)


def current_session_secret() -> str | None:
    return session.get("sid")


# ----------------------------------------------------------------------------- API tokens


def new_token(account: dict, name: str, role: str | None = None,
              expires_in_days: int | None = TOKEN_DEFAULT_DAYS) -> tuple[dict, str]:
    """A new token record for ``account`` (every rule checked, not stored yet) and its text, shown once."""
    import uuid

    role = role or account["role"]
    if role not in ROLES or ROLE_RANK[role] > ROLE_RANK[account["role"]]:
        message = _("A token cannot have a higher role than its account.")
        raise AuthError(message, errors={"role": [message]})
    name = (name or "").strip()
    if not name or len(name) > 100:
        message = _("Give the token a name of at most 100 characters.")
        raise AuthError(message, errors={"name": [message]})
    days = TOKEN_DEFAULT_DAYS if expires_in_days is None else expires_in_days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= TOKEN_MAX_DAYS:
        message = _("A token lasts from 1 to %(num)d days.", num=TOKEN_MAX_DAYS)
        raise AuthError(message, errors={"expires_in_days": [message]})
    secret = secrets.token_urlsafe(32)
    created = _now()
    record = {
        "id": uuid.uuid4().hex,
        "account_id": account["id"],
        "name": name,
        "role": role,
        "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(),
        "created_at": created,
        "expires_at": created + days * DAY,
        "revoked": False,
    }
    return record, f"kbp_{record['id']}_{secret}"


def create_token(storage, account: dict, name: str, role: str | None = None,
                 expires_in_days: int | None = TOKEN_DEFAULT_DAYS) -> tuple[dict, str]:
    """Create a token directly (seed data, tests); returns (record, the token text shown once).
    People and the CLI go through :mod:`core.services.accounts`."""
    record, text = new_token(account, name, role, expires_in_days)
    return storage.collection(TOKENS).insert(record), text


def public_token(record: dict) -> dict:
    return {k: record.get(k) for k in ("id", "name", "role", "created_at", "expires_at", "revoked")}


def token_state(record: dict) -> str:
    """``active``, ``revoked`` or ``expired`` (tokens made before expiry existed never expire)."""
    if record.get("revoked"):
        return "revoked"
    if record.get("expires_at") is not None and record["expires_at"] <= _now():
        return "expired"
    return "active"


def _account_from_token(header: str) -> Account | None:
    token = header[len("Bearer "):].strip()
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "kbp":
        return None
    storage = _storage()
    record = storage.collection(TOKENS).get(parts[1]) if parts[1].isalnum() else None
    expected = record["secret_sha256"] if record else hashlib.sha256(b"-").hexdigest()
    given = hashlib.sha256(parts[2].encode()).hexdigest()
    if not hmac.compare_digest(expected, given) or record is None:
        return None
    state = token_state(record)
    if state != "active":
        g.token_state = state
        return None
    acct = storage.collection(ACCOUNTS).get(record["account_id"])
    if not acct or not acct.get("active", True):
        return None
    role = record["role"] if ROLE_RANK[record["role"]] <= ROLE_RANK[acct["role"]] else acct["role"]
    return Account(acct["id"], acct["username"], role, acct.get("person_id"), via_token=True)


# ----------------------------------------------------------------------------- per request


#: WSGI environ key of the account :mod:`core.warmup` sends its in-process requests as. Clients
#: cannot set it: the server puts their headers under ``HTTP_*`` keys only.
WARM_UP_ACCOUNT = "kbp.warm_up_account"


def load_user() -> None:
    """Before every request: who is asking (``g.account``), and their preferred language."""
    # the request's objects bound once (each use of Flask's request/g proxies is a look-up)
    req, ctx_g = request._get_current_object(), g._get_current_object()
    ctx_g.account = account = None
    environ = req.environ
    warm_up_account = environ.get(WARM_UP_ACCOUNT)
    if isinstance(warm_up_account, Account):
        # set only in-process by core.warmup (a WSGI key no HTTP request can carry): the read paths
        # run once in the master before the workers fork, as this account
        ctx_g.account = warm_up_account
        return  # in the language the warm-up asks for, not the account's own
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Bearer "):
        ctx_g.account = account = _account_from_token(header)
        ctx_g.auth_failed = account is None
    elif "account" in session:
        storage = _storage()
        record = storage.collection(ACCOUNTS).get(session["account"]) if isinstance(session["account"], str) else None
        if (record and record.get("active", True)
                and sessions.check_session(storage, session.get("sid"), record["id"], current_app.config)):
            ctx_g.account = account = Account(record["id"], record["username"], record["role"], record.get("person_id"))
        else:
            _clear_keeping_language()
    if account and account.person_id:
        person = _storage().collection("people").get(account.person_id)
        if person and person.get("status") == "left":  # a leaver (people import, API): signed out at this request
            ctx_g.auth_failed = account.via_token
            if not account.via_token:
                sessions.end_session(_storage(), session.get("sid"))
                _clear_keeping_language()
            ctx_g.account = None
            return
        if person and person.get("locale"):
            ctx_g.user_locale = person["locale"]


def _clear_keeping_language() -> None:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def current_account() -> Account | None:
    return getattr(g, "account", None)


def configure_session_security(app) -> None:
    """Session cookie flags: HttpOnly and SameSite=Lax always; Secure whenever the request is HTTPS.
    The cookie lives no longer than the absolute session timeout (Flask's default is 31 days)."""
    from flask.sessions import SecureCookieSessionInterface

    sessions.check_settings(app.config)
    app.config["PERMANENT_SESSION_LIFETIME"] = app.config["SESSION_MAX_SECONDS"]

    class _Interface(SecureCookieSessionInterface):
        def open_session(self, app_, request_):
            # no cookie (API tokens, health checks): an empty session, without building the signing
            # serializer first (Flask builds it for every request; a third of an API request's overhead)
            if app_.secret_key and ("HTTP_COOKIE" not in request_.environ
                                    or not request_.cookies.get(self.get_cookie_name(app_))):
                return self.session_class()
            return super().open_session(app_, request_)

        def save_session(self, app_, session_, response) -> None:
            if not session_ and not session_.modified:  # nothing to set or delete (API tokens, health
                if session_.accessed:  # checks): skip working out the cookie's name, domain, flags
                    response.vary.add("Cookie")
                return
            super().save_session(app_, session_, response)

        def get_cookie_secure(self, app_) -> bool:  # noqa: D401 - flask API
            try:
                return bool(app_.config.get("SESSION_COOKIE_SECURE")) or request.is_secure
            except RuntimeError:
                return bool(app_.config.get("SESSION_COOKIE_SECURE"))

    app.session_interface = _Interface()


# ----------------------------------------------------------------------------- trusted proxies


def parse_trusted_proxies(value: Any) -> list:
    """``KBP_TRUSTED_PROXIES``: addresses or networks (``10.0.0.5, 10.1.0.0/16``), or a list of them."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    networks = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise SystemExit(f"TRUSTED_PROXIES: '{text}' is not an IP address or network (KBP_TRUSTED_PROXIES).") from None
    return networks


class TrustedProxies:
    """WSGI middleware: werkzeug's ProxyFix, applied only to requests from a trusted proxy.

    ``X-Forwarded-For`` is read from the right; every hop that is itself a trusted proxy is
    skipped, and the first address that is not is the client. A request from anyone else keeps its
    peer address, so a client cannot choose its own address by sending the header.
    """

    def __init__(self, wsgi_app, networks: list):
        from werkzeug.middleware.proxy_fix import ProxyFix

        self.app = wsgi_app
        self.networks = networks
        self._fixed: dict[int, Any] = {}
        self._proxy_fix = ProxyFix

    def trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def __call__(self, environ, start_response):
        if not self.networks or not self.trusted(environ.get("REMOTE_ADDR", "")):
            return self.app(environ, start_response)
        forwarded = [a.strip() for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        hops = 1
        while hops < len(forwarded) and self.trusted(forwarded[-hops]):
            hops += 1
        fixed = self._fixed.get(hops)
        if fixed is None:
            fixed = self._fixed[hops] = self._proxy_fix(self.app, x_for=hops, x_proto=1)
        return fixed(environ, start_response)


def trust_proxies(app) -> None:
    networks = parse_trusted_proxies(app.config.get("TRUSTED_PROXIES"))
    app.config["TRUSTED_PROXIES"] = [str(n) for n in networks]
    if networks:
        app.wsgi_app = TrustedProxies(app.wsgi_app, networks)


def settings_defaults() -> dict[str, Any]:
    return {**throttle_settings_defaults(), **sessions.settings_defaults(), "TRUSTED_PROXIES": ""}

