"""A plugin that fails with markup in its failure reason (shown on the plugins page)."""
from core import hookimpl

PAYLOAD = "<script>alert(1)</script>"


@hookimpl
def kbp_frameworks():
    raise ValueError(f"reason with markup {PAYLOAD}")
