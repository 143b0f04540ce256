"""KBP's version, importable from anywhere in core without importing the package's public face."""

__version__ = "0.1.0"

#: Version of the plugin contract (hooks, what they return, the exporter input documents). It goes up
#: only when a change breaks existing plugins; a plugin declares the versions it supports with a
#: module attribute ``PLUGIN_API_VERSIONS = (1,)`` and is reported as failed on any other.
#: Plugins read it as ``core.PLUGIN_API_VERSION``; it lives here so that core modules need not
#: import the package's public face (which imports the app factory).
PLUGIN_API_VERSION = 1
