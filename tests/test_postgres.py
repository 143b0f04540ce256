"""PostgreSQL-specific behaviour: moving data between backends, faults, health, several servers."""
from __future__ import annotations

import time
import uuid

import pytest
from click.testing import CliRunner

from core.cli import main
from tests import pgcluster


@pytest.fixture
def pg_url(pg_cluster):
    """A URL whose connections land in a schema of their own (so tests never see each other's data),
    and a store on that schema (which creates it)."""
    from core.store.postgres import PostgresStore

    schema = f"c_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in pg_cluster.url else "?"
    store = PostgresStore(pg_cluster.url, schema=schema)
    yield f"{pg_cluster.url}{sep}options=-csearch_path%3D{schema}", store
    store.close()


def _run(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def test_db_copy_both_ways_keeps_every_record_and_refuses_to_overwrite(tmp_path, pg_url, monkeypatch):
    from core.storage import Storage

    url, pg = pg_url
    src = tmp_path / "src"
    store = Storage(src)
    store.collection("people").insert({"id": "a", "name": "Åsa Öberg", "email": "asa@example.org"})
    store.collection("people").insert({"id": "b", "name": "Bo", "email": "bo@example.org", "coach_id": "a"})
    store.collection("plans").insert({"id": "p", "person_id": "b", "focus": [{"id": "x", "goal": "Tala ”tydligt”"}]})
    secret = store.shared_secret("secret_key")
    result = _run("db", "copy", "--from", str(src), "--to", url)
    assert result.exit_code == 0, result.output
    assert "people: 2 records copied and verified" in result.output
    assert [p["id"] for p in pg.collection("people").all()] == ["a", "b"]
    assert pg.collection("plans").get("p")["focus"][0]["goal"] == "Tala ”tydligt”"
    assert pg.collection("people").find(coach_id="a")[0]["id"] == "b"
    assert pg.shared_secret("secret_key") == secret  # sessions survive the move

    again = _run("db", "copy", "--from", str(src), "--to", url)
    assert again.exit_code != 0 and "already holds data" in again.output and "--force" in again.output

    back = tmp_path / "back"
    result = _run("db", "copy", "--from", url, "--to", str(back))
    assert result.exit_code == 0, result.output
    copied = Storage(back)
    assert copied.collection("people").all() == store.collection("people").all()
    assert copied.collection("plans").all() == store.collection("plans").all()


def test_backup_on_postgres_names_the_database_tools(tmp_path, pg_url, monkeypatch):
    monkeypatch.setenv("KBP_DATABASE_URL", pg_url[0])
    result = _run("backup", str(tmp_path / "b.tar.gz"))
    assert result.exit_code != 0 and "pg_dump" in result.output


def test_unreachable_database_at_start_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KBP_DATABASE_URL", f"postgresql://nobody@/kbp?host={tmp_path}/no-such-socket&connect_timeout=1")
    monkeypatch.setenv("KBP_DATABASE_POOL_TIMEOUT", "1")
    result = _run("migrate")
    assert result.exit_code != 0
    assert "database cannot be reached" in result.output


def test_healthz_names_the_backend(make_app):
    from tests.conftest import BACKEND

    response = make_app().test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "backend": "postgresql" if BACKEND == "postgres" else "embedded",
        "database": "reachable",
    }


def test_database_lost_while_running_answers_503_and_recovers(make_app, monkeypatch, tmp_path):
    """A cluster of its own, stopped under a running app: JSON 503 for the API, a 503 page for
    the web, /healthz says so; started again, the same app serves without a restart."""
    if not pgcluster.available():
        pytest.skip("PostgreSQL is not installed")
    monkeypatch.delenv("KBP_TEST_DATABASE_URL", raising=False)
    cluster = pgcluster.Cluster()
    cluster.url = ""
    cluster.start()
    try:
        monkeypatch.setenv("KBP_DATABASE_POOL_TIMEOUT", "2")
        app = make_app(DATABASE_URL=cluster.url, DATABASE_SCHEMA="kbp")
        client = app.test_client()
        assert client.get("/api/v1/people").status_code == 200
        cluster.pause()
        api = client.get("/api/v1/people")
        assert api.status_code == 503, api.get_data(as_text=True)
        assert api.get_json()["code"] == "database_unavailable" and api.headers["Retry-After"]
        page = client.get("/plans")
        assert page.status_code == 503 and "text/html" in page.content_type
        assert client.get("/healthz").status_code == 503
        cluster.resume()
        deadline = time.monotonic() + 30  # the pool reconnects in the background, with back-off
        while client.get("/api/v1/people").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert client.get("/api/v1/people").status_code == 200
        assert client.get("/healthz").get_json()["database"] == "reachable"
    finally:
        cluster.stop()
