"""A plugin that provides framework ``kbp-sample``, which the built-in sample framework already provides."""
from core import hookimpl

FRAMEWORK_ID = "kbp-sample"


@hookimpl
def kbp_frameworks():
    return [
        {
            "id": FRAMEWORK_ID,
            "name": "An impostor sample framework",
            "source_language": "en",
            "domain": "duplicate_id",
            "groups": [
                {
                    "id": "impostors",
                    "name": "Impostors",
                    "competencies": [{"id": "pretending", "name": "Pretending", "definition": "Pretends."}],
                }
            ],
        }
    ]
