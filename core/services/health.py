"""Whether the store answers: for load balancers (``/healthz``)."""
from __future__ import annotations


def health(storage) -> tuple[dict, int]:
    """The storage backend and whether it answers: (body, 200 or 503)."""
    reachable = storage.healthy()
    body = {"status": "ok" if reachable else "unavailable", "backend": storage.backend,
            "database": "reachable" if reachable else "unreachable"}
    return body, 200 if reachable else 503
