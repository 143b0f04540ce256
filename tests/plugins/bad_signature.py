"""A plugin whose hook asks for an argument the spec does not have."""
from core import hookimpl


@hookimpl
def kbp_frameworks(config, registry):
    return []
