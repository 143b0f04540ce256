"""One way to page through a list that grows with the organisation (people, plans, accounts, the audit
log, in-house activities): ``limit`` and ``offset``, at most :data:`MAX_LIMIT` items a page.

A list function of a service takes ``page=Page(limit, offset)`` and returns a :class:`Paged`: a list of
that page's items that also knows the ``total`` of the whole list. Without a page it returns every
item (the pages and the CLI). The REST API (``core.api.paging``) reads ``?limit=&offset=`` and sends
the total and the next page's link as headers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page:
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def __post_init__(self):
        if not 1 <= self.limit <= MAX_LIMIT or self.offset < 0:
            raise ValueError(f"a page is 1..{MAX_LIMIT} items from an offset >= 0")


class Paged(list):
    """The items of one page, with ``total`` (of the whole list) and the ``page`` asked for."""

    def __init__(self, items: Iterable = (), total: int | None = None, page: Page | None = None):
        super().__init__(items)
        self.total = len(self) if total is None else total
        self.page = page

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or None on the last one."""
        if self.page is None:
            return None
        following = self.page.offset + self.page.limit
        return following if following < self.total else None

    def map(self, fn: Callable) -> "Paged":
        """The same page with every item passed through ``fn`` (total and page kept)."""
        return Paged((fn(item) for item in self), self.total, self.page)


def paginate(items: list, page: Page | None) -> Paged:
    """``items`` (the whole list, in its order) cut to ``page``; every item without a page."""
    if page is None:
        return Paged(items)
    return Paged(items[page.offset:page.offset + page.limit], len(items), page)
