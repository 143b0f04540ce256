"""Plugin manager: discovery, enable/disable, failure isolation, listing.

Where plugins come from
    * the entry-point group ``kbp.plugins`` — built-in plugins are declared there by KBP's own
      ``pyproject.toml``, exactly like a third-party package declares its own;
    * the ``PLUGINS`` setting (``KBP_PLUGINS``): ``name=module`` strings, for plugins under
      development that are not packaged yet.

Isolation (pluggy stops at the first broken entry point, so we load each one ourselves)
    * a disabled plugin is listed from its entry-point metadata and **never imported**;
    * a plugin that fails to import, whose hook signatures do not match the specs, or that defines
      a ``kbp_*`` function which is not a hook (a misspelling such as ``kbp_framework``) is
      recorded as ``failed`` with the reason;
    * :func:`core.registry.build_registry` calls each plugin's hooks one plugin at a time; a plugin
      whose hook raises or returns invalid content is marked failed and skipped as a whole.

Enable/disable is persisted in the storage collection ``plugins`` (records ``{id, enabled}``),
so ``kbp plugins disable X`` survives a restart and applies to every worker.
"""
from __future__ import annotations

import difflib
import importlib
import logging
import traceback
from dataclasses import asdict, dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Iterable, Mapping

import pluggy

from core import hookspecs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "kbp.plugins"
HOOK_NAMES = tuple(sorted(name for name in dir(hookspecs) if name.startswith("kbp_")))
PLUGIN_STATE_COLLECTION = "plugins"
MAX_PROBLEMS = 20


@dataclass
class PluginRecord:
    """What we know of one plugin, whether it loaded or not."""

    name: str
    module: str
    version: str = ""
    builtin: bool = False
    enabled: bool = True
    state: str = "pending"  # active | disabled | failed | unlicensed
    reason: str | None = None
    hooks: list[str] = field(default_factory=list)
    distribution: str = ""
    #: what went wrong while the plugin ran (an exporter or a source raising, returning the wrong
    #: thing) and warnings about its content; newest last, at most :data:`MAX_PROBLEMS`
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PluginCandidate:
    """A plugin found by discovery, before import."""

    name: str
    module: str
    version: str
    builtin: bool
    distribution: str
    load: Callable[[], Any]


def discover(extra: Iterable[str] = ()) -> list[PluginCandidate]:
    """Every plugin declared in the entry-point group plus ``extra`` ``name=module`` specs.

    Nothing is imported here.
    """
    found: list[PluginCandidate] = []

    def builtin_first(ep) -> tuple[bool, str, str]:
        dist = getattr(ep, "dist", None)
        return ((dist.metadata["Name"] if dist is not None else "").lower() != "kbp", ep.name, ep.value)

    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=builtin_first):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else ""
        found.append(
            PluginCandidate(
                name=ep.name,
                module=ep.value,
                version=dist.version if dist is not None else "",
                builtin=(dist_name or "").lower() == "kbp",
                distribution=dist_name or "",
                load=ep.load,
            )
        )
    for spec in extra:
        name, sep, module = spec.partition("=")
        name, module = name.strip(), module.strip()
        if not sep or not name or not module:
            raise ValueError(f"Plugin spec {spec!r} must look like 'name=package.module'.")
        found.append(
            PluginCandidate(
                name=name,
                module=module,
                version="",
                builtin=False,
                distribution="",
                load=_module_loader(module),
            )
        )
    return found


def _module_loader(spec: str) -> Callable[[], Any]:
    def load() -> Any:
        module_name, _, attr = spec.partition(":")
        obj = importlib.import_module(module_name)
        return getattr(obj, attr) if attr else obj

    return load


def _api_mismatch(plugin: Any) -> str | None:
    """A message when the plugin declares ``PLUGIN_API_VERSIONS`` without this KBP's version."""
    from core.version import PLUGIN_API_VERSION

    declared = getattr(plugin, "PLUGIN_API_VERSIONS", None)
    if declared is None:
        return None
    try:
        versions = sorted({int(v) for v in ([declared] if isinstance(declared, (int, str)) else declared)})
    except (TypeError, ValueError):
        return f"PLUGIN_API_VERSIONS must be a list of whole numbers such as (1,), not {declared!r}"
    if PLUGIN_API_VERSION in versions:
        return None
    return (f"The plugin supports KBP plugin API version {', '.join(map(str, versions))}; this KBP has plugin API "
            f"version {PLUGIN_API_VERSION}. Install a version of the plugin made for it.")


class PluginConfig(Mapping):
    """The read-only settings a hook receives as ``config``.

    Besides KBP's own settings (``config["DATA_DIR"]``) a plugin reads its own with a dotted,
    lower-case key: ``config["acme.courses_csv"]`` is the environment variable
    ``KBP_ACME_COURSES_CSV``, or ``courses_csv`` in the ``[acme]`` table of the TOML config file.
    """

    def __init__(self, settings: Mapping[str, Any]):
        self._settings = settings

    def _lookup(self, key: str) -> tuple[bool, Any]:
        settings = self._settings
        for candidate in (key, key.upper(), key.replace(".", "_").upper()):
            if candidate in settings:
                return True, settings[candidate]
        section, dot, name = key.partition(".")
        table = settings.get(section.upper()) if dot else None
        if isinstance(table, Mapping) and name in table:
            return True, table[name]
        return False, None

    def __getitem__(self, key: str) -> Any:
        found, value = self._lookup(key)
        if not found:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._lookup(key)[0]

    def __iter__(self):
        return iter(self._settings)

    def __len__(self) -> int:
        return len(self._settings)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class PluginManager:
    """Loads plugins one by one and remembers what happened to each."""

    def __init__(self, disabled: Iterable[str] = (), extra: Iterable[str] = ()):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.disabled = set(disabled)
        self.extra = list(extra)
        self.records: dict[str, PluginRecord] = {}

    # ------------------------------------------------------------------ loading
    def load_all(self) -> None:
        for candidate in discover(self.extra):
            self._load(candidate)

    def _load(self, cand: PluginCandidate) -> None:
        if cand.name in self.records and self.records[cand.name].builtin and not cand.builtin:
            # a built-in's name is reserved: the newcomer fails, listed under a name of its own
            first = self.records[cand.name]
            key = f"{cand.name} ({cand.distribution or cand.module})"
            self.records[key] = PluginRecord(
                name=key, module=cand.module, version=cand.version, distribution=cand.distribution,
                state="failed", reason=(
                    f"The plugin name '{cand.name}' is reserved for the built-in plugin '{first.name}' "
                    f"({first.module}); {cand.module} ({cand.distribution or 'local'}) was skipped. "
                    "Declare your entry point under a name of your own."
                ),
            )
            log.error("plugin %s skipped: %s", key, self.records[key].reason)
            return
        if cand.name in self.records:
            first = self.records[cand.name]
            log.error("plugin name %r declared twice (%s and %s)", cand.name, first.module, cand.module)
            first.state, first.reason = "failed", (
                f"The plugin name '{cand.name}' is declared twice: by {first.module} "
                f"({first.distribution or 'local'}) and by {cand.module} ({cand.distribution or 'local'})."
            )
            self._unregister(cand.name)
            return
        record = PluginRecord(
            name=cand.name,
            module=cand.module,
            version=cand.version,
            builtin=cand.builtin,
            distribution=cand.distribution,
        )
        self.records[cand.name] = record
        if cand.name in self.disabled:
            record.enabled, record.state = False, "disabled"
            return  # never imported
        try:
            plugin = cand.load()
        except Exception as exc:  # noqa: BLE001 - any import error is the plugin's, not ours
            log.error("plugin %s failed to import:\n%s", cand.name, traceback.format_exc())
            return self.fail(cand.name, f"Import failed: {_describe(exc)}")
        record.version = str(getattr(plugin, "__version__", "") or record.version)
        incompatible = _api_mismatch(plugin)
        if incompatible:
            return self.fail(cand.name, incompatible)
        misspelt = self._unknown_hooks(plugin)
        if misspelt:
            return self.fail(cand.name, misspelt)
        try:
            self.pm.register(plugin, name=cand.name)
        except Exception as exc:  # PluginValidationError: signature does not match the spec
            return self.fail(cand.name, f"Invalid hook implementation: {_describe(exc)}")
        record.hooks = self.hooks_of(cand.name)
        record.state = "active"

    @staticmethod
    def _unknown_hooks(plugin: Any) -> str | None:
        """Like pluggy's ``check_pending()``, per plugin and with a suggestion."""
        problems = []
        marker = f"{hookspecs.PROJECT}_impl"
        for attr in sorted(dir(plugin)):
            if attr in HOOK_NAMES and callable(getattr(plugin, attr, None)) and not hasattr(getattr(plugin, attr), marker):
                problems.append(f"'{attr}' is not marked as a hook — decorate it with @hookimpl (from core import hookimpl)")
            elif attr.startswith("kbp_") and attr not in HOOK_NAMES and callable(getattr(plugin, attr, None)):
                close = difflib.get_close_matches(attr, HOOK_NAMES, n=1)
                hint = f" — did you mean '{close[0]}'?" if close else ""
                problems.append(f"'{attr}' is not a KBP hook{hint}")
        if problems:
            return "Unknown hook: " + "; ".join(problems) + f" (hooks: {', '.join(HOOK_NAMES)})"
        return None

    def hooks_of(self, name: str) -> list[str]:
        return [
            hook_name
            for hook_name in HOOK_NAMES
            if any(impl.plugin_name == name for impl in getattr(self.pm.hook, hook_name).get_hookimpls())
        ]

    def _unregister(self, name: str) -> None:
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)

    # ------------------------------------------------------------------ calling
    def fail(self, name: str, reason: str) -> None:
        record = self.records[name]
        record.state, record.reason = "failed", reason
        log.error("plugin %s skipped: %s", name, reason)
        self._unregister(name)

    def problem(self, name: str, message: str) -> None:
        """Note a problem of a loaded plugin (a run-time failure, a warning): shown on ``/plugins``."""
        record = self.records.get(name)
        log.error("plugin %s: %s", name, message)
        if record is None or message in record.problems:
            return
        record.problems.append(message)
        del record.problems[:-MAX_PROBLEMS]

    def active(self) -> list[str]:
        return [name for name, rec in self.records.items() if rec.state == "active"]

    def call(self, name: str, hook_name: str, config: Any) -> list[Any]:
        """Call one plugin's implementation of one hook; return its results as a list.

        Exceptions propagate: the caller decides that the plugin failed.
        """
        results: list[Any] = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name != name:
                continue
            view = config if isinstance(config, PluginConfig) else PluginConfig(config or {})
            kwargs = {arg: view for arg in impl.argnames if arg == "config"}
            value = impl.function(**kwargs)
            if value is None:
                continue
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"{hook_name} must return a list, not {type(value).__name__}")
            results.extend(value)
        return results

    def listing(self) -> list[PluginRecord]:
        return sorted(self.records.values(), key=lambda r: r.name)


# ---------------------------------------------------------------------- persisted state


def disabled_plugins(storage) -> set[str]:
    return {rec["id"] for rec in storage.collection(PLUGIN_STATE_COLLECTION).all() if not rec.get("enabled", True)}


def set_enabled(storage, name: str, enabled: bool) -> None:
    storage.collection(PLUGIN_STATE_COLLECTION).upsert({"id": name, "enabled": enabled})
