"""The registration gauges of metrics/families.py, set from the supervisor's runners.

Rules: ``trunkline_registrations{state}`` counts cloud lines by the STATUS_RESULT they show
(``wait``, ``in_progress``, ``success``, ``error``); with ``metrics_per_line`` each line also
gets ``trunkline_line_registration_status{portal,line}``: 1 registered, 2 rejected (a
permanent failure, slow retry), 0 anything else. In a cluster,
``trunkline_engine_buckets_owned`` is how many buckets the node's valid lease holds.
"""

from __future__ import annotations

from collections.abc import Iterable

from trunkline.domain.lines import RegistrationState
from trunkline.engine.runner import LineRunner
from trunkline.metrics import families
from trunkline.sip.lifecycle import LineResult, LineState

LABELS: dict[LineResult, str] = {
    LineResult.WAIT: RegistrationState.WAIT.value,
    LineResult.IN_PROGRESS: RegistrationState.IN_PROGRESS.value,
    LineResult.SUCCESS: RegistrationState.SUCCESS.value,
    LineResult.ERROR: RegistrationState.ERROR.value,
}


def count_states(
    runners: Iterable[LineRunner], *, per_line: bool, owned: int | None = None
) -> None:
    """Set the gauges; ``owned``: the buckets a cluster node's lease holds (None: no
    cluster)."""
    if owned is not None:
        families.buckets_owned.set(owned)
    counts = dict.fromkeys(LABELS.values(), 0)
    for runner in runners:
        result = runner.status.result
        counts[LABELS[result]] += 1
        if per_line:
            value = 1 if result is LineResult.SUCCESS else 0
            if runner.lifecycle.state is LineState.REJECTED:
                value = 2
            portal, line = runner.key
            families.line_registration.labels(str(portal), str(line)).set(value)
    for state, count in counts.items():
        families.registrations.labels(state).set(count)
