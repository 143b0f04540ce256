"""Offline verification of signed licence files (Ed25519).

The core knows no specific product: a plugin (typically a framework plugin)
passes its own product id and the public keys it trusts, usually loaded with
:func:`load_trusted_keys` from a JSON file shipped inside the plugin.
Nothing here contacts a server; a licence is checked against the trusted
public keys and the local date only.

Licence file format (public contract, version ``kbp-licence/1``)
-----------------------------------------------------------------

A licence file is a UTF-8 JSON object::

    {
      "format": "kbp-licence/1",
      "payload": "<standard base64 of the exact payload bytes>",
      "payload_sha256": "<lower-case hex SHA-256 of the payload bytes>",
      "signature": "<standard base64 of the Ed25519 signature over the exact payload bytes>"
    }

The *payload bytes* are themselves a UTF-8 JSON object::

    {
      "licence_id": "<unique id, e.g. a UUID>",
      "licensee":   "<who the licence is granted to>",
      "product":    "<product id the licence is for>",
      "features":   ["<feature id>", ...],
      "seats":      <positive integer> or null,
      "issued":     "YYYY-MM-DD",
      "expires":    "YYYY-MM-DD",
      "key_id":     "<id of the signing key>"
    }

Rules:

* The signature covers the exact payload bytes. Verification never
  re-serialises the payload, so any JSON formatting the issuer chooses is fine.
* ``payload_sha256`` is only a diagnostic aid: it lets the verifier tell an
  altered payload (checksum mismatch) apart from an altered or foreign
  signature. Both are refused.
* ``key_id`` selects the public key among the keys the product trusts. A key
  may be marked ``demo``; licences signed with a demo key are accepted only
  when the application runs in demo mode.
* A licence is valid from ``issued`` through ``expires``, both inclusive.
* JSON objects must not contain duplicate keys; unknown extra payload fields
  are ignored (reserved for later, backwards-compatible additions).

Checks are done in this order, and the first failure is reported:
parse -> key lookup -> demo key -> checksum -> signature -> product -> dates.
So an unsigned or forged payload never reaches the semantic checks.

Trusted keys file (shipped by a plugin)::

    {"keys": [{"key_id": "acme-2026", "public_key": "<base64 of the raw 32-byte Ed25519 key>",
               "demo": false, "revoked": false, "comment": "optional, free text"}]}

Key bundle (published by the licensor, named by the setting ``KBP_<PRODUCT>_TRUSTED_KEYS``): the
same keys list, signed with a key the plugin's built-in list trusts (:func:`sign_key_bundle`,
:func:`load_key_bundle`), so a licensee can install the licensor's new keys without a KBP
release but cannot make KBP trust a key of their own. :func:`merge_trusted_keys` combines the
built-in list with the bundle: new key ids are added, and an entry with ``"revoked": true``
withdraws trust from that key (a leaked key), so every licence signed with it is refused
(``revoked_key``). The same key id with a different public key is a configuration error.

A licence whose first day (``issued``) lies ahead — a renewal — is accepted by
:meth:`LicenceStore.install` and kept as ``<product>.next.json``; it takes over on its first day
(code ``scheduled`` at installation).

Installed licences live in ``<data_dir>/licences/<product>.json``
(see :class:`LicenceStore`).

Result codes of :func:`verify_licence`: ``ok``, ``missing``, ``malformed``,
``unknown_key``, ``revoked_key``, ``demo_key``, ``tampered_payload``, ``bad_signature``,
``wrong_product``, ``not_yet_valid``, ``expired``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from core.i18n import gettext as _

__all__ = [
    "LICENCE_FORMAT",
    "MAX_LICENCE_BYTES",
    "CODES",
    "TrustedKey",
    "LicenceCheck",
    "LicenceStore",
    "generate_keypair",
    "issue_licence",
    "load_trusted_keys",
    "merge_trusted_keys",
    "sign_key_bundle",
    "load_key_bundle",
    "public_key_of",
    "verify_licence",
]

LICENCE_FORMAT = "kbp-licence/1"
#: Licence files larger than this are refused as malformed without parsing.
MAX_LICENCE_BYTES = 64 * 1024

CODES = (
    "ok",
    "scheduled",
    "missing",
    "malformed",
    "unknown_key",
    "revoked_key",
    "demo_key",
    "tampered_payload",
    "bad_signature",
    "wrong_product",
    "not_yet_valid",
    "expired",
)

_INSTALL_HINT = "kbp license install FILE"
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
# Product ids double as file names in LicenceStore.
_PRODUCT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ED25519_RAW_LEN = 32
_ED25519_SIG_LEN = 64


# ---------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------

def _b64decode_strict(value: str) -> bytes:
    """Decode standard base64, rejecting stray characters. Raises ValueError."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("invalid base64") from exc


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class TrustedKey:
    """A public key a product trusts for signing its licences.

    ``public_key`` is the standard base64 of the raw 32-byte Ed25519 public key.
    Construction raises ``ValueError`` if it is not a valid key, so a broken
    keys file is caught when the plugin loads it, not at verification time.
    """

    key_id: str
    public_key: str
    demo: bool = False
    revoked: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or not self.key_id.strip():
            raise ValueError("TrustedKey.key_id must be a non-empty string")
        if not isinstance(self.demo, bool):
            raise ValueError(f"TrustedKey {self.key_id!r}: demo must be true or false")
        if not isinstance(self.revoked, bool):
            raise ValueError(f"TrustedKey {self.key_id!r}: revoked must be true or false")
        self.load_public_key()  # validates

    def load_public_key(self) -> Ed25519PublicKey:
        try:
            raw = _b64decode_strict(self.public_key)
        except ValueError:
            raise ValueError(
                f"TrustedKey {self.key_id!r}: public_key is not valid base64"
            ) from None
        if len(raw) != _ED25519_RAW_LEN:
            raise ValueError(
                f"TrustedKey {self.key_id!r}: public_key must be {_ED25519_RAW_LEN} raw bytes,"
                f" got {len(raw)}"
            )
        return Ed25519PublicKey.from_public_bytes(raw)


def load_trusted_keys(path: str | os.PathLike[str]) -> dict[str, TrustedKey]:
    """Read a trusted keys file ``{"keys": [{"key_id", "public_key", "demo"?, "comment"?}]}``.

    Returns ``{key_id: TrustedKey}``. Raises ``ValueError`` (naming the file)
    on a malformed file, an invalid key or a duplicate key id, and ``OSError``
    if the file cannot be read. These are packaging errors of the plugin, not
    user input, so they are loud.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not a valid JSON keys file ({exc})") from None
    return _keys_of(doc, path)


def _keys_of(doc: Any, path: Any) -> dict[str, TrustedKey]:
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError(f'{path}: expected an object {{"keys": [...]}}')
    keys: dict[str, TrustedKey] = {}
    for index, entry in enumerate(doc["keys"]):
        where = f"{path}: keys[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object")
        key_id = entry.get("key_id")
        public_key = entry.get("public_key")
        demo = entry.get("demo", False)
        revoked = entry.get("revoked", False)
        comment = entry.get("comment")
        if not isinstance(key_id, str) or not key_id.strip():
            raise ValueError(f"{where}: key_id must be a non-empty string")
        if not isinstance(public_key, str):
            raise ValueError(f"{where}: public_key must be a base64 string")
        if not isinstance(demo, bool):
            raise ValueError(f"{where}: demo must be true or false")
        if not isinstance(revoked, bool):
            raise ValueError(f"{where}: revoked must be true or false")
        if comment is not None and not isinstance(comment, str):
            raise ValueError(f"{where}: comment must be a string")
        if key_id in keys:
            raise ValueError(f"{where}: duplicate key_id {key_id!r}")
        try:
            keys[key_id] = TrustedKey(key_id=key_id, public_key=public_key, demo=demo, revoked=revoked)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return keys


KEY_BUNDLE_FORMAT = "kbp-keys/1"


def sign_key_bundle(private_key_pem: bytes, *, key_id: str, keys: list[dict], passphrase: bytes | None = None,
                    trusted_keys: dict[str, TrustedKey] | None = None) -> bytes:
    """A key bundle: the licensor's keys file, signed with a key the product already trusts.

    ``{"format": "kbp-keys/1", "key_id": <signer>, "payload": <base64 of {"keys": [...]}>,
    "signature": <Ed25519 over the payload bytes>}``. With ``trusted_keys``, the signer must be
    listed there under ``key_id`` with this key's public key.
    """
    key = _load_private_key(private_key_pem, passphrase)
    if trusted_keys is not None:
        listed = trusted_keys.get(key_id)
        if listed is None or listed.public_key != public_key_of(key):
            raise ValueError(f"key id {key_id!r} does not name this key among the product's trusted keys")
    payload = json.dumps({"keys": keys}, ensure_ascii=False, indent=2).encode("utf-8")
    _keys_of(json.loads(payload), "keys")  # validates every entry before anything is signed
    document = {"format": KEY_BUNDLE_FORMAT, "key_id": key_id, "payload": _b64encode(payload),
                "signature": _b64encode(key.sign(payload))}
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def load_key_bundle(path: str | os.PathLike[str], trusted_keys: dict[str, TrustedKey]) -> dict[str, TrustedKey]:
    """The keys of a bundle made by :func:`sign_key_bundle`, after checking that a trusted,
    non-demo, non-revoked key signed it. Raises ``ValueError`` naming the file otherwise (an
    unsigned keys file included: a licensee cannot make KBP trust a key of their own)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not a valid JSON key bundle ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != KEY_BUNDLE_FORMAT:
        raise ValueError(f"{path}: not a signed key bundle ({KEY_BUNDLE_FORMAT}); ask the licensor for the signed file")
    signer = trusted_keys.get(doc.get("key_id")) if isinstance(doc.get("key_id"), str) else None
    if signer is None or signer.demo or signer.revoked:
        raise ValueError(f"{path}: signed with key {_clip(doc.get('key_id'))!r}, which is not a trusted licensor key")
    try:
        payload = _b64decode_strict(doc.get("payload"))
        signature = _b64decode_strict(doc.get("signature"))
        signer.load_public_key().verify(signature, payload)
    except (ValueError, InvalidSignature):
        raise ValueError(f"{path}: the signature does not match (the file was altered or forged)") from None
    try:
        keys = json.loads(payload.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: the signed keys are not JSON ({exc})") from None
    return _keys_of(keys, path)


def merge_trusted_keys(builtin: dict[str, TrustedKey], extra: dict[str, TrustedKey], where: str = "") -> dict[str, TrustedKey]:
    """The built-in keys plus the licensor's published ones (see the module docs).

    An ``extra`` entry adds a key, or — with ``revoked`` — withdraws trust from one. Raises
    ``ValueError`` when a key id is reused for a different public key.
    """
    merged = dict(builtin)
    for key_id, key in extra.items():
        known = merged.get(key_id)
        if known is not None and known.public_key != key.public_key:
            raise ValueError(f"{where}: key_id {key_id!r} names a different public key than the built-in one")
        if known is not None:
            key = TrustedKey(key_id, key.public_key, demo=known.demo, revoked=known.revoked or key.revoked)
        merged[key_id] = key
    return merged


def generate_keypair(passphrase: bytes | None = None) -> tuple[bytes, str]:
    """Create a new Ed25519 signing key.

    Returns ``(private_key_pem, public_key_b64)``: the private key as PKCS#8
    PEM bytes, encrypted with ``passphrase`` when one is given (keep it secret,
    never commit or ship it), and the public key as standard base64 of its raw
    32 bytes (publish it in a trusted keys file).
    """
    private = Ed25519PrivateKey.generate()
    encryption = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    pem = private.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=encryption,
    )
    return pem, public_key_of(private)


def public_key_of(private: Ed25519PrivateKey) -> str:
    """The standard base64 of a private key's raw public key (as trusted keys files list it)."""
    public_raw = private.public_key().public_bytes(
        encoding=serialization.Encoding.Raw,
        format=serialization.PublicFormat.Raw,
    )
    return _b64encode(public_raw)


def private_key_is_encrypted(private_key_pem: bytes) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in bytes(private_key_pem)


def _load_private_key(private_key_pem: bytes, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    if isinstance(private_key_pem, str):
        private_key_pem = private_key_pem.encode("ascii", "replace")
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=passphrase or None)
    except (ValueError, TypeError):
        # Deliberately no details and no chaining: never echo key material.
        if private_key_is_encrypted(private_key_pem):
            raise ValueError("the passphrase does not unlock the private key") from None
        raise ValueError("private key is not a PEM (PKCS#8) key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("private key is not an Ed25519 key")
    return key


# ---------------------------------------------------------------------------
# Issuing
# ---------------------------------------------------------------------------

def issue_licence(
    private_key_pem: bytes,
    *,
    key_id: str,
    licensee: str,
    product: str,
    expires: date,
    issued: date | None = None,
    features: Iterable[str] = (),
    seats: int | None = None,
    licence_id: str | None = None,
    passphrase: bytes | None = None,
    trusted_keys: dict[str, TrustedKey] | None = None,
) -> bytes:
    """Sign a licence and return the licence file bytes (pretty JSON, UTF-8, trailing newline).

    ``issued`` defaults to today's local date, ``licence_id`` to a random UUID.
    With ``trusted_keys``, ``key_id`` must name the public key of this private key there (a
    licence under a wrong or revoked key id would be refused by every installation).
    Raises ``ValueError`` on invalid arguments (e.g. expiry before issue).
    """
    issued = date.today() if issued is None else issued
    issued = _as_date(issued)
    expires = _as_date(expires)
    features = list(features)
    for name, value in (("key_id", key_id), ("licensee", licensee), ("product", product)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string")
    if not all(isinstance(f, str) and f for f in features):
        raise ValueError("features must be non-empty strings")
    if seats is not None and (isinstance(seats, bool) or not isinstance(seats, int) or seats < 1):
        raise ValueError("seats must be a positive integer or None")
    if expires < issued:
        raise ValueError("expires must not be before issued")
    if licence_id is None:
        licence_id = str(uuid.uuid4())
    elif not isinstance(licence_id, str) or not licence_id.strip():
        raise ValueError("licence_id must be a non-empty string")

    key = _load_private_key(private_key_pem, passphrase)
    if trusted_keys is not None:
        listed = trusted_keys.get(key_id)
        if listed is None:
            raise ValueError(
                f"key id {key_id!r} is not in the product's trusted keys"
                f" (known: {', '.join(sorted(trusted_keys)) or 'none'}); licences signed under it would be refused")
        if listed.public_key != public_key_of(key):
            raise ValueError(
                f"key id {key_id!r} belongs to a different key than this private key; use the key id"
                " keygen printed for it")
        if listed.revoked:
            raise ValueError(f"key {key_id!r} is revoked; sign with the key that replaced it")
    payload = {
        "licence_id": licence_id,
        "licensee": licensee,
        "product": product,
        "features": features,
        "seats": seats,
        "issued": issued.isoformat(),
        "expires": expires.isoformat(),
        "key_id": key_id,
    }
    payload_bytes = json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8")
    document = {
        "format": LICENCE_FORMAT,
        "payload": _b64encode(payload_bytes),
        "payload_sha256": hashlib.sha256(payload_bytes).hexdigest(),
        "signature": _b64encode(key.sign(payload_bytes)),
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise ValueError(f"expected a date, got {type(value).__name__}")


# ---------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LicenceCheck:
    """Outcome of :func:`verify_licence`.

    ``code`` is one of :data:`CODES`; ``message`` is a translated, actionable
    sentence for the user. ``licence`` is the parsed payload whenever it could
    be parsed, even when the check failed (then it is *unverified* data: show
    it for diagnostics only, never grant anything from it unless ``ok``).
    ``demo`` is true when the licence is signed with a demo key.
    """

    ok: bool
    code: str
    message: str
    licence: dict | None = None
    demo: bool = False

    def _field(self, name: str) -> Any:
        return self.licence.get(name) if isinstance(self.licence, dict) else None

    @property
    def expires(self) -> date | None:
        return _parse_date(self._field("expires"))

    @property
    def issued(self) -> date | None:
        return _parse_date(self._field("issued"))

    @property
    def licensee(self) -> str | None:
        value = self._field("licensee")
        return value if isinstance(value, str) else None

    @property
    def licence_id(self) -> str | None:
        value = self._field("licence_id")
        return value if isinstance(value, str) else None

    @property
    def features(self) -> frozenset[str]:
        """Licensed features; empty unless the licence is valid (``ok``)."""
        value = self._field("features")
        if not self.ok or not isinstance(value, list):
            return frozenset()
        return frozenset(f for f in value if isinstance(f, str))

    @property
    def seats(self) -> int | None:
        value = self._field("seats")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def days_left(self, today: date) -> int | None:
        """Days until expiry (0 on the last valid day, negative once expired)."""
        expires = self.expires
        return None if expires is None else (expires - _as_date(today)).days


class _Malformed(Exception):
    """Internal: parse failure carrying a translated reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
        self.payload: dict | None = None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _clip(value: Any, limit: int = 80) -> str:
    """Make an untrusted value safe to embed in a one-line message."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _Parsed:
    payload_bytes: bytes
    payload_sha256: str
    signature_b64: str
    payload: dict = field(default_factory=dict)


def _parse(data: bytes) -> _Parsed:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _Malformed(_("the licence data is not the contents of a file"))
    data = bytes(data)
    if len(data) > MAX_LICENCE_BYTES:
        raise _Malformed(_("the file is far too large to be a licence"))
    try:
        text = data.decode("utf-8-sig")
        doc = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Malformed(_("the file is not JSON text")) from None
    if not isinstance(doc, dict):
        raise _Malformed(_("the file is JSON but not a licence object"))
    fmt = doc.get("format")
    if fmt != LICENCE_FORMAT:
        if isinstance(fmt, str) and fmt.startswith("kbp-licence/"):
            raise _Malformed(_(
                "it uses licence format '%(format)s', which this version of KBP does not"
                " support (upgrade KBP to use it)",
                format=_clip(fmt),
            ))
        raise _Malformed(_("the file is JSON but not a licence object"))
    for name in ("payload", "payload_sha256", "signature"):
        if not isinstance(doc.get(name), str):
            raise _Malformed(_("the field '%(field)s' is missing or not text", field=name))
    if not _SHA256_RE.fullmatch(doc["payload_sha256"]):
        raise _Malformed(_("the payload checksum is not a SHA-256 hex digest"))
    try:
        payload_bytes = _b64decode_strict(doc["payload"])
    except ValueError:
        raise _Malformed(_("the payload is not valid base64")) from None
    try:
        payload = json.loads(payload_bytes.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Malformed(_("the decoded payload is not JSON text")) from None
    if not isinstance(payload, dict):
        raise _Malformed(_("the decoded payload is not a JSON object"))
    parsed = _Parsed(
        payload_bytes=payload_bytes,
        payload_sha256=doc["payload_sha256"].lower(),
        signature_b64=doc["signature"],
        payload=payload,
    )
    try:
        _check_payload_fields(payload)
    except _Malformed as exc:
        exc.payload = payload
        raise
    return parsed


def _check_payload_fields(payload: dict) -> None:
    for name in ("licence_id", "licensee", "product", "key_id"):
        value = payload.get(name)
        if not isinstance(value, str) or not value.strip():
            raise _Malformed(_(
                "the licence field '%(field)s' is missing, empty or not text", field=name
            ))
    features = payload.get("features")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise _Malformed(_("the licence field 'features' is missing or not a list of texts"))
    if "seats" not in payload:
        raise _Malformed(_("the licence field 'seats' is missing"))
    seats = payload["seats"]
    if seats is not None and (isinstance(seats, bool) or not isinstance(seats, int) or seats < 1):
        raise _Malformed(_("the licence field 'seats' is not a positive whole number or null"))
    for name in ("issued", "expires"):
        if _parse_date(payload.get(name)) is None:
            raise _Malformed(_(
                "the licence field '%(field)s' is missing or not a date in the form YYYY-MM-DD",
                field=name,
            ))
    if _parse_date(payload["expires"]) < _parse_date(payload["issued"]):
        raise _Malformed(_("the licence expires before it was issued"))


def _signature_valid(key: TrustedKey, parsed: _Parsed) -> bool:
    try:
        signature = _b64decode_strict(parsed.signature_b64)
    except ValueError:
        return False
    if len(signature) != _ED25519_SIG_LEN:
        return False
    try:
        key.load_public_key().verify(signature, parsed.payload_bytes)
    except (InvalidSignature, ValueError):
        # ValueError: a trusted key that cannot be loaded (TrustedKey validates, so unlikely).
        return False
    return True


def verify_licence(
    data: bytes | None,
    *,
    product: str,
    trusted_keys: dict[str, TrustedKey],
    today: date,
    demo_mode: bool = False,
) -> LicenceCheck:
    """Verify licence file bytes for ``product`` offline. Never raises for bad input.

    ``data`` is the licence file content, or ``None`` when no licence is
    installed. ``today`` is the local date to check validity against (pass it
    explicitly, it makes the check testable). ``demo_mode`` allows licences
    signed with keys marked ``demo``.
    """
    today = _as_date(today)
    if data is None:
        return LicenceCheck(False, "missing", _(
            "No licence is installed for '%(product)s'. Get a licence file from your vendor"
            " and install it with `%(command)s`.",
            product=product, command=_INSTALL_HINT,
        ))

    try:
        parsed = _parse(data)
    except _Malformed as exc:
        # Keep whatever payload could be decoded, for diagnostics.
        return LicenceCheck(False, "malformed", _(
            "The licence file for '%(product)s' cannot be used: %(reason)s. Install the"
            " original, unmodified licence file from your vendor with `%(command)s`.",
            product=product, reason=exc.reason, command=_INSTALL_HINT,
        ), licence=dict(exc.payload) if exc.payload is not None else None)

    payload = parsed.payload
    licence = dict(payload)
    key_id = payload["key_id"]
    licence_id = _clip(payload["licence_id"])

    # 1. Key lookup.
    key = trusted_keys.get(key_id) if isinstance(trusted_keys, dict) else None
    if key is None:
        return LicenceCheck(False, "unknown_key", _(
            "Licence %(licence_id)s is signed with key '%(key_id)s', which this installation"
            " of '%(product)s' does not trust. Check that the licence was issued for this"
            " product, update the product plugin if the vendor has rotated its keys, or ask"
            " the vendor for a new licence.",
            licence_id=licence_id, key_id=_clip(key_id), product=product,
        ), licence=licence)
    is_demo = bool(key.demo)
    if key.revoked:
        return LicenceCheck(False, "revoked_key", _(
            "Licence %(licence_id)s is signed with key '%(key_id)s', which the licensor has"
            " revoked, so it is refused. Ask the vendor for a licence signed with their current"
            " key and install it with `%(command)s`.",
            licence_id=licence_id, key_id=_clip(key_id), command=_INSTALL_HINT,
        ), licence=licence, demo=is_demo)

    # 2. Demo keys only in demo mode.
    if is_demo and not demo_mode:
        return LicenceCheck(False, "demo_key", _(
            "Licence %(licence_id)s is a demo licence (signed with demo key '%(key_id)s') and"
            " only works when KBP runs in demo mode. Install a full licence for"
            " '%(product)s', or switch this installation to demo mode for evaluation.",
            licence_id=licence_id, key_id=_clip(key_id), product=product,
        ), licence=licence, demo=True)

    # 3. Checksum: distinguishes an altered payload from an altered signature.
    if hashlib.sha256(parsed.payload_bytes).hexdigest() != parsed.payload_sha256:
        return LicenceCheck(False, "tampered_payload", _(
            "The contents of licence %(licence_id)s were changed after it was signed (the"
            " checksum does not match), so it is refused. Do not edit licence files: install"
            " the original file from your vendor with `%(command)s`.",
            licence_id=licence_id, command=_INSTALL_HINT,
        ), licence=licence, demo=is_demo)

    # 4. Signature over the exact payload bytes.
    if not _signature_valid(key, parsed):
        return LicenceCheck(False, "bad_signature", _(
            "The signature of licence %(licence_id)s is not valid for key '%(key_id)s', so"
            " the licence is refused. The file is damaged or forged: install the original"
            " file from your vendor with `%(command)s`, or contact the vendor if the problem"
            " persists.",
            licence_id=licence_id, key_id=_clip(key_id), command=_INSTALL_HINT,
        ), licence=licence, demo=is_demo)

    # 5. Product.
    if payload["product"] != product:
        return LicenceCheck(False, "wrong_product", _(
            "Licence %(licence_id)s is for the product '%(licensed)s', not for '%(product)s'."
            " Install the licence file issued for '%(product)s' with `%(command)s`.",
            licence_id=licence_id, licensed=_clip(payload["product"]), product=product,
            command=_INSTALL_HINT,
        ), licence=licence, demo=is_demo)

    # 6. Dates (both inclusive).
    issued = _parse_date(payload["issued"])
    expires = _parse_date(payload["expires"])
    if today < issued:
        return LicenceCheck(False, "not_yet_valid", _(
            "Licence for '%(product)s' is not valid before %(issued)s, but today's date on"
            " this server is %(today)s. If that date is wrong, check the system clock and time"
            " zone; otherwise wait until %(issued)s or ask your vendor for a licence valid now.",
            product=product, issued=issued.isoformat(), today=today.isoformat(),
        ), licence=licence, demo=is_demo)
    if today > expires:
        return LicenceCheck(False, "expired", _(
            "Licence for '%(product)s' expired on %(date)s. Install a renewed licence with"
            " `%(command)s`.",
            product=product, date=expires.isoformat(), command=_INSTALL_HINT,
        ), licence=licence, demo=is_demo)

    if is_demo:
        message = _(
            "Demo licence for '%(product)s' granted to %(licensee)s, valid through"
            " %(expires)s (demo mode only).",
            product=product, licensee=_clip(payload["licensee"]), expires=expires.isoformat(),
        )
    else:
        message = _(
            "'%(product)s' is licensed to %(licensee)s, valid through %(expires)s.",
            product=product, licensee=_clip(payload["licensee"]), expires=expires.isoformat(),
        )
    return LicenceCheck(True, "ok", message, licence=licence, demo=is_demo)


# ---------------------------------------------------------------------------
# Storage of installed licences
# ---------------------------------------------------------------------------

class LicenceStore:
    """Installed licences: ``<data_dir>/licences/<product>.json``.

    Product ids are used as file names, so they must match
    ``[A-Za-z0-9][A-Za-z0-9._-]*`` (at most 128 characters); other ids raise
    ``ValueError``.
    """

    def __init__(self, data_dir: str | os.PathLike[str]):
        self.data_dir = Path(data_dir)
        self.directory = self.data_dir / "licences"
        self._stamp_paths: dict[str, tuple[str, str]] = {}

    def path(self, product: str) -> Path:
        if not isinstance(product, str) or not _PRODUCT_RE.fullmatch(product) or ".." in product:
            raise ValueError(f"invalid product id for a licence file name: {product!r}")
        return self.directory / f"{product}.json"

    def next_path(self, product: str) -> Path:
        """Where a renewal installed ahead of its first day waits."""
        return self.path(product).with_suffix(".next.json")

    # -- where the bytes live (files here; StoredLicences keeps them in the app's store)

    def _read(self, product: str, waiting: bool = False) -> bytes | None:
        try:
            return (self.next_path(product) if waiting else self.path(product)).read_bytes()
        except FileNotFoundError:
            return None

    def _write(self, product: str, data: bytes, waiting: bool = False) -> None:
        _atomic_write(self.next_path(product) if waiting else self.path(product), bytes(data))

    def _take_over(self, product: str) -> None:
        """The waiting renewal becomes the installed licence (atomically)."""
        try:
            os.replace(self.next_path(product), self.path(product))
        except FileNotFoundError:  # another worker promoted it a moment ago
            return
        _fsync_dir(self.directory)

    def _delete(self, product: str) -> bool:
        try:
            self.path(product).unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(self.directory)
        return True

    def stamp(self, product: str):
        """A value that changes whenever the installed or waiting licence of ``product`` changes."""
        paths = self._stamp_paths.get(product)
        if paths is None:  # checked and built once per product: asked on every catalogue request
            paths = self._stamp_paths[product] = (str(self.path(product)), str(self.next_path(product)))
        out = []
        for path in paths:
            try:
                st = os.stat(path)
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except FileNotFoundError:
                out.append(None)
        return tuple(out)

    def load(self, product: str) -> bytes | None:
        """The installed licence file bytes, or ``None`` if none is installed."""
        return self._read(product)

    def pending(self, product: str, *, trusted_keys: dict[str, TrustedKey], today: date,
                demo_mode: bool = False) -> LicenceCheck | None:
        """The renewal waiting for its first day (``not_yet_valid``), or ``None``."""
        data = self._read(product, waiting=True)
        if data is None:
            return None
        return verify_licence(data, product=product, trusted_keys=trusted_keys, today=today, demo_mode=demo_mode)

    def _promote(self, product: str, *, trusted_keys: dict[str, TrustedKey], today: date, demo_mode: bool) -> None:
        """On its first day a waiting renewal replaces the installed licence (atomically)."""
        waiting = self.pending(product, trusted_keys=trusted_keys, today=today, demo_mode=demo_mode)
        if waiting is None or not waiting.ok:
            return
        self._take_over(product)

    def check(
        self,
        product: str,
        *,
        trusted_keys: dict[str, TrustedKey],
        today: date,
        demo_mode: bool = False,
    ) -> LicenceCheck:
        """Verify the installed licence of ``product`` (``missing`` if none), after letting a
        renewal whose first day has come take over."""
        self._promote(product, trusted_keys=trusted_keys, today=today, demo_mode=demo_mode)
        return verify_licence(
            self.load(product), product=product, trusted_keys=trusted_keys,
            today=today, demo_mode=demo_mode,
        )

    def install(
        self,
        product: str,
        data: bytes,
        *,
        trusted_keys: dict[str, TrustedKey],
        today: date,
        demo_mode: bool = False,
    ) -> LicenceCheck:
        """Verify ``data`` and, only if it is valid, install it atomically.

        A renewal that is valid in every respect but starts later (``not_yet_valid``) is kept
        as the waiting renewal and takes over on its first day: the result is ``ok`` with code
        ``scheduled``. A refused licence never touches the installed one. The write is atomic
        (a file: temp file, fsync, rename; the store: one commit), so readers see either the old or
        the new licence, never half of one.
        """
        self.path(product)  # refuses a product id that cannot name a licence
        result = verify_licence(
            data, product=product, trusted_keys=trusted_keys, today=today, demo_mode=demo_mode,
        )
        if result.code == "not_yet_valid" and result.issued is not None and result.issued > _as_date(today):
            self._write(product, data, waiting=True)
            return LicenceCheck(True, "scheduled", _(
                "Renewal of the licence for '%(product)s' installed: it takes over on %(issued)s"
                " and is valid through %(expires)s. Until then the current licence stays in force.",
                product=product, issued=result.issued.isoformat(), expires=result.expires.isoformat(),
            ), licence=result.licence, demo=result.demo)
        if not result.ok:
            return result
        self._write(product, data)
        return result

    def remove(self, product: str) -> bool:
        """Delete the installed licence; ``True`` if there was one."""
        return self._delete(product)


class StoredLicences(LicenceStore):
    """Installed licences kept in the app's store (collection ``licences``: one record per product,
    and ``<product>.next`` for a renewal waiting for its first day) instead of files, so on
    PostgreSQL a licence installed through one server is in force on every server at its next
    request. Verification is the same: the stored bytes are the licence file, checked on reading."""

    COLLECTION = "licences"

    def __init__(self, store):
        self.data_dir = self.directory = None
        self.collection = store.collection(self.COLLECTION)

    def _id(self, product: str, waiting: bool = False) -> str:
        self.path(product)  # the same product-id rule as for file names
        return f"{product}.next" if waiting else product

    def path(self, product: str) -> Path:
        if not isinstance(product, str) or not _PRODUCT_RE.fullmatch(product) or ".." in product:
            raise ValueError(f"invalid product id for a licence: {product!r}")
        return Path(f"{product}.json")

    def _read(self, product: str, waiting: bool = False) -> bytes | None:
        record = self.collection.get(self._id(product, waiting))
        return None if record is None else record["licence"].encode("utf-8")

    def _write(self, product: str, data: bytes, waiting: bool = False) -> None:
        self.collection.upsert({"id": self._id(product, waiting), "licence": bytes(data).decode("utf-8")})

    def _take_over(self, product: str) -> None:
        with self.collection.transaction() as tx:
            waiting = tx.get(self._id(product, True))
            if waiting is None:  # another server promoted it a moment ago
                return
            tx.upsert({"id": self._id(product), "licence": waiting["licence"]})
            tx.delete(waiting["id"])

    def _delete(self, product: str) -> bool:
        return self.collection.delete(self._id(product))

    def stamp(self, product: str):
        self._id(product)
        return self.collection.revision()


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.chmod(tmp_name, 0o644)  # a licence is not secret; mkstemp creates 0600
        except OSError:
            pass
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    """Persist a rename/unlink in ``directory`` (best effort; not possible on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
