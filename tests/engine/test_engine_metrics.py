"""The SIP engine's metrics move: REGISTER responses by code and their round trips against
Kamailio, registrations by state, and the office registrar's REGISTERs, challenges and
refusals when the engine's own client registers to it."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from trunkline.engine.runtime import Engine


def scrape(env: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = env.client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def moved(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_engine_metrics_move_with_registrations(sqlite_env, kamailio) -> None:
    env = sqlite_env
    from tests.engine import peers

    sip_port = peers.free_port()
    settings = env.app.settings.replace(
        sip_port=sip_port, sip_t1_ms=50, sip_poll_seconds=1, metrics_per_line=True
    )
    engine = Engine(env.app.store, settings, secret=b"e" * 32)
    env.run(engine.start)
    env.app.services.lines.observers.append(engine)
    try:
        before = scrape(env)
        good = env.ok(
            "voximplant.sip.add",
            {"TYPE": "cloud", "SERVER": kamailio.server, "LOGIN": "alice", "PASSWORD": "secret"},
        )["result"]
        office = env.add_line(TYPE="office", TITLE="pbx")
        # The engine's own client registers to its own registrar: once right, once wrong.
        for password in (office["INCOMING_PASSWORD"], "wrong"):
            env.ok(
                "voximplant.sip.add",
                {
                    "TYPE": "cloud",
                    "SERVER": f"127.0.0.1:{sip_port}",
                    "LOGIN": office["INCOMING_LOGIN"],
                    "PASSWORD": password,
                },
            )

        def settled() -> bool:
            after = scrape(env)
            return (
                after.get(("trunkline_registrations", (("state", "success"),))) == 2
                and after.get(("trunkline_registrations", (("state", "error"),))) == 1
            )

        wait_for(settled)
        after = scrape(env)
        assert moved(before, after, "trunkline_sip_register_responses_total", code="401") >= 3
        assert moved(before, after, "trunkline_sip_register_responses_total", code="200") >= 2
        assert moved(before, after, "trunkline_sip_register_responses_total", code="403") >= 1
        assert moved(before, after, "trunkline_sip_register_round_trip_seconds_count") >= 5
        assert moved(before, after, "trunkline_registrar_registers_total") >= 4
        assert moved(before, after, "trunkline_registrar_challenges_total") >= 2
        assert moved(before, after, "trunkline_registrar_refusals_total", reason="auth") >= 1
        portal = str(env.portal.id)
        line = (
            "trunkline_line_registration_status",
            (("line", good["CONFIG_ID"]), ("portal", portal)),
        )
        assert after[line] == 1
    finally:
        env.run(engine.stop)
