"""A plugin referring to competencies that no installed framework has (typos, a missing framework)."""
from core import hookimpl
from core.model import ActivitySource


@hookimpl
def kbp_question_sets():
    return [{"id": "typos-questions", "title": "Typos", "kind": "coaching", "source_language": "en", "domain": "typos",
             "questions": [{"id": "q1", "competency": "kbp-sample:planing-own-work", "text": "Typo?"},
                           {"id": "q2", "competency": "nowhere:thing", "text": "Missing framework?"},
                           {"id": "q3", "competency": "kbp-sample:active-listening", "text": "Fine."}]}]


class Typos(ActivitySource):
    id, title, domain, source_language, writable = "typos", "Typos", "typos", "en", False

    def activities(self):
        return [{"id": "a1", "competencies": ["kbp-sample:lisening"], "title": "T", "description": "D.",
                 "kind": "training", "effort": "days"}]


@hookimpl
def kbp_activity_sources():
    return [Typos()]
