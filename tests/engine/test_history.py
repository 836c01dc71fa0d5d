"""Registration history: each change of a line's state with the SIP transaction behind it,
read with `trunkline line history`, its last transaction as a pcap that dpkt reads back;
against Kamailio (cloud lines) and the engine's own registrar (office lines)."""

from __future__ import annotations

import json
import time
from typing import Any

import dpkt

from tests.engine import peers
from trunkline.cli import main
from trunkline.engine.runtime import Engine


def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def history(env: Any, capsys: Any, config_id: int, *extra: str) -> dict[str, Any]:
    url = env.app.settings.database_url
    args = ["line", "history", str(config_id), "--json", "--database-url", url, *extra]
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_history_keeps_each_change_with_its_transaction_and_a_pcap(
    sqlite_env, kamailio, capsys, monkeypatch, tmp_path
) -> None:
    env = sqlite_env
    monkeypatch.setenv("TRUNKLINE_SECRET_KEY", env.app.settings.secret_key)  # the CLI's
    sip_port = peers.free_port()
    settings = env.app.settings.replace(sip_port=sip_port, sip_t1_ms=50, sip_poll_seconds=1)
    engine = Engine(env.app.store, settings, secret=b"e" * 32)
    env.run(engine.start)
    env.app.services.lines.observers.append(engine)
    try:
        cloud = env.ok(
            "voximplant.sip.add",
            {"TYPE": "cloud", "SERVER": kamailio.server, "LOGIN": "alice", "PASSWORD": "secret"},
        )["result"]
        office = env.add_line(TYPE="office", TITLE="pbx")
        env.ok(  # the engine's own client registers the office line to its own registrar
            "voximplant.sip.add",
            {
                "TYPE": "cloud",
                "SERVER": f"127.0.0.1:{sip_port}",
                "LOGIN": office["INCOMING_LOGIN"],
                "PASSWORD": office["INCOMING_PASSWORD"],
            },
        )
        cloud_id, office_id = int(cloud["CONFIG_ID"]), int(office["CONFIG_ID"])

        def changed(config_id: int, to: str) -> bool:
            env.run(engine.history.flush)
            entries = history(env, capsys, config_id)["entries"]
            return any(e["to"] == to for e in entries)

        wait_for(lambda: changed(cloud_id, "success") and changed(office_id, "registered"))
        pcap_file = tmp_path / "last.pcap"
        read = history(env, capsys, cloud_id, "--pcap", str(pcap_file))
        success = next(e for e in read["entries"] if e["to"] == "success")
        assert (success["from"], success["status_code"], success["kind"]) == (
            "in_progress",
            200,
            "cloud",
        )
        lines = [m["start_line"] for m in success["transaction"]]
        assert lines[0].startswith("REGISTER sip:127.0.0.1") and lines[0].endswith("SIP/2.0")
        assert "SIP/2.0 401 Unauthorized" in lines and lines[-1] == "SIP/2.0 200 OK"
        sent = [m for m in success["transaction"] if m["direction"] == "sent"]
        authorization = [v for m in sent for n, v in m["headers"] if n == "Authorization"]
        assert authorization and all('response="***"' in v for v in authorization)
        assert "secret" not in json.dumps(read)  # no password, no digest response

        # The pcap holds the same transaction, frame by frame.
        with pcap_file.open("rb") as file:
            frames = list(dpkt.pcap.Reader(file))
        assert len(frames) == len(success["transaction"])
        payloads = []
        for _, frame in frames:
            packet = dpkt.loopback.Loopback(frame)
            assert isinstance(packet.data, dpkt.ip.IP)
            assert isinstance(packet.data.data, dpkt.udp.UDP)
            payloads.append(packet.data.data.data.decode())
        assert payloads[0].startswith("REGISTER sip:127.0.0.1")
        assert payloads[-1].startswith("SIP/2.0 200 OK")
        assert dpkt.sip.Response(payloads[-1].encode()).status == "200"

        office_read = history(env, capsys, office_id)
        bound = next(e for e in office_read["entries"] if e["to"] == "registered")
        assert (bound["from"], bound["kind"], bound["status_code"]) == (
            "unregistered",
            "office",
            200,
        )
        starts = [m["start_line"] for m in bound["transaction"]]
        assert starts[0].startswith("REGISTER ") and starts[1] == "SIP/2.0 200 OK"
        assert [m["direction"] for m in bound["transaction"]] == ["received", "sent"]

        url = env.app.settings.database_url
        assert main(["line", "history", str(cloud_id), "--database-url", url]) == 0
        text = capsys.readouterr().out
        assert "in_progress -> success 200" in text and "--- REGISTER sip:" in text
        assert "<-- SIP/2.0 401 Unauthorized ---" in text
    finally:
        env.run(engine.stop)


def test_a_change_raises_ontrunklinelinestate_and_posts_the_ops_webhook(
    sqlite_env, kamailio
) -> None:
    from tests.auth.conftest import OAuth
    from tests.services.test_outbox import bind, installed_app
    from trunkline.domain.clock import Clock
    from trunkline.testing.handler import EventReceiver

    env = sqlite_env
    _, _, install_id = installed_app(OAuth(env, Clock()))
    settings = env.app.settings.replace(sip_port=0, sip_t1_ms=50, sip_poll_seconds=1)
    engine = Engine(env.app.store, settings, secret=b"e" * 32)
    with EventReceiver() as app_handler, EventReceiver() as ops:
        bind(env, install_id, app_handler.url, event="ONTRUNKLINELINESTATE")
        registrations = env.app.registration_service()
        env.run(registrations.set_ops_webhook, env.portal.id, ops.url)
        env.run(engine.start)
        env.app.services.lines.observers.append(engine)
        try:
            line = env.ok(
                "voximplant.sip.add",
                {"TYPE": "cloud", "SERVER": kamailio.server, "LOGIN": "alice", "PASSWORD": "x"},
            )["result"]

            def arrived(receiver: EventReceiver) -> list[dict[str, str]]:
                env.run(engine.history.flush)
                return [dict(f) for f in receiver.forms]

            wait_for(lambda: any(f.get("data[TO]") == "error" for f in arrived(app_handler)))
            wait_for(lambda: any(f.get("data[TO]") == "error" for f in arrived(ops)))
        finally:
            env.run(engine.stop)
    form = next(dict(f) for f in app_handler.forms if dict(f).get("data[TO]") == "error")
    assert form["event"] == "ONTRUNKLINELINESTATE"
    assert form["data[KIND]"] == "cloud" and form["data[CONFIG_ID]"] == str(line["CONFIG_ID"])
    assert (form["data[FROM]"], form["data[STATUS_CODE]"]) == ("in_progress", "401")
    plain = next(dict(f) for f in ops.forms if dict(f).get("data[TO]") == "error")
    assert plain["event"] == "ONTRUNKLINELINESTATE"
    assert plain["portal_id"] == str(env.portal.id) and "auth[access_token]" not in plain
    assert plain["data[REASON]"] == form["data[REASON]"]


def test_sip_record_masks_exactly_as_mask_header() -> None:
    """sip_record calls mask_header only for the headers it masks: the same headers."""
    from trunkline.domain.history import mask_header
    from trunkline.engine.history import sip_record
    from trunkline.sip.message import Request

    request = Request("REGISTER", "sip:127.0.0.1")
    secret = 'Digest username="a", response="abc", cnonce="x1", nc=00000001'
    for name in ("Via", "Authorization", "authorization", "PROXY-AUTHORIZATION", "X-Auth"):
        request.headers.add(name, secret)
    record = sip_record(request, 1.0, outgoing=False, transport="udp", local="l", remote="r")
    assert record is not None
    assert record.headers == tuple((n, mask_header(n, v)) for n, v in request.headers)
    assert [v == secret for _, v in record.headers] == [True, False, False, False, True]
