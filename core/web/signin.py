"""What the sign-in pages share: where to go after signing in, and the sign-in page's choices."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import url_for
from flask_babel import get_locale


def safe_next(target: str | None) -> str:
    """Only a local path: an open redirect after sign-in would help phishing."""
    if not target:
        return url_for("web.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("web.home")
    return target


def login_context() -> dict:
    """The sign-in page's choices: a button per single sign-on provider, and the password form's mode."""
    from core.services import sso

    return sso.login_options(str(get_locale()))
