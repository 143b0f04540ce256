"""A plugin returning one valid framework and one invalid one (no ``groups``, an id that is not a slug).

The plugin is all-or-nothing: the valid framework must not be served either.
"""
from core import hookimpl

VALID_ID = "invalid-content-valid-part"
BAD_ID = "Not A Slug!"


@hookimpl
def kbp_frameworks():
    return [
        {
            "id": VALID_ID,
            "name": "The valid half",
            "source_language": "en",
            "domain": "invalid_content",
            "groups": [
                {
                    "id": "g",
                    "name": "Group",
                    "competencies": [{"id": "c", "name": "Competency", "definition": "Defined."}],
                }
            ],
        },
        {
            "id": BAD_ID,
            "name": "The invalid half",
            "source_language": "en",
            "domain": "invalid_content",
        },
    ]
