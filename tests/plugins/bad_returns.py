"""A plugin returning something the contract does not allow, chosen by ``BAD_RETURN`` (see :data:`CASES`)."""
from core import hookimpl
from core.model import Activity, ActivitySource, TextDomain

COMPETENCY = "kbp-sample:planning-own-work"


def activity(**changes):
    fields = {"id": "course", "source": "bad-returns", "competencies": (COMPETENCY,), "title": "Course",
              "description": "A course.", "kind": "training", "effort": "days", "text": TextDomain("bad_returns", "en")}
    return Activity(**{**fields, **changes})


def course(**changes):
    return {"id": "course", "competencies": [COMPETENCY], "title": "Course", "description": "A course.",
            "kind": "training", "effort": "days", **changes}


class Source(ActivitySource):
    id, title, domain, source_language, writable = "bad-returns", "Bad returns", "bad_returns", "en", False

    def __init__(self, case):
        self.case = case

    def activities(self):
        return {
            "bogus_kind_object": [activity(kind="bogus")],
            "bad_translations": [activity(translations={"sv": "Kurs"})],
            "duplicate_activity": [course(), course(title="Course again")],
            "many_problems": [course(id="one", kind="bogus", effort="years"), course(id="two", situations=["party"])],
            "bad_url": [course(url="intranet/courses")],
        }.get(self.case, [course(url="")])  # an empty url means "no link"

    def for_competencies(self, competency_ids):
        if self.case == "dicts_from_for_competencies":
            return [course()]
        return super().for_competencies(competency_ids)


#: case -> text the failure reason must contain
CASES = {
    "dicts_from_for_competencies": "activity source 'bad-returns': for_competencies() item 1 is a dict, not a core.model.Activity",
    "bogus_kind_object": "activity 'course'.kind: 'bogus' is not one of",
    "bad_translations": "activity 'course'.translations.sv",
    "duplicate_activity": "activity 'course'.id: appears twice in this source",
    "many_problems": ["activity 'one'.effort", "activity 'one'.kind", "activity 'two'.situations.0"],
    "bad_url": "activity 'course'.url: Must be empty or a link",
    "framework_object": "each framework must be a dict",
    "question_problems": ["question set 'bad-questions' is invalid", "question 'q3'.direction", "question 'q4'.text",
                          "question 'q4'.competency"],
    "hook_returns_dict": "kbp_question_sets must return a list, not dict",
}


@hookimpl
def kbp_frameworks(config):
    return [object()] if config.get("BAD_RETURN") == "framework_object" else []


@hookimpl
def kbp_question_sets(config):
    if config.get("BAD_RETURN") == "question_problems":
        return [{"id": "bad-questions", "title": "Bad", "kind": "coaching", "source_language": "en", "domain": "bad_returns",
                 "questions": [{"id": "q1", "competency": COMPETENCY, "text": "Fine?"},
                               {"id": "q2", "competency": COMPETENCY, "text": "Fine too?"},
                               {"id": "q3", "competency": COMPETENCY, "text": "Which way?", "direction": "sideways"},
                               {"id": "q4", "competency": "no colon"}]}]
    return {"id": "not-a-list"} if config.get("BAD_RETURN") == "hook_returns_dict" else None


@hookimpl
def kbp_activity_sources(config):
    return [Source(config.get("BAD_RETURN"))]
