"""KBP's test suite.

A package (not a loose folder) so that the test plugins load as ``tests.plugins.<name>`` — through
an entry point or the ``PLUGINS`` setting, exactly like a third-party plugin — and so that pytest
puts the repository root, not ``tests/``, on ``sys.path`` (``tests/plugins`` must never shadow the
top-level ``plugins`` package).
"""
