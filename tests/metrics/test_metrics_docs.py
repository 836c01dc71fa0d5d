"""Every metric is documented in docs/operations.md under the name Prometheus shows."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

from trunkline.metrics import families

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_metric_is_in_the_operations_doc():
    text = DOC.read_text()
    found = [v for v in vars(families).values() if isinstance(v, Counter | Gauge | Histogram)]
    assert len(found) >= 12
    for metric in found:
        name = metric._name + ("_total" if isinstance(metric, Counter) else "")
        assert f"| `{name}` |" in text, name
