"""The architecture as a test: no import cycle among the project's modules, the layering
rules (a pure core, services and stores below the HTTP edge and the CLI, route modules
that stand alone), and pyproject's package list matching the tree.

Imports are read with `ast` from the source, every one of them: module level, inside
functions (a deferred import is still a dependency) and under `if TYPE_CHECKING:` (a
type-only cycle is still a cycle in the design)."""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("gateway", "entitlements", "ivr", "loadtests")
SHIPPED = ("gateway", "entitlements", "ivr")  # loadtests is a test rig: not in the wheel
SQL_PACKAGE, SQL_DIR = "gateway.stores.sql", "sql"  # the migrations: package data mapped from sql/


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's dependency: `source` (line `line`) needs module `target`."""

    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source} (line {self.line}) imports {self.target}"


def module_name(path: Path, root: Path = ROOT) -> str:
    """`gateway/http/app.py` → `gateway.http.app`; a package's `__init__.py` → the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_within(module: str, package: str) -> bool:
    """True for the package itself and everything below it."""
    return module == package or module.startswith(package + ".")


def parse_imports(source: str, module: str, *, is_package: bool, known: Iterable[str] = ()) -> list[Import]:
    """Every import in a module's source, relative ones made absolute.

    `from a import b` depends on module `a.b` when that is a known module, else on `a`;
    `import a.b.c` on the longest known prefix of `a.b.c` (or `a.b.c` itself if none)."""
    modules = set(known)

    def resolved(name: str) -> str:
        if not modules:
            return name
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in modules:
                return candidate
        return name

    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(Import(module, resolved(alias.name), node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                if node.level > 1:
                    anchor = anchor[: -(node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in modules else resolved(base)
                found.append(Import(module, target, node.lineno))
    return sorted(set(found), key=lambda i: (i.source, i.line, i.target))


@cache
def project_modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    found: dict[str, Path] = {}
    for top in PROJECT:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[module_name(path)] = path
    return found


@cache
def project_imports() -> tuple[Import, ...]:
    """Every import of every project module (to project modules and to anything else)."""
    modules = project_modules()
    found: list[Import] = []
    for name, path in modules.items():
        found.extend(
            parse_imports(
                path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py", known=modules
            )
        )
    return tuple(found)


def import_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One shortest cycle per strongly connected group of modules, as a chain that ends
    where it starts (Tarjan's algorithm, then a breadth-first search inside the group)."""
    edges = {node: sorted(set(targets)) for node, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        # Recursion depth is bounded by the module count (a few hundred at most).
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, []):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            groups.append(group)

    for node in sorted(edges):
        if node not in index:
            visit(node)

    cycles: list[list[str]] = []
    for group in groups:
        start = min(group)
        if len(group) == 1 and start not in edges.get(start, []):
            continue
        came_from: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in came_from:
            following: list[str] = []
            for node in frontier:
                for target in edges.get(node, []):
                    if target in group and target not in came_from:
                        came_from[target] = node
                        following.append(target)
            frontier = following
        chain = [start]
        node = came_from[start]
        while node != start:
            chain.append(node)
            node = came_from[node]
        chain.append(start)
        cycles.append(list(reversed(chain)))
    return sorted(cycles)


def describe_cycle(chain: list[str], lines: Mapping[tuple[str, str], int]) -> str:
    """`a (line 3) → b (line 9) → a`: each step with the line of the import that makes it."""
    steps = [f"{source} (line {lines[source, target]})" for source, target in pairwise(chain)]
    return " → ".join([*steps, chain[-1]])


def test_no_import_cycle_among_the_project_modules() -> None:
    modules = project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    lines: dict[tuple[str, str], int] = {}
    for imp in project_imports():
        if imp.target in modules and imp.target != imp.source:
            graph[imp.source].add(imp.target)
            lines.setdefault((imp.source, imp.target), imp.line)
    cycles = [describe_cycle(chain, lines) for chain in import_cycles(graph)]
    assert not cycles, "import cycles:\n  " + "\n  ".join(cycles)


def test_the_cycle_finder_reports_each_cycle_as_a_chain() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["f"], "f": ["e"], "g": ["g"]}
    assert import_cycles(graph) == [["a", "b", "c", "a"], ["e", "f", "e"], ["g", "g"]]
    assert import_cycles({"a": ["b"], "b": ["c"], "c": []}) == []
    lines = {("e", "f"): 3, ("f", "e"): 7}
    assert describe_cycle(["e", "f", "e"], lines) == "e (line 3) → f (line 7) → e"


def test_imports_are_read_at_every_level_and_made_absolute() -> None:
    source = (
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "from gateway.stores import db\n"
        "from . import sibling\n"
        "from ..http.problems import ApiError\n"
        "if TYPE_CHECKING:\n"
        "    from gateway.http.keys import PG\n"
        "def late():\n"
        "    import gateway.cli.main\n"
    )
    known = {"gateway.stores.db", "gateway.services.sibling", "gateway.http.problems", "gateway.http.keys",
             "gateway.cli.main", "gateway.stores", "gateway.services"}  # fmt: skip
    found = parse_imports(source, "gateway.services.credit", is_package=False, known=known)
    assert [(i.target, i.line) for i in found] == [
        ("os", 1),
        ("typing", 2),
        ("gateway.stores.db", 3),
        ("gateway.services.sibling", 4),
        ("gateway.http.problems", 5),
        ("gateway.http.keys", 7),
        ("gateway.cli.main", 9),
    ]


# (who, what it must not import, why): each row is one rule of the layering.
FORBIDDEN = [
    pytest.param(
        "entitlements", ("gateway", "ivr", "loadtests", "tests", "aiohttp", "asyncpg", "redis"),
        id="the rules engine is pure: no service, IVR, test or store code",
    ),
    pytest.param(
        "gateway", ("ivr", "loadtests", "tests"),
        id="the service never imports the IVR rig, the load tests or the tests",
    ),
    pytest.param(
        "gateway.services", ("gateway.http", "gateway.cli"),
        id="services know nothing of the HTTP edge or the command line",
    ),
    pytest.param(
        "gateway.stores", ("gateway.http", "gateway.cli"),
        id="stores know nothing of the HTTP edge or the command line",
    ),
    pytest.param(
        "gateway.batch", ("gateway.http", "gateway.cli"),
        id="batch work knows nothing of the HTTP edge or the command line",
    ),
    pytest.param(
        "gateway.stores.queries", ("gateway.services",),
        id="queries are SQL and nothing else: they never call a service",
    ),
    pytest.param(
        "gateway.http.routes", ("gateway.cli",),
        id="routes never import the command line",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("layer", "forbidden"), FORBIDDEN)
def test_layering(layer: str, forbidden: tuple[str, ...]) -> None:
    violations = [
        str(imp)
        for imp in project_imports()
        if is_within(imp.source, layer) and any(is_within(imp.target, bad) for bad in forbidden)
    ]
    assert not violations, f"{layer} must not import {', '.join(forbidden)}:\n  " + "\n  ".join(violations)


def test_each_route_module_stands_alone() -> None:
    # Shared helpers live in gateway/http/*.py; a route importing another route couples two
    # resources and pulls in its handlers.
    routes = "gateway.http.routes"
    violations = [
        str(imp)
        for imp in project_imports()
        if is_within(imp.source, routes)
        and imp.source != routes
        and is_within(imp.target, routes)
        and imp.target != imp.source
    ]
    assert not violations, "route modules import each other:\n  " + "\n  ".join(violations)


def test_the_layering_checks_see_the_project() -> None:
    # Guards the checks above against passing vacuously (a wrong root or an empty walk).
    modules = project_modules()
    for expected in (
        "gateway.http.app",
        "gateway.stores.migrations",
        "entitlements.tiers",
        "loadtests.runner",
    ):
        assert expected in modules
    assert any(imp.source == "gateway.http.app" and imp.target == "aiohttp" for imp in project_imports())


def test_pyproject_lists_every_package_and_nothing_else() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    in_tree = {
        module_name(init)
        for top in SHIPPED
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert (ROOT / SQL_DIR / "__init__.py").exists(), "sql/ is the package gateway.stores.sql"
    assert config.get("package-dir", {}).get(SQL_PACKAGE) == SQL_DIR
    listed = config["packages"]
    assert len(listed) == len(set(listed)), "a package is listed twice"
    expected = in_tree | {SQL_PACKAGE}
    assert set(listed) == expected, (
        f"missing from pyproject: {sorted(expected - set(listed))}; "
        f"listed but not in the tree: {sorted(set(listed) - expected)}"
    )


SQL_STATEMENT = re.compile(r"\b(SELECT\s+\S+.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.S)
#: The stores' own plumbing may speak SQL outside `queries/`: the migration runner's
#: bookkeeping and the embedded server's bootstrap through psql.
SQL_OUTSIDE_QUERIES = ("gateway.stores.migrations", "gateway.stores.embedded")


def test_sql_lives_in_the_query_modules() -> None:
    # issue 15: SQL only in gateway/stores/queries/ (the token cache's reload moved there)
    offenders = [
        name
        for name, path in project_modules().items()
        if is_within(name, "gateway")
        and not is_within(name, "gateway.stores.queries")
        and name not in SQL_OUTSIDE_QUERIES
        and any(
            SQL_STATEMENT.search(node.value)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        )
    ]
    assert offenders == []


def test_the_kamailio_configurations_and_scenarios_are_package_data() -> None:
    # The SIP rigs open both configurations and every sipp scenario through importlib.resources:
    # each file of ivr/kamailio must match one of the package's data globs (issue 18 adds acd.cfg).
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    globs = config["package-data"]["ivr.kamailio"]
    folder = ROOT / "ivr" / "kamailio"
    files = [p.relative_to(folder) for p in folder.rglob("*") if p.suffix in (".cfg", ".xml")]
    assert {"acd.cfg", "kamailio.cfg", "sipp/agent.xml", "sipp/patient_caller.xml"} <= {str(f) for f in files}
    unshipped = [str(f) for f in files if not any(f.match(g) for g in globs)]
    assert not unshipped, f"add to [tool.setuptools.package-data] ivr.kamailio: {unshipped}"
