"""The engine's import structure: no cycles among its modules, no I/O libraries, one policy API."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import entitlements.policy

PACKAGE = Path(__file__).resolve().parents[2] / "entitlements"

#: What the engine must never import (STYLE: the pure core does no I/O).
IO_LIBRARIES = ("aiohttp", "asyncpg", "redis", "hiredis", "structlog", "gateway")


def module_name(path: Path) -> str:
    """``entitlements/policy/reader.py`` → ``entitlements.policy.reader``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the engine by dotted name."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every module ``path`` imports, ``TYPE_CHECKING`` and function-level imports included."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base
            for alias in node.names:
                # `from entitlements import months` imports the module months.
                if f"{base}.{alias.name}" in known:
                    yield f"{base}.{alias.name}"


def graph() -> dict[str, set[str]]:
    """Module → the engine modules it imports (the implicit parent-package import left out)."""
    known = modules()
    return {
        name: {m for m in imported(path, known) if m in known and m != name} for name, path in known.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    # The check below could fail: a two-module cycle is reported.
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_import_cycle_among_engine_modules() -> None:
    # TYPE_CHECKING imports count: a cycle there is still two modules that know each other.
    assert cycles(graph()) == []


def test_the_policy_package_is_layered() -> None:
    # The policy's own modules never import the package facade, which imports them all.
    edges = graph()
    inside = {m for m in edges if m.startswith("entitlements.policy.")}
    assert inside, "entitlements.policy is a package"
    for name in sorted(inside):
        assert "entitlements.policy" not in edges[name], name


@pytest.mark.parametrize("name", sorted(modules()))
def test_the_engine_does_no_io(name: str) -> None:
    # STYLE: entitlements/ is the pure core; no aiohttp, asyncpg, redis or gateway imports.
    path = modules()[name]
    bad = [m for m in imported(path, modules()) if m.split(".")[0] in IO_LIBRARIES]
    assert bad == [], f"{name} imports {bad}"


def test_every_policy_name_is_importable_from_the_package() -> None:
    # The split of policy.py into a package kept every public name where callers import it.
    for name in entitlements.policy.__all__:
        assert getattr(entitlements.policy, name) is not None, name
    assert entitlements.policy.load_policy("unicom-2015").name == "unicom-2015"
    assert callable(entitlements.policy.load_policy.cache_clear)
