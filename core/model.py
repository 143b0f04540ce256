"""Domain types: what the registry holds and what the API and pages show.

Style of the hook contract (one style, kept everywhere):

* **Content is plain data.** ``kbp_frameworks`` and ``kbp_question_sets`` return dicts/lists that
  :mod:`core.schemas` validates and turns into the frozen dataclasses below. A content plugin can
  load YAML and hand it over without importing any class.
* **Behaviour is an object.** ``kbp_activity_sources`` and ``kbp_exporters`` return instances of
  :class:`ActivitySource` and :class:`Exporter` (subclass them), whose metadata the core validates
  with the same schemas.

Text fields hold the *source text* in the plugin's source language; it is the gettext msgid in the
plugin's translation domain (see :mod:`core.i18n`). Ids are stable ASCII slugs; a competency's
global id is ``framework:competency``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Mapping

SITUATIONS = ("role_changes", "new_role", "recruited_need", "grow_further")
ACTIVITY_KINDS = ("on_the_job", "learning_from_others", "training", "reflection")
EFFORTS = ("hours", "days", "weeks", "months")
#: ``interview``: behavioural questions for competency-based recruitment (with ``probes``);
#: ``follow_up``: questions for the follow-up meeting (what happened, what was learned, what next)
QUESTION_KINDS = ("coaching", "self_reflection", "interview", "follow_up")
QUESTION_DIRECTIONS = ("back", "now", "ahead")
EXPORT_SUBJECTS = ("plan", "framework", "dialogue_guide")

SLUG_PATTERN = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$"


@dataclass(frozen=True)
class TextDomain:
    """Where a piece of content text is translated: gettext domain and the language it is written in."""

    domain: str
    source_language: str


@dataclass(frozen=True)
class Competency:
    id: str
    framework_id: str
    group_id: str
    name: str
    definition: str
    text: TextDomain
    #: the source's own code for it (a CASE ``humanCodingScheme`` such as ``6.RP.A.1``), shown next to the name
    code: str = ""
    #: id of the competency of the same group it sits under ('' = directly in the group): trees of any depth
    parent: str = ""
    #: False for a heading (an item with items under it that the source does not mark as a competency)
    selectable: bool = True
    #: 1 = directly in the group, 2 = under a competency of depth 1, …
    depth: int = 1
    #: ids of related competencies of the same framework (CASE associations, Moodle cross-references)
    related: tuple[str, ...] = ()
    #: education levels the source gives (CASE educationLevel: "KG", "06" …), a filter on the framework page
    levels: tuple[str, ...] = ()
    #: behavioural indicators, "so you notice it" (source text, translated in ``text``)
    indicators: tuple[str, ...] = ()
    #: signs that the strength is overdone
    overdone: tuple[str, ...] = ()

    @property
    def global_id(self) -> str:
        return f"{self.framework_id}:{self.id}"


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    description: str
    competencies: tuple[Competency, ...]
    code: str = ""  # the source's own code for the group, like Competency.code


@dataclass(frozen=True)
class LicenceRequirement:
    """A framework served only under a licence: see :mod:`core.entitlements`."""

    product: str
    keys_file: str
    demo_licence_file: str = ""


@dataclass(frozen=True)
class Framework:
    id: str
    name: str
    description: str
    version: str
    text: TextDomain
    groups: tuple[Group, ...]
    licence_notice: str = ""
    plugin: str = ""
    #: set when the framework may be served only under a licence
    licence: LicenceRequirement | None = None

    def competencies(self) -> Iterable[Competency]:
        for group in self.groups:
            yield from group.competencies


@dataclass(frozen=True)
class Question:
    id: str
    competency: str  # global id
    kind: str  # one of QUESTION_KINDS
    text: str
    direction: str = ""
    situations: tuple[str, ...] = ()
    #: follow-up probes of an interview question
    probes: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuestionSet:
    id: str
    title: str
    kind: str
    text: TextDomain
    questions: tuple[Question, ...]
    plugin: str = ""


@dataclass(frozen=True)
class Activity:
    id: str
    source: str
    competencies: tuple[str, ...]  # global ids
    title: str
    description: str
    kind: str
    effort: str
    text: TextDomain
    situations: tuple[str, ...] = ()
    provider: str = ""
    url: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: text the source stores per language (organisation content): locale -> {"title", "description"};
    #: wins over gettext for that locale. Framework content leaves it empty and uses its catalog.
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False, hash=False)
    archived: bool = False
    tags: tuple[str, ...] = ()
    cost: str = ""
    duration: str = ""
    owner: str = ""


#: validates what a source's ``activities()`` yields and returns :class:`Activity` objects: installed
#: by :mod:`core.schemas` (:func:`install_activity_loader`) when it is imported, so that this module
#: imports nothing from the core (it is the bottom layer every other module builds on)
_activity_loader: Callable[["ActivitySource"], list[Activity]] | None = None


def install_activity_loader(loader: Callable[["ActivitySource"], list[Activity]]) -> None:
    """Set the validation :meth:`ActivitySource.loaded` uses (``core.schemas.load_activities``)."""
    global _activity_loader
    _activity_loader = loader


def record_to_activity(record: dict, source_id: str, domain: str = "messages") -> Activity:
    """An editable activity record (:mod:`core.activities`' shape: text per language) as an :class:`Activity`."""
    lang = record.get("source_language", "sv")
    translations = {
        loc: {"title": record["title"].get(loc, ""), "description": record["description"].get(loc, "")}
        for loc in set(record["title"]) | set(record["description"])
    }
    return Activity(
        id=record["id"],
        source=source_id,
        competencies=tuple(record["competencies"]),
        title=record["title"].get(lang, ""),
        description=record["description"].get(lang, ""),
        kind=record["kind"],
        effort=record["effort"],
        text=TextDomain(domain, lang),
        situations=tuple(record.get("situations", ())),
        provider=record.get("provider", ""),
        url=record.get("url", ""),
        translations=translations,
        archived=bool(record.get("archived")),
        tags=tuple(record.get("tags", ())),
        cost=record.get("cost", ""),
        duration=record.get("duration", ""),
        owner=record.get("owner", ""),
    )


class ActivitySource:
    """Base class for activity sources returned by ``kbp_activity_sources``.

    Subclass it and set the class attributes; implement :meth:`activities`. The default
    :meth:`for_competencies` filters :meth:`activities`; a source backed by an index or a database
    overrides it. ``activities`` returns plain dicts (validated by ``ActivitySchema``) or
    :class:`Activity` objects.
    """

    id: str = ""
    title: str = ""
    #: gettext domain and language of the source's own text
    domain: str = "messages"
    source_language: str = "en"
    writable: bool = False

    def activities(self) -> Iterable[dict | Activity]:  # pragma: no cover - interface
        raise NotImplementedError

    def for_competencies(self, competency_ids: Iterable[str]) -> list[Activity]:
        wanted = set(competency_ids)
        return [a for a in self.loaded() if wanted.intersection(a.competencies)]

    def loaded(self) -> list[Activity]:
        """The source's activities as validated :class:`Activity` objects (cached per instance)."""
        cached = getattr(self, "_kbp_loaded", None)
        if cached is None:
            if _activity_loader is None:  # pragma: no cover - core.schemas installs it on import
                raise RuntimeError("core.schemas has not been imported: activities cannot be validated")
            cached = _activity_loader(self)
            self._kbp_loaded = cached
        return cached


class ConflictError(Exception):
    """An edit based on an old version of a record (someone else saved in between)."""


class WritableActivitySource(ActivitySource):
    """An activity source people edit in KBP (the core offers API, pages and import/export for it).

    Records are dicts in the shape of :class:`core.activities.ActivityRecordSchema`: text per
    language (``title``/``description`` maps), a ``source_language``, a ``version`` that every
    update increments, and ``archived``. Archiving never deletes: plans keep their snapshots, and
    archived activities are hidden from suggestions only.
    """

    writable = True
    #: the collection of the app's store the records live in (``""``: kept elsewhere). When set, the
    #: core writes each change together with its audit entry in one unit of work: it calls the
    #: ``*_in`` methods below with that collection's writer instead of :meth:`create`,
    #: :meth:`update` and :meth:`import_records`.
    collection_name: str = ""

    def attach(self, store) -> None:
        """Called by the core once at start with the app's store (:mod:`core.store`: the embedded
        files or PostgreSQL): keep records there (e.g. ``store.collection("acme_activities")``), so
        they are in the organisation's one database, its backups, and seen by every server."""

    def records(self, include_archived: bool = True) -> list[dict]:  # pragma: no cover - interface
        raise NotImplementedError

    def get(self, activity_id: str) -> dict | None:  # pragma: no cover - interface
        raise NotImplementedError

    def create(self, record: dict) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def update(self, activity_id: str, changes: dict, expected_version: int | None = None) -> dict:  # pragma: no cover
        """Apply ``changes``; raise :class:`ConflictError` when ``expected_version`` is not current."""
        raise NotImplementedError

    def import_records(self, records: list[dict]) -> tuple[int, int]:  # pragma: no cover - interface
        """Create or replace (by id) all ``records`` in one transaction; return (created, updated)."""
        raise NotImplementedError

    def create_in(self, writer, record: dict) -> dict:  # pragma: no cover - interface
        """:meth:`create`, written to ``writer`` (the collection in the caller's unit of work)."""
        raise NotImplementedError

    def update_in(self, writer, activity_id: str, changes: dict, expected_version: int | None = None) -> dict:  # pragma: no cover
        """:meth:`update`, written to ``writer``."""
        raise NotImplementedError

    def import_in(self, writer, records: list[dict]) -> tuple[int, int]:  # pragma: no cover - interface
        """:meth:`import_records`, written to ``writer``."""
        raise NotImplementedError

    def revision(self) -> Hashable:  # pragma: no cover - interface
        """Changes whenever the stored records change (in any process): search re-indexes then."""
        raise NotImplementedError

    def activities(self):
        return [record_to_activity(r, self.id) for r in self.records(include_archived=True)]

    def loaded(self):
        """Always fresh: writable records change while the app runs."""
        return [record_to_activity(r, self.id) for r in self.records(include_archived=True)]


class Exporter:
    """Base class for exporters returned by ``kbp_exporters``.

    ``subject`` says what it exports (``plan``, ``framework``, ``dialogue_guide``);
    :meth:`export` returns the file's bytes, written in ``locale``.
    """

    id: str = ""
    title: str = ""
    subject: str = ""
    media_type: str = "application/octet-stream"
    extension: str = ""
    domain: str = "messages"
    #: the language ``title`` is written in (translated in ``domain`` for other readers)
    source_language: str = "en"

    def export(self, obj: Any, locale: str) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError
