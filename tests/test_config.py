"""Configuration: defaults, then a TOML file (KBP_CONFIG), then KBP_* variables, then create_app's argument."""
from __future__ import annotations

import pytest

from core import create_app
from tests.conftest import BACKEND


def test_defaults(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path)})
    assert app.config["DEFAULT_LOCALE"] == "sv" and app.config["DEMO"] is False
    if BACKEND == "embedded":  # on PostgreSQL the key is kept in the database (kbp_meta), for every server
        assert (tmp_path / "secret_key").exists() and oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"
    assert len(app.config["SECRET_KEY"]) >= 32
    assert create_app({"DATA_DIR": str(tmp_path)}).config["SECRET_KEY"] == app.config["SECRET_KEY"]  # kept across restarts


def test_file_then_environment_then_argument(tmp_path, monkeypatch):
    config = tmp_path / "kbp.toml"
    config.write_text(f'data_dir = "{tmp_path / "from-file"}"\ndefault_locale = "en"\nlogin_max_failures = 9\n', encoding="utf-8")
    monkeypatch.setenv("KBP_CONFIG", str(config))
    monkeypatch.delenv("KBP_DATA_DIR", raising=False)
    app = create_app()
    assert app.config["DATA_DIR"] == str(tmp_path / "from-file") and app.config["DEFAULT_LOCALE"] == "en"
    assert app.config["LOGIN_MAX_FAILURES"] == 9
    monkeypatch.setenv("KBP_DEFAULT_LOCALE", "sv")
    monkeypatch.setenv("KBP_LOGIN_MAX_FAILURES", "3")
    app = create_app()
    assert app.config["DEFAULT_LOCALE"] == "sv" and app.config["LOGIN_MAX_FAILURES"] == 3
    assert create_app({"DEFAULT_LOCALE": "en"}).config["DEFAULT_LOCALE"] == "en"


def test_data_dir_from_environment_and_demo_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("KBP_CONFIG", raising=False)
    monkeypatch.setenv("KBP_DATA_DIR", str(tmp_path / "env"))
    assert create_app().config["DATA_DIR"] == str(tmp_path / "env")
    assert create_app({"DEMO": True}).config["DATA_DIR"] == str(tmp_path / "env" / "demo")


def test_bad_config_file_is_a_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml", encoding="utf-8")
    monkeypatch.setenv("KBP_CONFIG", str(bad))
    with pytest.raises(SystemExit, match="not valid TOML"):
        create_app({"DATA_DIR": str(tmp_path)})
    monkeypatch.setenv("KBP_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SystemExit, match="does not exist"):
        create_app({"DATA_DIR": str(tmp_path)})
