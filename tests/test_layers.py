"""The package's layers, read from the source: imports point down, never up, and never round.

Every module's imports are read with ``ast`` (also those inside functions, which run
later but still tie the modules together). Imports under ``if TYPE_CHECKING:`` count for
the direction (a type named from above is still knowledge of the layer above) but not
for cycles, since they never run.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "migrate_tasks"

#: Each subpackage (or top-level module) and its layer: a module may import its own layer
#: and those below it. The core (everything below ``report``) knows nothing of how
#: results are shown or which program runs it.
LAYERS = {
    "errors": 0,
    "progname": 0,
    "config": 1,
    "sql": 2,
    "files": 2,
    "drivers": 3,
    "engine": 4,
    "ops": 5,
    "fleet": 6,
    "autogenerate": 6,
    "review": 6,
    "lint": 6,
    "from_alembic": 6,
    "report": 7,
    "api": 7,
    "tasks": 8,
    "cli": 9,
    "testing": 9,
}
PRESENTATION = {"report", "tasks", "cli"}
#: Third-party packages that belong to the presentation layers only.
#: The Python API reads Invoke's configuration files with Invoke's own ``Config`` (and
#: only when a Migrator resolves its settings), so it sees what the tasks see.
PRESENTATION_LIBRARIES = {"invoke": {"tasks", "cli", "api"}, "tabulate": {"report"}}
#: Known upward imports waiting for work in progress elsewhere. Each entry must still be
#: needed (the test below fails once it is not), so the list can only shrink.
PENDING: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the module imported (``a.b`` for ``from a.b import c`` unless c is a module)
    typing_only: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _typing_only_nodes(tree: ast.Module) -> set[int]:
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return guarded


def imports_of(name: str) -> list[Import]:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    guarded = _typing_only_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import"
            base = node.module or ""
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        found += [Import(name, target, id(node) in guarded) for target in targets]
    return found


ALL_IMPORTS = [imp for name in MODULES for imp in imports_of(name)]


def layer_of(module: str) -> str | None:
    """``migrate_tasks.engine.core`` -> ``engine``; None for the package root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_part_of_the_package_has_a_layer():
    unknown = {layer_of(m) for m in MODULES} - set(LAYERS) - {None}
    assert not unknown, f"add these to LAYERS in tests/test_layers.py: {sorted(unknown)}"


def test_imports_point_down():
    upward = []
    for imp in ALL_IMPORTS:
        source, target = layer_of(imp.source), layer_of(imp.target)
        if not imp.target.startswith("migrate_tasks.") or source is None or target is None:
            continue
        if LAYERS[target] > LAYERS[source] and (imp.source, imp.target) not in PENDING:
            upward.append(f"{imp.source} imports {imp.target}")
    assert not upward, "\n".join(upward)


def test_pending_exceptions_are_still_needed():
    actual = {(imp.source, imp.target) for imp in ALL_IMPORTS}
    assert actual >= PENDING, f"remove from PENDING: {sorted(PENDING - actual)}"


@pytest.mark.parametrize("library", sorted(PRESENTATION_LIBRARIES))
def test_presentation_libraries_stay_in_presentation(library):
    allowed = PRESENTATION_LIBRARIES[library]
    users = {
        imp.source
        for imp in ALL_IMPORTS
        if imp.target.split(".")[0] == library and layer_of(imp.source) not in allowed
    }
    assert not users, f"{library} imported outside {sorted(allowed)}: {sorted(users)}"


def test_the_core_never_names_the_presentation_layers():
    """Not even for types: the engine returns results, presentation decides how they read."""
    core = [
        f"{imp.source} imports {imp.target}"
        for imp in ALL_IMPORTS
        if layer_of(imp.source) not in PRESENTATION | {None}
        and layer_of(imp.target) in PRESENTATION
        and (imp.source, imp.target) not in PENDING
    ]
    assert not core, "\n".join(core)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles_between_subpackages():
    graph: dict[str, set[str]] = {}
    for imp in ALL_IMPORTS:
        source, target = layer_of(imp.source), layer_of(imp.target)
        if imp.typing_only or None in (source, target) or source == target:
            continue
        if imp.target.startswith("migrate_tasks."):
            graph.setdefault(source, set()).add(target)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_engine_runs_without_invoke_or_the_presentation_layers():
    """The direction checked where it matters: importing the core loads none of them."""
    import subprocess

    code = (
        "import sys\n"
        "import migrate_tasks.engine.core, migrate_tasks.ops.verify, migrate_tasks.fleet.runner\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('invoke', 'tabulate')\n"
        "             or m.startswith(('migrate_tasks.tasks', 'migrate_tasks.report')))\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
