"""The shape of the code: an acyclic import graph, small modules and thin handlers.

These read the source with ``ast`` (nothing is imported), so they fail the moment a change
brings back a cycle, a module of more than 600 lines or a handler that does the domain's work.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "sla_digest": ROOT / "layers" / "shared" / "sla_digest",
    "sla_digest_cli": ROOT / "src" / "sla_digest_cli",
}
MAX_MODULE_LINES = 600
MAX_HANDLER_LINES = 30


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, *, top_level_only: bool) -> set[str]:
    """Modules imported at run time (not under ``if TYPE_CHECKING``)."""
    names: set[str] = set()

    def visit(node: ast.AST, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            inside = depth + isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import) and not (top_level_only and inside):
                names.update(alias.name for alias in child.names)
            elif (
                isinstance(child, ast.ImportFrom)
                and child.module
                and child.level == 0
                and not (top_level_only and inside)
            ):
                names.add(child.module)
                names.update(f"{child.module}.{alias.name}" for alias in child.names)
            visit(child, inside)

    visit(tree, 0)
    return names


def _graph(*, top_level_only: bool) -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = _imports(tree, top_level_only=top_level_only)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := walk(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := walk(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    # GIVEN a graph with a cycle through three modules THEN it is reported as a path
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_module_import_graph_has_no_cycle() -> None:
    # GIVEN every run-time import between our modules, those inside functions included (a
    # lazy import must never be a way to hide a cycle)
    graph = _graph(top_level_only=False)
    # THEN there is no cycle
    assert _cycle(graph) is None, " → ".join(_cycle(graph) or [])


def test_the_subpackages_depend_on_each_other_one_way() -> None:
    # GIVEN the same imports, folded onto the runtime package's subpackages
    folded: dict[str, set[str]] = defaultdict(set)
    for source, targets in _graph(top_level_only=False).items():
        if not source.startswith("sla_digest."):
            continue
        for target in targets:
            a, b = source.split(".")[1], target.split(".")[1]
            if target.startswith("sla_digest.") and a != b:
                folded[a].add(b)
    # THEN they form no cycle either: data flows one way
    assert _cycle(dict(folded)) is None, " → ".join(_cycle(dict(folded)) or [])


def test_the_runtime_package_never_imports_the_local_side() -> None:
    # GIVEN the runtime package's imports THEN none reaches the CLI package, moto or the sandbox
    for name, path in _modules().items():
        if name.split(".")[0] != "sla_digest":
            continue
        imports = _imports(ast.parse(path.read_text(encoding="utf-8")), top_level_only=False)
        assert not {i for i in imports if i.split(".")[0] in ("sla_digest_cli", "moto")}, name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_no_module_is_longer_than_600_lines(name: str) -> None:
    lines = len(_modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines: split it by concern"


def _code_lines(path: Path) -> int:
    """Lines that hold code: not blank, not a comment, not part of a docstring."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docstrings.update(range(body[0].lineno, (body[0].end_lineno or 0) + 1))
    return sum(
        1
        for number, line in enumerate(source.splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#") and number not in docstrings
    )


@pytest.mark.parametrize("function", ["digest", "dispatch"])
def test_each_handler_is_at_most_30_lines_of_code(function: str) -> None:
    # GIVEN the handler module THEN it wires, it does not compute: at most 30 lines of code
    lines = _code_lines(ROOT / "functions" / function / "app.py")
    assert lines <= MAX_HANDLER_LINES, f"functions/{function}/app.py has {lines} lines of code"


def test_every_subpackage_says_what_it_owns_and_curates_its_surface() -> None:
    # GIVEN the runtime subpackages THEN each has a docstring and an __all__ it can serve
    for folder in sorted(p for p in PACKAGES["sla_digest"].iterdir() if p.is_dir()):
        init = folder / "__init__.py"
        if not init.exists():
            continue
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{folder.name}/__init__.py has no docstring"
        exported = [
            node
            for node in tree.body
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ]
        assert exported, f"{folder.name}/__init__.py has no __all__"
