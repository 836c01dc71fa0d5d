"""Settings are checked when they are made: choice settings name their allowed values,
numbers their range, and environment values that are not numbers or booleans say so."""

from __future__ import annotations

import pytest

from trunkline.services.lines import incoming_server
from trunkline.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"log_level": "loud"}, "bad setting log_level='loud' (allowed: critical, error, "
         "warning, info, debug)"),
        ({"error_texts": "bogus"}, "bad setting error_texts='bogus' (allowed: doc, core)"),
        ({"sip_engine": "x"}, "bad setting sip_engine='x' (allowed: auto, inprocess, process, off)"),
        ({"port": -1}, "bad setting port=-1 (allowed: 0 to 65535)"),
        ({"sip_port": 65536}, "bad setting sip_port=65536 (allowed: 0 to 65535)"),
        ({"workers": 0}, "bad setting workers=0 (allowed: 1 to 256)"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_with_the_allowed_ones(changes, message) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings(**changes)
    assert str(raised.value) == message
    with pytest.raises(SettingsError):
        Settings().replace(**changes)


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("PORT", "eighty", "bad setting TRUNKLINE_PORT='eighty' (not an integer)"),
        ("LIMITS", "maybe", "bad setting TRUNKLINE_LIMITS='maybe' (not a boolean: use 1 or 0)"),
        ("LOG_LEVEL", "loud", "bad setting log_level='loud' (allowed: critical, error, "
         "warning, info, debug)"),
    ],
)  # fmt: skip
def test_bad_environment_values(variable, raw, message) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({f"TRUNKLINE_{variable}": raw})
    assert str(raised.value) == message


def test_choice_settings_from_the_environment_ignore_case() -> None:
    settings = Settings.from_env({"TRUNKLINE_LOG_LEVEL": " DEBUG", "TRUNKLINE_SIP_ENGINE": "Off"})
    assert (settings.log_level, settings.sip_engine) == ("debug", "off")


def test_a_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "127.0.0.1"),
        ({"sip_host": "0.0.0.0"}, "127.0.0.1"),
        ({"sip_host": "::", "sip_port": 5070}, "127.0.0.1:5070"),
        ({"sip_host": "192.0.2.10", "sip_port": 5070}, "192.0.2.10:5070"),
        ({"sip_host": "::1", "sip_port": 5070}, "[::1]:5070"),
        ({"sip_port": 0}, "127.0.0.1"),
        ({"incoming_server": "sip.example.com", "sip_port": 5070}, "sip.example.com"),
    ],
)
def test_incoming_server_is_where_the_registrar_answers(changes, expected) -> None:
    assert incoming_server(Settings(**changes)) == expected
