"""``?limit=&offset=`` on the API's growing lists, and the ``X-Total-Count`` and ``Link: <…>; rel="next"``
headers of the answer — one decorator, so every paged endpoint behaves and is documented the same.
The services cut the page (:mod:`core.services.paging`)."""
from __future__ import annotations

import functools
from urllib.parse import urlencode

from flask import request
from marshmallow import Schema, fields, validate

from core.services.paging import DEFAULT_LIMIT, MAX_LIMIT, Page, Paged


class PageQuery(Schema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT), metadata={
        "description": f"Items per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})."})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0), metadata={
        "description": "How many items to skip: follow the `Link: <…>; rel=\"next\"` header instead of counting."})


def paged(blp):
    """Decorate a list view: it gets ``page=Page(limit, offset)`` and returns a :class:`Paged`."""

    def decorator(view):
        @blp.arguments(PageQuery, location="query", as_kwargs=True)
        @functools.wraps(view)
        def wrapper(*args, limit: int, offset: int, **kwargs):
            result = view(*args, page=Page(limit, offset), **kwargs)
            headers = {"X-Total-Count": str(result.total)}
            if isinstance(result, Paged) and result.next_offset is not None:
                query = [(k, v) for k, v in request.args.items(multi=True) if k not in ("limit", "offset")]
                query += [("limit", limit), ("offset", result.next_offset)]
                headers["Link"] = f'<{request.base_url}?{urlencode(query)}>; rel="next"'
            return list(result), 200, headers

        wrapper.kbp_paged = True
        return wrapper

    return decorator
