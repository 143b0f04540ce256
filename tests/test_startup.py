"""kbp serve's start (issue 20: ready within 10 s at 10k people / 20k plans / 50k activities):
the embedded store's load cache, the content files parsed once with libyaml, and the collector
kept off until the freeze before the fork."""
from __future__ import annotations

import gc
import glob
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from core import content, warmup
from core import storage as storage_mod
from core.storage import Storage, load_cache_path

pytestmark = pytest.mark.embedded_only  # the embedded store's files and kbp serve's master

ROOT = Path(__file__).resolve().parent.parent
TEXT = {"en": "Gives feedback that helps the other person grow.", "sv": "Ger återkoppling som hjälper den andra att växa."}


@pytest.fixture
def cached(monkeypatch):
    monkeypatch.setattr(storage_mod, "CACHE_MIN_BYTES", 0)  # every snapshot gets one (16 MiB and up by default)


def _fill(folder: Path, n: int = 60) -> None:
    plans = Storage(folder).collection("plans")
    plans.insert_many([{"id": f"p{i}", "coach_id": f"c{i % 4}", "focus": [{"name": dict(TEXT), "tags": ["a", "b"]}],
                        "score": i / 3, "done": i % 2 == 0, "note": None} for i in range(n)])
    plans.compact()  # records in the snapshot (the cache is the snapshot's), one change in the log
    plans.update("p1", {"goal": "Lead the Monday meeting"})


def _loaded(folder: Path):
    store = Storage(folder).collection("plans")
    store.build_indexes("coach_id")
    return store


def test_a_collection_loaded_from_the_cache_equals_the_parsed_one_with_its_texts_shared(tmp_path, cached, monkeypatch):
    _fill(tmp_path)
    parsed = _loaded(tmp_path)  # parses the snapshot, writes the cache
    assert load_cache_path(tmp_path / "plans.json").is_file()

    def no_parsing(*_args):
        raise AssertionError("the snapshot was parsed although its cache matches")

    monkeypatch.setattr(storage_mod._AtomicJSONStorage, "_parse", no_parsing)
    cached_plans = _loaded(tmp_path)
    a, b = parsed._store, cached_plans._store
    assert b.docs == a.docs and list(b.docs) == list(a.docs)  # records and their order
    assert b.docs["p1"]["goal"] == "Lead the Monday meeting"  # the log applied on top
    assert b.pos == a.pos and b.indexes == a.indexes and b.gen == a.gen
    assert cached_plans.find(coach_id="c1") == parsed.find(coach_id="c1")
    first, second = b.docs["p2"]["focus"][0], b.docs["p3"]["focus"][0]
    assert first["name"] is second["name"] and first["tags"] is second["tags"]  # one object per repeated text
    assert b.sharing.strings == a.sharing.strings and b.sharing.maps.keys() == a.sharing.maps.keys()
    assert b.sharing.maps[(True, *TEXT.items())] is first["name"]  # later records share with it too
    with Storage(tmp_path).collection("plans").transaction() as tx:
        tx.insert({"id": "p-new", "focus": [{"name": dict(TEXT)}]})
    assert cached_plans.get("p-new")["focus"][0]["name"] == TEXT  # another process's write is seen
    assert cached_plans._store.docs["p-new"]["focus"][0]["name"] is first["name"]


def test_a_cache_of_other_bytes_or_damaged_is_never_used(tmp_path, cached):
    _fill(tmp_path)
    expected = _loaded(tmp_path)._store.docs
    cache = load_cache_path(tmp_path / "plans.json")
    good = cache.read_bytes()
    # made from other records: a copy of another folder's cache
    other = tmp_path / "other"
    other.mkdir()
    _fill(other, n=5)
    _loaded(other)
    cache.write_bytes(load_cache_path(other / "plans.json").read_bytes())
    assert _loaded(tmp_path)._store.docs == expected
    assert cache.read_bytes() == good  # written again for these bytes
    for damaged in (good[:-10], good[:-10] + b"0123456789", b"", b"KBP load cache 1\nnot json\n", good.replace(b"\"python\":[", b"\"python\":[2,")):
        cache.write_bytes(damaged)
        assert _loaded(tmp_path)._store.docs == expected


def test_replacing_the_snapshot_removes_its_cache_so_an_erase_leaves_no_copy(tmp_path, cached):
    _fill(tmp_path)
    plans = _loaded(tmp_path)
    cache = load_cache_path(tmp_path / "plans.json")
    assert b"p7" in cache.read_bytes()
    plans.delete("p7")
    Storage(tmp_path).purge_history()  # what an erase does: every collection compacted
    assert not cache.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.is_file() and b'"p7"' in p.read_bytes()]
    assert leftovers == []
    assert _loaded(tmp_path).get("p7") is None and cache.exists()  # a new one, without p7
    assert b"p7" not in cache.read_bytes()


def test_a_restore_removes_the_caches_of_the_replaced_snapshots(tmp_path, cached):
    from core import backup

    data = tmp_path / "data"
    data.mkdir()
    _fill(data)
    _loaded(data)
    backup.backup(data, tmp_path / "b.tar.gz")
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        assert not [n for n in tar.getnames() if n.endswith(".cache")]  # not in backups
    plans = Storage(data).collection("plans")
    plans.insert({"id": "p-after-the-backup"})
    plans.compact()
    _loaded(data)
    cache = load_cache_path(data / "plans.json")
    assert b"p-after-the-backup" in cache.read_bytes()
    backup.restore(data, tmp_path / "b.tar.gz", keep_replaced=False)
    assert not cache.exists() or b"p-after-the-backup" not in cache.read_bytes()
    assert _loaded(data).count() == 60


def test_small_snapshots_get_no_cache(tmp_path):
    _fill(tmp_path)
    _loaded(tmp_path)
    assert storage_mod.CACHE_MIN_BYTES == 16 * 1024 * 1024
    assert not load_cache_path(tmp_path / "plans.json").exists()


def test_content_files_parse_once_to_the_same_data_and_lines_as_pyyaml_alone():
    files = sorted(glob.glob(str(ROOT / "frameworks/**/*.yaml"), recursive=True))
    assert len(files) >= 4
    assert content._FAST_LOADER is yaml.CSafeLoader  # the wheels bring libyaml
    for name in files:
        text = Path(name).read_text(encoding="utf-8")
        data, node = content._parse_yaml(text)
        assert data == yaml.safe_load(text), name
        slow = yaml.compose(text, Loader=yaml.SafeLoader)
        assert [n.start_mark.line for n in _walk(node)] == [n.start_mark.line for n in _walk(slow)], name


def _walk(node):
    yield node
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield from _walk(k)
            yield from _walk(v)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            yield from _walk(v)


def test_yaml_errors_are_pyyamls_own(monkeypatch):
    text = "name: [unclosed\nother: 1\n"
    with pytest.raises(yaml.MarkedYAMLError) as fast:
        content._parse_yaml(text)
    with pytest.raises(yaml.MarkedYAMLError) as slow:
        yaml.safe_load(text)
    assert str(fast.value) == str(slow.value)


def test_kbp_serve_keeps_the_collector_off_until_the_freeze_then_on_with_the_loaded_heap_frozen(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from core import cli, wsgi

    seen = {}

    def fake_run(self):
        seen["enabled"] = gc.isenabled()
        seen["frozen"] = gc.get_freeze_count()

    def fake_warm_up(app):
        seen["during warm-up"] = gc.isenabled()
        return {}

    monkeypatch.setattr(wsgi.GunicornApp, "run", fake_run)
    monkeypatch.setattr(warmup, "warm_up", fake_warm_up)
    collections = []
    monkeypatch.setattr(gc, "collect", lambda *a: collections.append(a) or 0)
    try:
        result = CliRunner().invoke(cli.main, ["--data-dir", str(tmp_path), "serve", "--workers", "2"])
        assert result.exit_code == 0, result.output
        assert seen == {"during warm-up": False, "enabled": True, "frozen": seen["frozen"]} and seen["frozen"] > 0
        assert collections == []  # no walk over the loaded heap before the fork
    finally:
        gc.unfreeze()
        gc.enable()


def test_the_collector_is_back_on_when_building_the_app_fails(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from core import cli

    monkeypatch.setenv("KBP_CONFIG", str(tmp_path / "missing.toml"))  # create_app stops at once
    assert gc.isenabled()
    result = CliRunner().invoke(cli.main, ["--data-dir", str(tmp_path), "serve"])
    try:
        assert result.exit_code != 0
        assert gc.isenabled()
    finally:
        gc.enable()


def test_warm_up_leaves_the_collector_as_it_found_it(tmp_path, make_app):
    app = make_app()
    gc.disable()
    try:
        warmup.warm_up(app)
        assert not gc.isenabled()
    finally:
        gc.enable()
    warmup.warm_up(app)
    assert gc.isenabled()


def test_a_copied_data_folder_keeps_using_the_cache(tmp_path, cached, monkeypatch):
    """The cache names the snapshot by its bytes, not by its file: a copied folder starts fast too."""
    src = tmp_path / "a"
    src.mkdir()
    _fill(src)
    expected = _loaded(src)._store.docs
    dst = tmp_path / "b"
    shutil.copytree(src, dst)

    def no_parsing(*_args):
        raise AssertionError("parsed")

    monkeypatch.setattr(storage_mod._AtomicJSONStorage, "_parse", no_parsing)
    assert _loaded(dst)._store.docs == expected


def test_sharing_replaces_a_repeated_map_or_list_of_texts_by_the_first_one_and_keys_it_by_shared_texts():
    sharing = storage_mod._Sharing()
    docs = [{"name": {"en": "Ada" + "!" * (n % 2), "sv": "Ada"}, "tags": ["a" + str(n % 2), "b"], "n": n,
             "nested": [{"name": {"en": "x", "sv": "y"}}]} for n in range(4)]
    docs = [storage_mod.orjson.loads(storage_mod.orjson.dumps(d)) for d in docs]  # no str shared by the literals
    for doc in docs:
        sharing.share(doc)
    assert docs[0]["name"] is docs[2]["name"] and docs[1]["name"] is docs[3]["name"]
    assert docs[0]["name"] is not docs[1]["name"] and docs[0]["name"]["sv"] is docs[1]["name"]["sv"]
    assert docs[0]["tags"] is docs[2]["tags"] and docs[0]["tags"][1] is docs[1]["tags"][1]
    assert docs[0]["nested"][0]["name"] is docs[3]["nested"][0]["name"]
    for key in sharing.maps:  # the keys hold the shared texts, not the copies of the record that added them
        for part in key[1:]:
            text = part[1] if key[0] else part  # (language, text) of a map; a list's text
            assert sharing.strings[text] is text
    later = storage_mod.orjson.loads(storage_mod.orjson.dumps({"name": {"en": "Ada", "sv": "Ada"},
                                                               "other": {"en": "new", "sv": "Ada"}}))
    sharing.share(later, grow=False)  # records replayed after loading: matched, not added
    assert later["name"] is docs[0]["name"] and later["other"]["sv"] is docs[0]["name"]["sv"]
    assert (True, ("en", "new"), ("sv", "Ada")) not in sharing.maps and "new" not in sharing.strings


def test_warm_up_first_collects_what_building_the_app_left_in_cycles(make_app):
    import weakref

    class Node:
        pass

    app = make_app()
    gc.disable()
    try:
        node = Node()
        node.me = node  # garbage only the cyclic collector finds
        gone = weakref.ref(node)
        del node
        warmup.warm_up(app)
        assert gone() is None
    finally:
        gc.enable()
