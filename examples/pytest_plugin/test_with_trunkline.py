"""Tests as a Trunkline user writes them, with the plugin's fixtures and markers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest


def call(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """POST JSON; (HTTP status, decoded body)."""
    data = json.dumps(body or {}).encode()
    sent = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(sent, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_fresh_portal_has_no_lines(portal):
    status, body = call(portal.webhook_url + "voximplant.sip.get.json")
    assert status == 200
    assert body["result"] == []


def test_the_app_token_works(portal):
    status, body = call(portal.rest_url + "voximplant.sip.get.json", {"auth": portal.access_token})
    assert status == 200, body


def test_the_journal_counts_what_was_sent(portal, trunkline):
    line = {"TYPE": "office", "TITLE": "PBX", "SERVER": "pbx.example", "LOGIN": "u"}
    call(portal.webhook_url + "voximplant.sip.add.json", line)
    commands = {"a": "voximplant.sip.get", "b": "voximplant.sip.get?FILTER[TITLE]=PBX"}
    call(portal.webhook_url + "batch.json", {"cmd": commands})
    assert trunkline.count(portal=portal.domain, method="voximplant.sip.add") == 1
    assert trunkline.count(portal=portal.domain, method="voximplant.sip.get", batch=True) == 2
    assert trunkline.count(portal=portal.domain, params={"TITLE": "PBX"}) == 1


@pytest.mark.trunkline_faults({"kind": "query-limit", "method": "voximplant.sip.get", "count": 1})
def test_a_fault_answers_once(portal):
    status, body = call(portal.webhook_url + "voximplant.sip.get.json")
    assert (status, body["error"]) == (503, "QUERY_LIMIT_EXCEEDED")
    assert call(portal.webhook_url + "voximplant.sip.get.json")[0] == 200


@pytest.mark.trunkline_scenario(
    {"lines": [{"type": "office", "title": "Seeded", "server": "pbx.example", "login": "s"}]}
)
def test_the_scenario_marker_adds_lines(portal):
    _, body = call(portal.webhook_url + "voximplant.sip.get.json")
    assert [row["TITLE"] for row in body["result"]] == ["Seeded"]


@pytest.mark.trunkline_limits
def test_the_limits_marker(portal, trunkline):
    state = trunkline.request("GET", f"/operator/portals/{portal.domain}/state")
    assert state["limits"] == "on"


def test_moving_the_clock_expires_the_token(portal, trunkline):
    try:
        trunkline.advance(3601)
        status, body = call(
            portal.rest_url + "voximplant.sip.get.json", {"auth": portal.access_token}
        )
        assert (status, body["error"]) == (401, "expired_token")
    finally:
        trunkline.real_time()


def test_snapshot_and_restore(portal, trunkline):
    trunkline.snapshot(portal.domain, "empty")
    line = {"TYPE": "office", "SERVER": "pbx.example", "LOGIN": "u"}
    call(portal.webhook_url + "voximplant.sip.add.json", line)
    trunkline.restore(portal.domain, "empty")
    assert call(portal.webhook_url + "voximplant.sip.get.json")[1]["result"] == []
