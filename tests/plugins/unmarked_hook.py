"""A plugin whose ``kbp_frameworks`` lacks ``@hookimpl``: pluggy would silently ignore it."""
from core import hookimpl


def kbp_frameworks():
    return [{"id": "unmarked", "name": "Unmarked", "source_language": "en", "domain": "unmarked",
             "groups": [{"id": "g", "name": "G", "competencies": [{"id": "c", "name": "C", "definition": "D."}]}]}]


@hookimpl
def kbp_question_sets():
    return []
