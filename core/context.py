"""The app's state, reached from a request with :func:`kbp`. Imports nothing else from core, so every
layer can use it without an import cycle (``core.app`` builds the state; ``core.api``, ``core.web``
and the services read it)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from flask import current_app

if TYPE_CHECKING:  # names for the annotations only
    from core.plugins import PluginManager
    from core.registry import Registry


@dataclass
class KBP:
    """The app's state: storage, plugins and the catalogue they built."""

    storage: Any  # a core.store.Store: the embedded store or PostgreSQL
    plugins: "PluginManager"
    registry: "Registry"
    config: Mapping[str, Any]

    def plugin_listing(self) -> list[dict[str, Any]]:
        """Plugins as listed to people: a loaded plugin whose framework lacks a valid licence is
        ``unlicensed``, with the licence check's message as the reason."""
        from core.imports import localize

        rows = []
        for record in self.plugins.listing():
            row = record.as_dict()
            # messages about imported files are shown in the reader's language (core.imports.FileMessage)
            row["problems"] = localize(list(record.problems), locale_dirs=self.registry.locale_dirs)
            row["notices"] = localize(list(self.registry.import_notices.get(record.name, ())),
                                      locale_dirs=self.registry.locale_dirs)
            if record.state == "active":
                for fw in self.registry.frameworks.values():
                    check = self.registry.entitlements.check(fw) if fw.plugin == record.name else None
                    if check is not None and not check.ok:
                        row["state"], row["reason"] = "unlicensed", check.message
            rows.append(row)
        return rows


def kbp() -> KBP:
    return current_app.extensions["kbp"]


def accepts_large_body(view):
    """Mark a view that receives a file to import: its body may be ``MAX_IMPORT_LENGTH`` bytes
    instead of ``MAX_CONTENT_LENGTH`` (see ``core.app.KbpRequest``). Put it closest to the function
    (below the route decorators)."""
    view.kbp_large_body = True
    return view
