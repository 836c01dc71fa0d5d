"""argon2id passwords: hashed, verified, and the same answer for a missing hash."""

from __future__ import annotations

import asyncio

import pytest

from trunkline.auth import passwords


def test_hash_and_verify() -> None:
    stored = passwords.hash_password("correct horse")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert passwords.verify(stored, "correct horse")
    assert not passwords.verify(stored, "correct horsE")
    assert not passwords.needs_rehash(stored)
    assert asyncio.run(passwords.verify_async(stored, "correct horse"))


def test_missing_or_broken_hash_never_matches() -> None:
    assert not passwords.verify(None, "trunkline decoy password")  # the decoy's own password
    assert not passwords.verify("not a hash", "x")
    assert not passwords.verify(passwords.hash_password("p" * 8), "p" * 2000)


@pytest.mark.parametrize("bad", ["", "short", "x" * 1025])
def test_weak_passwords_are_refused(bad: str) -> None:
    with pytest.raises(passwords.WeakPasswordError):
        passwords.hash_password(bad)


def test_a_generated_password_is_hashed_light_and_upgraded_at_sign_in() -> None:
    password = passwords.new_password()
    stored = passwords.hash_generated(password)
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$") and password not in stored
    assert passwords.verify(stored, password)
    assert not passwords.verify(stored, password.upper())
    assert passwords.needs_rehash(stored)  # the first good sign-in re-hashes at full cost


def test_a_generated_hash_refuses_a_weak_password() -> None:
    with pytest.raises(passwords.WeakPasswordError):
        passwords.hash_generated("short")
