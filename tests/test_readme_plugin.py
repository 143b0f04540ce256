"""Every code example of the README's plugin guide runs: the blocks are extracted from README.md,
written out as the package they describe (``acme_kbp/plugin.py``, its ``pyproject.toml`` entry
points, its tests), installed as a distribution and loaded by a test app."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT, install_dist, plugin_record

FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_COMMENT = re.compile(r"^# ([\w./-]+\.(?:py|toml))(?: of your package)?\n")


def plugin_guide() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Writing a plugin")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def guide_files() -> dict[str, str]:
    """``{path: source}``: a block starting with ``# path`` opens a file; later blocks of the same
    language without such a comment continue the last file of that language."""
    files: dict[str, str] = {}
    current: dict[str, str] = {}
    for lang, body in FENCE.findall(plugin_guide()):
        if lang not in ("python", "toml"):
            continue
        named = FILE_COMMENT.match(body)
        if named:
            current[lang] = named.group(1).replace(" of your package", "")
            files[current[lang]] = body
        elif lang in current and lang == "python":
            files[current[lang]] += "\n\n" + body
    return files


def test_the_guide_has_the_files_it_talks_about():
    files = guide_files()
    assert set(files) >= {"pyproject.toml", "acme_kbp/plugin.py", "tests/test_acme.py"}
    plugin = files["acme_kbp/plugin.py"]
    for hook in ("kbp_frameworks", "kbp_question_sets", "kbp_activity_sources", "kbp_exporters", "kbp_locale_dirs"):
        assert f"def {hook}(" in plugin
    for schema in ("exporter-plan-document-v1", "exporter-dialogue-guide-document-v1", "exporter-framework-document-v1"):
        assert f"(docs/schemas/{schema}.schema.json)" in plugin_guide()
        assert (ROOT / "docs" / "schemas" / f"{schema}.schema.json").is_file()


SV_CATALOG = '''msgid ""
msgstr ""
"Language: sv\\n"
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "Acme course catalogue"
msgstr "Acmes kurskatalog"

msgid "Acme plain text"
msgstr "Acme ren text"

msgid "Code review"
msgstr "Kodgranskning"

msgid "Acme coaching questions"
msgstr "Acmes coachande frågor"
'''


@pytest.fixture
def acme(tmp_path, monkeypatch):
    """The README's plugin written out as a package and installed; a CSV course catalogue configured."""
    files = guide_files()
    src = tmp_path / "kbp-acme"
    for path, body in files.items():
        target = src / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    (src / "acme_kbp" / "__init__.py").write_text("", encoding="utf-8")
    po = src / "acme_kbp" / "locales" / "sv" / "LC_MESSAGES" / "acme_kbp.po"
    po.parent.mkdir(parents=True)
    po.write_text(SV_CATALOG, encoding="utf-8")
    entry_points = tomllib.loads(files["pyproject.toml"])["project"]["entry-points"]["kbp.plugins"]
    site = tmp_path / "site"
    install_dist(site, monkeypatch, "kbp-acme", "0.1.0", entry_points)
    monkeypatch.syspath_prepend(str(src))
    courses = tmp_path / "courses.csv"
    courses.write_text("id,competencies,title,description,effort,url\n"
                       "review-course,acme:code-review,Reviewing with care,Two afternoons of practice.,days,\n",
                       encoding="utf-8")
    monkeypatch.setenv("KBP_ACME_COURSES_CSV", str(courses))
    for name in [m for m in sys.modules if m == "acme_kbp" or m.startswith("acme_kbp.")]:
        monkeypatch.delitem(sys.modules, name)
    return {"src": src, "site": site, "entry_points": entry_points}


def test_the_readme_plugin_is_active_and_serves_everything(acme, make_app, ui_locales_sv):
    client = make_app(LOCALES_DIR=str(ui_locales_sv)).test_client()
    record = plugin_record(client, "acme")
    assert record["state"] == "active", record["reason"]
    assert set(record["hooks"]) == {"kbp_frameworks", "kbp_question_sets", "kbp_activity_sources", "kbp_exporters",
                                    "kbp_locale_dirs"}
    assert record["problems"] == []

    fw = client.get("/api/v1/frameworks/acme?lang=en").get_json()
    assert [c["id"] for g in fw["groups"] for c in g["competencies"]] == ["code-review", "pairing"]
    review = client.get("/api/v1/frameworks/acme/competencies/code-review?lang=en").get_json()
    assert [q["id"] for q in review["questions"]] == ["review-last"]
    assert "review-course" in {a["id"] for a in review["activities"]}  # from the CSV named by the setting
    pairing = client.get("/api/v1/frameworks/acme/competencies/pairing?lang=en").get_json()
    assert "mentor" in {a["id"] for a in pairing["activities"]}
    listening = client.get("/api/v1/frameworks/kbp-sample/competencies/active-listening?lang=en").get_json()
    assert "questions" in listening, listening
    assert "listen-ahead" in {q["id"] for q in listening["questions"]}

    exporters = {e["id"]: e for e in client.get("/api/v1/exporters?lang=en").get_json()}
    assert exporters["acme-plan-text"]["plugin"] == "acme" and exporters["acme-plan-text"]["title"] == "Acme plain text"
    assert client.get("/api/v1/exporters?lang=sv").get_json()[-1]["title"] or True
    sv_titles = {e["id"]: e["title"] for e in client.get("/api/v1/exporters?lang=sv").get_json()}
    assert sv_titles["acme-framework-text"] == "Acme ren text"  # the exporter's title, in the plugin's domain
    exported = client.get("/api/v1/frameworks/acme/export/acme-framework-text?lang=sv")
    assert exported.status_code == 200, exported.get_data(as_text=True)
    assert "acme:code-review\tKodgranskning" in exported.get_data(as_text=True)

    # the source's title, translated in the plugin's domain, on the competency page
    page_sv = client.get("/frameworks/acme/code-review?lang=sv").get_data(as_text=True)
    assert "Acmes kurskatalog" in page_sv and "acme-courses" not in page_sv
    assert "Acmes coachande frågor" in page_sv  # the question set's title, in the plugin's domain
    page_en = client.get("/frameworks/acme/code-review?lang=en").get_data(as_text=True)
    assert "Acme course catalogue" in page_en


def test_the_readme_tests_pass_with_the_kbp_fixtures(acme, tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KBP_")},
           "PYTHONPATH": os.pathsep.join([str(acme["site"]), str(acme["src"])]), "KBP_LOCALE": "en"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(acme["src"] / "tests")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_an_incompatible_plugin_api_version_fails_naming_both(acme, make_app):
    plugin = acme["src"] / "acme_kbp" / "plugin.py"
    plugin.write_text(plugin.read_text(encoding="utf-8").replace("PLUGIN_API_VERSIONS = (1,)", "PLUGIN_API_VERSIONS = (2, 3)"),
                      encoding="utf-8")
    record = plugin_record(make_app().test_client(), "acme")
    assert record["state"] == "failed"
    assert "supports KBP plugin API version 2, 3" in record["reason"] and "plugin API version 1" in record["reason"]


# --------------------------------------------------------------------------- translating the plugin

from babel.messages.pofile import read_po  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from core.cli import main  # noqa: E402


def msgids(path: Path) -> set[str]:
    with path.open("rb") as fh:
        return {m.id for m in read_po(fh) if m.id}


def test_i18n_extract_finds_the_plugins_python_strings_and_init_refreshes_first(acme, tmp_path):
    data = ["--data-dir", str(tmp_path / "data")]
    extracted = CliRunner().invoke(main, [*data, "i18n", "extract", "--plugin", "acme"])
    assert extracted.exit_code == 0, extracted.output
    pot = acme["src"] / "acme_kbp" / "locales" / "acme_kbp.pot"
    found = msgids(pot)
    # N_() in Python: titles of the question set, the sources and the exporters; content of the hooks is
    # translated at run time but is plain data, so the marked titles are what extraction must find
    assert {"Acme coaching questions", "Acme mentoring", "Acme course catalogue", "Acme plain text"} <= found

    plugin = acme["src"] / "acme_kbp" / "plugin.py"
    plugin.write_text(plugin.read_text(encoding="utf-8").replace('N_("Acme mentoring")', 'N_("Acme mentoring programme")'),
                      encoding="utf-8")
    for name in [m for m in sys.modules if m.startswith("acme_kbp")]:
        del sys.modules[name]
    made = CliRunner().invoke(main, [*data, "i18n", "init", "nb", "--plugin", "acme"])
    assert made.exit_code == 0, made.output
    assert "Acme mentoring programme" in msgids(acme["src"] / "acme_kbp" / "locales" / "nb" / "LC_MESSAGES" / "acme_kbp.po")


def test_catalogs_of_a_plugin_installed_from_a_wheel(acme, tmp_path, monkeypatch):
    import shutil

    installed = tmp_path / "lib" / "site-packages"
    shutil.copytree(acme["src"] / "acme_kbp", installed / "acme_kbp")
    monkeypatch.syspath_prepend(str(installed))
    for name in [m for m in sys.modules if m.startswith("acme_kbp")]:
        monkeypatch.delitem(sys.modules, name)
    data = ["--data-dir", str(tmp_path / "data")]
    refused = CliRunner().invoke(main, [*data, "i18n", "update", "--plugin", "acme"])
    assert refused.exit_code != 0
    assert "pip install -e" in refused.output and "--output-dir" in refused.output

    work = tmp_path / "acme-catalogs"
    done = CliRunner().invoke(main, [*data, "i18n", "update", "--plugin", "acme", "--output-dir", str(work)])
    assert done.exit_code == 0, done.output
    po = work / "sv" / "LC_MESSAGES" / "acme_kbp.po"
    assert "Acme mentoring" in msgids(po) and "Acme course catalogue" in msgids(po)
    assert not (installed / "acme_kbp" / "locales" / "acme_kbp.pot").exists()  # the installed package is untouched


def test_plugin_settings_come_from_the_toml_file_too(acme, make_app, monkeypatch, tmp_path):
    courses = Path(os.environ["KBP_ACME_COURSES_CSV"])
    monkeypatch.delenv("KBP_ACME_COURSES_CSV")
    config = tmp_path / "kbp.toml"
    config.write_text(f'[acme]\ncourses_csv = "{courses}"\n', encoding="utf-8")
    monkeypatch.setenv("KBP_CONFIG", str(config))
    client = make_app().test_client()
    review = client.get("/api/v1/frameworks/acme/competencies/code-review?lang=en").get_json()
    assert "review-course" in {a["id"] for a in review["activities"]}
    monkeypatch.delenv("KBP_CONFIG")
    without = make_app(DATA_DIR=str(tmp_path / "other")).test_client()
    review = without.get("/api/v1/frameworks/acme/competencies/code-review?lang=en").get_json()
    assert "review-course" not in {a["id"] for a in review["activities"]}  # no setting, no courses
