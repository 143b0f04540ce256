"""The service layer: one call per business action, shared by the REST API, the pages and the CLI.

Every call takes the acting account (:class:`core.auth.Account`, or :data:`core.services.accounts.CLI`
for the operator at the console), checks permissions itself, records its own audit entry, writes
what belongs together in one unit of work and raises the domain errors of
:mod:`core.services.errors`, which :mod:`core.http_errors` maps once to JSON and to pages.
HTTP handlers and CLI commands only parse input, call a service and render the result.

Modules: :mod:`~core.services.people` (people, CSV import, export, erase),
:mod:`~core.services.accounts` (accounts, passwords, sessions, API tokens, sign-in),
:mod:`~core.services.sso` (single sign-on: linking identities to people, roles from groups),
:mod:`~core.services.audit` (the audit log), :mod:`~core.services.recruitment` (the recruitment
record and the plan started from it) and :mod:`~core.services.preparation` (the employee's
preparation sheet before the medarbetarsamtal). The rules themselves stay in :mod:`core.people`,
:mod:`core.auth`, :mod:`core.sessions` and :mod:`core.audit`.
"""
