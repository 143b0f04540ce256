"""The plugin system, seen from outside: plugins installed or configured the documented way, and
plugins broken in every way we know of — each reported by name with the reason while the rest of
the app keeps working. Also the hook meta-tests: every hookspec is exercised by a test plugin and
documented in the README's hook reference.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from core import hookspecs
from core.plugins import HOOK_NAMES, PluginManager, discover, set_enabled
from tests.conftest import ROOT, THIRDPARTY_LOCALES, THIRDPARTY_SPEC, plugin_record, plugin_spec
from tests.plugins import thirdparty

TP_FW = thirdparty.FRAMEWORK
TP_COMPS = [comp for group in TP_FW["groups"] for comp in group["competencies"]]


def implemented_hooks(module) -> set[str]:
    """Names of the functions in ``module`` marked with ``@hookimpl``."""
    marker = f"{hookspecs.PROJECT}_impl"
    return {name for name in dir(module) if hasattr(getattr(module, name), marker)}


def swedish(msgid: str) -> str:
    """The Swedish translation the third-party plugin ships for ``msgid`` (read from its .po file)."""
    po = THIRDPARTY_LOCALES / "sv" / "LC_MESSAGES" / f"{thirdparty.DOMAIN}.po"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale="sv")
    message = catalog.get(msgid)
    assert message is not None and message.string, f"no Swedish translation for {msgid!r} in {po}"
    return message.string


@pytest.fixture
def thirdparty_app(make_app, thirdparty_dist, thirdparty_locales, ui_locales_sv):
    """An app with the third-party plugin installed as a distribution."""
    return make_app(
        LOCALES_DIR=str(ui_locales_sv),
        **{thirdparty.LOCALES_SETTING: str(thirdparty_locales)},
    )


@pytest.fixture
def tp_client(thirdparty_app):
    return thirdparty_app.test_client()


# --------------------------------------------------------------------------- what each hook contributes


def check_frameworks(client) -> None:
    listed = {fw["id"]: fw for fw in client.get("/api/v1/frameworks?lang=en").get_json()}
    assert TP_FW["id"] in listed
    summary = listed[TP_FW["id"]]
    assert summary["name"] == TP_FW["name"]
    assert summary["version"] == TP_FW["version"]
    assert summary["plugin"] == "thirdparty"
    assert summary["competency_count"] == len(TP_COMPS)

    detail = client.get(f"/api/v1/frameworks/{TP_FW['id']}?lang=en")
    assert detail.status_code == 200
    body = detail.get_json()
    assert body["description"] == TP_FW["description"]
    assert body["licence_notice"] == TP_FW["licence_notice"]
    assert [g["id"] for g in body["groups"]] == [g["id"] for g in TP_FW["groups"]]
    got = [(c["id"], c["global_id"], c["name"], c["definition"]) for g in body["groups"] for c in g["competencies"]]
    want = [(c["id"], f"{TP_FW['id']}:{c['id']}", c["name"], c["definition"]) for c in TP_COMPS]
    assert got == want


def check_question_sets(client) -> None:
    qs = thirdparty.QUESTION_SET
    for question in qs["questions"]:
        framework_id, competency_id = question["competency"].split(":")
        body = client.get(f"/api/v1/frameworks/{framework_id}/competencies/{competency_id}?lang=en").get_json()
        matching = [q for q in body["questions"] if q["id"] == question["id"]]
        assert matching, body["questions"]
        got = matching[0]
        assert got["question_set"] == qs["id"]
        assert got["kind"] == qs["kind"]
        assert got["text"] == question["text"]
        assert got["direction"] == question["direction"]
        assert got["situations"] == question["situations"]


def check_activity_sources(client) -> None:
    for activity in thirdparty.ACTIVITIES:
        for global_id in activity["competencies"]:
            framework_id, competency_id = global_id.split(":")
            body = client.get(f"/api/v1/frameworks/{framework_id}/competencies/{competency_id}?lang=en").get_json()
            matching = [a for a in body["activities"] if a["id"] == activity["id"]]
            assert matching, body["activities"]
            got = matching[0]
            assert got["source"] == thirdparty.CraftActivities.id
            for key in ("title", "description", "kind", "effort", "situations", "provider", "url", "competencies"):
                assert got[key] == activity[key], key
    # an activity for one competency does not leak onto the other one
    other = next(c for c in TP_COMPS if all(f"{TP_FW['id']}:{c['id']}" not in a["competencies"] for a in thirdparty.ACTIVITIES))
    body = client.get(f"/api/v1/frameworks/{TP_FW['id']}/competencies/{other['id']}").get_json()
    assert body["activities"] == []


def check_exporters(client) -> None:
    exporters = {e["id"]: e for e in client.get("/api/v1/exporters?lang=en").get_json()}
    exp = thirdparty.PlainTextExporter
    assert exp.id in exporters
    assert exporters[exp.id] == {
        "id": exp.id,
        "title": exp.title,
        "subject": exp.subject,
        "media_type": exp.media_type,
        "extension": exp.extension,
        "plugin": "thirdparty",
    }


def check_locale_dirs(client) -> None:
    sv = client.get(f"/api/v1/frameworks/{TP_FW['id']}?lang=sv")
    assert sv.status_code == 200, sv.get_json()
    body = sv.get_json()
    assert body["name"] == swedish(TP_FW["name"])
    names = {c["id"]: c["name"] for g in body["groups"] for c in g["competencies"]}
    assert names["code-review"] == swedish("Code review")
    assert names["pair-programming"] == "Pair programming"  # untranslated: the source text, never empty
    comp = client.get(f"/api/v1/frameworks/{TP_FW['id']}/competencies/code-review?lang=sv").get_json()
    assert comp["questions"][0]["text"] == swedish(thirdparty.QUESTION_SET["questions"][0]["text"])
    assert comp["activities"][0]["title"] == swedish(thirdparty.ACTIVITIES[0]["title"])
    # and the same request in English is not translated
    assert client.get(f"/api/v1/frameworks/{TP_FW['id']}?lang=en").get_json()["name"] == TP_FW["name"]


HOOK_CHECKS = {
    "kbp_frameworks": check_frameworks,
    "kbp_question_sets": check_question_sets,
    "kbp_activity_sources": check_activity_sources,
    "kbp_exporters": check_exporters,
    "kbp_locale_dirs": check_locale_dirs,
}


# --------------------------------------------------------------------------- the third-party plugin


def test_thirdparty_plugin_installed_as_a_distribution(tp_client, thirdparty_dist, app_works):
    record = plugin_record(tp_client, "thirdparty")
    assert record["state"] == "active", record
    assert record["enabled"] is True
    assert record["builtin"] is False
    assert record["reason"] is None
    assert record["version"] == thirdparty_dist["version"]
    assert record["module"] == "tests.plugins.thirdparty"
    assert set(record["hooks"]) == implemented_hooks(thirdparty)
    assert {"kbp_frameworks", "kbp_question_sets", "kbp_activity_sources", "kbp_exporters"} <= set(record["hooks"])

    check_frameworks(tp_client)
    check_question_sets(tp_client)
    check_activity_sources(tp_client)
    check_exporters(tp_client)
    app_works(tp_client)


def test_distribution_is_found_by_discovery_without_importing_it(thirdparty_dist, monkeypatch):
    monkeypatch.delitem(sys.modules, "tests.plugins.thirdparty", raising=False)
    found = {c.name: c for c in discover()}
    assert "thirdparty" in found
    cand = found["thirdparty"]
    assert (cand.module, cand.version, cand.distribution, cand.builtin) == (
        "tests.plugins.thirdparty",
        thirdparty_dist["version"],
        thirdparty_dist["name"],
        False,
    )
    assert "tests.plugins.thirdparty" not in sys.modules


def test_builtin_plugins_come_from_the_same_entry_point_group(client, sample):
    record = plugin_record(client, "sample_framework")
    assert record["builtin"] is True
    assert record["state"] == "active"
    assert "kbp_frameworks" in record["hooks"]


def test_thirdparty_plugin_via_plugins_setting(make_app, thirdparty_locales, app_works):
    app = make_app(PLUGINS=[THIRDPARTY_SPEC], **{thirdparty.LOCALES_SETTING: str(thirdparty_locales)})
    client = app.test_client()
    record = plugin_record(client, "thirdparty")
    assert record["state"] == "active", record
    assert record["builtin"] is False
    assert record["version"] == thirdparty.__version__  # no distribution: the module's __version__
    check_frameworks(client)
    check_exporters(client)
    app_works(client)


def test_thirdparty_plugin_via_environment_variable(make_app, monkeypatch, thirdparty_locales):
    monkeypatch.setenv("KBP_PLUGINS", f"{THIRDPARTY_SPEC}, {plugin_spec('misspelt_hook')}")
    app = make_app(**{thirdparty.LOCALES_SETTING: str(thirdparty_locales)})
    client = app.test_client()
    assert plugin_record(client, "thirdparty")["state"] == "active"
    assert plugin_record(client, "misspelt_hook")["state"] == "failed"
    check_frameworks(client)


def test_exporter_writes_the_framework(thirdparty_app):
    registry = thirdparty_app.extensions["kbp"].registry
    exporter = registry.exporters[thirdparty.PlainTextExporter.id]
    assert exporter in registry.exporters_for("framework")
    assert exporter not in registry.exporters_for("plan")
    text = exporter.export(registry.framework(TP_FW["id"]), "en").decode("utf-8")
    assert text.splitlines()[0].startswith(TP_FW["name"])
    for comp in TP_COMPS:
        assert f"{comp['name']}: {comp['definition']}" in text


def test_same_plugin_name_declared_twice(make_app, thirdparty_dist, thirdparty_locales, app_works):
    app = make_app(
        PLUGINS=["thirdparty=tests.plugins.xss"], **{thirdparty.LOCALES_SETTING: str(thirdparty_locales)}
    )
    client = app.test_client()
    record = plugin_record(client, "thirdparty")
    assert record["state"] == "failed"
    assert "tests.plugins.thirdparty" in record["reason"] and "tests.plugins.xss" in record["reason"]
    assert TP_FW["id"] not in {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}
    app_works(client)


def test_malformed_plugins_setting_is_a_clear_error(make_app):
    with pytest.raises(ValueError, match="name=package.module"):
        make_app(PLUGINS=["tests.plugins.thirdparty"])


# --------------------------------------------------------------------------- broken plugins


def failed(make_app, name: str, app_works) -> dict:
    """Start an app with test plugin ``name``; check the rest works; return its plugin record."""
    client = make_app(PLUGINS=[plugin_spec(name)]).test_client()
    record = plugin_record(client, name)
    assert record["state"] == "failed", record
    assert record["enabled"] is True
    assert isinstance(record["reason"], str) and record["reason"]
    app_works(client)
    return record


def test_plugin_that_raises_on_import(make_app, app_works):
    record = failed(make_app, "broken_import", app_works)
    assert "the frobnicator library is missing" in record["reason"]
    assert "RuntimeError" in record["reason"]
    assert record["hooks"] == []


def test_plugin_that_raises_in_a_hook(make_app, app_works):
    from tests.plugins import raises_in_hook

    record = failed(make_app, "raises_in_hook", app_works)
    assert raises_in_hook.MESSAGE in record["reason"]
    assert "ConnectionError" in record["reason"]
    # skipped as a whole: its valid question set is not registered either
    app = make_app(PLUGINS=[plugin_spec("raises_in_hook")])
    assert "raises-in-hook-questions" not in app.extensions["kbp"].registry.question_sets


def test_plugin_with_invalid_content(make_app, app_works):
    from tests.plugins import invalid_content

    record = failed(make_app, "invalid_content", app_works)
    assert "groups" in record["reason"]
    assert invalid_content.BAD_ID in record["reason"]
    assert "slug" in record["reason"]
    client = make_app(PLUGINS=[plugin_spec("invalid_content")]).test_client()
    served = {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}
    assert invalid_content.VALID_ID not in served  # all or nothing
    assert client.get(f"/api/v1/frameworks/{invalid_content.VALID_ID}").status_code == 404


def test_plugin_with_a_duplicate_id(make_app, app_works, sample):
    record = failed(make_app, "duplicate_id", app_works)
    assert "sample_framework" in record["reason"]
    assert "duplicate_id" in record["reason"]
    assert f"'{sample['id']}'" in record["reason"]
    client = make_app(PLUGINS=[plugin_spec("duplicate_id")]).test_client()
    # the first provider keeps the id, with its own content
    assert client.get(f"/api/v1/frameworks/{sample['id']}?lang=en").get_json()["name"] == sample["name"]
    assert plugin_record(client, "sample_framework")["state"] == "active"


def test_plugin_with_a_misspelt_hook(make_app, app_works):
    record = failed(make_app, "misspelt_hook", app_works)
    assert "'kbp_framework'" in record["reason"]
    assert "did you mean 'kbp_frameworks'" in record["reason"]


def test_plugin_with_a_hook_signature_not_in_the_spec(make_app, app_works):
    record = failed(make_app, "bad_signature", app_works)
    assert "kbp_frameworks" in record["reason"]
    assert "registry" in record["reason"]  # the argument the spec does not have


def test_all_broken_plugins_at_once(make_app, app_works, thirdparty_locales):
    names = ["broken_import", "raises_in_hook", "invalid_content", "duplicate_id", "misspelt_hook", "bad_signature"]
    app = make_app(
        PLUGINS=[plugin_spec(n) for n in names] + [THIRDPARTY_SPEC],
        **{thirdparty.LOCALES_SETTING: str(thirdparty_locales)},
    )
    client = app.test_client()
    states = {rec["name"]: rec["state"] for rec in client.get("/api/v1/plugins").get_json()}
    assert {n: states.get(n) for n in names} == {n: "failed" for n in names}
    assert states["thirdparty"] == "active"
    check_frameworks(client)
    app_works(client)


# --------------------------------------------------------------------------- enable / disable


SENTINEL = "tests.plugins.import_sentinel"


@pytest.fixture
def import_marker(tmp_path, monkeypatch) -> Path:
    marker = tmp_path / "imported.txt"
    monkeypatch.setenv("TESTPLUGIN_IMPORT_MARKER", str(marker))
    monkeypatch.delitem(sys.modules, SENTINEL, raising=False)
    yield marker
    sys.modules.pop(SENTINEL, None)


def test_enabled_sentinel_plugin_is_imported(make_app, import_marker):
    """Control for the next test: the sentinel does record its import."""
    client = make_app(PLUGINS=[plugin_spec("import_sentinel")]).test_client()
    assert import_marker.read_text().count("imported") == 1
    assert SENTINEL in sys.modules
    assert plugin_record(client, "import_sentinel")["state"] == "active"


def test_disabled_plugin_is_never_imported(make_app, data_dir, import_marker, app_works, app_store):
    set_enabled(app_store, "import_sentinel", False)
    client = make_app(PLUGINS=[plugin_spec("import_sentinel")]).test_client()
    assert not import_marker.exists()
    assert SENTINEL not in sys.modules
    record = plugin_record(client, "import_sentinel")
    assert record["enabled"] is False
    assert record["state"] == "disabled"
    assert record["hooks"] == []
    app_works(client)

    # enabling it again (here from another process's store) loads it at the running app's next request
    set_enabled(app_store, "import_sentinel", True)
    assert plugin_record(client, "import_sentinel")["state"] == "active"
    assert import_marker.exists()


def test_disabled_installed_plugin_is_not_imported_and_not_served(make_app, data_dir, thirdparty_dist, monkeypatch, app_store):
    monkeypatch.delitem(sys.modules, "tests.plugins.thirdparty", raising=False)
    set_enabled(app_store, "thirdparty", False)
    client = make_app().test_client()
    assert "tests.plugins.thirdparty" not in sys.modules
    record = plugin_record(client, "thirdparty")
    assert (record["enabled"], record["state"], record["version"]) == (False, "disabled", thirdparty_dist["version"])
    assert TP_FW["id"] not in {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}
    assert thirdparty.PlainTextExporter.id not in {e["id"] for e in client.get("/api/v1/exporters").get_json()}


def test_disabling_a_plugin_takes_effect_at_the_next_request_without_a_restart(make_app, data_dir, sample, app_store):
    """``kbp plugins disable`` writes the stored plugin state; every running worker of every server
    compares its revision before each request and rebuilds its catalogue when it changed."""
    from tests.helpers import signed_in_client

    client = signed_in_client(make_app(), "admin")
    framework = f"/api/v1/frameworks/{sample['id']}"
    search = f"/api/v1/activities/search?source={sample['id']}&limit=100"
    assert client.get(framework).status_code == 200
    assert client.get(search).get_json()["total"] > 0  # the search index is built, the sample's activities in it

    set_enabled(app_store, "sample_framework", False)  # another process (the CLI) on the same store
    assert client.get(framework).status_code == 404
    assert plugin_record(client, "sample_framework")["state"] == "disabled"
    assert sample["id"] not in {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}
    assert client.get(search).get_json()["total"] == 0

    set_enabled(app_store, "sample_framework", True)
    assert client.get(framework).status_code == 200
    assert plugin_record(client, "sample_framework")["state"] == "active"
    assert client.get(search).get_json()["total"] > 0


def test_disabled_sample_framework_is_not_served(make_app, data_dir, sample, app_store):
    set_enabled(app_store, "sample_framework", False)
    client = make_app().test_client()
    assert plugin_record(client, "sample_framework")["state"] == "disabled"
    assert sample["id"] not in {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}
    assert client.get(f"/api/v1/frameworks/{sample['id']}").status_code == 404
    assert client.get("/").status_code == 200


# --------------------------------------------------------------------------- hooks: tested and documented


def test_hook_names_are_the_hookspecs():
    specs = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), f"{hookspecs.PROJECT}_spec")}
    assert set(HOOK_NAMES) == specs
    assert specs, "no hookspecs found"
    manager = PluginManager()
    assert set(HOOK_NAMES) <= {name for name in dir(manager.pm.hook) if name.startswith("kbp_")}


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_is_exercised_by_the_thirdparty_plugin(hook, tp_client):
    """A new hookspec fails here until the third-party test plugin implements it and a check proves its effect."""
    assert hook in implemented_hooks(thirdparty), f"tests/plugins/thirdparty does not implement {hook}"
    assert hook in plugin_record(tp_client, "thirdparty")["hooks"]
    assert hook in HOOK_CHECKS, f"add a check of what {hook} contributes to HOOK_CHECKS in {Path(__file__).name}"
    HOOK_CHECKS[hook](tp_client)


def test_hook_checks_are_not_stale():
    assert set(HOOK_CHECKS) == set(HOOK_NAMES)


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_has_a_section_in_the_readme(hook):
    readme = ROOT / "README.md"
    assert readme.is_file(), "README.md is missing"
    text = readme.read_text(encoding="utf-8")
    heading = re.compile(rf"^#{{2,6}}[ \t]+.*`{re.escape(hook)}\(", re.MULTILINE)
    assert heading.search(text), f"README.md has no hook reference heading like '### `{hook}(config)`'"


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hookspec_has_a_docstring(hook):
    doc = getattr(hookspecs, hook).__doc__ or ""
    assert len(doc.strip()) > 40, f"{hook} needs a docstring saying what it returns"
