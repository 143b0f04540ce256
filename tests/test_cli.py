"""The ``kbp`` command: plugins list/enable/disable (persisted across restarts), --version, bad arguments,
and the installed console script itself.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.cli import main
from tests.conftest import BACKEND, ROOT, plugin_record, plugin_spec
from tests.helpers import data_folder_files


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def kbp(runner, data_dir):
    """``kbp(*args)`` → click Result of ``kbp --data-dir <tmp> *args``."""

    def run(*args, **kwargs):
        return runner.invoke(main, ["--data-dir", str(data_dir), *args], catch_exceptions=False, **kwargs)

    return run


def rows(output: str) -> dict[str, list[str]]:
    """``plugins list`` output → {plugin name: [version, enabled, state, reason...]} (header excluded)."""
    lines = [line for line in output.splitlines() if line.strip()]
    return {parts[0]: parts[1:] for parts in (re.split(r"\s{2,}", line.strip()) for line in lines[1:])}


def test_plugins_list_shows_columns_and_the_sample_framework(kbp):
    result = kbp("plugins", "list")
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split()
    assert header == ["NAME", "VERSION", "ENABLED", "STATE", "REASON"]
    table = rows(result.output)
    assert "sample_framework" in table
    version, enabled, state = table["sample_framework"][:3]
    assert (enabled, state) == ("yes", "active")
    import frameworks.sample_framework as sample_plugin

    expected = getattr(sample_plugin, "__version__", None) or metadata.version("kbp")
    assert version == expected


def test_plugins_list_shows_the_failure_reason(kbp, monkeypatch):
    monkeypatch.setenv("KBP_PLUGINS", plugin_spec("broken_import"))
    result = kbp("plugins", "list")
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert table["broken_import"][:3] == ["-", "yes", "failed"]
    assert "the frobnicator library is missing" in " ".join(table["broken_import"][3:])


def test_disable_survives_a_restart_and_enable_brings_it_back(kbp, make_app, sample):
    result = kbp("plugins", "disable", "sample_framework")
    assert result.exit_code == 0, result.output
    assert "sample_framework" in result.output

    client = make_app().test_client()  # a new app on the same data folder: a restart
    record = plugin_record(client, "sample_framework")
    assert (record["enabled"], record["state"]) == (False, "disabled")
    assert sample["id"] not in {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}
    listed = rows(kbp("plugins", "list").output)
    assert listed["sample_framework"][1:3] == ["no", "disabled"]

    result = kbp("plugins", "enable", "sample_framework")
    assert result.exit_code == 0, result.output
    client = make_app().test_client()
    assert plugin_record(client, "sample_framework")["state"] == "active"
    assert sample["id"] in {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}


@pytest.mark.embedded_only  # on PostgreSQL the database, not the folder, holds the setting
def test_disable_is_per_data_folder(kbp, make_app, tmp_path):
    assert kbp("plugins", "disable", "sample_framework").exit_code == 0
    other = make_app(DATA_DIR=str(tmp_path / "other-data")).test_client()
    assert plugin_record(other, "sample_framework")["state"] == "active"


def test_disable_a_plugin_from_the_plugins_setting_prevents_its_import(kbp, make_app, monkeypatch, tmp_path):
    marker = tmp_path / "imported.txt"
    monkeypatch.setenv("TESTPLUGIN_IMPORT_MARKER", str(marker))
    monkeypatch.setenv("KBP_PLUGINS", plugin_spec("import_sentinel"))
    monkeypatch.delitem(sys.modules, "tests.plugins.import_sentinel", raising=False)
    result = kbp("plugins", "disable", "import_sentinel")
    assert result.exit_code == 0, result.output
    make_app()
    assert not marker.exists()
    assert "tests.plugins.import_sentinel" not in sys.modules


@pytest.mark.parametrize("command", ["enable", "disable"])
def test_unknown_plugin_name_fails_with_a_message(runner, data_dir, command):
    result = runner.invoke(main, ["--data-dir", str(data_dir), "plugins", command, "no-such-plugin"])
    assert result.exit_code != 0
    assert "no-such-plugin" in result.output
    assert "sample_framework" in result.output  # lists the known ones
    assert "Traceback" not in result.output
    # nothing was stored for the unknown name
    assert not any(b"no-such-plugin" in raw for raw in data_folder_files(data_dir).values())


@pytest.mark.parametrize(
    "args",
    [
        ["plugins", "disable"],
        ["plugins", "frobnicate"],
        ["no-such-command"],
        ["serve", "--port", "0"],
        ["serve", "--workers", "many"],
    ],
)
def test_bad_arguments_exit_non_zero_with_usage(runner, data_dir, args):
    result = runner.invoke(main, ["--data-dir", str(data_dir), *args])
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.output or "Error:" in result.output
    assert "Traceback" not in result.output


def test_version(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"kbp {metadata.version('kbp')}"


def test_help_lists_the_commands(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "plugins"):
        assert re.search(rf"^\s+{command}\b", result.output, re.MULTILINE), command


def test_default_data_dir_never_touches_the_repository(tmp_path):
    """With no DATA_DIR option, ``KBP_DATA_DIR`` (set for every test by conftest) decides — not Flask's instance folder."""
    from core import create_app

    app = create_app({"TESTING": True})
    data = Path(app.config["DATA_DIR"])
    assert data == Path(os.environ["KBP_DATA_DIR"])
    assert data.is_relative_to(tmp_path)
    assert not data.is_relative_to(ROOT)
    if BACKEND == "embedded":  # on PostgreSQL the session key is kept in the database
        assert (data / "secret_key").is_file()  # what start-up writes went there
    assert Path(app.instance_path) != data


def _kbp_script() -> Path | None:
    candidate = Path(sys.executable).with_name("kbp")
    if candidate.is_file():
        return candidate
    found = shutil.which("kbp")
    return Path(found) if found else None


def test_installed_console_script(tmp_path):
    """The ``kbp`` console script installed by ``pip install`` works (one real subprocess)."""
    try:
        metadata.distribution("kbp")
    except metadata.PackageNotFoundError:
        pytest.skip("kbp is not installed in this environment")
    script = _kbp_script()
    assert script is not None, "kbp is installed but its console script is not on PATH nor next to python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBP_")}
    env["KBP_LOCALE"] = "en"
    data = tmp_path / "subprocess-data"
    proc = subprocess.run(
        [str(script), "--data-dir", str(data), "plugins", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    table = rows(proc.stdout)
    assert table["sample_framework"][1:3] == ["yes", "active"]
    assert data.is_dir()  # it used the folder it was given
