"""Framework content packages: YAML files a framework plugin ships (and a licensee may replace).

A *content package* is a folder::

    framework.yaml          id, name, description, version, source_language, domain,
                            licence_notice, and ``groups``: the group ids in display order
    groups/<group-id>.yaml  one group: ``group: {id, name, description}`` and ``competencies``

and each competency in a group file is::

    - id: personlig-mognad            # stable ASCII slug
      name: Personlig mognad
      definition: ...                 # 2–4 sentences
      indicators: [...]               # 3–5 behavioural indicators ("så märks det")
      overdone: [..., ...]            # 2 signs the strength is overdone ("när det blir för mycket")
      coaching_questions:             # for a manager or coach
        - text: ...
          direction: back             # back | now | ahead
          situations: [new_role]      # optional: role_changes | new_role | recruited_need | grow_further
      self_reflection_questions:      # first person, for someone alone
        - text: ...
          situations: [role_changes]  # optional, as above
      interview_questions:            # behavioural, for competency-based recruitment
        - text: ...
          probes: [..., ...]          # 1–3 follow-up probes
      follow_up_questions:            # for the follow-up meeting: what happened, learned, next
        - text: ...
      activities:
        - id: led-ett-mote            # unique within the competency
          title: ...
          description: ...
          kind: on_the_job            # on_the_job | learning_from_others | training | reflection
          effort: weeks               # hours | days | weeks | months
          situations: []

All text is written in ``source_language`` and is the msgid that the plugin's gettext domain
translates. :func:`load_package` validates every file against the schemas below and reports a
problem as ``file:line: field: message``. :func:`babel_extract` is the Babel extractor (entry
point ``babel.extractors`` → ``kbp_content``) that pulls the text into ``.pot`` catalogs with a
translator comment saying which competency and field it is and how long it should be.

**Overlays.** ``load_package(base, overlay)`` reads each file from ``overlay`` when it exists there
and from ``base`` otherwise: a licensee's official content pack can replace a group file, replace
``framework.yaml`` (e.g. to add groups) or add group files, without code changes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from core import model
from core.registry import ContentError
from core.schemas import NonEmpty, locale_code, slug

# ----------------------------------------------------------------------------- schemas


class _S(Schema):
    class Meta:
        unknown = RAISE


class _QuestionIn(_S):
    id = fields.String(validate=slug)
    text = fields.String(required=True, validate=NonEmpty)
    direction = fields.String(load_default="", validate=validate.OneOf(("",) + model.QUESTION_DIRECTIONS))
    situations = fields.List(fields.String(validate=validate.OneOf(model.SITUATIONS)), load_default=list)


class _InterviewQuestionIn(_S):
    id = fields.String(validate=slug)
    text = fields.String(required=True, validate=NonEmpty)
    probes = fields.List(fields.String(validate=NonEmpty), load_default=list)


class _FollowUpQuestionIn(_S):
    id = fields.String(validate=slug)
    text = fields.String(required=True, validate=NonEmpty)


class _ActivityIn(_S):
    id = fields.String(required=True, validate=slug)
    title = fields.String(required=True, validate=NonEmpty)
    description = fields.String(required=True, validate=NonEmpty)
    kind = fields.String(required=True, validate=validate.OneOf(model.ACTIVITY_KINDS))
    effort = fields.String(required=True, validate=validate.OneOf(model.EFFORTS))
    situations = fields.List(fields.String(validate=validate.OneOf(model.SITUATIONS)), load_default=list)


class _CompetencyIn(_S):
    id = fields.String(required=True, validate=slug)
    name = fields.String(required=True, validate=NonEmpty)
    definition = fields.String(required=True, validate=NonEmpty)
    indicators = fields.List(fields.String(validate=NonEmpty), load_default=list)
    overdone = fields.List(fields.String(validate=NonEmpty), load_default=list)
    coaching_questions = fields.List(fields.Nested(_QuestionIn), load_default=list)
    self_reflection_questions = fields.List(fields.Nested(_QuestionIn), load_default=list)
    interview_questions = fields.List(fields.Nested(_InterviewQuestionIn), load_default=list)
    follow_up_questions = fields.List(fields.Nested(_FollowUpQuestionIn), load_default=list)
    activities = fields.List(fields.Nested(_ActivityIn), load_default=list)

    @validates_schema
    def _unique_activity_ids(self, data, **kwargs):
        ids = [a["id"] for a in data.get("activities", [])]
        for i, ident in enumerate(ids):
            if ident in ids[:i]:
                raise ValidationError({"activities": {i: {"id": [f"Activity id '{ident}' appears twice."]}}})


class _GroupMetaIn(_S):
    id = fields.String(required=True, validate=slug)
    name = fields.String(required=True, validate=NonEmpty)
    description = fields.String(load_default="")


class GroupFileSchema(_S):
    group = fields.Nested(_GroupMetaIn, required=True)
    competencies = fields.List(fields.Nested(_CompetencyIn), required=True, validate=NonEmpty)


class FrameworkFileSchema(_S):
    id = fields.String(required=True, validate=slug)
    name = fields.String(required=True, validate=NonEmpty)
    description = fields.String(load_default="")
    version = fields.String(load_default="1")
    source_language = fields.String(required=True, validate=locale_code)
    domain = fields.String(required=True, validate=slug)
    licence_notice = fields.String(load_default="")
    groups = fields.List(fields.String(validate=slug), required=True, validate=NonEmpty)
    #: titles of the package's question sets in ``source_language`` (kind -> title); English defaults
    question_set_titles = fields.Dict(
        keys=fields.String(validate=validate.OneOf(model.QUESTION_KINDS)), values=fields.String(validate=NonEmpty),
        load_default=dict,
    )


# ----------------------------------------------------------------------------- YAML with lines


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse ``path``; return (data, node tree) so validation errors can name a line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(f"{path}: file is missing") from None
    except UnicodeDecodeError as exc:
        raise ContentError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data, node = _parse_yaml(text)
    except yaml.MarkedYAMLError as exc:
        # PyYAML names two places: where the construct began (context) and where it noticed the
        # problem; when that is the end of the file (an unclosed quote or bracket), the start is
        # the line to fix
        mark, context = exc.problem_mark, exc.context_mark
        at_end = mark is not None and not text[mark.index:].strip()
        if context is not None and (mark is None or at_end):
            mark = context
        line = f":{mark.line + 1}" if mark is not None else ""
        detail = f"{exc.context} (line {exc.context_mark.line + 1}): " if exc.context and exc.context_mark else ""
        raise ContentError(f"{path}{line}: not valid YAML: {detail}{exc.problem or exc}") from None
    return data, node


#: libyaml's parser when PyYAML was built with it (the wheels are): the framework's content files
#: parse in a tenth of the time, which every start of the server and every command pays
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def _parse_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """(data, node tree) of ``text``, parsed once: the data is constructed from the node tree.

    With libyaml when available; a text it rejects is parsed again by PyYAML's own parser, which
    then raises the error (with the wording and the lines this module's messages were written
    for) or, where the two parsers disagree, reads it."""
    for loader_class in ((_FAST_LOADER, yaml.SafeLoader) if _FAST_LOADER is not None else (yaml.SafeLoader,)):
        loader = loader_class(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        except yaml.YAMLError:
            if loader_class is yaml.SafeLoader:
                raise
            continue
        finally:
            loader.dispose()
        return data, node
    raise AssertionError("unreachable")  # pragma: no cover


def _line_of(node: yaml.Node | None, path: list[str]) -> int | None:
    """The 1-based line of the deepest node reached by ``path`` (keys and list indexes)."""
    line = node.start_mark.line + 1 if node is not None else None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == step), None)
            if nxt is None:  # an unknown key: point at the key itself
                key = next((k for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value == step), None)
                return key.start_mark.line + 1 if key is not None else line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and str(step).isdigit() and int(step) < len(node.value):
            node = node.value[int(step)]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _validated(path: Path, schema: Schema) -> tuple[dict, yaml.Node | None]:
    data, node = _read_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(f"{path}:1: expected a mapping of fields at the top of the file")
    try:
        return schema.load(data), node
    except ValidationError as exc:
        problems = [f"{path}:{_line_of(node, where)}: {'.'.join(where) or '(file)'}: {message}"
                    for where, message in _all_errors(exc.messages)]
        raise ContentError("; ".join(problems)) from None


def _all_errors(messages: Any, path: list[str] | None = None) -> list[tuple[list[str], str]]:
    """Every ``(field path, message)`` of a marshmallow error dict, in the file's order."""
    path = path or []
    if isinstance(messages, dict):
        keys = sorted(messages, key=lambda k: (not str(k).isdigit(), int(k) if str(k).isdigit() else 0, str(k)))
        return [item for key in keys for item in _all_errors(messages[key], path + [str(key)])]
    if isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        return [(path, " ".join(messages))]
    if isinstance(messages, list):
        return [item for m in messages for item in _all_errors(m, path)]
    return [(path, str(messages))]


# ----------------------------------------------------------------------------- loading


@dataclass
class ContentPackage:
    """A loaded package, in the plain-data shapes the hooks return."""

    framework: dict
    coaching: dict
    self_reflection: dict
    activities: list[dict]
    interview: dict
    follow_up: dict
    files: list[Path]


#: question-set titles when framework.yaml gives none (English: the sample framework's source language)
_DEFAULT_SET_TITLES = {"coaching": "Coaching questions", "self_reflection": "Self-reflection questions",
                       "interview": "Interview questions", "follow_up": "Follow-up questions"}
_KIND_LETTER = {"coaching": "c", "self_reflection": "s", "interview": "i", "follow_up": "f"}


def question_id(competency_id: str, kind: str, text: str) -> str:
    digest = hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:10]
    return f"{competency_id}-{_KIND_LETTER[kind]}-{digest}"


def _pick(name: str, base: Path, overlay: Path | None) -> Path:
    """The pack's file, else ours; a file neither has is reported under the pack's path."""
    if overlay is not None and ((overlay / name).is_file() or not (base / name).is_file()):
        return overlay / name
    return base / name


def load_package(base: str | Path, overlay: str | Path | None = None) -> ContentPackage:
    base = Path(base)
    overlay = Path(overlay) if overlay else None
    fw_path = _pick("framework.yaml", base, overlay)
    meta, _node = _validated(fw_path, FrameworkFileSchema())
    files = [fw_path]
    groups, coaching, reflective, interview, follow_up, activities = [], [], [], [], [], []
    seen: dict[str, Path] = {}
    for group_id in meta["groups"]:
        path = _pick(f"groups/{group_id}.yaml", base, overlay)
        data, node = _validated(path, GroupFileSchema())
        files.append(path)
        if data["group"]["id"] != group_id:
            line = _line_of(node, ["group", "id"])
            raise ContentError(f"{path}:{line}: group.id: is '{data['group']['id']}', expected '{group_id}'")
        comps = []
        for index, comp in enumerate(data["competencies"]):
            if comp["id"] in seen:
                line = _line_of(node, ["competencies", str(index), "id"])
                raise ContentError(f"{path}:{line}: competency id '{comp['id']}' is also defined in {seen[comp['id']]}")
            seen[comp["id"]] = path
            comps.append({k: comp[k] for k in ("id", "name", "definition", "indicators", "overdone")})
            gid = f"{meta['id']}:{comp['id']}"
            for kind, target, items in (
                ("coaching", coaching, comp["coaching_questions"]),
                ("self_reflection", reflective, comp["self_reflection_questions"]),
                ("interview", interview, comp["interview_questions"]),
                ("follow_up", follow_up, comp["follow_up_questions"]),
            ):
                for q in items:
                    question = {
                        "id": q.get("id") or question_id(comp["id"], kind, q["text"]),
                        "competency": gid,
                        "text": q["text"],
                        "direction": q.get("direction", ""),
                        "situations": q.get("situations", []),
                    }
                    if q.get("probes"):
                        question["probes"] = q["probes"]
                    target.append(question)
            for a in comp["activities"]:
                activities.append(
                    {
                        "id": f"{comp['id']}-{a['id']}",
                        "competencies": [gid],
                        "title": a["title"],
                        "description": a["description"],
                        "kind": a["kind"],
                        "effort": a["effort"],
                        "situations": a["situations"],
                    }
                )
        groups.append({**data["group"], "competencies": comps})
    framework = {k: meta[k] for k in meta if k not in ("groups", "question_set_titles")}
    framework["groups"] = groups
    common = {"source_language": meta["source_language"], "domain": meta["domain"]}

    def question_set(kind: str, questions: list[dict]) -> dict:
        title = meta["question_set_titles"].get(kind) or _DEFAULT_SET_TITLES[kind]
        return {"id": f"{meta['id']}-{kind.replace('_', '-')}", "title": title, "kind": kind,
                "questions": questions, **common}
    return ContentPackage(
        framework=framework,
        coaching=question_set("coaching", coaching),
        self_reflection=question_set("self_reflection", reflective),
        interview=question_set("interview", interview),
        follow_up=question_set("follow_up", follow_up),
        activities=activities,
        files=files,
    )


class PackageActivitySource(model.ActivitySource):
    """The activities of a content package, as a read-only activity source."""

    def __init__(self, package: ContentPackage, source_id: str, title: str):
        self.id = source_id
        self.title = title
        self.domain = package.framework["domain"]
        self.source_language = package.framework["source_language"]
        self._items = package.activities

    def activities(self):
        return self._items


# ----------------------------------------------------------------------------- Babel extractor

#: rough maximum lengths shown to translators
_MAX = {"name": 40, "group": 40, "definition": 600, "question": 200, "title": 80, "description": 400,
        "indicator": 160, "probe": 120}


def babel_extract(fileobj, keywords, comment_tags, options) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extractor for content files: yields ``(line, funcname, message, comments)``.

    Registered as ``kbp_content`` in the ``babel.extractors`` entry-point group; use it in a
    mapping file with ``[kbp_content: **/content/**.yaml]``.
    """
    text = fileobj.read()
    if isinstance(text, bytes):
        text = text.decode(options.get("encoding", "utf-8") if options else "utf-8")
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        return
    yield from _extract_nodes(node)


def _scalar(mapping: yaml.MappingNode, key: str) -> yaml.ScalarNode | None:
    for k, v in mapping.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.ScalarNode):
            return v
    return None


def _child(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    for k, v in mapping.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def _msg(node: yaml.ScalarNode | None, comment: str, limit: int):
    if node is not None and node.value.strip():
        return (node.start_mark.line + 1, None, node.value, [f"{comment} (keep under about {limit} characters)"])
    return None


def _extract_nodes(root: yaml.MappingNode):
    found = []
    if _scalar(root, "source_language") is not None:  # framework.yaml
        fid = _scalar(root, "id").value if _scalar(root, "id") else "?"
        found.append(_msg(_scalar(root, "name"), f"Framework '{fid}': name", _MAX["name"] * 2))
        found.append(_msg(_scalar(root, "description"), f"Framework '{fid}': description", _MAX["definition"]))
        found.append(_msg(_scalar(root, "licence_notice"), f"Framework '{fid}': licence notice", _MAX["definition"]))
        titles = _child(root, "question_set_titles")
        if isinstance(titles, yaml.MappingNode):
            for key, value in titles.value:
                if isinstance(value, yaml.ScalarNode):
                    found.append(_msg(value, f"Framework '{fid}': title of the {key.value} question set", _MAX["title"]))
    group = _child(root, "group")
    if isinstance(group, yaml.MappingNode):
        gid = _scalar(group, "id").value if _scalar(group, "id") else "?"
        found.append(_msg(_scalar(group, "name"), f"Group '{gid}': name", _MAX["group"]))
        found.append(_msg(_scalar(group, "description"), f"Group '{gid}': description", _MAX["definition"]))
    comps = _child(root, "competencies")
    if isinstance(comps, yaml.SequenceNode):
        for comp in comps.value:
            if not isinstance(comp, yaml.MappingNode):
                continue
            cid = _scalar(comp, "id").value if _scalar(comp, "id") else "?"
            found.append(_msg(_scalar(comp, "name"), f"Competency '{cid}': name (the framework owner's name; a licensee may override the translation)", _MAX["name"]))
            found.append(_msg(_scalar(comp, "definition"), f"Competency '{cid}': definition, 2-4 sentences", _MAX["definition"]))
            for key, label in (("indicators", "behavioural indicator (\"so you notice it\"), a short statement"),
                               ("overdone", "sign that the strength is overdone (\"when it becomes too much\")")):
                seq = _child(comp, key)
                if isinstance(seq, yaml.SequenceNode):
                    for item in seq.value:
                        if isinstance(item, yaml.ScalarNode):
                            found.append(_msg(item, f"Competency '{cid}': {label}", _MAX["indicator"]))
            for key, label in (("coaching_questions", "coaching question to the employee (du-form)"),
                               ("self_reflection_questions", "self-reflection question in the first person"),
                               ("interview_questions", "behavioural interview question to a candidate"),
                               ("follow_up_questions", "follow-up meeting question to the employee")):
                seq = _child(comp, key)
                if isinstance(seq, yaml.SequenceNode):
                    for q in seq.value:
                        if isinstance(q, yaml.MappingNode):
                            found.append(_msg(_scalar(q, "text"), f"Competency '{cid}': {label}", _MAX["question"]))
                            probes = _child(q, "probes")
                            if isinstance(probes, yaml.SequenceNode):
                                for p in probes.value:
                                    if isinstance(p, yaml.ScalarNode):
                                        found.append(_msg(p, f"Competency '{cid}': probe following an interview question", _MAX["probe"]))
            acts = _child(comp, "activities")
            if isinstance(acts, yaml.SequenceNode):
                for a in acts.value:
                    if isinstance(a, yaml.MappingNode):
                        aid = _scalar(a, "id").value if _scalar(a, "id") else "?"
                        found.append(_msg(_scalar(a, "title"), f"Competency '{cid}', activity '{aid}': title, verb first", _MAX["title"]))
                        found.append(_msg(_scalar(a, "description"), f"Competency '{cid}', activity '{aid}': description, what to do and how to follow up", _MAX["description"]))
    for item in found:
        if item is not None:
            yield item


# ----------------------------------------------------------------------------- content statistics


def framework_stats(registry, framework: model.Framework) -> dict[str, Any]:
    """Figures for reviewing a framework's content (``kbp content stats``), in its source text.

    ``situations``: per situation, the number of coaching questions, self-reflection questions
    and (read-only, i.e. the framework's own) activities tagged with it, in total and the smallest
    number any competency has; ``kinds``: activities per kind; ``extremes``: the longest and the
    shortest question and activity description, as ``(length, competency id, text)``.
    """
    gids = {c.global_id: c.id for c in framework.competencies()}
    questions = [q for qs in registry.question_sets.values() for q in qs.questions if q.competency in gids]
    activities = [
        a for src in registry.activity_sources.values() if not src.writable
        for a in src.loaded() if gids.keys() & set(a.competencies)
    ]
    situations: dict[str, dict[str, Any]] = {}
    for situation in model.SITUATIONS:
        row: dict[str, Any] = {}
        for label, items in (
            ("coaching", [q for q in questions if q.kind == "coaching"]),
            ("self_reflection", [q for q in questions if q.kind == "self_reflection"]),
            ("activities", activities),
        ):
            per = {gid: 0 for gid in gids}
            for item in items:
                if situation in item.situations:
                    for gid in ([item.competency] if isinstance(item, model.Question) else item.competencies):
                        if gid in per:
                            per[gid] += 1
            row[label] = sum(per.values())
            row[f"{label}_min"] = min(per.values()) if per else 0
        situations[situation] = row
    kinds = {kind: sum(1 for a in activities if a.kind == kind) for kind in model.ACTIVITY_KINDS}

    def extremes(items):
        if not items:
            return {}
        ranked = sorted(items, key=lambda t: (len(t[1]), t[1]))
        return {"shortest": (len(ranked[0][1]), *ranked[0]), "longest": (len(ranked[-1][1]), *ranked[-1])}

    by_kind = {
        kind: extremes([(gids[q.competency], q.text) for q in questions if q.kind == kind])
        for kind in model.QUESTION_KINDS
    }
    by_kind["activity"] = extremes([(gids[next(g for g in a.competencies if g in gids)], a.description) for a in activities])
    return {"situations": situations, "kinds": kinds, "activities": len(activities),
            "extremes": {k: v for k, v in by_kind.items() if v}}


# ----------------------------------------------------------------------------- folders of imported frameworks


def load_framework_files(paths, load, skip: tuple[type[BaseException], ...], what: str, log=None) -> tuple[list[dict], list[str]]:
    """Frameworks from files another system wrote (CASE packages, Moodle CSV, …), for import plugins.

    ``load(path)`` returns a framework dict; a file that raises one of ``skip`` (or cannot be read)
    is skipped and its message collected, so one bad file never hides the others. Framework ids are
    made unique across the folder (``x``, ``x-2``, …). Returns ``(frameworks, problems)``.
    """
    frameworks: list[dict] = []
    problems: list[str] = []
    taken: set[str] = set()
    for path in paths:
        try:
            framework = load(path)
        except OSError as exc:
            from core.imports import MESSAGES

            problems.append(MESSAGES.gettext("%(file)s: cannot read: %(reason)s", file=Path(path).name,
                                             reason=str(exc.strerror or exc)))
        except skip as exc:  # the message itself (a core.imports.FileMessage is shown in the reader's language)
            problems.append(exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc))
        else:
            base, n = framework["id"], 2
            while framework["id"] in taken:
                framework["id"], n = f"{base}-{n}", n + 1
            taken.add(framework["id"])
            frameworks.append(framework)
            continue
        if log is not None:
            log.error("%s skipped: %s", what, problems[-1])
    return frameworks, problems


def import_folder(config, setting: str, default_name: str) -> Path | None:
    """The folder an import plugin reads: the ``setting`` (which must be a folder) or, when that is
    not set, ``<DATA_DIR>/<default_name>`` if it exists; None when there is none."""
    config = config or {}
    configured = config.get(setting)
    if configured:
        folder = Path(configured)
        if not folder.is_dir():
            raise ContentError(f"{setting} is {folder}, which is not a folder")
        return folder
    data_dir = config.get("DATA_DIR")
    if data_dir and (Path(data_dir) / default_name).is_dir():
        return Path(data_dir) / default_name
    return None
