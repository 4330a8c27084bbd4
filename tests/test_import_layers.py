"""The library has no import cycles: neither between modules nor between its packages.

Every ``import`` and ``from ... import`` statement counts, also those inside functions (a lazy
import is still a dependency). The package graph is the module graph collapsed to
``unimed_cot.<package>``; it must be a DAG too, so that e.g. ``pipeline`` and ``release`` meet
only in ``store`` and never import each other.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Top-level folders installed inside the unimed_cot namespace (pyproject's package-dir).
MAPPED = {"builders": "unimed_cot.builders", "schemas": "unimed_cot.schemas"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    roots = {"unimed_cot": ROOT / "unimed_cot", **{v: ROOT / k for k, v in MAPPED.items()}}
    for prefix, folder in roots.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([prefix, *parts])] = path
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    origin = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    origin = node.module or ""
                submodules = [f"{origin}.{a.name}" for a in node.names]
                targets = [t for t in submodules if t in modules] or [origin]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path, or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_module_imports_itself_through_others() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_packages_form_layers() -> None:
    packages: dict[str, set[str]] = defaultdict(set)
    for source, targets in _graph().items():
        top = ".".join(source.split(".")[:2])
        for target in targets:
            other = ".".join(target.split(".")[:2])
            if other != top and other != "unimed_cot":
                packages[top].add(other)
    cycle = _cycle(packages)
    assert cycle is None, " -> ".join(cycle or [])
    assert "unimed_cot.release" not in packages["unimed_cot.pipeline"]
    assert "unimed_cot.pipeline" not in packages["unimed_cot.release"]
    assert not packages["unimed_cot.store"] & {"unimed_cot.pipeline", "unimed_cot.release"}


def test_the_walk_sees_real_edges() -> None:
    graph = _graph()
    assert "unimed_cot.store" in graph["unimed_cot.pipeline.run"]
    assert "unimed_cot.builders.base" in graph["unimed_cot.builders"]
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
