"""Production serving: gunicorn with our app factory (``kbp serve``), and a WSGI entry point.

``gunicorn 'core.wsgi:app'`` works too; each worker builds its own app with :func:`create_app`.
"""
from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class GunicornApp(BaseApplication):
    """gunicorn with our app. ``app``: an app already built (and warmed) in the master, which the
    workers inherit when they fork (``preload_app``); without it each worker builds its own."""

    def __init__(self, config: dict[str, Any], options: dict[str, Any], app=None):
        self.kbp_config = config
        self.options = options
        self.prebuilt = app
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self):
        if self.prebuilt is not None:
            return self.prebuilt
        from core.app import create_app

        return create_app(self.kbp_config)


def __getattr__(name: str):  # lazy: importing this module must not build an app
    if name == "app":
        from core.app import create_app

        return create_app()
    raise AttributeError(name)
