"""Helpers shared by the tests: accounts and signed-in clients."""
from __future__ import annotations

import itertools
import re
from unittest import mock

from flask.testing import FlaskClient

from core import auth, people, sessions

_counter = itertools.count(1)


def make_person(app, name: str | None = None, coach_id: str | None = None, **extra) -> dict:
    n = next(_counter)
    storage = app.extensions["kbp"].storage
    data = {"name": name or f"Person {n}", "email": f"person{n}@example.test", "job_title": "", "unit": "",
            "coach_id": coach_id, "locale": None, "status": "active", **extra}
    return people.create_person(storage, data)


_hashes: dict[str, str] = {}


def _cached_hash(password: str, username: str = "") -> str:
    """scrypt is slow on purpose; tests that create many accounts reuse one real hash per password.
    The password rules still apply: a fixture cannot use a password the product would refuse."""
    auth.check_password_rules(password, username)
    if password not in _hashes:
        _hashes[password] = _real_hash(password)
    return _hashes[password]


_real_hash = auth.hash_password


def make_account(app, role: str = "admin", person: dict | None = None, password: str = "correct horse battery") -> dict:
    storage = app.extensions["kbp"].storage
    person = person or make_person(app)
    with mock.patch.object(auth, "hash_password", _cached_hash):
        return auth.create_account(storage, username=person["email"], password=password, role=role, person_id=person["id"])


def sign_in(client, account: dict):
    """Give the client a server-side session for the account, as a successful /login does.

    A client that sends an API token (the shared fixture's ``app.test_client()`` does) is refused:
    the token would win over the session and the test would silently act as someone else."""
    assert "HTTP_AUTHORIZATION" not in client.environ_base, (
        "this client sends an admin bearer token, which wins over a session: use signed_in_client(app, role) "
        "or anonymous_client(app) instead of app.test_client()")
    storage = client.application.extensions["kbp"].storage
    secret = sessions.open_session(storage, account["id"])
    with client.session_transaction() as sess:
        sess["account"] = account["id"]
        sess["sid"] = secret
        sess.permanent = True
    return client


def plain_client(app) -> FlaskClient:
    """A client without credentials of its own (whatever ``app.test_client_class`` is)."""
    return FlaskClient(app, app.response_class, use_cookies=True)


def signed_in_client(app, role: str = "admin", person: dict | None = None):
    """A client signed in with a session as a new account of ``role`` (and nothing else)."""
    return sign_in(plain_client(app), make_account(app, role, person))


def csrf_token(client, url: str = "/login") -> str:
    body = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)


def data_folder_files(data_dir) -> dict[str, bytes]:
    """Every file in the data folder and below it — snapshots, append-only ``*.json.log`` files,
    locks, temp files, licences — as raw bytes, by path relative to the folder. Tests that check
    what is (not) on disk read all of it, never only the ``*.json`` snapshots."""
    from pathlib import Path

    root = Path(data_dir)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def files_containing(data_dir, needle: str) -> list[str]:
    """The data-folder files whose bytes contain ``needle`` (UTF-8, or JSON's ``\\uXXXX`` escaping)."""
    import json

    forms = {needle.encode("utf-8"), json.dumps(needle)[1:-1].encode("ascii")}
    return [name for name, raw in data_folder_files(data_dir).items() if any(f in raw for f in forms)]


def node_package(name: str):
    """The folder of an npm package from ``tests/node`` (``make test`` installs them with ``npm ci``).

    Missing on a developer's machine without npm: the test is skipped with the command to run; missing in
    CI (``CI`` set), the test fails, so a validator never silently stops running there."""
    import os
    import shutil
    from pathlib import Path

    import pytest

    folder = Path(__file__).resolve().parent / "node" / "node_modules" / name
    if folder.is_dir() and shutil.which("node"):
        return folder
    message = f"npm package {name} is not installed: run `npm ci --prefix tests/node` (make test does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
