"""``kbp plugins new NAME``: write a pip-installable plugin package to start from.

The package has ``pyproject.toml`` (entry point in ``kbp.plugins``), ``<name>_kbp/plugin.py`` with
one example of each hook, a ``locales/`` folder wired to ``kbp_locale_dirs`` with a catalog for the
other language, a README, and tests that pass out of the box with KBP's pytest fixtures
(:mod:`core.testing`).
"""
from __future__ import annotations

import re
from pathlib import Path

from core import PLUGIN_API_VERSION

NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


class ScaffoldError(Exception):
    """A problem the author can fix (the message says how)."""


#: sample text per source language; the other language gets a catalog translating it
TEXT = {
    "en": {
        "framework": "{title} framework", "group": "Collaboration", "competency": "Giving feedback",
        "definition": "Gives specific, kind and timely feedback.",
        "questions": "{title} coaching questions",
        "question": "When did feedback you gave last change how someone worked?",
        "source": "{title} activities", "activity": "Feedback in every retrospective",
        "activity_description": "For a month, give one specific piece of feedback in each retrospective.",
        "exporter": "{title} plan as text",
    },
    "sv": {
        "framework": "Kompetensmodell för {title}", "group": "Samarbete", "competency": "Ge återkoppling",
        "definition": "Ger konkret, vänlig återkoppling i rätt tid.",
        "questions": "Coachande frågor för {title}",
        "question": "När ändrade återkoppling du gav senast hur någon arbetade?",
        "source": "Aktiviteter för {title}", "activity": "Återkoppling på varje återblick",
        "activity_description": "Ge under en månad en konkret återkoppling på varje återblicksmöte.",
        "exporter": "Planen som text ({title})",
    },
}


def new_plugin(name: str, output_dir: str | Path = ".", source_language: str = "en") -> Path:
    if not NAME.match(name):
        raise ScaffoldError(f"'{name}' cannot be a plugin name: use 2-40 lower-case letters, digits and _, starting "
                            "with a letter (e.g. acme or acme_courses).")
    if source_language not in TEXT:
        raise ScaffoldError(f"--source-language {source_language}: the example text exists in {', '.join(TEXT)}; "
                            "start with one of them and change source_language in plugin.py.")
    other = "sv" if source_language == "en" else "en"
    folder = Path(output_dir) / f"kbp-{name.replace('_', '-')}"
    if folder.exists():
        raise ScaffoldError(f"{folder} exists already: choose another --output-dir or remove it.")
    package = f"{name}_kbp"
    slug = name.replace("_", "-")
    title = name.replace("_", " ").title()
    text = {key: value.format(title=title) for key, value in TEXT[source_language].items()}
    translated = {key: value.format(title=title) for key, value in TEXT[other].items()}
    values = {"name": name, "name_upper": name.upper(), "package": package, "slug": slug, "title": title, "lang": source_language,
              "other": other, "api": PLUGIN_API_VERSION, **{f"t_{k}": v for k, v in text.items()}}
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"{package}/__init__.py": '"""KBP plugin {name}."""\n__version__ = "0.1.0"\n',
        f"{package}/plugin.py": PLUGIN,
        f"{package}/locales/{other}/LC_MESSAGES/{package}.po": _catalog(other, text, translated),
        "tests/test_plugin.py": TESTS,
    }
    for path, template in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        body = template if path.endswith(".po") else template.format(**values)
        target.write_text(body, encoding="utf-8")
    return folder


def _po_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _catalog(locale: str, source: dict[str, str], target: dict[str, str]) -> str:
    lines = ['msgid ""', 'msgstr ""', f'"Language: {locale}\\n"', '"MIME-Version: 1.0\\n"',
             '"Content-Type: text/plain; charset=UTF-8\\n"', '"Content-Transfer-Encoding: 8bit\\n"', ""]
    for key, msgid in source.items():
        lines += [f"msgid {_po_string(msgid)}", f"msgstr {_po_string(target[key])}", ""]
    return "\n".join(lines)


PYPROJECT = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "kbp-{slug}"
version = "0.1.0"
description = "A KBP plugin: {title}"
requires-python = ">=3.11"
dependencies = ["kbp"]

[project.entry-points."kbp.plugins"]
{name} = "{package}.plugin"

[tool.setuptools]
packages = ["{package}"]

[tool.setuptools.package-data]
"{package}" = ["locales/*/LC_MESSAGES/*.po", "locales/*/LC_MESSAGES/*.mo"]
'''

README = '''# kbp-{slug}

A KBP plugin made with `kbp plugins new {name}`. It shows one example of each hook in
`{package}/plugin.py`: a framework `{slug}`, a coaching question set, an activity source and a plan
exporter, with text written in `{lang}` and a `{other}` catalog in `{package}/locales/`.

    pip install -e .               # then: kbp plugins list  ->  {name} ... active
    pytest tests                   # KBP's pytest fixtures (kbp_app, kbp_client, kbp_plan_document, ...)

Translations: `kbp i18n update --plugin {name}` after changing text, then translate
`{package}/locales/{other}/LC_MESSAGES/{package}.po` and `kbp i18n compile --plugin {name}`.
Mark text written in Python with `N_("...")` (`from core import N_`).

Settings: `config.get("{name}.something")` reads `KBP_{upper}_SOMETHING` or `something` in the `[{name}]`
table of KBP's TOML config file. The hook reference is in KBP's README, "Writing a plugin".
'''.replace("{upper}", "{name_upper}")

PLUGIN = '''"""KBP plugin {name}: one example of each hook (see "Writing a plugin" in KBP's README)."""
from pathlib import Path

from core import N_, hookimpl
from core.model import ActivitySource, Exporter

HERE = Path(__file__).resolve().parent
DOMAIN = "{package}"
LANGUAGE = "{lang}"                     # the language the text below is written in
PLUGIN_API_VERSIONS = ({api},)
FRAMEWORK = "{slug}"
COMPETENCY = FRAMEWORK + ":feedback"


@hookimpl
def kbp_frameworks():
    return [{{
        "id": FRAMEWORK, "name": "{t_framework}", "source_language": LANGUAGE, "domain": DOMAIN,
        "groups": [{{"id": "collaboration", "name": "{t_group}", "competencies": [
            {{"id": "feedback", "name": "{t_competency}", "definition": "{t_definition}"}}]}}],
    }}]


@hookimpl
def kbp_question_sets():
    return [{{
        "id": FRAMEWORK + "-coaching", "title": N_("{t_questions}"), "kind": "coaching",
        "source_language": LANGUAGE, "domain": DOMAIN,
        "questions": [{{"id": "feedback-back", "competency": COMPETENCY, "direction": "back",
                        "text": "{t_question}"}}],
    }}]


class Activities(ActivitySource):
    id, title, domain, source_language, writable = FRAMEWORK + "-activities", N_("{t_source}"), DOMAIN, LANGUAGE, False

    def activities(self):
        return [{{"id": "retro-feedback", "competencies": [COMPETENCY], "title": "{t_activity}",
                  "description": "{t_activity_description}", "kind": "on_the_job", "effort": "weeks"}}]


@hookimpl
def kbp_activity_sources(config):
    return [Activities()]


class PlanText(Exporter):
    id, title, subject, media_type, extension = FRAMEWORK + "-plan-text", N_("{t_exporter}"), "plan", "text/plain", "txt"
    domain, source_language = DOMAIN, LANGUAGE

    def export(self, plan, locale):
        lines = [plan["person"]["name"]]
        lines += ["* " + focus["name"] + ": " + focus["goal"] for focus in plan["focus"]]
        lines += ["- " + activity["title"] for activity in plan["activities"]]
        return "\\n".join(lines).encode("utf-8")


@hookimpl
def kbp_exporters():
    return [PlanText()]


@hookimpl
def kbp_locale_dirs():
    return [{{"domain": DOMAIN, "path": str(HERE / "locales"), "source_language": LANGUAGE}}]
'''

TESTS = '''"""Tests of the {name} plugin, with KBP's pytest fixtures (installed with KBP)."""
from {package} import plugin


def test_the_plugin_is_active(kbp_client):
    plugins = {{p["name"]: p for p in kbp_client.get("/api/v1/plugins").get_json()}}
    assert plugins["{name}"]["state"] == "active", plugins["{name}"]["reason"]


def test_the_competency_has_its_question_and_activity(kbp_client):
    body = kbp_client.get("/api/v1/frameworks/{slug}/competencies/feedback").get_json()
    assert [q["id"] for q in body["questions"]] == ["feedback-back"]
    assert [a["id"] for a in body["activities"]] == ["retro-feedback"]


def test_the_text_is_translated(kbp_client):
    other = kbp_client.get("/api/v1/frameworks/{slug}?lang={other}").get_json()
    own = kbp_client.get("/api/v1/frameworks/{slug}?lang={lang}").get_json()
    assert own["name"] == "{t_framework}"
    assert other["name"] and other["name"] != own["name"]


def test_the_exporter_writes_the_plan(kbp_plan_document, kbp_validate_document):
    kbp_validate_document("plan", kbp_plan_document)
    text = plugin.PlanText().export(kbp_plan_document, "en").decode("utf-8")
    assert kbp_plan_document["person"]["name"] in text
    assert all(focus["name"] in text for focus in kbp_plan_document["focus"])
'''
