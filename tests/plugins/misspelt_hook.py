"""A plugin that misspells its hook: ``kbp_framework`` instead of ``kbp_frameworks``."""
from core import hookimpl


@hookimpl
def kbp_framework():
    return []
