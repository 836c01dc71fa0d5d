"""The dependency rules of docs/architecture.md, read from the source with ast.

Every rule here names the modules that break it, so that a violation reintroduced by a
change fails with the offending import in the message.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "trunkline"
DOCS = SRC.parents[1] / "docs" / "architecture.md"
DRIVERS = {"sqlite3", "asyncpg", "sqlalchemy", "alembic"}
MAX_LINES = 500
ROOT_MODULES = {"__init__.py", "__main__.py", "errors.py", "settings.py"}
# A read of the system clock: only the application clock (domain/clock.py) may make one.
CLOCK_READ = re.compile(
    r"\btime\.(time|time_ns|monotonic|monotonic_ns|perf_counter)\b"
    r"|\b(datetime|date)\.(now|utcnow|today)\b"
)


def name_of(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


PATHS = sorted(SRC.rglob("*.py"))
MODULES = {name_of(path): path for path in PATHS}


def relative(path: Path) -> str:
    return str(path.relative_to(SRC))


@cache
def imports(path: Path) -> frozenset[str]:
    """Every module name ``path`` imports (``from a.b import c``: ``a.b``), relative
    imports resolved; TYPE_CHECKING imports count too."""
    tree = ast.parse(path.read_text())
    package = name_of(path) if path.name == "__init__.py" else name_of(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from pkg import module` imports pkg.module
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)
    return frozenset(found)


def ours(path: Path) -> set[str]:
    """The modules of ours that ``path`` imports (packages only when named themselves)."""
    found = set()
    for name in imports(path):
        if name in MODULES:
            found.add(name)
    found.discard(name_of(path))
    return found


def in_package(name: str, *packages: str) -> bool:
    return any(name == f"trunkline.{p}" or name.startswith(f"trunkline.{p}.") for p in packages)


def package_paths(package: str) -> list[Path]:
    return [p for p in PATHS if p.relative_to(SRC).parts[0] == package]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the import graph as a path (first module repeated at the end), or None.
    Depth-first search: a module met again while still on the path closes a cycle."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> list[str] | None:
        path.append(module)
        on_path.add(module)
        for target in sorted(graph.get(module, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle is not None:
                    return cycle
        path.pop()
        on_path.discard(module)
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done:
            cycle = visit(module)
            if cycle is not None:
                return cycle
    return None


def test_rules_documented():
    text = DOCS.read_text()
    assert "Dependency rules" in text
    for rule in ("no import cycle", "domain/", "services/", "storage/", "sip/", "cli/", "web/"):
        assert rule in text, f"docs/architecture.md does not state the rule on {rule}"


def test_find_cycle_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"x": {"b"}, "a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]


def test_no_import_cycle():
    graph = {name: ours(path) for name, path in MODULES.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_root_holds_only_the_entry_points_errors_and_settings():
    extra = sorted(p.name for p in SRC.glob("*.py") if p.name not in ROOT_MODULES)
    assert not extra, f"modules at the package root: {extra} (move them into a layer)"


@pytest.mark.parametrize("path", [SRC / "errors.py", *package_paths("domain")], ids=relative)
def test_domain_and_errors_import_nothing_of_ours(path):
    for name in ours(path):
        assert path.name != "errors.py" and in_package(name, "domain"), (
            f"{relative(path)} imports {name}"
        )


# package -> the packages it must never import, and why
FORBIDDEN = {
    "services": (("rest", "web", "cli", "methods"), "services/ never import the wire or web/"),
    "methods": (("storage", "engine", "web", "cli"), "methods/ reach data through services/"),
    "auth": (("storage", "services", "web", "cli"), "auth/ reads through its Protocols"),
    "rest": (("storage", "sip", "engine", "web", "cli"), "rest/ is the wire alone"),
}


@pytest.mark.parametrize(
    ("package", "path"),
    [
        pytest.param(package, path, id=relative(path))
        for package in FORBIDDEN
        for path in package_paths(package)
    ],
)
def test_layers_import_only_what_they_may(package, path):
    forbidden, rule = FORBIDDEN[package]
    for name in ours(path):
        assert not in_package(name, *forbidden), f"{relative(path)} imports {name}: {rule}"


@pytest.mark.parametrize("path", PATHS, ids=relative)
def test_only_storage_touches_a_database_driver(path):
    if path.relative_to(SRC).parts[0] == "storage":
        return
    for name in imports(path):
        assert name.split(".")[0] not in DRIVERS, f"{relative(path)} imports {name}"


@pytest.mark.parametrize("path", package_paths("sip"), ids=relative)
def test_sip_imports_only_the_standard_library(path):
    for name in imports(path):
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or in_package(name, "sip"), (
            f"{relative(path)} imports {name}"
        )
        assert top not in {"asyncio", "socket", "selectors", "ssl", "time", "random"}, (
            f"{relative(path)} imports {name}: sip/ is handed its time, randomness and bytes"
        )


@pytest.mark.parametrize("path", PATHS, ids=relative)
def test_only_entry_points_import_cli_or_web(path):
    where = path.relative_to(SRC).parts
    if where[0] == "cli" or where == ("__main__.py",):
        return  # the entry points: the command and `python -m trunkline`
    for name in ours(path):
        assert not in_package(name, "cli"), f"{relative(path)} imports {name}"
        if where[0] not in ("web", "testing"):  # testing/ builds the app in-process
            assert not in_package(name, "web"), f"{relative(path)} imports {name}"


@pytest.mark.parametrize("path", PATHS, ids=relative)
def test_one_clock(path):
    """Only the application clock reads the system clock; the engine's network timers use
    the event loop's (``loop.time()``), and ``testing/`` waits for real processes."""
    where = path.relative_to(SRC).parts
    if where == ("domain", "clock.py") or where[0] == "testing":
        return
    for number, line in enumerate(path.read_text().splitlines(), 1):
        assert not CLOCK_READ.search(line), f"{relative(path)}:{number} reads the clock: {line}"


@pytest.mark.parametrize("path", PATHS, ids=relative)
def test_modules_stay_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{relative(path)} has {lines} lines: split it"
