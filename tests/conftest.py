"""Shared fixtures: isolated apps, a test client, the sample framework's content, a fake installed plugin.

Isolation rules every test gets for free (autouse):

* no ``KBP_*`` variable from the developer's shell leaks into a test (``KBP_CONFIG``,
  ``KBP_PLUGINS``, ``KBP_DATA_DIR`` …);
* ``KBP_DATA_DIR`` points into the test's own tmp folder, so even ``create_app()`` without
  arguments or a CLI command without ``--data-dir`` never touches the repository or the user's
  instance folder;
* command-line output is in English (``KBP_LOCALE=en``).
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import re
import os
import shutil
import sys
from pathlib import Path
from unittest import mock

import pytest
import yaml
from flask.testing import FlaskClient

import core.api.fastdump

core.api.fastdump.VERIFY = True  # every API response is dumped both ways: the fast dump must equal marshmallow's

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so ``tests.plugins.<name>`` imports however pytest was started
    sys.path.insert(0, str(ROOT))

SAMPLE_CONTENT = ROOT / "frameworks" / "sample_framework" / "content"
THIRDPARTY_LOCALES = ROOT / "tests" / "plugins" / "thirdparty" / "locales"
THIRDPARTY_SPEC = "thirdparty=tests.plugins.thirdparty"

#: which storage backend the apps of this run use: ``embedded`` (default) or ``postgres``
#: (``KBP_TEST_BACKEND=postgres make test``; CI runs the suite once with each). Read at import,
#: before the isolation fixture clears every ``KBP_*`` variable.
BACKEND = os.environ.get("KBP_TEST_BACKEND", "embedded")
_PG_URL = os.environ.get("KBP_TEST_DATABASE_URL", "")


def pytest_configure(config):
    config.addinivalue_line("markers", "embedded_only: about the embedded store's files; skipped on PostgreSQL")


def pytest_collection_modifyitems(config, items):
    if BACKEND != "postgres":
        return
    skip = pytest.mark.skip(reason="about the embedded store's files (KBP_TEST_BACKEND=postgres)")
    for item in items:
        if item.get_closest_marker("embedded_only"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL cluster for this test run (``KBP_TEST_DATABASE_URL``, or a throwaway one)."""
    from tests import pgcluster

    if not (_PG_URL or pgcluster.available()):
        if os.environ.get("CI") or BACKEND == "postgres":
            pytest.fail("PostgreSQL is required here (KBP_TEST_DATABASE_URL or Debian's postgresql package)")
        pytest.skip("PostgreSQL is not installed")
    cluster = pgcluster.Cluster()
    cluster.url = _PG_URL
    cluster.start()
    yield cluster
    cluster.stop()


def plugin_spec(name: str) -> str:
    """The ``PLUGINS`` entry for the test plugin module ``tests/plugins/<name>.py``."""
    return f"{name}=tests.plugins.{name}"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path, request):
    for key in list(os.environ):
        if key.startswith("KBP_") and not key.startswith("KBP_TEST_"):  # KBP_TEST_*: the test run's own settings
            monkeypatch.delenv(key)
    monkeypatch.setenv("KBP_DATA_DIR", str(tmp_path / "kbp-default-data"))
    monkeypatch.setenv("KBP_LOCALE", "en")
    if BACKEND == "postgres":  # every app and CLI call of this test uses its own schema
        monkeypatch.setenv("KBP_DATABASE_URL", request.getfixturevalue("pg_cluster").url)
        monkeypatch.setenv("KBP_DATABASE_SCHEMA", _pg_schema(tmp_path))
    pg = sys.modules.get("core.store.postgres")
    before = set(pg._OPEN) if pg else set()  # stores of longer-lived fixtures stay open
    yield
    pg = sys.modules.get("core.store.postgres")
    if pg is not None:  # the apps this test made must not keep their connections
        for store in set(pg._OPEN) - before:
            store.close()


@pytest.fixture(autouse=True)
def _api_responses_match_the_document(monkeypatch):
    """Every /api/v1 response any test client receives is checked against the live OpenAPI document
    (tests/openapi_check.py): a contradiction fails the test that made the request."""
    from tests import openapi_check

    original = FlaskClient.open

    def open_and_check(self, *args, **kwargs):
        response = original(self, *args, **kwargs)
        openapi_check.check(self.application, response)
        return response

    monkeypatch.setattr(FlaskClient, "open", open_and_check)


# --------------------------------------------------------------------------- apps and clients

ADMIN_PASSWORD = "correct horse battery staple"
_admin_numbers = itertools.count(1)


@functools.lru_cache(maxsize=1)
def _admin_password_hash() -> str:
    from core import auth

    return auth.hash_password(ADMIN_PASSWORD)  # the real (slow) hash, computed once per session


def admin_token(app) -> str | None:
    """Create an admin account and an API token for it in ``app``'s storage; ``None`` without accounts."""
    try:
        from core import auth
    except ImportError:  # a build without accounts: everything is open
        return None
    storage = app.extensions["kbp"].storage
    password_hash = _admin_password_hash()
    with app.app_context(), mock.patch.object(auth, "hash_password", lambda _password: password_hash):
        account = auth.create_account(
            storage, username=f"test-admin-{next(_admin_numbers)}@example.org", password=ADMIN_PASSWORD, role="admin"
        )
        _record, token = auth.create_token(storage, account, "tests")
    return token


class AdminClient(FlaskClient):
    """A test client signed in as an administrator (with an API token, so no CSRF dance)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        token = admin_token(self.application)
        if token:
            self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"


def anonymous_client(app) -> FlaskClient:
    """A client that is not signed in."""
    return FlaskClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def make_app(tmp_path, tmp_path_factory):
    """``make_app(**config)`` → a fresh app on ``tmp_path/"data"`` (calling it twice is a restart).

    Defaults: ``TESTING``, ``DEFAULT_LOCALE="en"`` (so assertions on English source text hold);
    any keyword overrides them. ``DATA_DIR`` must stay inside pytest's tmp folder.
    ``app.test_client()`` is signed in as an administrator; use :func:`anonymous_client` for a
    visitor.
    """
    from core import create_app

    basetemp = tmp_path_factory.getbasetemp().resolve()

    def _make(**config):
        settings = {"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "DEFAULT_LOCALE": "en", **config}
        app = create_app(settings)
        data_dir = Path(app.config["DATA_DIR"]).resolve()
        assert data_dir.is_relative_to(basetemp), f"test app writes outside the tmp folder: {data_dir}"
        app.test_client_class = AdminClient
        return app

    return _make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """The data folder ``make_app()`` uses by default."""
    return tmp_path / "data"


@pytest.fixture
def app_store(tmp_path):
    """The store ``make_app()``'s apps use (embedded in ``data_dir``, or this test's PostgreSQL schema),
    for tests that prepare data before the app starts."""
    from core.app import open_store

    config = {"DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": os.environ.get("KBP_DATABASE_URL")}
    config["DATABASE_SCHEMA"] = os.environ.get("KBP_DATABASE_SCHEMA")
    store = open_store(config)
    yield store
    store.close()


def _pg_schema(tmp_path) -> str:
    return "t_" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- sample framework content


@pytest.fixture(scope="session")
def sample():
    """The sample framework's content, read straight from its YAML files (not through core.content).

    ``{"id", "name", "framework": <framework.yaml>, "groups": [<group file>, ...],
    "competencies": [<competency>, ...]}`` — each competency also carries ``group_id``.
    """
    framework = yaml.safe_load((SAMPLE_CONTENT / "framework.yaml").read_text(encoding="utf-8"))
    groups = [
        yaml.safe_load((SAMPLE_CONTENT / "groups" / f"{gid}.yaml").read_text(encoding="utf-8"))
        for gid in framework["groups"]
    ]
    competencies = [
        {**comp, "group_id": group["group"]["id"]} for group in groups for comp in group["competencies"]
    ]
    return {
        "id": framework["id"],
        "name": framework["name"],
        "framework": framework,
        "groups": groups,
        "competencies": competencies,
    }


@pytest.fixture
def app_works(sample):
    """``app_works(client)``: the rest of the app still serves the sample framework and the home page."""

    def check(client) -> None:
        listed = client.get("/api/v1/frameworks")
        assert listed.status_code == 200, listed.get_data(as_text=True)
        assert sample["id"] in {fw["id"] for fw in listed.get_json()}
        detail = client.get(f"/api/v1/frameworks/{sample['id']}")
        assert detail.status_code == 200
        assert detail.get_json()["plugin"] == "sample_framework"
        home = client.get("/")
        assert home.status_code == 200
        assert "text/html" in home.content_type
        assert sample["id"] in home.get_data(as_text=True)  # linked from the home page

    return check


def plugin_record(client, name: str) -> dict:
    """The ``GET /api/v1/plugins`` entry for plugin ``name`` (fails if it is not listed)."""
    response = client.get("/api/v1/plugins")
    assert response.status_code == 200
    records = {rec["name"]: rec for rec in response.get_json()}
    assert name in records, f"plugin {name!r} not listed; listed: {sorted(records)}"
    return records[name]


# --------------------------------------------------------------------------- the third-party plugin


@pytest.fixture
def thirdparty_dist(tmp_path, monkeypatch):
    """Install ``tests.plugins.thirdparty`` the documented way: a distribution declaring the entry point.

    A folder with ``kbp_thirdparty_demo-1.2.3.dist-info/{METADATA,entry_points.txt}`` is put on
    ``sys.path``, where ``importlib.metadata`` finds it like any installed package. Returns
    ``{"name", "version", "path"}``.
    """
    name, version = "kbp_thirdparty_demo", "1.2.3"
    site = tmp_path / "site-packages"
    install_dist(site, monkeypatch, name, version, {"thirdparty": "tests.plugins.thirdparty"})
    return {"name": name, "version": version, "path": site}


def install_dist(site: Path, monkeypatch, name: str, version: str, plugins: dict[str, str]) -> Path:
    """Install a distribution ``name`` declaring ``plugins`` (``{entry-point name: module}``) in the
    group ``kbp.plugins``, the way pip would: a ``<name>-<version>.dist-info`` folder with
    ``METADATA`` and ``entry_points.txt`` in ``site``, which is put on ``sys.path``."""
    info = site / f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"  # as pip names it
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: A third-party KBP plugin (test)\n",
        encoding="utf-8",
    )
    lines = "".join(f"{entry} = {module}\n" for entry, module in plugins.items())
    (info / "entry_points.txt").write_text(f"[kbp.plugins]\n{lines}", encoding="utf-8")
    if str(site) not in sys.path:
        monkeypatch.syspath_prepend(str(site))
    return info


@pytest.fixture
def thirdparty_locales(tmp_path) -> Path:
    """A writable copy of the third-party plugin's translations (compiling them must not write into the repo)."""
    target = tmp_path / "thirdparty-locales"
    shutil.copytree(THIRDPARTY_LOCALES, target, ignore=shutil.ignore_patterns("*.mo"))
    return target


@pytest.fixture
def ui_locales_sv(tmp_path) -> Path:
    """A core ``LOCALES_DIR`` offering Swedish (an empty catalog), independent of the repo's locales."""
    folder = tmp_path / "ui-locales"
    po = folder / "sv" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: sv\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n',
        encoding="utf-8",
    )
    return folder
