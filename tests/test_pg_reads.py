"""PostgreSQL read paths that must stay correct across servers while asking the database less:
kept plan documents (checked against the row at every read), one revision read per request, the
coach's plan list in a fixed number of queries, statistics after ``kbp db copy``.

Two ``PostgresStore`` objects on one schema play two servers (no shared memory, one database).
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager

import psycopg
import pytest


@pytest.fixture
def two_servers(pg_cluster):
    from core.store.postgres import PostgresStore

    schema = f"r_{uuid.uuid4().hex[:12]}"
    a = PostgresStore(pg_cluster.url, schema=schema)
    b = PostgresStore(pg_cluster.url, schema=schema)
    yield a, b
    a.close()
    b.close()


@contextmanager
def statements():
    """Every SQL statement psycopg sends in the block (all connections of this process)."""
    sent: list[str] = []
    original = psycopg.Cursor.execute

    def spy(self, query, params=None, **kwargs):
        sent.append(query.as_string(self.connection) if hasattr(query, "as_string") else str(query))
        return original(self, query, params, **kwargs)

    psycopg.Cursor.execute = spy
    try:
        yield sent
    finally:
        psycopg.Cursor.execute = original


def _plan(pid: str, person: str, goal: str, version: int = 1) -> dict:
    return {"id": pid, "person_id": person, "coach_id": "c", "version": version, "focus": [{"goal": goal}],
            "updated_at": 1.0}


def test_kept_plan_documents_are_served_only_while_the_row_is_unchanged(two_servers):
    a, b = two_servers
    b.collection("plans").insert(_plan("p1", "e1", "Lyssna"))
    b.collection("plans").insert(_plan("p2", "e2", "Leda"))
    plans = a.collection("plans")
    assert [p["focus"][0]["goal"] for p in plans.find_any("person_id", ["e1", "e2"])] == ["Lyssna", "Leda"]

    with statements() as sent:  # read again: the stamps only, no document leaves the database
        again = plans.find_any("person_id", ["e1", "e2"])
    assert [p["id"] for p in again] == ["p1", "p2"]
    assert not [q for q in sent if "doc" in q], sent
    again[0]["focus"][0]["goal"] = "changed by a caller"  # a copy: the kept one stays as read
    assert plans.find(person_id="e1")[0]["focus"][0]["goal"] == "Lyssna"

    # the other server edits, deletes, re-creates under the same id and version, adds: seen at once
    b.collection("plans").update("p1", {"focus": [{"goal": "Lyssna aktivt"}]})
    b.collection("plans").delete("p2")
    b.collection("plans").insert(_plan("p2", "e2", "Delegera"))  # same id, version 1 again
    b.collection("plans").insert(_plan("p3", "e1", "Ge återkoppling"))
    assert [(p["id"], p["focus"][0]["goal"]) for p in plans.find_any("person_id", ["e1", "e2"])] == [
        ("p1", "Lyssna aktivt"), ("p2", "Delegera"), ("p3", "Ge återkoppling")]
    assert [p["id"] for p in plans.find(person_id="e1")] == ["p1", "p3"]
    b.collection("plans").delete("p1")
    assert [p["id"] for p in plans.find(person_id="e1")] == ["p3"]


def _kept_bytes(store) -> list[bytes]:
    return [data for _stamp, data in store._docs._docs.values()]


def test_an_erasure_on_one_server_empties_what_every_worker_keeps_at_its_next_request(two_servers):
    """Kept documents are never served once their row changed, but an erased person's plan, name
    and sessions must not stay in any worker's memory either (until an LRU happened to evict them)."""
    from core import people as people_mod

    a, b = two_servers
    secret_text = "Min privata reflektion om feedback"
    b.collection("people").insert({"id": "e1", "name": "Eva Raderas", "email": "eva@example.org", "status": "active"})
    b.collection("people").insert({"id": "e2", "name": "Kvar Kvist", "email": "kvar@example.org", "status": "active"})
    b.collection("plans").insert(_plan("p1", "e1", secret_text))
    b.collection("plans").insert(_plan("p2", "e2", "Leda möten"))

    def request(store, fn):
        store.begin_request()
        try:
            return fn()
        finally:
            store.end_request()

    for store in (a, b):  # both workers read (and keep) the person and the plans
        request(store, lambda s=store: (s.collection("people").get("e1"), s.collection("people").get("e2"),
                                        s.collection("plans").find_any("person_id", ["e1", "e2"])))
        assert any(secret_text.encode() in d for d in _kept_bytes(store))
        assert any(b"Eva Raderas" in d for d in _kept_bytes(store))

    people_mod.erase(b, "e1", "a-secret")
    assert not any(secret_text.encode() in d or b"Eva Raderas" in d for d in _kept_bytes(b))  # at once here
    assert any(secret_text.encode() in d for d in _kept_bytes(a))  # the other server has not asked yet

    left = request(a, lambda: (a.collection("people").get("e1"), [p["id"] for p in a.collection("plans").find_any(
        "person_id", ["e1", "e2"])]))
    assert left == (None, ["p2"])
    assert not any(secret_text.encode() in d or b"Eva Raderas" in d for d in _kept_bytes(a))
    assert any("Leda möten".encode() in d for d in _kept_bytes(a))  # what it read since is kept again

    # the counter is no collection: not listed, not copied, and a second erasure is noticed too
    assert "kbp:purged" not in a.collection_names() and "plans" in a.collection_names()
    b.collection("plans").insert(_plan("p3", "e3", "Tredje planen"))
    request(a, lambda: a.collection("plans").find_any("person_id", ["e3"]))
    people_mod.erase(b, "e3", "a-secret")
    request(a, lambda: a.collection("people").get("e2"))
    assert not any("Tredje planen".encode() in d for d in _kept_bytes(a))


def test_a_read_that_began_before_an_erasure_was_noticed_keeps_nothing(two_servers):
    """Another thread of the worker may have read a document before the erase and put it after
    the worker dropped everything: that copy is not kept."""
    from core.store import postgres

    a, b = two_servers
    b.collection("plans").insert(_plan("p1", "e1", "Läst före raderingen"))
    kept = a._docs
    real_put = kept.put

    def put_after_a_purge(key, stamp, data, generation):  # the erase lands between the read and the put
        postgres.PostgresStore.purge_history(b)
        a.begin_request()
        try:
            a.revisions(["plans"])  # this worker's next revision read notices it
        finally:
            a.end_request()
        real_put(key, stamp, data, generation)

    kept.put = put_after_a_purge
    try:
        assert a.collection("plans").find(person_id="e1")[0]["focus"][0]["goal"] == "Läst före raderingen"
    finally:
        kept.put = real_put
    assert not any("Läst före raderingen".encode() in d for d in _kept_bytes(a))
    a.collection("plans").find(person_id="e1")
    assert any("Läst före raderingen".encode() in d for d in _kept_bytes(a))  # read anew, it is kept again


def test_reads_inside_a_unit_of_work_see_its_own_writes_and_a_rollback_leaves_nothing_kept(two_servers):
    a, _b = two_servers
    plans = a.collection("plans")
    plans.insert(_plan("p1", "e1", "Lyssna"))
    assert plans.find(person_id="e1")[0]["focus"][0]["goal"] == "Lyssna"
    with pytest.raises(RuntimeError):
        with a.unit_of_work("plans") as uow:
            uow["plans"].update("p1", {"focus": [{"goal": "Utkast"}]})
            assert plans.find(person_id="e1")[0]["focus"][0]["goal"] == "Utkast"
            raise RuntimeError("cancelled")
    assert plans.find(person_id="e1")[0]["focus"][0]["goal"] == "Lyssna"


def test_a_request_reads_the_revisions_once_and_sees_its_own_commits(two_servers):
    a, b = two_servers
    people, plans = a.collection("people"), a.collection("plans")
    a.begin_request()
    try:
        with statements() as sent:
            before = (people.revision(), plans.revision())
            assert (people.revision(), plans.revision()) == before
        assert len([q for q in sent if "kbp_revisions" in q]) == 1, sent
        b.collection("plans").insert(_plan("p9", "e9", "x"))  # another server, during our request
        assert plans.revision() == before[1]  # seen at the next request
        people.insert({"id": "n", "name": "Nils", "email": "nils@example.org"})  # our own commit: seen now
        assert people.revision() != before[0]
        assert plans.revision() != before[1]
    finally:
        a.end_request()
    a.begin_request()
    try:
        assert plans.revision() != before[1]
    finally:
        a.end_request()
    with statements() as sent:  # outside a request: every call asks, as before
        plans.revision()
        plans.revision()
    assert len([q for q in sent if "kbp_revisions" in q]) == 2


def test_an_app_request_reads_the_revisions_once(make_app):
    from tests.conftest import BACKEND

    if BACKEND != "postgres":
        pytest.skip("the embedded store's revisions are file stamps")
    client = make_app().test_client()
    client.get("/healthz")
    with statements() as sent:
        assert client.get("/api/v1/activities/search?q=ledarskap").status_code in (200, 401)
    assert len([q for q in sent if "kbp_revisions" in q]) == 1, sent


def test_the_coach_plan_list_takes_the_same_number_of_queries_for_any_number_of_coachees(two_servers):
    from core import plans as rules
    from core.auth import Account

    a, _b = two_servers
    coach = Account("acc-c", "coach", "coach", "c")
    a.collection("people").insert({"id": "c", "name": "Coach", "email": "c@example.org"})

    def listed_with(n: int) -> tuple[int, list[str]]:
        for i in range(n):
            pid = f"e{n}-{i}"
            a.collection("people").insert({"id": pid, "name": pid, "email": f"{pid}@example.org", "coach_id": "c"})
            a.collection("plans").insert({**_plan(f"p{n}-{i}", pid, "g"), "updated_at": float(n * 100 + i)})
        with statements() as sent:
            found = rules.visible_plans(a, coach)
        return len(sent), [p["id"] for p, rel in found if rel == "coach"]

    few, listed = listed_with(2)
    assert listed == ["p2-1", "p2-0"]
    many, listed = listed_with(12)
    assert len(listed) == 14 and listed[0] == "p12-11"
    assert many == few


def test_db_copy_leaves_postgres_with_statistics(tmp_path, pg_cluster):
    from core.dbcopy import copy_store
    from core.storage import Storage
    from core.store.postgres import PostgresStore

    src = Storage(tmp_path / "src")
    src.collection("plans").insert(_plan("p1", "e1", "g"))
    dst = PostgresStore(pg_cluster.url, schema=f"s_{uuid.uuid4().hex[:12]}")
    try:
        copy_store(src, dst)
        with dst._connection() as conn:
            analyzed = conn.execute("SELECT last_analyze, last_vacuum FROM pg_stat_user_tables WHERE relname = 'kbp_plans' "
                                    "AND schemaname = %s", (dst.schema,)).fetchone()
        assert analyzed is not None and analyzed[0] is not None and analyzed[1] is not None  # vacuumed too
    finally:
        dst.close()


def test_who_is_asking_is_read_once_per_revision_and_an_edit_anywhere_is_seen_at_the_next_request(two_servers):
    a, b = two_servers
    b.collection("people").insert({"id": "p", "name": "Pia", "email": "pia@example.org", "coach_id": "c", "status": "active"})
    people = a.collection("people")

    def request(fn):
        a.begin_request()
        try:
            with statements() as sent:
                return fn(), [q for q in sent if "kbp_revisions" not in q]
        finally:
            a.end_request()

    assert request(lambda: people.get("p")["name"])[0] == "Pia"
    (name, coached), asked = request(lambda: (people.get("p")["name"], [x["id"] for x in people.find(coach_id="c")]))
    (_again, asked_again) = request(lambda: (people.get("p"), people.find(coach_id="c")))
    assert (name, coached) == ("Pia", ["p"]) and asked and not asked_again  # the second request asks nothing but revisions
    got = request(lambda: people.get("p"))[0]
    got["name"] = "changed by a caller"  # a copy
    assert request(lambda: people.get("p")["name"])[0] == "Pia"

    b.collection("people").update("p", {"status": "left"})  # another server: seen at the next request
    assert request(lambda: people.get("p")["status"])[0] == "left"
    b.collection("people").insert({"id": "q", "name": "Q", "email": "q@example.org", "coach_id": "c"})
    assert request(lambda: [x["id"] for x in people.find(coach_id="c")])[0] == ["p", "q"]
    b.collection("people").delete("q")
    assert request(lambda: people.get("q"))[0] is None

    a.begin_request()  # our own write in a request: seen at once
    try:
        assert people.get("p")["name"] == "Pia"
        people.update("p", {"name": "Pia B"})
        assert people.get("p")["name"] == "Pia B"
    finally:
        a.end_request()
    b.collection("people").update("p", {"name": "Pia C"})  # outside a request: always asked
    assert people.get("p")["name"] == "Pia C"


def test_activities_lately_shown_are_kept_only_until_an_edit_anywhere(two_servers):
    """A lean worker keeps the in-house activities it showed lately, for as long as the collection's
    revision (read once per request) stays the same: a page showing them again asks the database
    nothing more, and an edit or removal on another server is seen at the next request."""
    from plugins import activities_inhouse
    from plugins.activities_inhouse import InhouseActivities

    a, b = two_servers
    mine, theirs = InhouseActivities(), InhouseActivities()
    mine.attach(a)
    theirs.attach(b)
    assert mine.lean

    def record(aid: str, title: str) -> dict:
        return {"id": aid, "title": {"sv": title}, "description": {"sv": "Gör så här."}, "competencies": ["fw:c"],
                "kind": "training", "effort": "hours", "source_language": "sv"}

    for i in range(4):
        theirs.create(record(f"a{i}", f"Aktivitet {i}"))

    def request(ids):
        a.begin_request()
        try:
            with statements() as sent:
                found = mine.activities_by_id(ids)
            return {i: act.title for i, act in found.items()}, [q for q in sent if "kbp_revisions" not in q]
        finally:
            a.end_request()

    titles, asked = request(["a0", "a1", "nope"])
    assert titles == {"a0": "Aktivitet 0", "a1": "Aktivitet 1"} and asked
    titles, asked = request(["a1", "a0"])
    assert titles == {"a1": "Aktivitet 1", "a0": "Aktivitet 0"} and not asked  # kept: no query
    titles, asked = request(["a0", "a2"])  # one kept, one read
    assert titles == {"a0": "Aktivitet 0", "a2": "Aktivitet 2"} and len(asked) == 1

    theirs.update("a0", {"title": {"sv": "Ändrad"}})
    titles, asked = request(["a0", "a1"])
    assert titles == {"a0": "Ändrad", "a1": "Aktivitet 1"} and asked  # another server's edit: read anew
    b.collection(activities_inhouse.COLLECTION).delete("a1")
    assert request(["a0", "a1"])[0] == {"a0": "Ändrad"}


def test_the_activities_kept_are_bounded(two_servers, monkeypatch):
    from plugins import activities_inhouse
    from plugins.activities_inhouse import InhouseActivities

    monkeypatch.setattr(activities_inhouse, "KEPT_ACTIVITIES", 5)
    a, _b = two_servers
    source = InhouseActivities()
    source.attach(a)
    for i in range(12):
        source.create({"id": f"k{i}", "title": {"sv": f"T{i}"}, "description": {"sv": ""}, "competencies": [],
                       "kind": "training", "effort": "hours"})
    a.begin_request()
    try:
        assert len(source.activities_by_id([f"k{i}" for i in range(12)])) == 12
        assert len(source._kept) == 5
    finally:
        a.end_request()


def test_a_page_asks_for_the_session_and_the_notifications_once_per_revision(make_app):
    """A signed-in page reads the session (sign-out everywhere must hold) and the unread
    notifications (the bell): while neither collection changes, the next page asks only the
    revisions; ending the session elsewhere is seen at the very next request."""
    from core import sessions
    from tests.conftest import BACKEND
    from tests.helpers import signed_in_client

    if BACKEND != "postgres":
        pytest.skip("the embedded store keeps these in memory already")
    app = make_app()
    client = signed_in_client(app, "coach")
    assert client.get("/frameworks/kbp-sample").status_code == 200
    with statements() as sent:
        assert client.get("/frameworks/kbp-sample").status_code == 200
    assert [q for q in sent if "kbp_revisions" not in q] == [], sent
    with client.session_transaction() as sess:
        sid = sess["sid"]
    sessions.end_session(app.extensions["kbp"].storage, sid)
    with statements() as sent:
        response = client.get("/frameworks/kbp-sample")
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
    assert any("kbp_sessions" in q for q in sent)
