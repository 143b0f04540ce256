"""A third-party KBP plugin, written the way the plugin author's guide says.

It uses only the public plugin API — ``from core import hookimpl`` and the base classes of
:mod:`core.model` — and implements every hook: a framework of its own (one group, two
competencies), a question set, an activity source, an exporter and a translation folder.

Installed, it is declared in its package metadata::

    [project.entry-points."kbp.plugins"]
    thirdparty = "tests.plugins.thirdparty"

Under development it can be loaded with ``KBP_PLUGINS=thirdparty=tests.plugins.thirdparty``.
"""
from __future__ import annotations

from pathlib import Path

from core import hookimpl
from core.model import ActivitySource, Exporter

__version__ = "1.2.3"  # the same as the distribution's version in its metadata

HERE = Path(__file__).resolve().parent
DOMAIN = "kbp_thirdparty_demo"
#: setting that points the translation folder elsewhere (e.g. a writable copy); default: ours
LOCALES_SETTING = "THIRDPARTY_DEMO_LOCALES_DIR"

FRAMEWORK_ID = "thirdparty-demo"

FRAMEWORK = {
    "id": FRAMEWORK_ID,
    "name": "Software craft (third-party demo)",
    "description": "Two competencies of everyday software work, contributed by a third-party plugin.",
    "version": "2024.2",
    "source_language": "en",
    "domain": DOMAIN,
    "licence_notice": "Demo content, free to use.",
    "groups": [
        {
            "id": "craft",
            "name": "Craft",
            "description": "How we build software together.",
            "competencies": [
                {
                    "id": "code-review",
                    "name": "Code review",
                    "definition": "Reviews colleagues' changes promptly and kindly, and explains the why behind each remark.",
                },
                {
                    "id": "pair-programming",
                    "name": "Pair programming",
                    "definition": "Works at one keyboard with a colleague, switching roles often and thinking aloud.",
                },
            ],
        }
    ],
}

QUESTION_SET = {
    "id": "thirdparty-demo-coaching",
    "title": "Craft coaching questions",
    "kind": "coaching",
    "source_language": "en",
    "domain": DOMAIN,
    "questions": [
        {
            "id": "review-that-taught-you",
            "competency": f"{FRAMEWORK_ID}:code-review",
            "text": "Which review comment taught you the most last month?",
            "direction": "back",
            "situations": ["grow_further"],
        }
    ],
}

ACTIVITIES = [
    {
        "id": "review-one-change-a-day",
        "competencies": [f"{FRAMEWORK_ID}:code-review"],
        "title": "Review one change every day for two weeks",
        "description": "Pick one open change a day, review it within an hour and ask its author what helped.",
        "kind": "on_the_job",
        "effort": "weeks",
        "situations": ["new_role"],
        "provider": "Demo Co",
        "url": "https://example.org/review-daily",
    }
]


class CraftActivities(ActivitySource):
    id = "thirdparty-demo-activities"
    title = "Craft activities"
    domain = DOMAIN
    source_language = "en"

    def activities(self):
        return [dict(item) for item in ACTIVITIES]


class PlainTextExporter(Exporter):
    """A framework as a plain-text listing: one line per group, one indented line per competency."""

    id = "thirdparty-plain-text"
    title = "Plain-text listing"
    subject = "framework"
    media_type = "text/plain"
    extension = "txt"
    domain = DOMAIN

    def export(self, obj, locale):
        lines = [f"{_get(obj, 'name')} ({locale})"]
        for group in _get(obj, "groups"):
            lines.append(f"{_get(group, 'name')}")
            for comp in _get(group, "competencies"):
                lines.append(f"  - {_get(comp, 'name')}: {_get(comp, 'definition')}")
        return ("\n".join(lines) + "\n").encode("utf-8")


def _get(obj, name):
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


@hookimpl
def kbp_frameworks():
    return [FRAMEWORK]


@hookimpl
def kbp_question_sets():
    return [QUESTION_SET]


@hookimpl
def kbp_activity_sources():
    return [CraftActivities()]


@hookimpl
def kbp_exporters():
    return [PlainTextExporter()]


@hookimpl
def kbp_locale_dirs(config):
    return [{"domain": DOMAIN, "path": str(config.get(LOCALES_SETTING) or HERE / "locales")}]
