"""Single sign-on pages: send the browser to a provider, take its answer (parse → service → render)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import get_locale

from core.context import kbp
from core.services import sso
from core.services.errors import ServiceError
from core.web.signin import login_context, safe_next

bp = Blueprint("sso_web", __name__)


def _login_page(error: str, status: int):
    return render_template("login.html", error=error, username="", **login_context()), status


@bp.route("/login/sso/<provider_id>")
def start(provider_id: str):
    try:
        url = sso.begin(provider_id, redirect_uri=url_for("sso_web.callback", provider_id=provider_id, _external=True),
                        next_url=safe_next(request.args.get("next")), locale=str(get_locale()))
    except ServiceError as exc:
        return _login_page(exc.message, exc.status)
    return redirect(url)


@bp.route("/login/sso/<provider_id>/callback")
def callback(provider_id: str):
    try:
        _account, next_url = sso.finish(kbp().storage, provider_id)
    except ServiceError as exc:
        return _login_page(exc.message, exc.status)
    return redirect(safe_next(next_url))
