"""The storage interface (core.store) behaves the same on both backends: embedded and PostgreSQL."""
from __future__ import annotations

import threading
import uuid

import pytest

from core.storage import DuplicateIdError, NotFoundError, Storage, StorageError, UniqueViolation
from core.store import CollectionAPI, Store, apply_schema


@pytest.fixture(params=["embedded", "postgres"])
def store(request, tmp_path):
    if request.param == "embedded":
        s = Storage(tmp_path)
    else:
        from core.store.postgres import PostgresStore

        cluster = request.getfixturevalue("pg_cluster")
        s = PostgresStore(cluster.url, schema=f"t_{uuid.uuid4().hex[:12]}", pool_size=4)
    apply_schema(s)
    yield s
    s.close()


def test_both_backends_implement_the_protocols(store):
    assert isinstance(store, Store)
    assert isinstance(store.collection("people"), CollectionAPI)


def test_crud_copies_and_errors(store):
    people = store.collection("people")
    a = people.insert({"name": "Ada", "email": "ada@example.org", "tags": ["x"]})
    assert a["id"] and a["_v"] >= 1
    got = people.get(a["id"])
    got["name"] = "changed"
    assert people.get(a["id"])["name"] == "Ada"  # a copy
    assert people.update(a["id"], {"unit": "HR"})["unit"] == "HR"
    with pytest.raises(NotFoundError):
        people.update("nope", {"x": 1})
    with pytest.raises(DuplicateIdError):
        people.insert({"id": a["id"], "name": "again"})
    assert people.get("") is None and people.get("missing") is None
    assert people.upsert({"id": a["id"], "name": "Ada L", "email": "ada@example.org"})["name"] == "Ada L"
    assert "unit" not in people.get(a["id"])  # upsert replaces the whole record
    assert people.delete(a["id"]) is True
    assert people.delete(a["id"]) is False
    assert people.count() == 0


def test_find_keeps_insertion_order_and_matches_values_exactly(store):
    plans = store.collection("plans")
    for n in range(5):
        plans.insert({"id": f"p{n}", "person_id": "a" if n % 2 == 0 else "b", "n": n, "tags": ["t", str(n)], "x": None})
    plans.update("p0", {"n": 10})  # an update keeps the position
    assert [p["id"] for p in plans.find(person_id="a")] == ["p0", "p2", "p4"]
    assert [p["id"] for p in plans.all()] == ["p0", "p1", "p2", "p3", "p4"]
    assert [p["id"] for p in plans.find(n=3)] == ["p3"]
    assert [p["id"] for p in plans.find(tags=["t", "1"])] == ["p1"]
    assert len(plans.find(x=None)) == 5
    assert plans.find(missing=None) == []
    assert [p["id"] for p in plans.find(person_id="b", n=3)] == ["p3"]
    assert [p["id"] for p in plans.find_any("person_id", ["b", "a", "zz"])] == ["p0", "p1", "p2", "p3", "p4"]
    assert [p["id"] for p in plans.find_any("person_id", ["b"])] == ["p1", "p3"]
    assert plans.find_any("person_id", []) == [] and plans.find_any("nofield", ["a"]) == []
    with plans.transaction() as tx:  # inside a transaction: its own writes count
        tx.insert({"id": "p9", "person_id": "c"})
        assert [p["id"] for p in tx.find_any("person_id", ["c", "b"])] == ["p1", "p3", "p9"]


def test_find_any_by_id_and_map_readonly_over_many_records(store):
    things = store.collection("things")
    with things.transaction() as tx:
        tx.insert_many([{"id": f"t{n:04d}", "n": n} for n in range(4500)])  # more than one batch of a cursor
    assert [t["id"] for t in things.find_any("id", ["t0003", "t0001", "nope", "t0003"])] == ["t0001", "t0003"]
    assert things.map_readonly(lambda d: d["n"]) == list(range(4500))  # every record, in insertion order


def test_transaction_is_all_or_nothing_and_sees_its_own_writes(store):
    coll = store.collection("things")
    coll.insert({"id": "keep", "v": 1})
    with pytest.raises(RuntimeError):
        with coll.transaction() as tx:
            tx.update("keep", {"v": 2})
            tx.insert({"id": "new"})
            assert tx.get("keep")["v"] == 2 and tx.count() == 2
            raise RuntimeError("boom")
    assert coll.get("keep")["v"] == 1 and coll.get("new") is None


def test_unit_of_work_spans_collections(store):
    with pytest.raises(RuntimeError):
        with store.unit_of_work("plans", "plan_history") as uow:
            uow["plans"].insert({"id": "p1"})
            uow["plan_history"].insert({"plan_id": "p1"})
            raise RuntimeError("boom")
    assert store.collection("plans").count() == 0 and store.collection("plan_history").count() == 0
    with store.unit_of_work("plans", "plan_history") as uow:
        uow["plans"].insert({"id": "p1"})
        uow["plan_history"].insert({"plan_id": "p1"})
        with pytest.raises(StorageError):
            uow["people"]
    assert store.collection("plan_history").find(plan_id="p1")


def test_declared_unique_fields_are_enforced(store):
    people = store.collection("people")
    people.insert({"id": "a", "email": "ada@example.org"})
    with pytest.raises(UniqueViolation) as err:
        people.insert({"id": "b", "email": "ada@example.org"})
    assert err.value.field == "email"
    people.insert({"id": "b", "email": None})
    people.insert({"id": "c"})
    with pytest.raises(UniqueViolation):
        people.update("c", {"email": "ada@example.org"})
    with store.unit_of_work("people") as uow:  # a refused write inside a unit of work can be handled
        with pytest.raises(UniqueViolation):
            uow["people"].insert({"id": "d", "email": "ada@example.org"})
        uow["people"].insert({"id": "e", "email": "eve@example.org"})
    assert people.get("e") and not people.get("d")


def test_revision_changes_with_every_commit(store):
    coll = store.collection("audit")
    r0 = coll.revision()
    coll.insert({"subject_id": "x"})
    r1 = coll.revision()
    assert r1 != r0
    assert coll.revision() == r1
    with store.unit_of_work("audit"):
        pass  # nothing written: no new revision
    assert coll.revision() == r1


def test_concurrent_read_modify_write_loses_nothing(store):
    """Writers of one collection take turns: 4 threads x 25 increments give 100."""
    coll = store.collection("counters")
    coll.insert({"id": "c", "n": 0})
    errors = []

    def work():
        try:
            for _ in range(25):
                with coll.transaction() as tx:
                    tx.update("c", {"n": tx.get("c")["n"] + 1})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert coll.get("c")["n"] == 100


def test_collection_names_lists_collections_with_data(store):
    store.collection("alpha").insert({"id": "1"})
    store.collection("beta")
    assert "alpha" in store.collection_names() and "beta" not in store.collection_names()
