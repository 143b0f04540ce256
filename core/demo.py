"""Demo mode (``kbp serve --demo``, used by ``make run``): a data folder of its own with sample data.

Seeding is idempotent; it never touches a non-demo data folder.
"""
from __future__ import annotations

from typing import Iterator

from flask import Flask

from core.i18n import gettext as _


def seed_demo(app: Flask) -> Iterator[str]:
    if not app.config.get("DEMO"):
        raise RuntimeError("seed_demo called outside demo mode")
    yield _("Demo mode: data folder %(path)s", path=app.config["DATA_DIR"])
    registry = app.extensions["kbp"].registry
    for fw in registry.frameworks.values():
        result = registry.entitlements.install_demo(fw)
        if result is not None:
            yield _("Demo licence for '%(framework)s': %(detail)s", framework=fw.id, detail=result.message)
