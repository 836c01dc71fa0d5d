"""``--log-format json``: one JSON object per record, the request id, secrets masked."""

from __future__ import annotations

import json
import logging

import pytest

from trunkline.cli.logs import FORMAT, JsonFormatter, log_config, mask
from trunkline.rest.record import request_id


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("auth[access_token]=abc123&auth[domain]=x", "abc123"),
        ("?auth=tok999&x=1", "tok999"),
        ("access_token=a1b2 refresh_token=r3r4", "r3r4"),
        ('{"client_secret": "s3cr3t", "x": 1}', "s3cr3t"),
        ("password=hunter2", "hunter2"),
        ("INCOMING_PASSWORD=0123abcd", "0123abcd"),
        ("Authorization: Bearer zzz.yyy", "zzz.yyy"),
        ("POST /rest/1/w3bh00kc0de/voximplant.sip.get", "w3bh00kc0de"),
        ('Digest username="a", nonce="n0nc3", response="d1g3st"', "d1g3st"),
        ("/oauth/authorize/?code=c0d3", "c0d3"),
    ],
)
def test_mask_hides_each_kind_of_secret(text, secret):
    masked = mask(text)
    assert secret not in masked
    assert "***" in masked


def test_mask_leaves_ordinary_text_alone():
    text = "portal=test.bitrix24.com caller=webhook:1 method=voximplant.sip.get status=200"
    assert mask(text) == text


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("trunkline.access", logging.INFO, __file__, 1, message, args, None)


def test_json_formatter_writes_one_object_with_the_request_id():
    token = request_id.set("00ff00ff00ff00ff")
    try:
        line = JsonFormatter().format(record("call %s", "password=hunter2"))
    finally:
        request_id.reset(token)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["request_id"] == "00ff00ff00ff00ff"
    assert entry["logger"] == "trunkline.access" and entry["level"] == "INFO"
    assert entry["message"] == "call password=***"
    assert entry["time"].endswith("Z")


def test_json_formatter_masks_tracebacks_and_omits_an_absent_request_id():
    try:
        raise ValueError("auth[access_token]=leaked")
    except ValueError:
        import sys

        item = record("failed")
        item.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(item))
    assert "request_id" not in entry
    assert "leaked" not in entry["exception"] and "ValueError" in entry["exception"]


def test_log_config_picks_the_formatter():
    assert log_config("info")["formatters"]["line"] == {"format": FORMAT}
    assert log_config("info", "json")["formatters"]["line"]["()"] is JsonFormatter
