"""``/metrics``: the standard text exposition, summed over processes in multiprocess mode."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

__all__ = ["CONTENT_TYPE", "ENV", "prepare_directory", "process_exited", "render"]

ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST


def render() -> bytes:
    """The exposition text of every metric (of every process writing to the directory)."""
    from trunkline.metrics.rest import flush_all

    flush_all()  # this process's REST tallies; the other workers' wait for their flush
    directory = os.environ.get(ENV)
    if not directory:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def process_exited(pid: int | None = None) -> None:
    """Drop the live gauges of a process that ended (multiprocess mode only)."""
    if os.environ.get(ENV):
        multiprocess.mark_process_dead(os.getpid() if pid is None else pid)  # type: ignore[no-untyped-call]


def prepare_directory(given: str | None) -> tuple[str, bool]:
    """The multiprocess directory for one ``serve``: ``given`` emptied of old values, or a
    fresh temporary one; and whether it is ours to remove at exit."""
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
        return str(path), False
    return tempfile.mkdtemp(prefix="trunkline-metrics-"), True


def remove_directory(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
