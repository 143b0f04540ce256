"""A plugin that records that it was imported: it appends a line to the file named by the
environment variable ``TESTPLUGIN_IMPORT_MARKER``. Used to prove a disabled plugin is never imported.
"""
import os

from core import hookimpl

_marker = os.environ.get("TESTPLUGIN_IMPORT_MARKER")
if _marker:
    with open(_marker, "a", encoding="utf-8") as fh:
        fh.write(f"imported {__name__}\n")


@hookimpl
def kbp_exporters():
    return []
