"""Link tokens: short, signed, URL-safe, carrying a link id and an optional recipient id.

Layout (27 characters, base64url alphabet only, so no separator is needed):

    11 chars: the (link_id, recipient_id) pair, 64 bits, shuffled by a keyed permutation
    16 chars: itsdangerous HMAC-SHA256 signature over those 11 chars, truncated to 96 bits

The permutation (a small Feistel network keyed from SECRET_KEY) hides the sequential ids, so a
token tells a visitor nothing about how many links exist or which id is next; the signature
makes any altered character, or a token minted under another key, fail. 96 bits of MAC keep
forgery hopeless while the token stays short enough for a small, easily scanned QR code.

Old keys (TOUCHPOINT_OLD_SECRET_KEYS) still verify so links printed before a key rotation
keep working; new tokens always use the current key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass
from functools import lru_cache

from itsdangerous.encoding import base64_decode, base64_encode
from itsdangerous.exc import BadData
from itsdangerous.signer import HMACAlgorithm, Signer

PAYLOAD_CHARS = 11
SIGNATURE_BYTES = 12
TOKEN_LENGTH = PAYLOAD_CHARS + 16
MAX_TOKEN_ID = 2**32 - 1
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_ROUNDS = 4


class _TruncatedHMAC(HMACAlgorithm):
    """HMAC-SHA256 cut to SIGNATURE_BYTES; verification compares in constant time.

    The keyed HMAC state is built once per key and copied for each message: setting up the
    key costs as much as the MAC itself, and a 100,000-recipient import mints 100,000 tokens.
    """

    def __init__(self, digest_method) -> None:
        super().__init__(digest_method)
        self._keyed: dict[bytes, hmac.HMAC] = {}

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        base = self._keyed.get(key)
        if base is None:
            base = self._keyed[key] = hmac.new(key, digestmod=self.digest_method)
        mac = base.copy()
        mac.update(value)
        return mac.digest()[:SIGNATURE_BYTES]


@dataclass(frozen=True)
class LinkRef:
    """What a verified token names."""

    link_id: int
    recipient_id: int | None = None


class _KeyedCodec:
    """Signer and permutation for one secret key."""

    def __init__(self, secret_key: str, salt: str) -> None:
        self.signer = Signer(
            secret_key,
            salt=salt,
            key_derivation="hmac",
            digest_method=hashlib.sha256,
            algorithm=_TruncatedHMAC(hashlib.sha256),
        )
        # Derive the signing key once: itsdangerous would re-derive it on every call, which
        # doubles the cost of each token on the hot path and in 100,000-row imports.
        self.key = self.signer.derive_key()
        self.algorithm = self.signer.algorithm
        root = hashlib.sha256(f"{salt}.permutation.{secret_key}".encode()).digest()
        round_keys = [hashlib.sha256(root + bytes([i])).digest() for i in range(_ROUNDS)]
        # Keyed once, copied per use (re-keying blake2b dominated the round's cost).
        self._rounds = [hashlib.blake2b(key=k, digest_size=4) for k in round_keys]

    def _round(self, i: int, half: int) -> int:
        h = self._rounds[i].copy()
        h.update(half.to_bytes(4, "big"))
        return int.from_bytes(h.digest(), "big")

    def permute(self, block: int) -> int:
        left, right = block >> 32, block & 0xFFFFFFFF
        for i in range(_ROUNDS):
            left, right = right, left ^ self._round(i, right)
        return (left << 32) | right

    def unpermute(self, block: int) -> int:
        left, right = block >> 32, block & 0xFFFFFFFF
        for i in reversed(range(_ROUNDS)):
            left, right = right ^ self._round(i, left), left
        return (left << 32) | right


class LinkTokens:
    """Mint and verify link tokens under the current key and any old keys."""

    def __init__(
        self,
        secret_key: str,
        old_keys: list[str] | tuple[str, ...] = (),
        salt: str = "touchpoint.link",
    ) -> None:
        if not secret_key:
            raise ValueError("a secret key is required")
        self._current = _KeyedCodec(secret_key, salt)
        self._all = [self._current] + [_KeyedCodec(k, salt) for k in old_keys if k]
        self._verify_cached = lru_cache(maxsize=65536)(self._verify)

    def mint(self, link_id: int, recipient_id: int | None = None) -> str:
        """Return the token for a link (and recipient): always 27 characters."""
        rid = recipient_id or 0
        if not (0 < link_id <= MAX_TOKEN_ID and 0 <= rid <= MAX_TOKEN_ID):
            raise ValueError("id out of range for a link token")
        block = self._current.permute((link_id << 32) | rid)
        payload = base64.urlsafe_b64encode(struct.pack(">Q", block)).rstrip(b"=")
        codec = self._current
        return (payload + base64_encode(codec.algorithm.get_signature(codec.key, payload))).decode(
            "ascii"
        )

    def verify(self, token: str) -> LinkRef | None:
        """Return what a token names, or None when it is malformed, altered or foreign.

        Cached: a printed QR code or a mailed link is verified over and over, and the answer
        for a given token never changes.
        """
        return self._verify_cached(token)

    def _verify(self, token: str) -> LinkRef | None:
        if len(token) != TOKEN_LENGTH or not _ALPHABET.issuperset(token):
            return None
        payload = token[:PAYLOAD_CHARS].encode("ascii")
        try:
            signature = base64_decode(token[PAYLOAD_CHARS:])
        except BadData:
            return None
        for codec in self._all:
            if codec.algorithm.verify_signature(codec.key, payload, signature):
                try:
                    raw = base64.urlsafe_b64decode(payload + b"=")
                except ValueError:
                    return None
                # Reject non-canonical base64 (spare low bits set): one token per link.
                if base64.urlsafe_b64encode(raw).rstrip(b"=") != payload:
                    return None
                block = codec.unpermute(struct.unpack(">Q", raw)[0])
                link_id, rid = block >> 32, block & 0xFFFFFFFF
                if link_id == 0:
                    return None
                return LinkRef(link_id, rid or None)
        return None


class BadgeTokens:
    """A lead's personal badge code (`tpl_` + 22 + 16 characters) for invitations and badges.

    Signed like link tokens (its own salt), so a booth scan of a printed badge names the lead
    and a made-up badge names nobody.
    """

    PREFIX = "tpl_"

    def __init__(self, secret_key: str, old_keys: list[str] | tuple[str, ...] = ()) -> None:
        salt = "touchpoint.badge"
        self._all = [_KeyedCodec(secret_key, salt)] + [_KeyedCodec(k, salt) for k in old_keys if k]

    def mint(self, lead_id: str) -> str:
        payload = base64.urlsafe_b64encode(uuid.UUID(lead_id).bytes).rstrip(b"=")
        codec = self._all[0]
        signature = base64_encode(codec.algorithm.get_signature(codec.key, payload))
        return self.PREFIX + (payload + signature).decode("ascii")

    def verify(self, text: str) -> str | None:
        if not text.startswith(self.PREFIX) or len(text) != len(self.PREFIX) + 38:
            return None
        body = text[len(self.PREFIX) :]
        if not _ALPHABET.issuperset(body):
            return None
        payload = body[:22].encode("ascii")
        try:
            signature = base64_decode(body[22:])
            raw = base64.urlsafe_b64decode(payload + b"==")
        except (BadData, ValueError):
            return None
        for codec in self._all:
            if codec.algorithm.verify_signature(codec.key, payload, signature):
                return str(uuid.UUID(bytes=raw))
        return None
