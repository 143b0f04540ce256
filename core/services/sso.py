"""Single sign-on (OpenID Connect): who a verified identity is in KBP, with which role — the service
the sign-in pages call. The protocol checks are in :mod:`core.oidc`.

* **Linking.** The verified e-mail address is matched to a person (from the people import). The
  person's account is used, or made (no password: it signs in through the provider only); a person
  who has left (``status = left``) is refused. An address that matches no person is refused with a
  page saying so — unless the provider has ``create_people`` switched on (just-in-time creation of
  the person and the account). The provider's subject id is recorded on the account.
* **Roles from groups.** When the provider sends groups (``groups_claim``), the account's role is
  set at *every* sign-in from the mapping (``roles``: group → role; the highest wins; no mapped
  group gives ``default_role``, or a refusal when that is ``null``). A role that changes ends the
  account's other sessions in the same commit and is audited as ``role_change`` with
  ``{"from", "to", "provider"}``. Without ``groups_claim`` roles are kept in KBP (new accounts get
  ``default_role``).
* **Deactivated accounts** are refused; their sessions ended when they were deactivated.
* **Audit:** ``sign_in`` with ``{"method": "oidc", "provider": id}``; ``create`` of a person or an
  account made at sign-in.
"""
from __future__ import annotations

import time
from typing import Any

from flask import session

from core import auth, oidc, sessions
from core.auth import ACCOUNTS, ROLE_RANK
from core.i18n import gettext as _
from core.services import audit
from core.services.errors import Invalid, ServiceError, from_status

PEOPLE = "people"
SESSIONS = sessions.SESSIONS
AUDIT = audit.AUDIT
_NEXT = "sso_next"


class SignInRefused(ServiceError):
    """Single sign-on did not lead to a KBP session; ``message`` says why and what to do."""

    code = "sso_refused"

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


def _from_oidc(exc: oidc.OidcError) -> SignInRefused:
    return SignInRefused(exc.message, exc.status)


def login_options(locale: str) -> dict[str, Any]:
    """What the sign-in page offers: a button per provider (in the reader's language) and whether
    (and for whom) the password form is there."""
    return {"providers": [{"id": p.id, "label": p.label(locale)} for p in oidc.providers()],
            "local_login": auth.local_login()}


def begin(provider_id: Any, *, redirect_uri: str, next_url: str, locale: str) -> str:
    """Start signing in with a provider: remember where to go afterwards; returns the provider's address."""
    try:
        provider = oidc.provider(provider_id)
        url = oidc.authorization_url(provider, redirect_uri, locale)
    except oidc.OidcError as exc:
        raise _from_oidc(exc) from None
    session[_NEXT] = next_url
    return url


def finish(storage, provider_id: Any) -> tuple[dict, str | None]:
    """Complete the sign-in the provider answered: check the answer, link the account, set its role
    from groups, start a fresh session, audit. Returns (the account, where to go next)."""
    try:
        provider = oidc.provider(provider_id)
        identity = oidc.complete(provider)
    except oidc.OidcError as exc:
        session.pop(_NEXT, None)
        raise _from_oidc(exc) from None
    next_url = session.pop(_NEXT, None)
    record = link_account(storage, provider, identity)
    auth.start_session(record, method="oidc", provider=provider.id)
    audit.record(storage, record["id"], "sign_in", "account", record["id"], {"method": "oidc", "provider": provider.id})
    return record, next_url


def role_from_groups(provider: oidc.Provider, groups: tuple[str, ...] | None) -> str | None:
    """The role the groups give (the highest mapped one), ``default_role`` when none is mapped, or
    ``None`` when the provider sends no groups (the role is kept in KBP)."""
    if groups is None:
        return None
    mapped = [provider.roles[g] for g in groups if g in provider.roles]
    if mapped:
        return max(mapped, key=ROLE_RANK.__getitem__)
    if provider.default_role is None:
        raise SignInRefused(_("Your organisation has not given you access to KBP (you are in none of the groups "
                              "that give a role here). Ask your administrator."))
    return provider.default_role


def link_account(storage, provider: oidc.Provider, identity: oidc.Identity) -> dict:
    """The account for a verified identity (made or linked; role from groups), in one commit with
    its audit entries. Raises :class:`SignInRefused` with a message for the person."""
    role = role_from_groups(provider, identity.groups)
    with storage.unit_of_work(PEOPLE, ACCOUNTS, SESSIONS, AUDIT) as uow:
        found = uow[PEOPLE].find(email=identity.email)
        if found:
            person = found[0]
        elif provider.create_people:
            person = _create_person(uow, identity)
        else:
            raise SignInRefused(_(
                "You signed in as %(email)s, but KBP has no person with that e-mail address. Ask HR or your KBP "
                "administrator to add you (people are added by the people import), then sign in again.",
                email=identity.email))
        if person.get("status") == "left":
            raise SignInRefused(_("You are registered in KBP as having left the organisation, so you cannot sign in. "
                                  "If this is wrong, ask HR or your KBP administrator."))
        accounts = uow[ACCOUNTS].find(person_id=person["id"])
        link = {**((accounts[0].get("sso") or {}) if accounts else {}), provider.id: identity.subject}
        if not accounts:
            return _create_account(uow, person, identity, role or provider.default_role or "employee", link)
        account = accounts[0]
        if not account.get("active", True):
            raise SignInRefused(_("Your KBP account has been deactivated. Ask your KBP administrator if you need it again."))
        changes: dict[str, Any] = {}
        if account.get("sso") != link:
            changes["sso"] = link
        if role is not None and role != account["role"]:
            changes["role"] = role
            sessions.end_all_in(uow[SESSIONS], account["id"])
            uow[AUDIT].insert(audit.entry(account["id"], "role_change", "account", account["id"],
                                          {"from": account["role"], "to": role, "provider": provider.id}))
        return uow[ACCOUNTS].update(account["id"], changes) if changes else account


def _create_person(uow, identity: oidc.Identity) -> dict:
    """Just-in-time: a person from the provider's name and e-mail (the people rules apply)."""
    from core import people
    from core.services.errors import translated

    with translated():
        try:
            data = people.PersonIn().load({"name": identity.name or identity.email, "email": identity.email})
        except Exception:  # noqa: BLE001 - marshmallow: an address KBP cannot store
            raise Invalid(_("KBP cannot store the e-mail address your organisation's sign-in sent.")) from None
        person = people.insert_person(uow[PEOPLE], data)
    uow[AUDIT].insert(audit.entry(f"sso:{identity.provider}", "create", "person", person["id"]))
    return person


def _create_account(uow, person: dict, identity: oidc.Identity, role: str, link: dict) -> dict:
    record = {"username": identity.email, "password_hash": None, "role": role, "person_id": person["id"],
              "active": True, "session_epoch": 0, "created_at": time.time(), "sso": link}
    try:
        stored = auth.insert_account(uow[ACCOUNTS], record)
    except auth.AuthError as exc:  # the sign-in name is taken by an account of no one or someone else
        raise from_status(exc.status, _("An account named %(name)s exists already but belongs to no person or to "
                                        "someone else. Ask your KBP administrator to link it.", name=identity.email)) from None
    uow[AUDIT].insert(audit.entry(stored["id"], "create", "account", stored["id"], {"method": "oidc", "provider": identity.provider}))
    return stored


def sign_out(storage, actor, *, post_logout_redirect_uri: str, locale: str) -> str | None:
    """End this session; when it was opened through a provider that supports RP-initiated logout,
    return the provider's logout address (the browser goes there to end the session there too)."""
    from core.services import accounts as accounts_service

    record = sessions.get_session(storage, auth.current_session_secret())
    accounts_service.sign_out(storage, actor)
    if not record or record.get("method") != "oidc":
        return None
    try:
        provider = oidc.provider(record.get("provider"))
    except oidc.OidcError:  # the provider has been removed from the settings since
        return None
    return oidc.logout_url(provider, post_logout_redirect_uri, locale)


def form_action_origins(app) -> list[str]:
    """Origins the sign-out form may be redirected to (the providers' logout pages), for the CSP."""
    state = app.extensions.get("kbp_oidc") or {"providers": {}}
    return sorted({p.origin for p in state["providers"].values() if p.logout})

