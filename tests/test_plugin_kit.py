"""The plugin author's kit: ``kbp plugins new`` writes a package that pip installs, whose own tests
pass with KBP's pytest fixtures, and which ``kbp plugins list`` then shows as active."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from click.testing import CliRunner

from core.cli import main


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_a_generated_plugin_installs_passes_its_tests_and_is_active(tmp_path, language):
    name = f"acme_{language}"
    made = CliRunner().invoke(main, ["plugins", "new", name, "--source-language", language, "--output-dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    package = tmp_path / f"kbp-acme-{language}"
    assert (package / "pyproject.toml").is_file() and (package / "tests" / "test_plugin.py").is_file()

    target = tmp_path / "overlay"  # pip install --target: an overlay on top of the venv, like a real install
    installed = run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                     "--target", str(target), str(package)])
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (target / f"{name}_kbp" / "plugin.py").is_file()
    assert list(target.glob(f"kbp_acme_{language}-0.1.0.dist-info"))
    assert not (target / "tests").exists()  # only the plugin package, as pip installs it

    env = {k: v for k, v in os.environ.items() if not k.startswith("KBP_")}
    env.update(PYTHONPATH=str(target), KBP_LOCALE="en", KBP_DATA_DIR=str(tmp_path / "data"))
    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
                cwd=tmp_path, env=env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout

    kbp = os.path.join(os.path.dirname(sys.executable), "kbp")
    listed = run([kbp, "plugins", "list"], env=env)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(name + " "))
    assert "active" in row.split() and "0.1.0" in row.split()


def test_plugins_new_refuses_a_bad_name_or_an_existing_folder(tmp_path):
    bad = CliRunner().invoke(main, ["plugins", "new", "Acme-Courses", "--output-dir", str(tmp_path)])
    assert bad.exit_code != 0 and "cannot be a plugin name" in bad.output
    assert CliRunner().invoke(main, ["plugins", "new", "acme", "--output-dir", str(tmp_path)]).exit_code == 0
    again = CliRunner().invoke(main, ["plugins", "new", "acme", "--output-dir", str(tmp_path)])
    assert again.exit_code != 0 and "exists already" in again.output


def test_the_kbp_fixtures_are_a_registered_pytest_plugin():
    assert "core.testing" in {ep.value for ep in entry_points(group="pytest11")}


def test_tokens_create_gives_a_script_a_working_token(tmp_path, make_app):
    data = str(tmp_path / "data")
    runner = CliRunner()
    made = runner.invoke(main, ["--data-dir", data, "users", "create", "--username", "robot@example.org", "--role", "coach"])
    assert made.exit_code == 0, made.output
    result = runner.invoke(main, ["--data-dir", data, "tokens", "create", "--user", "robot@example.org", "--name", "nightly"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("kbp_") and "nightly" not in token
    from tests.conftest import anonymous_client

    client = anonymous_client(make_app(DATA_DIR=data))
    assert client.get("/api/v1/me").status_code == 401
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and "robot@example.org" in me.get_data(as_text=True), me.get_json()
    unknown = runner.invoke(main, ["--data-dir", data, "tokens", "create", "--user", "nobody@example.org"])
    assert unknown.exit_code != 0 and "nobody@example.org" in unknown.output


def test_plugins_list_shows_the_whole_reason_and_disable_names_the_data_folder(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "demo").mkdir(parents=True)
    monkeypatch.setenv("KBP_PLUGINS", "bad_returns=tests.plugins.bad_returns")
    monkeypatch.setenv("KBP_BAD_RETURN", "many_problems")
    listed = CliRunner().invoke(main, ["--data-dir", str(data), "plugins", "list"])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if line.startswith("bad_returns "))
    for text in ("activity 'one'.effort", "activity 'one'.kind", "activity 'two'.situations.0"):
        assert text in row
    disabled = CliRunner().invoke(main, ["--data-dir", str(data), "plugins", "disable", "bad_returns"])
    assert disabled.exit_code == 0, disabled.output
    if os.environ.get("KBP_DATABASE_URL"):  # the suite on PostgreSQL: the state is kept in the database
        assert "PostgreSQL database" in disabled.output
    else:
        assert str(data) in disabled.output and "--demo" in disabled.output


def readme_block_after(heading: str, lang: str = "sh") -> str:
    from tests.conftest import ROOT

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(heading)
    block = text.index(f"```{lang}\n", start) + len(f"```{lang}\n")
    return text[block:text.index("```", block)]


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_the_readmes_curl_example_works_against_a_running_server(tmp_path, make_app):
    """The README's two lines, run by a shell as written (only the address is this test server's)."""
    import threading

    from werkzeug.serving import make_server

    data = str(tmp_path / "data")
    made = CliRunner().invoke(main, ["--data-dir", data, "users", "create", "--username", "admin@example.org", "--role", "admin"])
    assert made.exit_code == 0, made.output
    server = make_server("127.0.0.1", 0, make_app(DATA_DIR=data))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        script = readme_block_after("### Scripts and the API: tokens").replace(
            "http://127.0.0.1:5000", f"http://127.0.0.1:{server.server_port}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KBP_") or k.startswith("KBP_DATABASE_")}
        env.update(KBP_DATA_DIR=data, KBP_LOCALE="en",
                   PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
        done = run(["bash", "-euo", "pipefail", "-c", script], env=env)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    plugins = json.loads(done.stdout)
    assert {"sample_framework", "malin_lindelow"} <= {p["name"] for p in plugins}
