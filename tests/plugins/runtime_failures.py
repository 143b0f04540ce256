"""A plugin whose source and exporters load fine but fail at request time once :data:`BROKEN` is set:
the source raises (or returns dicts), the exporters raise or return text instead of bytes."""
from core import hookimpl
from core.model import ActivitySource, Exporter

COMPETENCY = "kbp-sample:planning-own-work"
BROKEN = {"source": "", "exporter": "", "search": ""}  # "" | "raise" | "dicts" / "raise" | "text" / "" | "raise"
REVISION = {"n": 0}
#: (exporter subject, document, locale) of every export call, for tests of the exporter input documents
RECEIVED: list[tuple[str, dict, str]] = []


class FlakyCatalogue(ActivitySource):
    id, title, domain, source_language, writable = "flaky-catalogue", "Flaky catalogue", "runtime_failures", "en", False

    def activities(self):
        return [{"id": "flaky-course", "competencies": [COMPETENCY], "title": "Flaky course",
                 "description": "Works until the catalogue server goes down.", "kind": "training", "effort": "days"}]

    def for_competencies(self, competency_ids):
        if BROKEN["source"] == "raise":
            raise ConnectionError("the course catalogue server did not answer")
        if BROKEN["source"] == "dicts":
            return [dict(a) for a in self.activities()]
        if BROKEN["source"] == "one-dict":
            return self.activities()[0]
        return super().for_competencies(competency_ids)


class ChangingCatalogue(ActivitySource):
    """A source that changes while the app runs (it has a revision), read afresh when it does."""

    id, title, domain, source_language, writable = "changing-catalogue", "Changing catalogue", "runtime_failures", "en", False

    def revision(self):
        return REVISION["n"]

    def activities(self):
        return [{"id": "changing-course", "competencies": [COMPETENCY], "title": "Changing course",
                 "description": "Read from a catalogue server that sometimes fails.", "kind": "training", "effort": "days"}]

    def loaded(self):
        if BROKEN["search"] == "raise":
            raise ConnectionError("the catalogue server timed out")
        return super().loaded()


class FlakyExporter(Exporter):
    id, title, subject, media_type, extension, domain = "flaky-text", "Flaky text", "plan", "text/plain", "txt", "runtime_failures"

    def export(self, document, locale):
        RECEIVED.append((self.subject, document, locale))
        if BROKEN["exporter"] == "raise":
            raise KeyError("competencies")
        if BROKEN["exporter"] == "text":
            return "a str, not bytes"
        return document["id"].encode()


class FlakyFrameworkExporter(FlakyExporter):
    id, subject = "flaky-framework", "framework"


class FlakyGuideExporter(FlakyExporter):
    id, subject = "flaky-guide", "dialogue_guide"


@hookimpl
def kbp_activity_sources():
    return [FlakyCatalogue(), ChangingCatalogue()]


@hookimpl
def kbp_exporters():
    return [FlakyExporter(), FlakyFrameworkExporter(), FlakyGuideExporter()]
