"""A plugin whose kbp_frameworks hook raises; its (valid) question set must not be registered either."""
from core import hookimpl

MESSAGE = "raises_in_hook could not reach its content server"


@hookimpl
def kbp_frameworks():
    raise ConnectionError(MESSAGE)


@hookimpl
def kbp_question_sets():
    return [
        {
            "id": "raises-in-hook-questions",
            "title": "Questions that must not show up",
            "kind": "coaching",
            "source_language": "en",
            "domain": "raises_in_hook",
            "questions": [],
        }
    ]
