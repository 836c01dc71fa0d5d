"""Encryption at rest of SIP passwords (PASSWORD, INCOMING_PASSWORD).

AES-256-GCM with a random 96-bit nonce per value; the stored text is
``v1:`` + urlsafe base64 of nonce + ciphertext + tag, bound to the column it
lives in (associated data), so a value copied into another column fails to
decrypt. The key is created on first start and kept in a file (mode 0600) or
given in ``TRUNKLINE_SECRET_KEY``; it is never logged.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1:"


class SecretKeyError(Exception):
    """The key is missing, malformed, or does not open the stored values."""


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def load_or_create_key(path: Path) -> str:
    """Read the key file, creating it with a fresh key (mode 0600) when absent."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


class Cipher:
    """Seals and opens column values. Opened values are kept in a bounded cache keyed by
    the sealed text: a page of 50 lines would otherwise cost 100 AES-GCM opens."""

    cache_size = 65536

    def __init__(self, key: str) -> None:
        self._opened: dict[tuple[str, str], str] = {}
        try:
            raw = base64.urlsafe_b64decode(key.encode())
        except (ValueError, TypeError) as exc:
            raise SecretKeyError("the secret key is not urlsafe base64") from exc
        if len(raw) != 32:
            raise SecretKeyError("the secret key must be 32 bytes")
        self._raw = raw

    def load(self) -> None:
        """Load cryptography now rather than at the first value opened (the engine process,
        at start: its first REGISTER with credentials would otherwise)."""
        self._aead  # noqa: B018 (made and kept)

    @cached_property
    def _aead(self) -> AESGCM:
        """Made at the first value sealed or opened (a server starts without cryptography)."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(self._raw)

    def encrypt(self, plaintext: str | None, column: str) -> str | None:
        if plaintext is None:
            return None
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), column.encode())
        return _PREFIX + binascii.b2a_base64(nonce + sealed, newline=False).decode()

    def decrypt(self, stored: str | None, column: str, *, keep: bool = True) -> str | None:
        """The value sealed in ``stored``; ``keep=False``: not kept in the cache (a caller
        that keeps the opened value itself)."""
        if stored is None:
            return None
        opened = self._opened.get((stored, column))
        if opened is not None:
            return opened
        if not stored.startswith(_PREFIX):
            raise SecretKeyError(f"unknown encryption format in {column}")
        try:
            blob = binascii.a2b_base64(stored[len(_PREFIX) :])
            opened = self._aead.decrypt(blob[:12], blob[12:], column.encode()).decode()
        except Exception as exc:
            from cryptography.exceptions import InvalidTag  # loaded with _aead

            if not isinstance(exc, InvalidTag | binascii.Error | ValueError):
                raise
            raise SecretKeyError(
                f"the secret key does not open {column}: wrong key for this database?"
            ) from exc
        if not keep:
            return opened
        if len(self._opened) >= self.cache_size:
            self._opened.clear()
        self._opened[(stored, column)] = opened
        return opened
