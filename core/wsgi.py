"""Production serving: gunicorn with our app factory (``kbp serve``), and a WSGI entry point.

``gunicorn 'core.wsgi:app'`` works too; each worker builds its own app with :func:`create_app`.
"""
from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger


class _Atoms(dict):
    """The atoms of one access-log line, escaped as gunicorn's ``SafeAtoms`` escapes them; the
    request and response headers and the environ (``%({name}i)s``, ``{name}o``, ``{name}e``) are
    looked up only when the format asks for them (gunicorn copies and escapes all of them for
    every request: half its cost per line)."""

    def __init__(self, atoms: dict, headers: dict):
        super().__init__(atoms)
        self.headers = headers

    def __getitem__(self, key: str):
        if key.startswith("{"):
            value = self.headers.get(key.lower(), "-")
        else:
            value = dict.get(self, key, "-")
        return value.replace('"', '\\"') if isinstance(value, str) else value


class AccessLogger(Logger):
    """gunicorn's logger, with the same access-log lines built for what the format uses."""

    _stamp: tuple[int, str] = (-1, "")

    def now(self) -> str:
        import time

        second = int(time.time())
        if self._stamp[0] != second:  # strftime with the zone: once a second, not once a request
            self._stamp = (second, time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(second)))
        return self._stamp[1]

    def access(self, resp, req, environ, request_time) -> None:
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.logconfig_dict or self.cfg.logconfig_json
                or (self.cfg.syslog and not self.cfg.disable_redirect_access_to_syslog)):
            return
        try:
            atoms = _Atoms(self.atoms(resp, req, environ, request_time), _LazyHeaders(req, resp, environ))
            handler = self._plain_handler()
            if handler is None:
                self.access_log.info(self.cfg.access_log_format, atoms)
                return
            line = self.cfg.access_log_format % atoms + handler.terminator
            handler.acquire()  # as Handler.handle: a reopen (SIGUSR1) swaps the stream under this lock
            try:
                handler.stream.write(line)
                handler.flush()
            finally:
                handler.release()
        except Exception:  # noqa: BLE001 - as gunicorn: a log line never fails a request
            import traceback

            self.error(traceback.format_exc())

    def _plain_handler(self):
        """The access log's one handler when it is gunicorn's own plain stream or file handler with
        the bare ``%(message)s`` format, no filters, no other handler: then the line is written to
        its stream directly, as that handler would write it, without a ``LogRecord`` (the caller's
        frame, the thread and process names, the time: about 10 of the 13 us a line cost). Any other
        set-up (a ``--log-config``, syslog, a filter, a handler added by hand) goes through logging."""
        log_ = self.access_log
        if log_.filters or log_.propagate or len(log_.handlers) != 1 or not log_.isEnabledFor(logging.INFO):
            return None
        handler = log_.handlers[0]
        formatter = handler.formatter
        if (type(handler) not in (logging.StreamHandler, logging.FileHandler) or handler.filters
                or handler.level > logging.INFO or getattr(handler, "stream", None) is None
                or type(formatter) is not logging.Formatter or formatter._fmt != "%(message)s"):
            return None
        return handler

    def atoms(self, resp, req, environ, request_time) -> dict:
        """gunicorn's atoms without the header and environ entries (:class:`_LazyHeaders` has them)."""
        import os

        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        return {
            "h": environ.get("REMOTE_ADDR", "-"), "l": "-", "u": self._get_user(environ) or "-", "t": self.now(),
            "r": "%s %s %s" % (environ["REQUEST_METHOD"], environ["RAW_URI"], environ["SERVER_PROTOCOL"]),
            "s": status, "m": environ.get("REQUEST_METHOD"), "U": environ.get("PATH_INFO"),
            "q": environ.get("QUERY_STRING"), "H": environ.get("SERVER_PROTOCOL"),
            "b": sent is not None and str(sent) or "-", "B": sent,
            "f": environ.get("HTTP_REFERER", "-"), "a": environ.get("HTTP_USER_AGENT", "-"),
            "T": request_time.seconds, "D": (request_time.seconds * 1000000) + request_time.microseconds,
            "M": (request_time.seconds * 1000) + int(request_time.microseconds / 1000),
            "L": "%d.%06d" % (request_time.seconds, request_time.microseconds), "p": "<%s>" % os.getpid(),
        }


class _LazyHeaders:
    """``{name}i`` / ``{name}o`` / ``{name}e`` atoms, found when asked for (last value wins, as in gunicorn)."""

    def __init__(self, req, resp, environ):
        self.req, self.resp, self.environ = req, resp, environ

    def get(self, key: str, default):
        name, kind = key[1:-2], key[-1:]
        if key[-2:-1] != "}" or kind not in "ioe":
            return default
        if kind == "e":
            found = {k.lower(): v for k, v in self.environ.items()}
            return found.get(name, default)
        headers = getattr(self.req, "headers", self.req) if kind == "i" else self.resp.headers
        headers = headers.items() if hasattr(headers, "items") else headers
        value = default
        for k, v in headers:
            if k.lower() == name:
                value = v
        return value


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
