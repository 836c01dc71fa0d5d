"""SIP passwords are encrypted at rest and never logged."""

from __future__ import annotations

import logging

import pytest

from trunkline.storage.secrets import Cipher, SecretKeyError, load_or_create_key, new_key


def test_round_trip_and_column_binding():
    cipher = Cipher(new_key())
    sealed = cipher.encrypt("s3cret", "password")
    assert sealed.startswith("v1:") and "s3cret" not in sealed
    assert cipher.decrypt(sealed, "password") == "s3cret"
    assert cipher.encrypt(None, "password") is None and cipher.decrypt(None, "password") is None
    assert cipher.encrypt("s3cret", "password") != sealed  # fresh nonce every time
    with pytest.raises(SecretKeyError):
        cipher.decrypt(sealed, "incoming_password")


def test_wrong_or_malformed_keys_are_clear_errors():
    sealed = Cipher(new_key()).encrypt("x", "password")
    with pytest.raises(SecretKeyError, match="wrong key"):
        Cipher(new_key()).decrypt(sealed, "password")
    with pytest.raises(SecretKeyError, match="32 bytes"):
        Cipher("c2hvcnQ=")
    with pytest.raises(SecretKeyError, match="format"):
        Cipher(new_key()).decrypt("plain", "password")


def test_key_file_created_once_with_private_mode(tmp_path):
    path = tmp_path / "k" / "trunkline.key"
    key = load_or_create_key(path)
    assert load_or_create_key(path) == key
    assert path.stat().st_mode & 0o777 == 0o600


def test_passwords_not_stored_or_logged_in_clear(env, caplog):
    caplog.set_level(logging.DEBUG)
    env.add_line(PASSWORD="Very-Secret-1")
    env.ok("voximplant.sip.add", {"SERVER": "s", "LOGIN": "l", "PASSWORD": "Very-Secret-2"})
    rows = env.run(env.app.store.driver.fetch_all, "SELECT password, incoming_password FROM lines")
    for password, incoming in rows:
        assert password.startswith("v1:") and "Very-Secret" not in password
        assert incoming is None or incoming.startswith("v1:")
    assert "Very-Secret" not in caplog.text
    listed = env.ok("voximplant.sip.get", {"FILTER": {"%PASSWORD": "secret"}})
    assert listed["total"] == 2


def test_decrypt_keep_false_leaves_the_cache_alone():
    cipher = Cipher(new_key())
    sealed = cipher.encrypt("s3cret", "sip_password")
    assert cipher.decrypt(sealed, "sip_password", keep=False) == "s3cret"
    assert cipher._opened == {}
    assert cipher.decrypt(sealed, "sip_password") == "s3cret"
    assert cipher._opened == {(sealed, "sip_password"): "s3cret"}
