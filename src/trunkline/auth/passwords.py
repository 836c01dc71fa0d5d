"""Sign-in passwords of portal users, hashed with argon2id (memory-hard).

Rules:

* Only the argon2id hash is stored; the encoded hash carries its own salt and
  cost parameters, so raising the cost later re-hashes on the next good sign-in
  (:func:`needs_rehash`).
* Checking a login that has no password (or does not exist) still runs one
  verification against a fixed hash, so the answer takes as long either way.
* Verification is CPU- and memory-heavy: callers on the event loop run it in a
  thread (:func:`verify_async`).
* Passwords are 8 to 1024 characters (the upper bound keeps one request from
  buying a very long hash).
* A password we generate (:func:`new_password`, about 79 bits from ``secrets``) is hashed
  at a light cost (:func:`hash_generated`): the cost protects passwords people choose, and
  no cost makes 2**79 guesses feasible. A fresh ``serve`` then does not wait for a
  memory-hard hash (0.1-1.5 s here, by load) before it is ready. The light hash is
  re-hashed at the full cost on the first good sign-in, as any hash below it.
"""

from __future__ import annotations

import asyncio
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 1024

_hasher = PasswordHasher()
_light = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # generated ones only


class WeakPasswordError(ValueError):
    """The password is too short or too long."""


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"a password may have at most {MAX_LENGTH} characters")


_READABLE = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off a terminal


def new_password() -> str:
    """A random password to print once: four groups of four (about 79 bits)."""
    return "-".join("".join(secrets.choice(_READABLE) for _ in range(4)) for _ in range(4))


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def hash_generated(password: str) -> str:
    """The hash of a password made by :func:`new_password` (light cost; never for a
    password a person chose)."""
    check_strength(password)
    return _light.hash(password)


@lru_cache(maxsize=1)
def _decoy() -> str:
    return _hasher.hash("trunkline decoy password")


def verify(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; a missing hash never matches."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        _hasher.verify(stored or _decoy(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return stored is not None


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


async def verify_async(stored: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify, stored, password)
