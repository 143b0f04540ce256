"""KBP core: the small platform every framework, activity source and exporter plugs into.

Plugin authors import from here only: ``from core import hookimpl``.
"""
from core.hookspecs import hookimpl

from core.version import __version__


def create_app(config=None):
    """Build the Flask app (see :func:`core.app.create_app`)."""
    from core.app import create_app as _create_app

    return _create_app(config)


__all__ = ["hookimpl", "create_app", "__version__"]
