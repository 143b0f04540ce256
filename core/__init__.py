"""KBP core: the small platform every framework, activity source and exporter plugs into.

Plugin authors import from here only: ``from core import hookimpl``.
"""
from core.hookspecs import hookimpl

from core.version import PLUGIN_API_VERSION, __version__  # the plugin contract's version: see core.version


def create_app(config=None):
    """Build the Flask app (see :func:`core.app.create_app`)."""
    from core.app import create_app as _create_app

    return _create_app(config)




def N_(message: str) -> str:
    """Mark ``message`` for extraction into your plugin's catalog without translating it now
    (``kbp i18n extract --plugin NAME`` finds it); KBP translates it in your domain when shown."""
    return message


__all__ = ["hookimpl", "create_app", "N_", "PLUGIN_API_VERSION", "__version__"]
