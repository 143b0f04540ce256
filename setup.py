"""Build steps pyproject.toml cannot express (everything else is in pyproject.toml).

* The UI catalogs live in ``locales/`` at the top of the repository, where translators find them;
  in the wheel they become the package data of ``core.locales`` (``core/locales/``), which
  :data:`core.i18n.CORE_LOCALES_DIR` finds in an installed KBP.
* Every gettext catalog (``*/LC_MESSAGES/*.po``: the UI's and each plugin's) is compiled to its
  ``.mo`` in the build tree, so a pip-installed KBP serves its translations without writing into
  its own (often read-only) folder.
"""
from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py


class BuildWithCatalogs(build_py):
    def run(self):
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in sorted(Path(self.build_lib).rglob("LC_MESSAGES/*.po")):
            with open(po, "rb") as fh:
                catalog = read_po(fh, locale=po.parent.parent.name)
            with open(po.with_suffix(".mo"), "wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)


HERE = Path(__file__).resolve().parent
#: locales/ and its language folders, as (data-only) packages under core.locales
CATALOG_PACKAGES = ["core.locales"] + sorted(
    "core.locales." + ".".join(d.relative_to(HERE / "locales").parts)
    for d in (HERE / "locales").rglob("*") if d.is_dir() and "__pycache__" not in d.parts
)

setup(
    packages=find_namespace_packages(include=["core*", "plugins*", "frameworks*"]) + CATALOG_PACKAGES,
    package_dir={"core.locales": "locales"},
    cmdclass={"build_py": BuildWithCatalogs},
)
