"""A plugin that cannot even be imported."""
from core import hookimpl

raise RuntimeError("broken_import cannot start: the frobnicator library is missing")


@hookimpl
def kbp_frameworks():  # pragma: no cover - never reached
    return []
