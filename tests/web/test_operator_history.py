"""GET /operator/portals/{domain}/lines/{config_id}/history[.pcap]: a line's registration
history, paged as the API pages, and its newest transaction as pcap; bad input is 400/404."""

from __future__ import annotations

import io

import dpkt
import pytest

from tests.storage.test_history import entry
from tests.web.conftest import AUTH, error_of, op


def test_history_pages_and_pcap(ops):
    line = ops.add_line(TYPE="office", TITLE="pbx")
    config_id = int(line["CONFIG_ID"])
    store = ops.app.store
    ops.run(store.history.append, [entry(ops.portal.id, config_id, n) for n in range(7)], 100)
    path = f"/operator/portals/{ops.portal.domain}/lines/{config_id}/history"
    body = op(ops, "GET", path + "?limit=5&offset=1")
    assert (body["total"], body["limit"], body["offset"]) == (7, 5, 1)
    assert [e["at"] for e in body["entries"]] == [5.0, 4.0, 3.0, 2.0, 1.0]
    first = body["entries"][0]
    assert first["transaction"][0]["start_line"] == "REGISTER sip:n5 SIP/2.0"
    assert first["transaction"][0]["direction"] == "sent"

    response = ops.client.get(path + ".pcap", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.tcpdump.pcap"
    frames = list(dpkt.pcap.Reader(io.BytesIO(response.content)))
    assert len(frames) == 1
    udp = dpkt.loopback.Loopback(frames[0][1]).data.data
    assert udp.data.startswith(b"REGISTER sip:n6 SIP/2.0\r\n")


@pytest.mark.parametrize(
    ("suffix", "status", "code", "text"),
    [
        ("/lines/1/history?limit=x", 400, "invalid_request", "limit must be an integer"),
        ("/lines/1/history?limit=0", 400, "invalid_request", "limit must be 1 to 500"),
        ("/lines/1/history?limit=501", 400, "invalid_request", "limit must be 1 to 500"),
        ("/lines/1/history?offset=-1", 400, "invalid_request", "offset must be 0 or more"),
        ("/lines/abc/history", 400, "invalid_request", "config_id must be a number"),
        ("/lines/999/history", 404, "not_found", "portal test.bitrix24.com has no line 999"),
        ("/lines/1/history.pcap", 404, "not_found", "line 1 has no SIP transaction yet"),
    ],
)
def test_history_bad_input(ops, suffix, status, code, text):
    ops.add_line(TYPE="office", TITLE="pbx")
    response = ops.client.get(f"/operator/portals/{ops.portal.domain}{suffix}", headers=AUTH)
    assert error_of(response) == (status, code, text)


def test_history_of_an_unknown_portal_and_without_token(ops):
    response = ops.client.get("/operator/portals/nope.example/lines/1/history", headers=AUTH)
    assert error_of(response) == (404, "not_found", "no portal 'nope.example'")
    response = ops.client.get(f"/operator/portals/{ops.portal.domain}/lines/1/history")
    assert response.status_code == 401


def test_ops_webhook_set_read_and_cleared(ops):
    path = f"/operator/ops-webhooks/{ops.portal.domain}"
    assert op(ops, "GET", path) == {"portal": ops.portal.domain, "url": None}
    set_to = op(ops, "PUT", path, {"url": "https://ops.example/hook"})
    assert set_to == {"portal": ops.portal.domain, "url": "https://ops.example/hook"}
    assert op(ops, "GET", path)["url"] == "https://ops.example/hook"
    assert op(ops, "DELETE", path) == {"portal": ops.portal.domain, "url": None}


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({}, "url must be a string"),
        ({"url": 5}, "url must be a string"),
        ({"url": "ftp://x/"}, "url must be an http or https URL with a host"),
        ({"url": "http://"}, "url must be an http or https URL with a host"),
        ({"url": "https://x/" + "a" * 2000}, "url must be an http or https URL with a host"),
    ],
)
def test_ops_webhook_bad_input(ops, body, text):
    path = f"/operator/ops-webhooks/{ops.portal.domain}"
    response = ops.client.put(path, json=body, headers=AUTH)
    assert error_of(response) == (400, "invalid_request", text)
    assert op(ops, "GET", path)["url"] is None
    response = ops.client.get("/operator/ops-webhooks/nope.example", headers=AUTH)
    assert error_of(response) == (404, "not_found", "no portal 'nope.example'")
