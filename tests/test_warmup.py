"""kbp serve's warm-up in the master (core.warmup): the read paths run once before the workers fork."""
from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from core import auth, i18n, warmup
from core.seed import seed

pytestmark = pytest.mark.embedded_only  # the warm-up loads the embedded store's records; PostgreSQL keeps them


@pytest.fixture
def seeded(make_app):
    app = make_app()
    seed(app, people=30, plans=12, activities=40, seed=3)
    return app


def test_warm_up_builds_indexes_and_answers_every_read_path_without_writing(seeded):
    storage = seeded.extensions["kbp"].storage
    names = storage.collection_names()
    before = {name: storage.collection(name).revision() for name in names}
    timings = warmup.warm_up(seeded)
    assert {"collections", "search index", "templates", "read paths"} <= set(timings)
    assert {name: storage.collection(name).revision() for name in names} == before  # nothing written
    assert set(storage.collection("plans")._store.indexes) >= {"person_id", "coach_id"}
    with seeded.app_context():
        locales = i18n.available_locales()
    answered = warmup.warm_requests(seeded, locales)
    frameworks = [f for f in seeded.extensions["kbp"].registry.frameworks
                  if seeded.extensions["kbp"].registry.is_available(f)]
    # /, framework list, plan list (API + page), one plan (API + page), search; per framework its
    # page, its API document, one competency page and its API document: all 200, in every language
    assert answered == len(locales) * (7 + 4 * len(frameworks))


def test_the_warm_up_account_cannot_be_sent_by_a_client(seeded):
    anonymous = FlaskClient(seeded)  # not the suite's admin client
    response = anonymous.get("/api/v1/plans", headers={auth.WARM_UP_ACCOUNT: "admin", "Kbp-Warm-Up-Account": "admin"})
    assert response.status_code == 401


def test_each_worker_warms_up_after_the_fork_and_a_failure_never_stops_it(seeded, monkeypatch):
    """kbp serve's post_fork hook: the worker sends the read paths once before its first request
    (reads only); should that fail, the worker serves anyway."""
    storage = seeded.extensions["kbp"].storage
    names = storage.collection_names()
    before = {name: storage.collection(name).revision() for name in names}
    assert warmup.warm_worker(seeded) > 0
    assert {name: storage.collection(name).revision() for name in names} == before

    def broken(*_args):
        raise RuntimeError("warming failed")

    monkeypatch.setattr(warmup, "warm_requests", broken)
    assert warmup.warm_worker(seeded) == 0


def test_kbp_serve_hands_gunicorn_the_worker_warm_up(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from core import cli, wsgi

    seen = {}

    def fake_run(self):
        seen.update(self.options)

    monkeypatch.setattr(wsgi.GunicornApp, "run", fake_run)
    calls = []
    monkeypatch.setattr(warmup, "warm_worker", lambda app: calls.append(app) or 1)
    result = CliRunner().invoke(cli.main, ["--data-dir", str(tmp_path), "serve", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert seen["preload_app"] is True and callable(seen["post_fork"])
    seen["post_fork"](None, None)
    assert len(calls) == 1
