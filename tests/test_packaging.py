"""A pip-installed (non-editable) KBP has its translations (issue 23, item 5).

The wheel is built from a copy of the sources (no build files in the work tree), installed with
``--no-deps`` into a fresh virtual environment that borrows this test environment's libraries,
and asked for a Swedish page from outside the repository.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("core", "plugins", "frameworks", "locales", "pyproject.toml", "setup.py", "README.md")

CHECK = r"""
import sys, tempfile
import core
from core import create_app, i18n
assert "site-packages" in core.__file__, core.__file__
app = create_app({"TESTING": True, "DATA_DIR": tempfile.mkdtemp()})
client = app.test_client()
body = client.get("/login?lang=sv").get_data(as_text=True)
assert '<html lang="sv">' in body, body[:200]
assert "Kompetensbaserad personalutveckling" in body, "no Swedish UI"
assert "Logga in" in body
fw = client.get("/api/v1/frameworks/kbp-sample?lang=sv")
print("OK", i18n.CORE_LOCALES_DIR)
"""


def test_an_installed_wheel_serves_swedish_pages(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if not path.exists():
            continue
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("*.mo", "__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                            "--wheel-dir", str(dist), str(src)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(dist.glob("kbp-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("core/locales/sv/LC_MESSAGES/messages.po", "core/locales/sv/LC_MESSAGES/messages.mo",
                   "frameworks/malin_lindelow/locales/en/LC_MESSAGES/malin_lindelow.mo",
                   "frameworks/sample_framework/locales/sv/LC_MESSAGES/kbp_sample.mo"):
        assert needed in names, f"{needed} is not in the wheel"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the test environment's libraries (Flask, Babel, …) after the fresh venv's own; not the editable KBP
    (site / "test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
                              str(wheel)], capture_output=True, text=True)
    if install.returncode != 0 and "--python" in install.stderr:  # an older pip: install by target folder
        install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site),
                                  str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    run = subprocess.run([python, "-c", CHECK], capture_output=True, text=True, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KBP_LOCALE": "en"})
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "site-packages/core/locales" in run.stdout
