"""The package layout: stages as folders, no import circles, no private names across modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "msa_bench"
TOP_LEVEL_MODULES = {"__init__.py", "__main__.py", "cli.py"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported msa_bench module, names taken from it) for every import, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name.startswith("msa_bench")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("msa_bench") and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.append((submodule, []) if submodule in MODULES else (node.module, [alias.name]))
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        targets = set()
        for module, _ in _imports(path):
            while module not in MODULES and "." in module:
                module = module.rsplit(".", 1)[0]
            if module != name and module != "msa_bench":
                targets.add(module)
        graph[name] = targets
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_inside_the_package():
    assert _circles(_graph()) == []


def test_the_circle_check_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_is_imported_from_another_module():
    crossing = [
        f"{name} takes {taken} from {module}"
        for name, path in MODULES.items()
        for module, names in _imports(path)
        for taken in names
        if taken.startswith("_") and not taken.startswith("__")
    ]
    assert crossing == []


def test_the_top_level_holds_only_the_entry_points_beside_the_stage_folders():
    modules = {path.name for path in PACKAGE.glob("*.py")}
    assert modules <= TOP_LEVEL_MODULES
    folders = [p for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()]
    undocumented = [p.name for p in folders if not ast.get_docstring(ast.parse((p / "__init__.py").read_text(encoding="utf-8")))]
    assert undocumented == []
