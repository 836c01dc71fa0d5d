"""docs/deploy.md: its systemd unit passes `systemd-analyze verify` (where systemd is)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    (unit,) = re.findall(r"```ini\n(\[Unit\].*?)```", DEPLOY.read_text(), re.DOTALL)
    assert "ExecStart=/opt/trunkline/bin/trunkline serve" in unit
    trunkline = Path(sys.executable).with_name("trunkline")  # the same command, installed here
    path = tmp_path / "trunkline.service"
    path.write_text(unit.replace("/opt/trunkline/bin/trunkline", str(trunkline)))
    done = subprocess.run(
        [analyze, "verify", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
