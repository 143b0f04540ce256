"""kbp serve's access log (core.wsgi.AccessLogger): the same lines as gunicorn's own logger."""
from __future__ import annotations

import datetime
import io
import logging
import time

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


def _line(logger_class, fmt: str | None) -> str:
    cfg = Config()
    cfg.set("accesslog", "-")
    if fmt:
        cfg.set("access_log_format", fmt)
    logger = logger_class(cfg)
    out = io.StringIO()
    for handler in logger.access_log.handlers:
        handler.stream = out
        handler.setFormatter(logging.Formatter("%(message)s"))  # the line itself, not where it was logged
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
