"""Docs that cannot go stale: generated files match the code."""

from __future__ import annotations

import dataclasses
import io
from contextlib import redirect_stdout
from pathlib import Path

from trunkline.cli import main
from trunkline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_settings_doc_is_generated_from_the_code():
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["docs", "settings"]) == 0
    assert (ROOT / "docs" / "settings.md").read_text() == out.getvalue(), (
        "docs/settings.md is stale: run `trunkline docs settings > docs/settings.md`"
    )


def test_every_setting_is_documented():
    for field in dataclasses.fields(Settings):
        assert field.metadata.get("doc"), f"setting {field.name} has no description"


def test_readme_quick_start_has_two_commands():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Quick start")
    block = readme[start:].split("```", 2)[1]
    commands = [
        line for line in block.splitlines()[1:] if line.strip() and not line.startswith("#")
    ]
    assert commands == ["scripts/serve", "scripts/test"]
    assert (ROOT / "scripts" / "serve").exists() and (ROOT / "scripts" / "test").exists()
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
