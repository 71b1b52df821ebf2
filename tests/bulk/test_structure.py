"""The shape of ``bulk``: packages that show the parts, no import cycles, a drawn map."""

from __future__ import annotations

import ast
from pathlib import Path

import bulk

_PACKAGE = Path(bulk.__file__).parent


def _module_name(path: Path) -> str:
    """``bulk/store/sqlite.py`` -> ``store.sqlite``; a package's ``__init__`` keeps its name."""
    parts = path.relative_to(_PACKAGE).with_suffix("").parts
    return ".".join(parts)


def _resolve(me: str, level: int, module: str | None) -> str:
    """The ``bulk``-relative name an ``ImportFrom`` of module ``me`` names."""
    package = me.split(".")[:-1]
    if level > 1:
        package = package[: len(package) - (level - 1)]
    return ".".join([*package, *(module.split(".") if module else [])])


def _imports() -> dict[str, set[str]]:
    """Each module of ``bulk`` (at any depth) and the ``bulk`` modules it imports."""
    modules = {_module_name(p) for p in _PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in sorted(_PACKAGE.rglob("*.py")):
        me = _module_name(path)
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                target = _resolve(me, node.level, node.module)
            elif node.module and (node.module == "bulk" or node.module.startswith("bulk.")):
                target = node.module.removeprefix("bulk").lstrip(".")
            else:
                continue
            names = [f"{target}.{a.name}".lstrip(".") for a in node.names]
            hits = [n for n in names if n in modules]  # "from . import _signals"
            if hits:
                edges.update(hits)
            elif target in modules:
                edges.add(target)
            elif f"{target}.__init__" in modules or target == "":
                edges.add(f"{target}.__init__".lstrip("."))
        graph[me] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle among the modules other than package ``__init__``s (which re-export), if any."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done or node.endswith("__init__"):
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
    assert "cli.main" in graph
    assert "store.__init__" in graph["cli.main"]  # open_store, through the package
    assert _cycle(graph) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check itself sees a cycle when there is one (it can fail)."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_parts_are_packages() -> None:
    """The command line, the stores and the sync commands are packages, not name prefixes."""
    for package in ("cli", "store", "sync"):
        assert (_PACKAGE / package / "__init__.py").is_file()
    flat = sorted(p.name for p in _PACKAGE.glob("*.py"))
    prefixed = [n for n in flat if n.startswith(("_cli", "_sync_", "_checkpoint"))]
    assert prefixed == []


def test_the_engine_core_does_not_import_the_command_line() -> None:
    """Arrows point from the CLI to the library, never back."""
    graph = _imports()
    for module, edges in graph.items():
        if module.startswith("cli.") or module == "__main__":
            continue
        assert not any(e.startswith("cli.") for e in edges), module


def test_the_package_docstring_names_every_module() -> None:
    """``help(bulk)`` draws the map: every module of every package is named in it."""
    doc = bulk.__doc__ or ""
    for path in sorted(_PACKAGE.rglob("*.py")):
        rel = path.relative_to(_PACKAGE).as_posix()
        if path.name == "__init__.py":
            if path.parent == _PACKAGE:
                continue  # the docstring's own module
            rel = rel.removesuffix("__init__.py")  # a package: "store/"
        assert rel in doc, f"{rel} is not named in bulk's package docstring"


def test_the_state_diagram_is_at_the_top_of_the_state_machine() -> None:
    """The diagram is drawn where the transitions are, not in the store's module."""
    from bulk import _state_machine
    from bulk.store import protocol

    assert "pending ──► creating ──► created ──► done" in (_state_machine.__doc__ or "")
    assert "──►" not in (protocol.__doc__ or "")


def test_stores_are_built_in_one_place() -> None:
    """Only ``store/_open.py`` constructs a store or asks "is this PostgreSQL?"."""
    offenders = []
    for path in sorted(_PACKAGE.rglob("*.py")):
        rel = path.relative_to(_PACKAGE).as_posix()
        if rel in ("store/_open.py", "store/__init__.py"):
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ("SQLiteCheckpointStore(", "PostgresCheckpointStore(", "is_postgres_url("):
            for line in text.splitlines():
                code = line.split("#", 1)[0]
                if needle in code and "def " not in code and 'f"' not in code:
                    offenders.append(f"{rel}: {line.strip()}")
    allowed = {  # the command line picks the fleet's commands by the --state given
        "cli/main.py: if is_postgres_url(args.state):",
        "cli/fleet.py: if not is_postgres_url(args.state):",
    }
    assert [o for o in offenders if o not in allowed] == []
