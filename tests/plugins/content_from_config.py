"""A framework plugin built like the sample framework, but reading its content package from the
folder in the setting ``TEST_CONTENT_DIR`` — so a test can hand it a broken copy.
"""
from core import hookimpl
from core.content import PackageActivitySource, load_package


def _package(config):
    return load_package(config["TEST_CONTENT_DIR"])


@hookimpl
def kbp_frameworks(config):
    return [_package(config).framework]


@hookimpl
def kbp_question_sets(config):
    package = _package(config)
    return [package.coaching, package.self_reflection]


@hookimpl
def kbp_activity_sources(config):
    return [PackageActivitySource(_package(config), "content-from-config", "Activities from a test package")]
