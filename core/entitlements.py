"""Which frameworks may be served right now: the licence gate, generic over products.

A framework that declares ``licence: {product, keys_file, demo_licence_file}`` is served only while
the licence installed for ``product`` (``DATA_DIR/licences/<product>.json``) verifies against the
plugin's trusted keys (:mod:`core.licensing`). The answer is re-checked when the licence file
changes or the date changes, so ``kbp license install`` takes effect in running workers without a
restart, and an expiry date takes effect at midnight.

The trusted keys are the plugin's built-in list plus the licensor's signed key bundle named by
``KBP_<PRODUCT>_TRUSTED_KEYS`` (which can also revoke a key); a renewal installed before its first
day takes over on that day; :meth:`Entitlements.expiry_warning` warns 30 days before expiry.

Demo mode trusts keys marked ``demo`` and, at start, installs a framework's demo licence when no
licence is installed. Production mode never trusts a demo key.
"""
from __future__ import annotations

import os
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

from core import model
from core.i18n import current_locale, ngettext
from core.licensing import LicenceCheck, LicenceStore, TrustedKey, load_key_bundle, load_trusted_keys, merge_trusted_keys


#: ``kbp license status`` and the admin pages warn this many days before a licence expires
EXPIRY_WARNING_DAYS = 30


def trusted_keys_setting(product: str) -> str:
    """The setting naming the licensor's published keys file for ``product``."""
    return f"{product.upper()}_TRUSTED_KEYS"


def product_trusted_keys(keys_file: str, product: str, config=None) -> dict[str, TrustedKey]:
    """The keys ``product`` trusts: the plugin's built-in list, plus (or revoked by) the licensor's
    signed key bundle named by ``KBP_<PRODUCT>_TRUSTED_KEYS``. Raises ``ValueError`` naming a
    broken, unsigned or foreign-signed file."""
    keys = load_trusted_keys(keys_file)
    published = (config or {}).get(trusted_keys_setting(product)) or ""
    if published:
        try:
            extra = load_key_bundle(published, keys)
        except OSError as exc:
            raise ValueError(f"KBP_{trusted_keys_setting(product)}={published}: {exc.strerror or exc}") from None
        keys = merge_trusted_keys(keys, extra, where=str(published))
    return keys


class Entitlements:
    def __init__(self, data_dir: str | os.PathLike | None, demo_mode: bool, today: Callable[[], date] = date.today,
                 config=None, licences: LicenceStore | None = None):
        self.store = licences if licences is not None else LicenceStore(data_dir)
        self.demo_mode = demo_mode
        self.today = today
        self.config = config or {}
        self._keys: dict[str, dict[str, TrustedKey]] = {}
        self._cache: dict[tuple[str, str], tuple[tuple, LicenceCheck]] = {}  # (product, language)
        self._lock = threading.Lock()

    def trusted_keys(self, requirement: model.LicenceRequirement) -> dict[str, TrustedKey]:
        keys = self._keys.get(requirement.keys_file)
        if keys is None:
            keys = product_trusted_keys(requirement.keys_file, requirement.product, self.config)
            self._keys[requirement.keys_file] = keys
        return keys

    def pending(self, framework: model.Framework) -> LicenceCheck | None:
        """A renewal installed ahead of its first day, still waiting (``None`` when there is none)."""
        req = framework.licence
        if req is None:
            return None
        waiting = self.store.pending(req.product, trusted_keys=self.trusted_keys(req), today=self.today(),
                                     demo_mode=self.demo_mode)
        return waiting if waiting is not None and waiting.code == "not_yet_valid" else None

    def expiry_warning(self, framework: model.Framework) -> str | None:
        """A warning when the licence ends within :data:`EXPIRY_WARNING_DAYS` days and no renewal
        waits to take over the day after; ``None`` otherwise."""
        check = self.check(framework)
        if check is None or not check.ok or check.expires is None:
            return None
        days = check.days_left(self.today())
        if days is None or days > EXPIRY_WARNING_DAYS:
            return None
        waiting = self.pending(framework)
        if waiting is not None and waiting.issued is not None and waiting.issued <= check.expires + timedelta(days=1):
            return None
        return ngettext(
            "The licence for '%(product)s' expires on %(date)s, in %(num)d day. Install the renewal now"
            " with `kbp license install FILE`: it can be installed before it starts.",
            "The licence for '%(product)s' expires on %(date)s, in %(num)d days. Install the renewal now"
            " with `kbp license install FILE`: it can be installed before it starts.",
            days, product=framework.licence.product, date=check.expires.isoformat(),
        )

    def check(self, framework: model.Framework, *, any_language: bool = False) -> LicenceCheck | None:
        """The licence check for ``framework``; ``None`` when it needs no licence. Its message is in
        the reader's language (checks are kept per language: a check made for one language and shown
        in another put an English reason into a Swedish sentence); ``any_language`` when only the
        outcome is needed."""
        req = framework.licence
        if req is None:
            return None
        key = (self.store.stamp(req.product), self.today(), self.demo_mode)
        if any_language:
            for (product, _language), (seen, result) in list(self._cache.items()):
                if product == req.product and seen == key:
                    return result
        language = current_locale()
        cached = self._cache.get((req.product, language))
        if cached is not None and cached[0] == key:
            return cached[1]
        result = self.store.check(
            req.product, trusted_keys=self.trusted_keys(req), today=key[1], demo_mode=self.demo_mode
        )
        with self._lock:
            self._cache[(req.product, language)] = (key, result)
        return result

    def _forget(self, product: str) -> None:
        with self._lock:
            for cached in [k for k in self._cache if k[0] == product]:
                self._cache.pop(cached, None)

    def available(self, framework: model.Framework) -> bool:
        result = self.check(framework, any_language=True)
        return result is None or result.ok

    def install(self, framework: model.Framework, data: bytes) -> LicenceCheck:
        req = framework.licence
        if req is None:
            raise ValueError(f"framework {framework.id} needs no licence")
        result = self.store.install(
            req.product, data, trusted_keys=self.trusted_keys(req), today=self.today(), demo_mode=self.demo_mode
        )
        self._forget(req.product)
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
