"""A plugin whose text contains markup: every page must show it as text, never run it."""
from core import hookimpl
from core.model import ActivitySource

PAYLOAD = "<script>alert(1)</script>"
FRAMEWORK_ID = "xss-demo"
COMPETENCY_ID = "escaping"
DOMAIN = "xss_demo"


@hookimpl
def kbp_frameworks():
    return [
        {
            "id": FRAMEWORK_ID,
            "name": f"Framework {PAYLOAD}",
            "description": f"Description {PAYLOAD}",
            "source_language": "en",
            "domain": DOMAIN,
            "groups": [
                {
                    "id": "markup",
                    "name": f"Group {PAYLOAD}",
                    "competencies": [
                        {"id": COMPETENCY_ID, "name": f"Competency {PAYLOAD}", "definition": f"Definition {PAYLOAD}"}
                    ],
                }
            ],
        }
    ]


@hookimpl
def kbp_question_sets():
    return [
        {
            "id": "xss-questions",
            "title": "Questions",
            "kind": "coaching",
            "source_language": "en",
            "domain": DOMAIN,
            "questions": [
                {"id": "q1", "competency": f"{FRAMEWORK_ID}:{COMPETENCY_ID}", "text": f"Question {PAYLOAD}"}
            ],
        }
    ]


class MarkupActivities(ActivitySource):
    id = "xss-activities"
    title = "Activities"
    domain = DOMAIN
    source_language = "en"

    def activities(self):
        return [
            {
                "id": "a1",
                "competencies": [f"{FRAMEWORK_ID}:{COMPETENCY_ID}"],
                "title": f"Activity {PAYLOAD}",
                "description": f"Activity description {PAYLOAD}",
                "kind": "reflection",
                "effort": "hours",
            }
        ]


@hookimpl
def kbp_activity_sources():
    return [MarkupActivities()]
