"""``/metrics``: scraped and parsed with prometheus-client's own parser; the counters move
with the calls made (in-process here; real worker processes in test_metrics_workers.py)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from trunkline.domain.principal import Principal
from trunkline.metrics.rest import RestMetrics
from trunkline.rest.record import CallRecord


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``: (name, sorted labels) -> value."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_rest_calls_by_method_and_status(sqlite_env):
    env = sqlite_env
    before = scrape(env.client)
    for _ in range(3):
        env.ok("voximplant.sip.get")
    assert env.call("no.such.method").status_code == 404
    env.ok("batch", {"cmd": {"a": "voximplant.sip.get", "b": "voximplant.sip.get"}})
    after = scrape(env.client)

    name = "trunkline_rest_requests_total"
    moved = value(after, name, method="voximplant.sip.get", status="200") - value(
        before, name, method="voximplant.sip.get", status="200"
    )
    assert moved == 3
    other = value(after, name, method="other", status="404") - value(
        before, name, method="other", status="404"
    )
    assert other == 1  # an unknown name never becomes a label of its own
    assert not any("no.such" in str(key) for key in after)
    hist = "trunkline_rest_request_duration_seconds_count"
    assert (
        value(after, hist, method="voximplant.sip.get")
        - value(before, hist, method="voximplant.sip.get")
        == 3
    )
    batch = "trunkline_rest_batch_commands_total"
    assert (
        value(after, batch, method="voximplant.sip.get", status="200")
        - value(before, batch, method="voximplant.sip.get", status="200")
        == 2
    )
    assert (
        value(after, name, method="batch", status="200")
        - value(before, name, method="batch", status="200")
        == 1
    )


def test_metrics_are_answered_without_credentials_and_carry_help(sqlite_env):
    response = sqlite_env.client.get("/metrics")
    assert response.status_code == 200
    names = {f.name for f in text_string_to_metric_families(response.text)}
    assert {
        "trunkline_rest_requests",
        "trunkline_rest_request_duration_seconds",
        "trunkline_limit_refusals",
        "trunkline_sip_register_round_trip_seconds",
        "trunkline_registrar_registers",
    } <= names
    assert "# HELP trunkline_rest_requests_total REST calls answered" in response.text


def test_metrics_count_limit_refusals_by_error_code():
    from trunkline.metrics import families

    observe = RestMetrics(["voximplant.sip.get"])
    refused = families.limit_refusals.labels("QUERY_LIMIT_EXCEEDED")
    before = refused._value.get()
    principal: Principal | None = None
    record = CallRecord(
        "voximplant.sip.get", {}, principal, None, 503, "QUERY_LIMIT_EXCEEDED", 0.001
    )
    observe(record)
    observe(CallRecord("voximplant.sip.get", {}, None, None, 400, "ERROR_ARGUMENT", 0.001))
    assert refused._value.get() - before == 1


def test_metrics_setting_off_removes_the_endpoint(database_urls, tmp_path_factory):
    from tests.conftest import make_env

    for env in make_env("sqlite", database_urls, tmp_path_factory, metrics=False):
        assert env.client.get("/metrics").status_code == 404


def test_every_response_carries_a_request_id(sqlite_env):
    first = sqlite_env.call("voximplant.sip.get").headers["x-request-id"]
    second = sqlite_env.client.get("/health").headers["x-request-id"]
    assert len(first) == 16 and int(first, 16) >= 0
    assert first != second


def test_event_deliveries_are_counted_by_outcome():
    import asyncio

    from trunkline.events.delivery import attempt, give_up
    from trunkline.metrics import families

    answers = iter([500, 200])

    async def post(url: str, body: bytes, timeout: float) -> int:
        return next(answers)

    def count(outcome: str) -> float:
        return families.event_deliveries.labels(outcome)._value.get()

    before = {o: count(o) for o in ("delivered", "failed", "given_up")}

    async def both() -> None:
        await attempt(post, "http://127.0.0.1:9/a", b"", 1)
        give_up()  # what the deliverer counts when no retry is left
        await attempt(post, "http://127.0.0.1:9/b", b"", 1)

    asyncio.run(both())
    assert {o: count(o) - before[o] for o in before} == {
        "delivered": 1,
        "failed": 1,
        "given_up": 1,
    }


def test_registration_and_lease_gauges_are_set_from_the_engine():
    from trunkline.engine.gauges import count_states
    from trunkline.metrics import families

    count_states([], per_line=False, owned=7)
    assert families.buckets_owned._value.get() == 7
    assert families.registrations.labels("success")._value.get() == 0
    count_states([], per_line=False, owned=0)  # a lapsed lease holds nothing
    assert families.buckets_owned._value.get() == 0
