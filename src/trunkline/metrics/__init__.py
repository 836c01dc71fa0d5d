"""Prometheus metrics: what every process counts and how ``/metrics`` shows it.

Rules:

* Every metric is defined once, in ``families.py``, with a ``trunkline_`` name, and its
  help text is the documentation (docs/metrics.md lists them).
* Labels stay bounded: REST methods are the emulated names (anything else is ``other``),
  status codes are numbers, registration states are the four STATUS_RESULT values. A label
  per line (portal, CONFIG_ID) exists only when the ``metrics_per_line`` setting is on.
* ``trunkline serve`` runs prometheus-client's multiprocess mode: it points
  ``PROMETHEUS_MULTIPROC_DIR`` at a directory of its own before any worker or the engine
  process starts (so each writes its values there), and ``/metrics`` in any worker sums
  them (``exposition.py``). Without that variable (tests, ``inprocess()``) the process's
  own registry is shown.
* prometheus-client reads the variable when it is first imported: nothing may import it
  before ``serve`` has set it (``cli/`` imports this package lazily).
"""
