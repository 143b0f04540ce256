"""A browsable API reference at ``/api/v1/docs``, served from this app (no CDN, no inline script)."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("apidocs", __name__)


@bp.route("/docs")
def reference():
    api = kbp_api()
    spec = api.spec.to_dict()
    return render_template("api_docs.html", spec=spec)


def kbp_api():
    from flask import current_app

    return current_app.extensions["kbp_api"]
