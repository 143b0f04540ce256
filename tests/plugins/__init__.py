"""Small third-party-style plugins used by the tests.

``thirdparty`` is a complete, well-behaved plugin (every hook); the other modules each break the
plugin contract in one specific way so the tests can prove the app reports it and keeps working.
They are loaded only through the documented mechanisms: the ``kbp.plugins`` entry-point group of
an installed distribution, or the ``PLUGINS`` setting (``name=tests.plugins.module``).
"""
