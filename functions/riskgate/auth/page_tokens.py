"""Sealed page tokens: what a list hands a caller as `next_token`.

A list position is a storage key (partition, sort key, index keys): handing it out as is would show a
caller the names and ids of items they were never shown, and let them forge positions. So a token is the
position encrypted and authenticated (AES-256-GCM) and bound to who asked and what (the binding is the
associated data: another caller, another list or other filters make it fail to open). Plaintexts are
padded to a multiple of `PAD` bytes so a token's length says next to nothing about the key inside.

Plain logic: the key comes from the caller (`riskgate.adapters.page_keys` reads it from Secrets Manager).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable

from riskgate.domain.errors import MalformedInput

NONCE_BYTES = 12
PAD = 64
INVALID = "next_token is not a token this API issued for this list and caller"


def derive_key(secret: str) -> bytes:
    """A 256-bit AES key from the configured secret string (any length, any alphabet)."""
    return hashlib.sha256(b"riskgate page tokens v1\x00" + secret.encode("utf-8")).digest()


def binding(user_id: str, method: str, path: str, query: Iterable[tuple[str, str]]) -> bytes:
    """Who asked for which list: the caller, the route and its filters. `next_token` and `limit` are left
    out (a caller may change the page size between pages)."""
    kept = sorted((name, value) for name, value in query if name not in ("next_token", "limit"))
    return json.dumps([user_id, method.upper(), path, kept], separators=(",", ":")).encode("utf-8")


def seal(key: bytes, position: str, bound_to: bytes) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # only lists pay for the import

    plain = position.encode("utf-8")
    plain += b" " * (-len(plain) % PAD)  # a position is JSON-ish text: trailing spaces are stripped
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(key).encrypt(nonce, plain, bound_to)
    return base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")


def unseal(key: bytes, token: str, bound_to: bytes) -> str:
    """The position inside `token`; MalformedInput (400) when it was not sealed with this key for this
    caller and list, or was altered."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(token) > 4096:
        raise MalformedInput(INVALID)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as error:
        raise MalformedInput(INVALID) from error
    if len(raw) < NONCE_BYTES + 16:
        raise MalformedInput(INVALID)
    try:
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], bound_to)
    except InvalidTag as error:
        raise MalformedInput(INVALID) from error
    return plain.decode("utf-8").rstrip(" ")
