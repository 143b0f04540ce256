"""Two `kbp serve` servers (separate processes and data folders) on one PostgreSQL database.

What an organisation behind a load balancer relies on: an edit through one server is seen through
the other at the next request, two concurrent edits of one plan give exactly one 200 and one 409,
and no server needs sticky sessions (they share the session key through the database).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from unittest import mock

import pytest

from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(base: str, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


#: ``kbp`` with the test licensor's key added to the framework's built-in trusted keys (the shipped list
#: has the real licensor's placeholder id): what a real installation gets from the package it installed
KBP_WITH_TEST_LICENSOR = [
    sys.executable, "-c",
    "import pathlib, sys; import frameworks.malin_lindelow as fw; fw.TRUSTED_KEYS_FILE = pathlib.Path(sys.argv.pop(1)); "
    "from core.cli import run; sys.argv[0] = 'kbp'; run()",
]


@pytest.fixture
def licensor(tmp_path):
    """A test licensor: its key among the built-in trusted keys, and a valid licence for the Lindelöw
    framework, as a file an operator installs with ``kbp license install``."""
    from datetime import date, timedelta

    import frameworks.malin_lindelow as lindelow
    from core.licensing import generate_keypair, issue_licence

    private, public = generate_keypair()
    shipped = json.loads(lindelow.TRUSTED_KEYS_FILE.read_text(encoding="utf-8"))["keys"]
    keys = tmp_path / "builtin-keys.json"
    keys.write_text(json.dumps({"keys": [*shipped, {"key_id": "two-servers-root", "public_key": public}]}))
    licence = tmp_path / "lindelow.licence.json"
    licence.write_bytes(issue_licence(private, key_id="two-servers-root", licensee="Two servers test",
                                      product="malin_lindelow", expires=date.today() + timedelta(days=30),
                                      issued=date.today() - timedelta(days=1)))
    return {"keys": keys, "licence": licence}


@pytest.fixture
def two_servers(pg_cluster, tmp_path, licensor):
    schema = f"srv_{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBP_")}
    env.update({"KBP_DATABASE_URL": pg_cluster.url, "KBP_DATABASE_SCHEMA": schema, "KBP_LOCALE": "en",
                "PYTHONPATH": str(ROOT)})
    procs, bases = [], []
    try:
        for n in range(2):
            port = _free_port()
            data = tmp_path / f"server-{n}"
            proc = subprocess.Popen(
                [*KBP_WITH_TEST_LICENSOR, str(licensor["keys"]), "--data-dir", str(data), "serve", "--host", "127.0.0.1",
                 "--port", str(port), "--workers", "2"],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )
            procs.append(proc)
            bases.append(f"http://127.0.0.1:{port}")
        for base, proc in zip(bases, procs):
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                        if json.loads(resp.read())["backend"] == "postgresql":
                            break
                except (OSError, ValueError):
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
                    pytest.fail(f"server {base} did not start: {out[-3000:]}")
                time.sleep(0.3)
        yield bases, {"DATABASE_URL": pg_cluster.url, "DATABASE_SCHEMA": schema, "DATA_DIR": str(tmp_path / "setup"),
                      "env": env, "licence": licensor["licence"], "keys": licensor["keys"]}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            proc.stdout.close()


def _people_and_tokens(config) -> dict:
    """A coach and a coachee, with API tokens, written straight into the shared database."""
    from core import auth, people
    from core.app import create_app

    app = create_app({"TESTING": True, **{k: v for k, v in config.items() if k.isupper()}})
    storage = app.extensions["kbp"].storage
    with app.app_context(), mock.patch.object(auth, "hash_password", lambda _p: "scrypt:unused"):
        coach = people.create_person(storage, {"name": "Sam Lind", "email": "sam@example.org"})
        coachee = people.create_person(storage, {"name": "Noor Haddad", "email": "noor@example.org", "coach_id": coach["id"]})
        account = auth.create_account(storage, username="sam@example.org", password="x" * 16, role="coach",
                                      person_id=coach["id"])
        admin = auth.create_account(storage, username="admin@example.org", password="x" * 16, role="admin")
        _rec, coach_token = auth.create_token(storage, account, "two servers")
        _rec, admin_token = auth.create_token(storage, admin, "two servers")
    storage.close()
    return {"coachee": coachee["id"], "coach_token": coach_token, "admin_token": admin_token}


def test_two_servers_share_one_database(two_servers):
    (a, b), config = two_servers
    ids = _people_and_tokens(config)
    coach, admin = ids["coach_token"], ids["admin_token"]

    # an edit through A is seen through B at the next request
    status, person = _call(a, "POST", "/api/v1/people", admin, {"name": "Ada Berg", "email": "ada@example.org"})
    assert status == 201, person
    status, seen = _call(b, "GET", f"/api/v1/people/{person['id']}", admin)
    assert status == 200 and seen["name"] == "Ada Berg"
    status, _changed = _call(b, "PATCH", f"/api/v1/people/{person['id']}", admin, {"unit": "Ekonomi"})
    assert status == 200
    assert _call(a, "GET", f"/api/v1/people/{person['id']}", admin)[1]["unit"] == "Ekonomi"

    # a plan made through A, edited concurrently through A and B with the same version
    status, plan = _call(a, "POST", "/api/v1/plans", coach, {"person_id": ids["coachee"], "situation": "new_role"})
    assert status == 201, plan
    status, plan = _call(b, "GET", f"/api/v1/plans/{plan['id']}", coach)
    assert status == 200
    version = plan["version"]
    results: list[tuple[int, dict]] = []
    start = threading.Barrier(2)

    def edit(base: str, text: str) -> None:
        start.wait()
        results.append(_call(base, "PATCH", f"/api/v1/plans/{plan['id']}", coach,
                             {"version": version, "follow_up_date": text}))

    threads = [threading.Thread(target=edit, args=(base, day)) for base, day in ((a, "2027-03-01"), (b, "2027-04-01"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(code for code, _body in results)
    assert codes == [200, 409], results
    conflict = next(body for code, body in results if code == 409)
    assert conflict["code"] == "version_conflict"
    winner = next(body for code, body in results if code == 200)
    for base in (a, b):  # both servers show the winner's edit: no lost update, nothing half-applied
        status, now = _call(base, "GET", f"/api/v1/plans/{plan['id']}", coach)
        assert status == 200 and now["version"] == winner["version"] == version + 1
        assert now["follow_up_date"] == winner["follow_up_date"]


def _kbp(config: dict, *args: str) -> str:
    """``kbp ARGS`` as an operator runs it on a third machine: same database, a data folder of its own."""
    out = subprocess.run([*KBP_WITH_TEST_LICENSOR, str(config["keys"]), "--data-dir", config["DATA_DIR"], *args], env=config["env"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _on_every_worker(base: str, path: str, token: str, tries: int = 6) -> set[int]:
    """The statuses of a few requests (each server has two workers: both answer some of them)."""
    return {_call(base, "GET", path, token)[0] for _ in range(tries)}


def test_plugin_state_and_licences_reach_every_server_without_a_restart(two_servers):
    (a, b), config = two_servers
    ids = _people_and_tokens(config)
    admin = ids["admin_token"]
    sample = "/api/v1/frameworks/kbp-sample"
    lindelow = "/api/v1/frameworks/malin-lindelow"
    for base in (a, b):
        assert _on_every_worker(base, sample, admin) == {200}
        assert _on_every_worker(base, lindelow, admin) == {403}  # no licence yet

    _kbp(config, "plugins", "disable", "sample_framework")
    for base in (a, b):  # the next request of every worker of both servers: gone, and listed as disabled
        assert _on_every_worker(base, sample, admin) == {404}
        listed = {p["name"]: p for p in _call(base, "GET", "/api/v1/plugins", admin)[1]}
        assert listed["sample_framework"]["state"] == "disabled"
        assert "kbp-sample" not in {fw["id"] for fw in _call(base, "GET", "/api/v1/frameworks", admin)[1]}

    _kbp(config, "plugins", "enable", "sample_framework")
    for base in (a, b):
        assert _on_every_worker(base, sample, admin) == {200}

    _kbp(config, "license", "install", str(config["licence"]))
    for base in (a, b):
        assert _on_every_worker(base, lindelow, admin) == {200}


def test_a_framework_imported_through_one_server_is_on_the_other_without_a_restart(two_servers):
    """Issue 16: the admin import (page or API) keeps the framework in the database; each worker of each
    server follows the stored imports' revision before its next request."""
    from tests.test_interop_files import WHAT_STANDARDS

    (a, b), config = two_servers
    admin = _people_and_tokens(config)["admin_token"]
    package = json.loads(WHAT_STANDARDS.read_text(encoding="utf-8"))
    status, report = _call(a, "POST", "/api/v1/framework-imports?filename=standards.json", admin, package)
    assert status == 201, report
    assert report["framework"]["id"] == "what-standards-could-be"
    for _ in range(4):  # two workers per server: whichever answers has it
        status, frameworks = _call(b, "GET", "/api/v1/frameworks", admin)
        assert status == 200 and "what-standards-could-be" in {f["id"] for f in frameworks}
        status, detail = _call(b, "GET", "/api/v1/frameworks/what-standards-could-be", admin)
        assert status == 200 and [len(g["competencies"]) for g in detail["groups"]] == [7, 7]
    # removed through the other server: gone from every worker of both at their next request
    status, body = _call(b, "DELETE", "/api/v1/frameworks/what-standards-could-be", admin)
    assert status == 204, body
    for base in (a, b):
        assert _on_every_worker(base, "/api/v1/frameworks/what-standards-could-be", admin) == {404}
        status, frameworks = _call(base, "GET", "/api/v1/frameworks", admin)
        assert status == 200 and "what-standards-could-be" not in {f["id"] for f in frameworks}
