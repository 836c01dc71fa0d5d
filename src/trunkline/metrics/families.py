"""Every metric Trunkline exposes (see the package docstring for the label rules).

Gauges use the ``livesum`` multiprocess mode: the value of a process that ended cleanly
drops out of the sum (``exposition.process_exited``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# REST: the latency buckets are those of a local emulator (most calls take 0.1-10 ms).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SIP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)

rest_requests = Counter(
    "trunkline_rest_requests",
    "REST calls answered, by method (emulated names; anything else is 'other') and HTTP status.",
    ["method", "status"],
)
rest_latency = Histogram(
    "trunkline_rest_request_duration_seconds",
    "Time to answer a REST call, by method.",
    ["method"],
    buckets=LATENCY_BUCKETS,
)
rest_batch_commands = Counter(
    "trunkline_rest_batch_commands",
    "Commands run inside `batch` calls, by method and HTTP status of the command.",
    ["method", "status"],
)
limit_refusals = Counter(
    "trunkline_limit_refusals",
    "REST calls refused by a limit or an operator's block, by error code "
    "(QUERY_LIMIT_EXCEEDED, OVERLOAD_LIMIT, OPERATION_TIME_LIMIT).",
    ["error"],
)
registrations = Gauge(
    "trunkline_registrations",
    "Cloud lines of the SIP engine by registration state (success, error, in_progress, wait).",
    ["state"],
    multiprocess_mode="livesum",
)
line_registration = Gauge(
    "trunkline_line_registration_status",
    "Per cloud line (only with the metrics_per_line setting): 0 unregistered or waiting, "
    "1 registered, 2 rejected (as Asterisk's pjsip_outbound_registration_status).",
    ["portal", "line"],
    multiprocess_mode="livesum",
)
register_round_trip = Histogram(
    "trunkline_sip_register_round_trip_seconds",
    "Time from sending a REGISTER (cloud lines) to its final response.",
    buckets=SIP_BUCKETS,
)
register_responses = Counter(
    "trunkline_sip_register_responses",
    "Responses to cloud lines' REGISTERs, by status code.",
    ["code"],
)
registrar_registers = Counter(
    "trunkline_registrar_registers",
    "REGISTER requests the office registrar received (retransmissions excluded).",
)
registrar_challenges = Counter(
    "trunkline_registrar_challenges",
    "Digest challenges (401) the office registrar sent.",
)
registrar_refusals = Counter(
    "trunkline_registrar_refusals",
    "Requests the office registrar refused, by reason: auth (403 after a wrong digest), "
    "throttled (dropped), overload (dropped), error (any other 4xx-6xx answer).",
    ["reason"],
)
event_deliveries = Counter(
    "trunkline_event_deliveries",
    "Outbound event POSTs, by outcome: delivered (2xx), failed (an answer or no answer, "
    "retried), given_up (the last attempt failed).",
    ["outcome"],
)
buckets_owned = Gauge(
    "trunkline_engine_buckets_owned",
    "Cloud-line buckets (of 1,024) this engine node holds a valid lease on (PostgreSQL "
    "clusters; 0 while its lease lapsed; absent on a single node).",
    multiprocess_mode="livesum",
)
