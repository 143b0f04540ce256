"""KBP's open sample framework: a handful of generic competencies, and the example for plugin authors.

Everything a framework plugin needs is here: content files validated by :mod:`core.content`, a
question set per kind, an activity source, and a translation domain of its own. The content is
written in English (its source language) and translated into Swedish in
``locales/sv/LC_MESSAGES/kbp_sample.po``.
"""
from __future__ import annotations

from pathlib import Path

from core import hookimpl
from core.content import PackageActivitySource, load_package

__version__ = "1.0.0"

HERE = Path(__file__).resolve().parent
DOMAIN = "kbp_sample"

_package = None


def package():
    global _package
    if _package is None:
        _package = load_package(HERE / "content")
    return _package


@hookimpl
def kbp_frameworks():
    return [package().framework]


@hookimpl
def kbp_question_sets():
    return [package().coaching, package().self_reflection, package().interview, package().follow_up]


@hookimpl
def kbp_activity_sources():
    return [PackageActivitySource(package(), "kbp-sample", "Sample framework activities")]


@hookimpl
def kbp_locale_dirs():
    return [{"domain": DOMAIN, "path": str(HERE / "locales"), "source_language": "en"}]
