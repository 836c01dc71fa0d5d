"""The dependency rules of docs/architecture.md, read from the imports with ast."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "trunkline"
DRIVERS = {"sqlite3", "asyncpg", "sqlalchemy", "alembic"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    base = SRC / package
    return sorted(base.rglob("*.py")) if base.is_dir() else [SRC / f"{package}.py"]


def test_rules_documented():
    text = (SRC.parents[1] / "docs" / "architecture.md").read_text()
    assert "Dependency rules" in text


@pytest.mark.parametrize("path", modules("sip"), ids=lambda p: p.name)
def test_sip_imports_only_the_standard_library(path):
    for name in imports(path):
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or name.startswith("trunkline.sip"), name
        assert top not in {"asyncio", "socket", "selectors", "ssl"}, name


@pytest.mark.parametrize("path", modules("rest"), ids=lambda p: p.name)
def test_rest_never_imports_storage_sip_or_engine(path):
    for name in imports(path):
        assert not name.startswith(("trunkline.storage", "trunkline.sip", "trunkline.engine")), name


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_only_storage_imports_database_drivers(path):
    if path.relative_to(SRC).parts[0] == "storage":
        return
    for name in imports(path):
        assert name.split(".")[0] not in DRIVERS, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", modules("methods"), ids=lambda p: p.name)
def test_methods_reach_data_through_service(path):
    for name in imports(path):
        assert not name.startswith("trunkline.storage"), name


@pytest.mark.parametrize("path", [SRC / "errors.py", *modules("domain")], ids=lambda p: p.name)
def test_leaf_modules_import_nothing_of_ours(path):
    for imported in imports(path):
        assert not imported.startswith("trunkline") or imported.startswith("trunkline.domain")


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_modules_stay_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 700, f"{path.name} has {lines} lines: split it"
