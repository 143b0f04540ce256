"""The translator's workflow end to end (issue 23): a licensee's content pack is translatable,
catalogs round-trip through GNU gettext and polib, partial languages do not break anything."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import polib
import pytest
import yaml
from click.testing import CliRunner

import frameworks.malin_lindelow as lindelow
from core import create_app, i18n, translations
from core.cli import main
from core.content import load_package
from core.registry import ContentError
from tests.helpers import signed_in_client
from tests.test_lindelow import licensor  # noqa: F401 - fixture

REPO = Path(__file__).resolve().parent.parent
#: a language code nobody will ship (Volapük): Babel knows its name, KBP has no catalog for it
NEW_LANGUAGE = "vo"
MSGCAT = shutil.which("msgcat")


def all_catalogs(app) -> list[Path]:
    domains = translations.all_domains(app)
    return [p for dom in domains for p in [*translations.iter_po([dom]), dom.pot] if p.exists()]


# ----------------------------------------------------------------------------- 1: a licensee's content pack


def make_pack(tmp_path) -> tuple[Path, str]:
    """A content pack replacing one group file, with one competency renamed (a string we never shipped)."""
    base = lindelow.HERE / "content"
    group_id = yaml.safe_load((base / "framework.yaml").read_text(encoding="utf-8"))["groups"][0]
    data = yaml.safe_load((base / "groups" / f"{group_id}.yaml").read_text(encoding="utf-8"))
    data["competencies"][0]["name"] = "Testpaketets egen kompetens"
    pack = tmp_path / "official-pack"
    (pack / "groups").mkdir(parents=True)
    (pack / "groups" / f"{group_id}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return pack, data["competencies"][0]["id"]


def test_a_content_pack_is_extracted_translated_and_its_translations_survive(licensor, tmp_path, monkeypatch):  # noqa: F811
    pack, comp_id = make_pack(tmp_path)
    monkeypatch.setenv("KBP_MALIN_LINDELOW_CONTENT_DIR", str(pack))
    runner = CliRunner()
    data = tmp_path / "data"

    def kbp(*args):
        result = runner.invoke(main, ["--data-dir", str(data), *args])
        assert result.exit_code == 0, result.output
        return result.output

    # stats counts the pack's text before anyone has merged it
    assert re.search(r"^malin_lindelow\s+en\s+\d+\s+0\s+1\s+99 %", kbp("i18n", "stats", "--plugin", "malin_lindelow"), re.M)
    kbp("i18n", "update", "--plugin", "malin_lindelow")
    po = pack / "locales" / "en" / "LC_MESSAGES" / "malin_lindelow.po"
    assert po.exists(), "the pack's catalogs live in the pack (started from the plugin's)"
    entry = polib.pofile(str(po)).find("Testpaketets egen kompetens")
    assert entry is not None and entry.msgstr == "" and not entry.obsolete
    assert polib.pofile(str(pack / "locales" / "malin_lindelow.pot")).find("Testpaketets egen kompetens") is not None
    # translated by hand; the next update keeps it
    catalog = polib.pofile(str(po))
    catalog.find("Testpaketets egen kompetens").msgstr = "The test pack's own competency"
    catalog.save()
    kbp("i18n", "update", "--plugin", "malin_lindelow")
    entry = polib.pofile(str(po)).find("Testpaketets egen kompetens")
    assert entry.msgstr == "The test pack's own competency" and not entry.obsolete
    assert re.search(r"^malin_lindelow\s+en\s+(\d+)\s+0\s+0\s+100 %", kbp("i18n", "stats", "--plugin", "malin_lindelow"), re.M)
    # the plugin's own catalogs were not touched
    assert "Testpaketets" not in (lindelow.HERE / "locales" / "en" / "LC_MESSAGES" / "malin_lindelow.po").read_text(encoding="utf-8")
    # the pack's locales win when the server serves it
    app = create_app({"TESTING": True, "DATA_DIR": str(data)})
    reg = app.extensions["kbp"].registry
    assert reg.locale_dirs["malin_lindelow"] == str(pack / "locales")
    assert reg.entitlements.install(reg.frameworks["malin-lindelow"], licensor()).ok
    client = signed_in_client(app)
    comp = client.get(f"/api/v1/frameworks/malin-lindelow/competencies/{comp_id}?lang=en").get_json()
    assert comp["name"] == "The test pack's own competency"
    sv = client.get(f"/api/v1/frameworks/malin-lindelow/competencies/{comp_id}?lang=sv").get_json()
    assert sv["name"] == "Testpaketets egen kompetens"


# ----------------------------------------------------------------------------- 2: catalogs gettext accepts

OLD = ("Write what you want to be able to do after the activity, in one or two sentences that "
       "your coach can follow up on.\nKeep it concrete: a situation, a behaviour, a result.")
NEW = ("Write what you want to be able to do after the activity, in one or two sentences that "
       "your coach can easily follow up on.\nKeep it concrete: a situation, a behaviour, a result.")


def _domain(tmp_path) -> translations.CatalogDomain:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    return translations.CatalogDomain("demo", "demo", tmp_path / "locales", "en", ((src, (translations.PY,)),))


def _write_source(tmp_path, text: str) -> None:
    (tmp_path / "src" / "app.py").write_text(
        f"from core.i18n import gettext as _\n\nHELP = _({text!r})\nOTHER = _('Plans')\n", encoding="utf-8")


def test_two_updates_of_a_changed_multi_line_string_give_a_catalog_gettext_accepts(tmp_path):
    dom = _domain(tmp_path)
    _write_source(tmp_path, OLD)
    translations.extract(dom)
    po = translations.init(dom, "sv")
    catalog = polib.pofile(str(po))
    catalog.find(OLD).msgstr = "Skriv vad du vill kunna efter aktiviteten.\nHåll det konkret."
    catalog.find("Plans").msgstr = "Planer"
    catalog.save()
    _write_source(tmp_path, NEW)
    translations.extract(dom)
    translations.update(dom)
    translations.update(dom)  # a second update must not damage the previous msgid
    text = po.read_text(encoding="utf-8")
    assert not re.search(r"^# \|", text, re.M), "a #| line became a translator comment"
    assert text.count("#| msgid") == 1
    # polib (an independent parser) reads the previous msgid and the fuzzy flag
    entry = polib.pofile(str(po)).find(NEW)
    assert entry.fuzzy and entry.previous_msgid == OLD
    assert entry.msgstr.startswith("Skriv vad du vill")
    assert polib.pofile(str(po)).find("Plans").msgstr == "Planer"
    # and KBP reads it back the same way
    again = translations._read(po, "sv")
    assert again[NEW].previous_id == [OLD]
    if MSGCAT:
        out = subprocess.run([MSGCAT, str(po)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout == text, "not in GNU gettext's layout"
    # a third update after the translator fixed it: no fuzzy, no previous msgid
    catalog = polib.pofile(str(po))
    catalog.find(NEW).flags.remove("fuzzy")
    catalog.save()
    translations.update(dom)
    assert "#|" not in po.read_text(encoding="utf-8")


@pytest.mark.skipif(MSGCAT is None, reason="GNU gettext's msgcat is not installed")
def test_committed_catalogs_are_in_gnu_gettext_layout(tmp_path):
    """Every catalog reads in GNU gettext and polib and is wrapped as msgcat/Poedit wrap (79 columns),
    so a Poedit save does not rewrap the file; no stray ``# |`` comments."""
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data")})
    files = all_catalogs(app)
    assert len(files) >= 6
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^# \|", text, re.M), f"{path}: '# |' comments (a damaged previous msgid)"
        polib.pofile(str(path))  # raises on a syntax error
        out = subprocess.run([MSGCAT, str(path)], capture_output=True, text=True)
        assert out.returncode == 0, f"{path}: {out.stderr}"
        assert out.stdout == text, f"{path}: not wrapped as GNU gettext wraps it (run `kbp i18n update`)"
        for marker in ("FIRST AUTHOR", "LL@li.org"):
            assert marker not in text, f"{path}: template boilerplate {marker!r}"


def test_update_over_the_repository_catalogs_changes_nothing(tmp_path):
    """`kbp i18n update` on unchanged sources is a no-op: reading and writing are each other's inverse."""
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data")})
    for path in [p for p in all_catalogs(app) if p.suffix == ".po"]:
        catalog = translations._read(path)
        assert translations.format_po(catalog) == path.read_text(encoding="utf-8"), path


# ----------------------------------------------------------------------------- 3: a partial language


def _ui_copy(tmp_path) -> Path:
    locales = tmp_path / "locales"
    shutil.copytree(REPO / "locales", locales, ignore=shutil.ignore_patterns("*.mo"))
    return locales


def test_a_partial_language_is_reported_not_failed(tmp_path):
    locales = _ui_copy(tmp_path)
    dom = translations.core_domain(locales)
    po = translations.init(dom, NEW_LANGUAGE)
    catalog = polib.pofile(str(po))
    catalog.find("Frameworks").msgstr = "Ramots"
    catalog.save()
    from core import app as core_app

    original = core_app.DEFAULTS["LOCALES_DIR"]
    core_app.DEFAULTS["LOCALES_DIR"] = str(locales)
    try:
        result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), "i18n", "stats", "--plugin", "core", "--check"])
        assert result.exit_code == 0, result.output  # sv is complete; vo is only reported
        assert re.search(rf"^messages\s+{NEW_LANGUAGE}\s+1\s+0\s+\d+\s+0 %\s+no$", result.output, re.M), result.output
        assert re.search(r"^messages\s+sv\s+\d+\s+0\s+0\s+100 %\s+yes$", result.output, re.M), result.output
        # naming the language as required makes --check fail, with the catalog named
        strict = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), "i18n", "stats", "--check"],
                                    env={"KBP_I18N_REQUIRED_LANGUAGES": f"sv,{NEW_LANGUAGE}"})
        assert strict.exit_code == 1 and f"messages/{NEW_LANGUAGE}" in strict.output
    finally:
        core_app.DEFAULTS["LOCALES_DIR"] = original


# ----------------------------------------------------------------------------- 6: the smaller ones


def test_stats_never_rounds_up_to_done():
    assert translations.Stats("d", "x", 592, 591, 0, 1).done() == "99 %"
    assert translations.Stats("d", "x", 592, 592, 0, 0).done() == "100 %"
    assert translations.Stats("d", "x", 3, 1, 0, 2).done() == "33 %"


def test_init_writes_no_template_boilerplate(tmp_path):
    locales = _ui_copy(tmp_path)
    po = translations.init(translations.core_domain(locales), NEW_LANGUAGE)
    head = po.read_text(encoding="utf-8").split("\n\n")[0]
    for marker in ("FIRST AUTHOR", "LL@li.org", "EMAIL@ADDRESS", "ORGANIZATION", "YEAR-MO-DA", "FULL NAME"):
        assert marker not in head, marker
    assert head.startswith("# Volapük translation of KBP") and f'"Language: {NEW_LANGUAGE}\\n"' in head
    header = polib.pofile(str(po)).metadata
    assert header["Language"] == NEW_LANGUAGE and "Plural-Forms" in header


def _ui_with(tmp_path, code: str, translated: dict[str, str]) -> Path:
    locales = _ui_copy(tmp_path)
    po = translations.init(translations.core_domain(locales), code)
    catalog = polib.pofile(str(po))
    for msgid, msgstr in translated.items():
        catalog.find(msgid).msgstr = msgstr
    catalog.save()
    i18n.compile_po(po)
    return locales


def test_norwegian_browsers_get_bokmal(tmp_path):
    locales = _ui_with(tmp_path, "nb", {"Frameworks": "Rammeverk"})
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "LOCALES_DIR": str(locales),
                      "I18N_SWITCHER_MIN_PERCENT": 0})
    client = signed_in_client(app)
    for header in ("no", "nn", "nn-NO, en;q=0.5", "no-NO"):
        body = client.get("/", headers={"Accept-Language": header}).get_data(as_text=True)
        assert '<html lang="nb">' in body, header
        with client.session_transaction() as sess:
            sess.pop("lang", None)
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "en, nn;q=0.5"}).get_data(as_text=True)


def test_a_barely_translated_language_is_not_offered_but_can_be_previewed(tmp_path):
    locales = _ui_with(tmp_path, NEW_LANGUAGE, {"Frameworks": "Ramots"})
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "LOCALES_DIR": str(locales)})
    client = signed_in_client(app)
    assert f'hreflang="{NEW_LANGUAGE}"' not in client.get("/?lang=en").get_data(as_text=True)
    assert 'hreflang="sv"' in client.get("/?lang=en").get_data(as_text=True)
    page = client.get(f"/?lang={NEW_LANGUAGE}").get_data(as_text=True)  # a translator previews it
    assert f'<html lang="{NEW_LANGUAGE}">' in page and "Ramots" in page
    assert f'<html lang="{NEW_LANGUAGE}">' not in app.test_client().get(
        "/login", headers={"Accept-Language": NEW_LANGUAGE}).get_data(as_text=True)
    lenient = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data2"), "LOCALES_DIR": str(locales),
                          "I18N_SWITCHER_MIN_PERCENT": 0})
    assert f'hreflang="{NEW_LANGUAGE}"' in signed_in_client(lenient).get("/?lang=en").get_data(as_text=True)


def test_yaml_errors_in_a_pack_name_the_line_pyyaml_reports(tmp_path):
    base = lindelow.HERE / "content"
    group_id = yaml.safe_load((base / "framework.yaml").read_text(encoding="utf-8"))["groups"][0]
    pack = tmp_path / "pack"
    (pack / "groups").mkdir(parents=True)
    lines = ["group:", f"  id: {group_id}", '  name: "Ett namn som aldrig slutar', "  description: x", "competencies: []", "", ""]
    (pack / "groups" / f"{group_id}.yaml").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ContentError) as err:
        load_package(base, pack)
    assert f"{group_id}.yaml:3:" in str(err.value), str(err.value)  # the quoted scalar's line, not the end of the file


def test_a_missing_pack_group_names_the_pack(tmp_path):
    base = lindelow.HERE / "content"
    meta = yaml.safe_load((base / "framework.yaml").read_text(encoding="utf-8"))
    meta["groups"].append("paketets-nya-grupp")
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "framework.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(ContentError) as err:
        load_package(base, pack)
    assert str(pack / "groups" / "paketets-nya-grupp.yaml") in str(err.value), str(err.value)


def test_the_content_guide_translators_need_is_in_the_repository():
    guide = (REPO / "docs" / "content-guide.md").read_text(encoding="utf-8")
    assert "utvecklingsdialog" in guide and "utvecklingssamtal" in guide  # the glossary's rule
    assert re.search(r"(?i)glossary", guide) and re.search(r"(?i)tone", guide)
    assert "docs/content-guide.md" in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.skipif(MSGCAT is None, reason="GNU gettext's msgcat is not installed")
def test_line_breaks_match_gnu_gettext_on_awkward_text(tmp_path):
    """Dashes, slashes, URLs, quotes, wide characters and line breaks wrap where msgcat wraps them."""
    import random

    from babel.messages.catalog import Catalog

    words = ("och att det som en på är av för med till den inte har e-postadress själv-reflektion "
             "kompetens/färdighet 2026-12-06 a–b c—d (parentes) \"citat\" ”svenska” 100 x,y a.b "
             "https://example.com/path/to/page?x=1 ö-ä å/ä vad? ja! :-) 1/2 -x x- / - – — … tab\there "
             "t.ex. a:b Ωμέγα 和文 %(num)d {name} 'enkel' «citat» [hak]").split(" ")
    rng = random.Random(23)
    catalog = Catalog(locale="sv")
    for i in range(300):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(5, 60)))
        if i % 5 == 0:
            text += "\n" + " ".join(rng.choice(words) for _ in range(12))
        catalog.add(f"{i} {text}", text)
    po = tmp_path / "awkward.po"
    po.write_text(translations.format_po(catalog), encoding="utf-8")
    out = subprocess.run([MSGCAT, str(po)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == po.read_text(encoding="utf-8")


@pytest.mark.skipif(MSGCAT is None, reason="GNU gettext's msgcat is not installed")
def test_every_catalog_survives_two_updates_of_a_changed_multi_line_string(tmp_path):
    """For each real catalog (on a copy): its longest translated string is made to look changed since
    the last update, two updates run, and msgcat and polib still read it — with one fuzzy entry
    whose previous msgid is the old text."""
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data")})
    checked = 0
    for dom in translations.all_domains(app):
        copy_dir = tmp_path / dom.domain
        shutil.copytree(dom.folder, copy_dir, ignore=shutil.ignore_patterns("*.mo"))
        copy = translations.CatalogDomain(dom.name, dom.domain, copy_dir, dom.source_language, dom.sources,
                                          dom.content_files)
        for po in translations.iter_po([copy]):
            catalog = polib.pofile(str(po))
            entry = max((e for e in catalog.translated_entries() if not e.msgid_plural), key=lambda e: len(e.msgid))
            current = entry.msgid
            entry.msgid = current.replace(" ", " \n", 1) + " (before the change)"  # the old, multi-line text
            catalog.save()
            translations.update(copy)
            translations.update(copy)
            text = po.read_text(encoding="utf-8")
            assert not re.search(r"^# \|", text, re.M), po
            out = subprocess.run([MSGCAT, str(po)], capture_output=True, text=True)
            assert out.returncode == 0 and out.stdout == text, f"{po}: {out.stderr}"
            changed = polib.pofile(str(po)).find(current)
            assert changed.fuzzy and changed.previous_msgid == current.replace(" ", " \n", 1) + " (before the change)"
            checked += 1
    assert checked >= 3
