"""Malin Lindelöw's competency framework: 34 competencies in four groups, served under licence.

The plugin is content plus configuration; the machinery is the core's:

* ``content/`` — the framework in Swedish (the source language), validated by
  :mod:`core.content`. A licensee's official content pack can replace or extend it without code
  changes: set ``MALIN_LINDELOW_CONTENT_DIR`` (``KBP_MALIN_LINDELOW_CONTENT_DIR``) to a folder with
  the same layout; files found there win over ours, and its own ``locales/`` (if any) wins over
  ours (see the README).
* ``locales/`` — the gettext domain ``malin_lindelow``; English is ``locales/en``.
* ``keys/trusted_keys.json`` — the built-in list of the licensor's public key(s) by key id, plus the
  demo key that only demo mode trusts; the licensor's key bundle, signed with a built-in key
  (``KBP_MALIN_LINDELOW_TRUSTED_KEYS``), adds keys or revokes them (:mod:`core.entitlements`).
  No private key is ever in this repository.
* ``demo/demo-licence.json`` — a licence signed with the demo key, installed by
  ``kbp serve --demo``.

Without a valid licence for the product ``malin_lindelow`` the plugin is listed as *installed, not
licensed* and its content is not served (:mod:`core.entitlements`).
"""
from __future__ import annotations

from pathlib import Path

from core import N_, hookimpl
from core.content import PackageActivitySource, load_package

__version__ = "1.0.0"

HERE = Path(__file__).resolve().parent
DOMAIN = "malin_lindelow"
PRODUCT = "malin_lindelow"
TRUSTED_KEYS_FILE = HERE / "keys" / "trusted_keys.json"
DEMO_LICENCE_FILE = HERE / "demo" / "demo-licence.json"

_packages: dict[str, object] = {}


def package(config=None):
    overlay = (config or {}).get("MALIN_LINDELOW_CONTENT_DIR") or ""
    if overlay not in _packages:
        _packages[overlay] = load_package(HERE / "content", overlay or None)
    return _packages[overlay]


@hookimpl
def kbp_frameworks(config):
    framework = dict(package(config).framework)
    framework["licence"] = {
        "product": PRODUCT,
        "keys_file": str(TRUSTED_KEYS_FILE),
        "demo_licence_file": str(DEMO_LICENCE_FILE),
    }
    return [framework]


@hookimpl
def kbp_question_sets(config):
    pkg = package(config)
    return [pkg.coaching, pkg.self_reflection, pkg.interview, pkg.follow_up]


@hookimpl
def kbp_activity_sources(config):
    return [PackageActivitySource(package(config), "malin-lindelow", N_("Malin Lindelöw: utvecklingsaktiviteter"))]


@hookimpl
def kbp_locale_dirs():
    return [{"domain": DOMAIN, "path": str(HERE / "locales"), "source_language": "sv"}]
