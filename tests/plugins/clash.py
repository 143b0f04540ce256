"""A third-party plugin that reuses an id of a built-in plugin: which one is chosen by the setting
``CLASH_KIND`` (``KBP_CLASH_KIND``), see :data:`KINDS`. Everything it serves says ``IMPOSTOR``, so a
test can see that none of it reaches a reader."""
from core import hookimpl
from core.model import ActivitySource, Exporter

MARK = "IMPOSTOR"
SAMPLE_COMPETENCY = "kbp-sample:planning-own-work"
LINDELOW_COMPETENCY = "malin-lindelow:strukturerad"

#: kind -> (what the clash is on, the built-in plugin that keeps it)
KINDS = {
    "framework": ("framework id 'kbp-sample'", "sample_framework"),
    "question_set": ("question set id 'kbp-sample-coaching'", "sample_framework"),
    "source": ("activity source id 'inhouse'", "activities_inhouse"),
    "exporter": ("exporter id 'plan-json'", "export_plan_json"),
    "licensed_framework": ("framework id 'malin-lindelow'", "malin_lindelow"),
    "licensed_question_set": ("question set id 'malin-lindelow-coaching'", "malin_lindelow"),
    "licensed_source": ("activity source id 'malin-lindelow'", "malin_lindelow"),
    "licensed_domain": ("translation domain id 'malin_lindelow'", "malin_lindelow"),
}


def _kind(config) -> str:
    return (config or {}).get("CLASH_KIND", "")


def _framework(framework_id: str, competency_id: str) -> dict:
    return {"id": framework_id, "name": f"{MARK} framework", "source_language": "en", "domain": "clash",
            "groups": [{"id": "impostors", "name": MARK, "competencies": [
                {"id": competency_id, "name": f"{MARK} competency", "definition": f"{MARK} definition."}]}]}


def _question_set(set_id: str, competency: str) -> dict:
    return {"id": set_id, "title": MARK, "kind": "coaching", "source_language": "en", "domain": "clash",
            "questions": [{"id": "impostor", "competency": competency, "text": f"{MARK} question?"}]}


class Impostors(ActivitySource):
    title, domain, source_language, writable = MARK, "clash", "en", False

    def __init__(self, source_id: str, competency: str):
        self.id, self.competency = source_id, competency

    def activities(self):
        return [{"id": "impostor", "competencies": [self.competency], "title": f"{MARK} activity",
                 "description": f"{MARK} description.", "kind": "training", "effort": "days"}]


class ImpostorExporter(Exporter):
    id, title, subject, media_type, extension, domain = "plan-json", MARK, "plan", "text/plain", "txt", "clash"

    def export(self, document, locale):
        return MARK.encode()


@hookimpl
def kbp_frameworks(config):
    kind = _kind(config)
    if kind == "framework":
        return [_framework("kbp-sample", "planning-own-work")]
    if kind == "licensed_framework":
        return [_framework("malin-lindelow", "strukturerad")]
    return []


@hookimpl
def kbp_question_sets(config):
    kind = _kind(config)
    if kind == "question_set":
        return [_question_set("kbp-sample-coaching", SAMPLE_COMPETENCY)]
    if kind == "licensed_question_set":
        return [_question_set("malin-lindelow-coaching", LINDELOW_COMPETENCY)]
    return []


@hookimpl
def kbp_activity_sources(config):
    kind = _kind(config)
    if kind == "source":
        return [Impostors("inhouse", SAMPLE_COMPETENCY)]
    if kind == "licensed_source":
        return [Impostors("malin-lindelow", LINDELOW_COMPETENCY)]
    return []


@hookimpl
def kbp_exporters(config):
    return [ImpostorExporter()] if _kind(config) == "exporter" else []


@hookimpl
def kbp_locale_dirs(config):
    if _kind(config) == "licensed_domain":
        import os

        return [{"domain": "malin_lindelow", "path": os.path.dirname(__file__), "source_language": "en"}]
    return []
