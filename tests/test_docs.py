"""Docs that cannot go stale: generated files match the code."""

from __future__ import annotations

import dataclasses
import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from trunkline.cli import main
from trunkline.methods.catalog import build_registry
from trunkline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def generated(name: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["docs", name]) == 0
    return out.getvalue()


@pytest.mark.parametrize("name", ["settings", "methods", "cli"])
def test_doc_is_generated_from_the_code(name):
    assert (ROOT / "docs" / f"{name}.md").read_text() == generated(name), (
        f"docs/{name}.md is stale: run `trunkline docs {name} > docs/{name}.md`"
    )


def test_cli_doc_does_not_depend_on_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    assert generated("cli") == (ROOT / "docs" / "cli.md").read_text()


def test_every_method_is_in_the_methods_doc_with_its_scope():
    text = (ROOT / "docs" / "methods.md").read_text()
    for method in build_registry():
        assert f"| `{method.name}` | {method.scope or '(global)'} |" in text, method.name


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
