"""The pytest plugin: installed as entry point ``pytest11`` ``trunkline``, and the example
suite in examples/pytest_plugin passes with it (plain HTTP and --trunkline-tls)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pytest_plugin"


def test_plugin_is_an_entry_point():
    found = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "trunkline"]
    assert [e.value for e in found] == ["trunkline.testing.plugin"]


@pytest.mark.e2e
@pytest.mark.parametrize("flags", [(), ("--trunkline-tls",)], ids=["http", "tls"])
def test_example_suite_passes(flags: tuple[str, ...], tmp_path: Path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLES),
            "-q",
            "-n",
            "0",
            "--basetemp",
            str(tmp_path / "run"),
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=EXAMPLES,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 passed" in done.stdout
