"""kbp serve's access log (core.wsgi.AccessLogger): the same lines as gunicorn's own logger."""
from __future__ import annotations

import datetime
import io
import logging
import time
from contextlib import contextmanager

import pytest
from gunicorn import glogging
from gunicorn.config import Config

from core.wsgi import AccessLogger


class _Response:
    status = "200 OK"
    sent = 1234
    headers = [("Content-Type", "application/json"), ("ETag", '"abc"'), ("Cache-Control", "no-store")]


class _Request:
    headers = [("HOST", "127.0.0.1:5000"), ("AUTHORIZATION", "Basic dXNlcjpwdw=="), ("USER-AGENT", 'client "7"'),
               ("X-TWICE", "one"), ("X-TWICE", "two")]


ENVIRON = {"REMOTE_ADDR": "10.0.0.7", "REQUEST_METHOD": "GET", "RAW_URI": '/api/v1/x?q="a"', "SERVER_PROTOCOL": "HTTP/1.1",
           "PATH_INFO": "/api/v1/x", "QUERY_STRING": 'q="a"', "HTTP_USER_AGENT": 'client "7"', "HTTP_REFERER": "http://r/",
           "wsgi.version": (1, 0)}


@contextmanager
def gunicorn_access_log():
    """logging's one "gunicorn.access" logger, as gunicorn leaves it (only its own handler: pytest's
    log capture may have added some), and everything put back afterwards."""
    access_log = logging.getLogger("gunicorn.access")
    filters, handlers = list(access_log.filters), list(access_log.handlers)
    access_log.filters[:], access_log.handlers[:] = [], []
    try:
        yield access_log
    finally:
        access_log.filters[:], access_log.handlers[:] = filters, handlers


def _logger(logger_class, fmt: str | None = None):
    cfg = Config()
    cfg.set("accesslog", "-")
    if fmt:
        cfg.set("access_log_format", fmt)
    return logger_class(cfg)


def _line(logger_class, fmt: str | None, formatter: str = "%(message)s", setup=None) -> str:
    with gunicorn_access_log():
        logger = _logger(logger_class, fmt)
        logger.now = lambda: "[02/Dec/2026:00:31:57 +0000]"  # two lines compared are made at two moments
        out = io.StringIO()
        for handler in logger.access_log.handlers:
            handler.stream = out
            handler.setFormatter(logging.Formatter(formatter))  # the line itself, not where it was logged
        if setup is not None:
            setup(logger)
        logger.access(_Response(), _Request(), ENVIRON, datetime.timedelta(seconds=1, microseconds=2345))
    return out.getvalue()


@pytest.mark.parametrize("fmt", [
    None,  # gunicorn's default format, as kbp serve uses it
    '%(h)s %(l)s %(u)s "%(r)s" %(s)s %(m)s %(U)s %(q)s %(H)s %(b)s %(B)s "%(f)s" "%(a)s" %(T)s %(D)s %(M)s %(L)s %(p)s',
    '%({user-agent}i)s %({x-twice}i)s %({ETag}o)s %({content-type}o)s %({remote_addr}e)s %({missing}i)s %(nothing)s',
])
def test_access_lines_are_gunicorns(fmt):
    ours = _line(AccessLogger, fmt)
    assert ours == _line(glogging.Logger, fmt)
    assert ours.strip()


def test_timestamp_is_the_current_second():
    logger = AccessLogger(Config())
    for _ in range(3):  # not across a second boundary
        second = int(time.time())
        ours, theirs = logger.now(), glogging.Logger.now(logger)
        if int(time.time()) == second:
            break
    assert ours == theirs


class _Marker(logging.Filter):
    def filter(self, record):
        record.msg = "filtered " + record.getMessage()
        record.args = None
        return True


@pytest.mark.parametrize("formatter, setup, expect", [
    # kbp serve's own set-up: the line is written to the stream directly (no LogRecord)
    ("%(message)s", None, ""),
    # anything else goes through logging as before, so it keeps working: another format ...
    ("%(levelname)s %(name)s %(message)s", None, "INFO gunicorn.access "),
    # ... a filter on the logger or on the handler ...
    ("%(message)s", lambda lg: lg.access_log.addFilter(_Marker()), "filtered "),
    ("%(message)s", lambda lg: lg.access_log.handlers[0].addFilter(_Marker()), "filtered "),
])
def test_access_lines_keep_the_logging_set_up(formatter, setup, expect):
    plain = _line(glogging.Logger, None)
    assert _line(AccessLogger, None, formatter, setup) == expect + plain
    assert _line(glogging.Logger, None, formatter, setup) == expect + plain


def test_a_second_handler_gets_the_line_too():
    second = io.StringIO()
    ours = _line(AccessLogger, None, setup=lambda lg: lg.access_log.addHandler(logging.StreamHandler(second)))
    assert ours and second.getvalue() == ours


def test_kbp_serve_set_up_writes_lines_directly():
    """kbp serve's options (``accesslog="-"``) give the set-up the direct write is for; a filter does not."""
    with gunicorn_access_log() as access_log:
        logger = _logger(AccessLogger)
        assert logger._plain_handler() is access_log.handlers[0]
        access_log.addFilter(_Marker())
        assert logger._plain_handler() is None
