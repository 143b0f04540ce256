"""Which frameworks may be served right now: the licence gate, generic over products.

A framework that declares ``licence: {product, keys_file, demo_licence_file}`` is served only while
the licence installed for ``product`` (``DATA_DIR/licences/<product>.json``) verifies against the
plugin's trusted keys (:mod:`core.licensing`). The answer is re-checked when the licence file
changes or the date changes, so ``kbp license install`` takes effect in running workers without a
restart, and an expiry date takes effect at midnight.

Demo mode trusts keys marked ``demo`` and, at start, installs a framework's demo licence when no
licence is installed. Production mode never trusts a demo key.
"""
from __future__ import annotations

import os
import threading
from datetime import date
from pathlib import Path
from typing import Callable

from core import model
from core.licensing import LicenceCheck, LicenceStore, TrustedKey, load_trusted_keys


class Entitlements:
    def __init__(self, data_dir: str | os.PathLike, demo_mode: bool, today: Callable[[], date] = date.today):
        self.store = LicenceStore(data_dir)
        self.demo_mode = demo_mode
        self.today = today
        self._keys: dict[str, dict[str, TrustedKey]] = {}
        self._cache: dict[str, tuple[tuple, LicenceCheck]] = {}
        self._lock = threading.Lock()

    def trusted_keys(self, requirement: model.LicenceRequirement) -> dict[str, TrustedKey]:
        keys = self._keys.get(requirement.keys_file)
        if keys is None:
            keys = load_trusted_keys(requirement.keys_file)
            self._keys[requirement.keys_file] = keys
        return keys

    def check(self, framework: model.Framework) -> LicenceCheck | None:
        """The licence check for ``framework``; ``None`` when it needs no licence."""
        req = framework.licence
        if req is None:
            return None
        path = self.store.path(req.product)
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        key = (stamp, self.today(), self.demo_mode)
        cached = self._cache.get(req.product)
        if cached is not None and cached[0] == key:
            return cached[1]
        result = self.store.check(
            req.product, trusted_keys=self.trusted_keys(req), today=key[1], demo_mode=self.demo_mode
        )
        with self._lock:
            self._cache[req.product] = (key, result)
        return result

    def available(self, framework: model.Framework) -> bool:
        result = self.check(framework)
        return result is None or result.ok

    def install(self, framework: model.Framework, data: bytes) -> LicenceCheck:
        req = framework.licence
        if req is None:
            raise ValueError(f"framework {framework.id} needs no licence")
        result = self.store.install(
            req.product, data, trusted_keys=self.trusted_keys(req), today=self.today(), demo_mode=self.demo_mode
        )
        self._cache.pop(req.product, None)
        return result

    def install_demo(self, framework: model.Framework) -> LicenceCheck | None:
        """In demo mode, install the framework's demo licence unless a valid licence is present."""
        req = framework.licence
        if not self.demo_mode or req is None or not req.demo_licence_file:
            return None
        current = self.check(framework)
        if current is not None and current.ok:
            return current
        return self.install(framework, Path(req.demo_licence_file).read_bytes())
