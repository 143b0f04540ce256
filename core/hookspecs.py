"""THE plugin contract of KBP.

Every hook below is called **once at start-up**, for every enabled plugin, one plugin at a time
(see :mod:`core.plugins`): a plugin that raises, or returns something the schemas in
:mod:`core.schemas` reject, is reported by name with the reason and skipped as a whole, while the
rest of the app starts.

Each hook receives ``config``, a read-only view of the app's configuration (``DATA_DIR``,
``DEMO``, ``DEFAULT_LOCALE`` …). An implementation may leave the argument out (pluggy passes only
the arguments an implementation names), so ``def kbp_frameworks():`` is fine.

Return values follow one rule: *content is plain data, behaviour is an object* (see
:mod:`core.model`). Every hook may return ``None`` or a list; everything in it is validated (dicts
with :mod:`core.schemas`, objects by their attributes and by what their methods return), and a
violation fails the plugin with a message naming the item and field. Ids of built-in plugins are
reserved (:data:`core.registry.RESERVED_IDS`); on a clash the newcomer fails, naming both plugins.
A plugin may declare ``PLUGIN_API_VERSIONS = (1,)``; see :data:`core.PLUGIN_API_VERSION`.

Write an implementation like this::

    from core import hookimpl

    @hookimpl
    def kbp_frameworks():
        return [{"id": "my-framework", ...}]

and declare the module in the entry-point group ``kbp.plugins`` of your package.
"""
from __future__ import annotations

import pluggy

PROJECT = "kbp"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def kbp_frameworks(config):
    """Competency frameworks this plugin provides.

    Return a list of dicts shaped like ``core.schemas.FrameworkSchema``: ``id`` (slug),
    ``name``, ``description``, ``version``, ``source_language`` (the language the text is written
    in), ``domain`` (the gettext domain that translates it, see ``kbp_locale_dirs``), optional
    ``licence_notice`` and ``licence``: ``{product, keys_file, demo_licence_file}`` — the framework
    is then served only while a licence for ``product`` verifies against the public keys in
    ``keys_file`` (see :mod:`core.entitlements`) — and ``groups``: ``[{id, name, description,
    competencies: [{id, name, definition, indicators?, overdone?}]}]`` (``indicators``: short
    behavioural signs of the competency; ``overdone``: signs the strength is overdone). A competency's global id is
    ``framework:competency``. Two plugins providing the same framework id is an error that names
    both.
    """


@hookspec
def kbp_question_sets(config):
    """Sets of questions for competencies: coaching questions, self-reflection questions, ….

    Return a list of dicts shaped like ``core.schemas.QuestionSetSchema``: ``id``, ``title``,
    ``kind`` (``coaching``, ``self_reflection``, ``interview`` — behavioural questions for
    competency-based recruitment — or ``follow_up`` — for the follow-up meeting), ``source_language``,
    ``domain`` and ``questions``: ``[{id, competency: "framework:competency", text, direction,
    situations, probes?}]`` (``probes``: follow-up probes of an interview question).
    ``direction`` is ``back``, ``now`` or ``ahead``; ``situations`` tags the situations a question
    fits especially well (``role_changes``, ``new_role``, ``recruited_need``, ``grow_further``).
    Questions may refer to competencies of any framework; the registry drops none, but only
    questions for installed competencies are shown.
    """


@hookspec
def kbp_activity_sources(config):
    """Sources of development activities.

    Return a list of :class:`core.model.ActivitySource` instances. The core reads ``id``,
    ``title`` (translated in ``domain``), ``domain``, ``source_language`` and ``writable`` from
    each, and calls ``activities()`` (plain dicts shaped like ``core.schemas.ActivitySchema``:
    ``id``, ``competencies`` (global ids), ``title``, ``description``, ``kind``, ``effort``,
    ``situations``, ``provider``, ``url`` (``""``: none) — or :class:`core.model.Activity` objects)
    and ``for_competencies(global_ids) -> list[core.model.Activity]``, which a source may override.
    Both are validated at start-up for read-only sources, and ``for_competencies`` on every request:
    a source that raises or returns anything else is left out and reported on ``/plugins``.
    """


@hookspec
def kbp_exporters(config):
    """Exporters: turn a plan, a framework or a dialogue guide into a file.

    Return a list of :class:`core.model.Exporter` instances with ``id``, ``title`` (written in
    ``source_language``, default ``en``, translated in ``domain``), ``subject`` (``plan``,
    ``framework`` or ``dialogue_guide``), ``media_type``, ``extension`` and ``domain``, and a method
    ``export(document, locale) -> bytes``. ``document`` is a plain dict already in ``locale``,
    described by the JSON Schemas in ``docs/schemas/exporter-*-document-v1.schema.json``. An
    exporter that raises or returns anything but bytes answers a JSON error naming it and its plugin.
    """


@hookspec
def kbp_locale_dirs(config):
    """Translation folders: where this plugin's gettext catalogs live.

    Return a list of ``{"domain": "my_plugin", "path": "/abs/path/to/locales", "source_language":
    "en"}`` (``source_language``, default ``en``, is the language of the msgids); the folder holds
    ``<locale>/LC_MESSAGES/<domain>.po`` (and the compiled ``.mo``, built when stale). Use a domain
    of your own so catalogs never collide; content text of your frameworks, question sets and
    activities is translated in that domain.
    """
