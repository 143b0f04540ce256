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
