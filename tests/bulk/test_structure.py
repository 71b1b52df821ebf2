"""The shape of ``bulk``: no import cycles, and a package docstring that maps the engine."""

from __future__ import annotations

import ast
from pathlib import Path

import bulk

_PACKAGE = Path(bulk.__file__).parent


def _imports() -> dict[str, set[str]]:
    """Each module of ``bulk`` and the ``bulk`` modules it imports (at any depth of code)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(_PACKAGE.glob("*.py")):
        name = path.stem
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                edges.add(node.module.split(".")[0])
            elif (
                isinstance(node, ast.ImportFrom)
                and node.module
                and (node.module == "bulk" or node.module.startswith("bulk."))
            ):
                edges.add(node.module.removeprefix("bulk").lstrip(".") or "__init__")
        graph[name] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle among the modules other than ``__init__`` (which re-exports), if any."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done or node == "__init__":
            return None
        visiting.append(node)
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt)
            if found:
                return found
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start)
        if found:
            return found
    return None


def test_bulk_has_no_import_cycles() -> None:
    """No module of ``bulk`` imports, directly or through others, a module importing it."""
    graph = _imports()
    assert "_cli" in graph
    assert _cycle(graph) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check itself sees a cycle when there is one (it can fail)."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_package_docstring_names_the_state_machine_and_the_call_path() -> None:
    """A newcomer finds the state machine, the call path and the run from ``help(bulk)``."""
    doc = bulk.__doc__ or ""
    for module in ("_state_machine.py", "_calls.py", "_engine.py"):
        assert module in doc
        assert (_PACKAGE / module).exists()


def test_the_state_diagram_is_at_the_top_of_the_state_machine() -> None:
    """The diagram is drawn where the transitions are, not in the store's module."""
    from bulk import _checkpoint, _state_machine

    assert "pending ──► creating ──► created ──► done" in (_state_machine.__doc__ or "")
    assert "──►" not in (_checkpoint.__doc__ or "")
