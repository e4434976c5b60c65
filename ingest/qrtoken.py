"""Personal QR tokens: opaque Ed25519-signed tokens with expiry, verifiable offline.

A token is ``BASE32(payload) "." BASE32(signature)`` (RFC 4648 alphabet, upper case, no padding;
verification also takes lower case). The 64-byte signature is Ed25519 over the payload bytes,
which are, big-endian::

    version  1 byte    TOKEN_VERSION (1)
    kid_len  1 byte    length of kid, 1..16
    kid      kid_len   ASCII key id, [A-Za-z0-9_-]
    subject  16 bytes  random reference the server maps to a declaration (never the citizen id)
    iat      4 bytes   issued at, unix seconds
    exp      4 bytes   expires at, unix seconds

Nothing else is in a token, so it holds no personal data: only the server can turn the subject
reference into a person.

Why this encoding: measured with segno at error correction M for a 72 h token with an 8-char kid,

==========================================  =====  ==========
format                                      chars  QR version
==========================================  =====  ==========
binary payload, base32 (this module)          159   7 (alphanumeric mode)
binary payload, base64url                     133   8 (byte mode)
compact JSON payload, base64url               206  10
PyJWT-shaped EdDSA JWT (header.claims.sig)    235  11
==========================================  =====  ==========

Base64url is the shortest string, but QR alphanumeric mode packs a character into 5.5 bits
against byte mode's 8, so base32 gives the smaller symbol (45 modules a side instead of 49;
about 1.1 mm a module printed at 5 cm). Upper-case-only text also survives keyboard-wedge
scanners that flip case under Caps Lock. A JWT repeats a JSON header in every token and needs
PyJWT besides ``cryptography`` for nothing a checkpoint uses.

Keys have ids; a :class:`Signer` signs with the newest key of its ring and publishes all of
them, so tokens signed with a retired key keep verifying until that key leaves the document.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ingest.errors import InvalidKeyMaterial, InvalidToken

TOKEN_VERSION = 1
DEFAULT_TTL = timedelta(hours=72)
# Checkpoint devices verify offline with their own clocks; a few minutes of drift must not turn
# citizens back. Applied to both ends of the validity window.
CLOCK_SKEW = timedelta(minutes=5)
KEY_DOCUMENT_PATH = "/.well-known/truyvet-qr-keys.json"

# Matched whole (fullmatch): ``$`` also matches before a trailing newline.
KID = re.compile(r"[A-Za-z0-9_-]{1,16}")
SUBJECT_REF = re.compile(r"[0-9a-f]{32}")
_SUBJECT_BYTES = 16
_SIGNATURE_BYTES = 64
_TIMES = struct.Struct(">II")
# Far above any real token (about 190 chars with the longest kid): refuse junk before decoding it.
_MAX_TOKEN_CHARS = 400
_BASE32 = re.compile(r"[A-Z2-7]+")


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says: which key signed it, whom it refers to, and when it is valid."""

    version: int
    kid: str
    subject_ref: str
    issued_at: datetime
    expires_at: datetime


def new_subject_ref() -> str:
    """Return a fresh random subject reference (32 hex chars) for the server to map."""
    return secrets.token_hex(_SUBJECT_BYTES)


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the default kid: the RFC 7638 JWK thumbprint of the key, cut to 8 characters."""
    # Members in lexicographic order, no whitespace, as RFC 7638 requires.
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(public_key.public_bytes_raw())},
        separators=(",", ":"), sort_keys=True,
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())[:8]


@dataclass(frozen=True, eq=False)
class SigningKey:
    """An Ed25519 private key with its kid; repr and str show the kid only."""

    kid: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kid, str) or not KID.fullmatch(self.kid):
            raise InvalidKeyMaterial("kid must be 1-16 of A-Z a-z 0-9 _ -")

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        """Make a new key for development; persist :meth:`export_seed` to keep its tokens valid."""
        return cls._with_kid(Ed25519PrivateKey.generate(), kid)

    @classmethod
    def from_seed(cls, seed: str, kid: str | None = None) -> SigningKey:
        """Load a key from its 32-byte seed in base64url, as :meth:`export_seed` writes it."""
        raw = _b64url_decode(seed.strip()) if isinstance(seed, str) else None
        if raw is None or len(raw) != 32:
            raise InvalidKeyMaterial("signing key seed must be 32 bytes in base64url")
        return cls._with_kid(Ed25519PrivateKey.from_private_bytes(raw), kid)

    @classmethod
    def from_pem(cls, pem: str | bytes, kid: str | None = None,
                 password: bytes | None = None) -> SigningKey:
        """Load a key from a PKCS#8 PEM block (``openssl genpkey -algorithm ed25519``)."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError):
            raise InvalidKeyMaterial("signing key PEM could not be loaded") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidKeyMaterial("signing key PEM is not an Ed25519 key")
        return cls._with_kid(key, kid)

    @classmethod
    def _with_kid(cls, private_key: Ed25519PrivateKey, kid: str | None) -> SigningKey:
        return cls(kid or key_id(private_key.public_key()), private_key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public half, safe to publish."""
        return self.private_key.public_key()

    def export_seed(self) -> str:
        """Return the secret seed in base64url, for the caller to store as a setting."""
        return _b64url(self.private_key.private_bytes_raw())


def parse_key_setting(setting: str) -> tuple[SigningKey, ...]:
    """Parse a setting listing keys oldest first: ``[kid:]seed`` entries split by commas or spaces.

    One seed is the plain case; rotation appends a new entry and drops the oldest once every
    token it signed has expired (``DEFAULT_TTL`` plus ``CLOCK_SKEW`` later).
    """
    keys = []
    for entry in re.split(r"[\s,]+", setting.strip()):
        if not entry:
            continue
        kid, _, seed = entry.rpartition(":")
        keys.append(SigningKey.from_seed(seed, kid or None))
    if not keys:
        raise InvalidKeyMaterial("no signing key in the setting")
    return tuple(keys)


@dataclass(frozen=True)
class Signer:
    """Issues tokens with the newest (last) key of its ring; publishes every public half."""

    keys: tuple[SigningKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise InvalidKeyMaterial("a signer needs at least one key")
        kids = [key.kid for key in self.keys]
        if len(set(kids)) != len(kids):
            raise InvalidKeyMaterial("duplicate kid in the key ring")

    @classmethod
    def from_setting(cls, setting: str) -> Signer:
        """Build a signer from a setting in the form :func:`parse_key_setting` reads."""
        return cls(parse_key_setting(setting))

    @property
    def current(self) -> SigningKey:
        """The key new tokens are signed with."""
        return self.keys[-1]

    def issue(self, subject_ref: str, now: datetime | None = None,
              ttl: timedelta = DEFAULT_TTL) -> str:
        """Return a token for ``subject_ref`` (from :func:`new_subject_ref`) valid for ``ttl``."""
        if not isinstance(subject_ref, str) or not SUBJECT_REF.fullmatch(subject_ref):
            # Also stops a CCCD number from being put in a QR by mistake.
            raise ValueError("subject_ref must be 32 lower-case hex chars from new_subject_ref()")
        lifetime = int(ttl.total_seconds())
        if lifetime < 1:
            raise ValueError("ttl must be at least one second")
        issued_at = int(_unix(now or datetime.now(timezone.utc)))
        if not 0 <= issued_at < issued_at + lifetime < 2**32:
            raise ValueError("issue time and expiry must fit in unsigned 32-bit unix seconds")
        key = self.current
        kid = key.kid.encode("ascii")
        payload = (bytes((TOKEN_VERSION, len(kid))) + kid + bytes.fromhex(subject_ref)
                   + _TIMES.pack(issued_at, issued_at + lifetime))
        return _b32(payload) + "." + _b32(key.private_key.sign(payload))

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every key of the ring by kid, the form :func:`verify` takes."""
        return {key.kid: key.public_key for key in self.keys}


def verify(token: str, public_keys: Mapping[str, Ed25519PublicKey], now: datetime | None = None,
           *, leeway: timedelta = CLOCK_SKEW) -> TokenClaims:
    """Check a token offline against published keys; return its claims or raise InvalidToken.

    Valid from ``iat - leeway`` up to, not including, ``exp + leeway``.
    """
    payload, signature = _split(token)
    version, kid, subject, issued_at, expires_at = _parse_payload(payload)
    public_key = public_keys.get(kid)
    if public_key is None:
        raise InvalidToken(InvalidToken.UNKNOWN_KEY, f"no published key {kid!r}")
    try:
        public_key.verify(signature, payload)
    except InvalidSignature:
        raise InvalidToken(InvalidToken.BAD_SIGNATURE, "signature does not match") from None
    at = _unix(now or datetime.now(timezone.utc))
    slack = leeway.total_seconds()
    if at + slack < issued_at:
        raise InvalidToken(InvalidToken.NOT_YET_VALID, "issued in the future")
    if at >= expires_at + slack:
        raise InvalidToken(InvalidToken.EXPIRED, "past its expiry")
    return TokenClaims(version, kid, subject.hex(),
                       datetime.fromtimestamp(issued_at, timezone.utc),
                       datetime.fromtimestamp(expires_at, timezone.utc))


def public_key_document(
    public_keys: Mapping[str, Ed25519PublicKey],
) -> dict[str, list[dict[str, str]]]:
    """Return the JWK Set served at ``KEY_DOCUMENT_PATH`` for checkpoint devices to download."""
    return {"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": _b64url(key.public_bytes_raw()),
         "kid": kid, "use": "sig", "alg": "EdDSA"}
        for kid, key in public_keys.items()
    ]}


def load_public_keys(document: Mapping[str, Any] | str | bytes) -> dict[str, Ed25519PublicKey]:
    """Read a JWK Set (parsed, or JSON text) into the ``kid -> key`` mapping :func:`verify` takes.

    Entries for other key types, curves or uses are skipped, as RFC 7517 advises, so the document
    may grow other keys; a broken Ed25519 entry is an error rather than a silently missing key.
    """
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except ValueError:
            raise InvalidKeyMaterial("key document is not JSON") from None
    entries = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise InvalidKeyMaterial('key document has no "keys" list')
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        kind = (entry.get("kty"), entry.get("crv"),
                entry.get("use", "sig"), entry.get("alg", "EdDSA"))
        if kind != ("OKP", "Ed25519", "sig", "EdDSA"):
            continue
        kid, x = entry.get("kid"), entry.get("x")
        if not isinstance(kid, str) or not KID.fullmatch(kid):
            raise InvalidKeyMaterial("key document entry has no valid kid")
        if kid in keys:
            raise InvalidKeyMaterial(f"key document lists kid {kid!r} twice")
        raw = _b64url_decode(x) if isinstance(x, str) else None
        if raw is None or len(raw) != 32:
            raise InvalidKeyMaterial(f"key {kid!r} has no valid 32-byte x")
        keys[kid] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def _split(token: str) -> tuple[bytes, bytes]:
    # ASCII first: str.upper() maps a few non-ASCII letters onto base32 ones.
    if not isinstance(token, str) or not token.isascii():
        raise InvalidToken(InvalidToken.MALFORMED, "not ASCII text")
    # Keyboard-wedge scanners end with Enter and may flip case.
    text = token.strip().upper()
    if not text or len(text) > _MAX_TOKEN_CHARS:
        raise InvalidToken(InvalidToken.MALFORMED, "empty or too long")
    parts = text.split(".")
    if len(parts) != 2:
        raise InvalidToken(InvalidToken.MALFORMED, "expected payload.signature")
    payload, signature = (_b32_decode(part) for part in parts)
    if len(signature) != _SIGNATURE_BYTES:
        raise InvalidToken(InvalidToken.MALFORMED, "signature has the wrong length")
    return payload, signature


def _parse_payload(payload: bytes) -> tuple[int, str, bytes, int, int]:
    if len(payload) < 2 or payload[0] != TOKEN_VERSION:
        raise InvalidToken(InvalidToken.MALFORMED, "unknown token version")
    kid_end = 2 + payload[1]
    if len(payload) != kid_end + _SUBJECT_BYTES + _TIMES.size:
        raise InvalidToken(InvalidToken.MALFORMED, "payload has the wrong length")
    kid = payload[2:kid_end].decode("ascii", errors="replace")
    if not KID.fullmatch(kid):
        raise InvalidToken(InvalidToken.MALFORMED, "invalid kid")
    subject = payload[kid_end:kid_end + _SUBJECT_BYTES]
    issued_at, expires_at = _TIMES.unpack_from(payload, kid_end + _SUBJECT_BYTES)
    if expires_at <= issued_at:
        raise InvalidToken(InvalidToken.MALFORMED, "expires before it is issued")
    return payload[0], kid, subject, issued_at, expires_at


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _b32_decode(text: str) -> bytes:
    if not _BASE32.fullmatch(text):
        raise InvalidToken(InvalidToken.MALFORMED, "not base32")
    try:
        data = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise InvalidToken(InvalidToken.MALFORMED, "not base32") from None
    # One spelling per token (up to case): spare bits set in the last character are refused.
    if _b32(data) != text:
        raise InvalidToken(InvalidToken.MALFORMED, "not canonical base32")
    return data


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64url_decode(text: str) -> bytes | None:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _unix(moment: datetime) -> float:
    if moment.tzinfo is None:
        # A naive time would be read as the machine's local zone; that is a bug, not a policy.
        raise ValueError("now must be timezone-aware")
    return moment.timestamp()
