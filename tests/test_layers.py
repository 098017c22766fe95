"""The package's layers, as a reader sees them in the folder list, hold in the code.

``cli`` → ``job`` / ``doctor`` / ``pytest_plugin`` → ``site`` →
``judging`` / ``arena`` / ``compare`` → stages (``generate``, ``render``) → ``catalogue`` → ``checks`` → ``records`` →
``errors`` / ``aio``. A module may import its own package and any layer below
it, never a layer above nor a sibling stage; and no set of modules imports
itself round a cycle, lazy imports inside functions included (they are cycles
all the same, only hidden until the function runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import gallery

PACKAGE = Path(gallery.__file__).parent

#: Each top-level part of the package and its layer: higher may import lower.
LAYERS: dict[str, int] = {
    "errors": 0,
    "aio": 0,
    "records": 1,
    "checks": 2,
    "catalogue": 3,
    "generate": 4,
    "render": 4,
    "judging": 5,
    "arena": 5,
    "compare": 5,
    "site": 6,
    "job": 7,
    "doctor": 7,
    "pytest_plugin": 7,
    "cli": 8,
    "__main__": 9,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The gallery modules a file imports, at module level or inside functions."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gallery"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("gallery"):
                continue
            for alias in node.names:  # `from gallery.x import y`: y may be a module
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m != "gallery"} - {here}


MODULES = {
    module_name(p)
    for p in PACKAGE.rglob("*.py")
    if "fixtures" not in p.parts and module_name(p) != "gallery"
}
GRAPH = {
    module_name(p): {i for i in imports(p) if i in MODULES}
    for p in PACKAGE.rglob("*.py")
    if module_name(p) in MODULES
}


def part(module: str) -> str:
    return module.split(".")[1]


def test_every_part_has_a_layer() -> None:
    assert {part(m) for m in MODULES} <= set(LAYERS), "give the new part a layer in LAYERS"


def test_no_upward_or_sideways_import() -> None:
    bad = [
        f"{m} (layer {LAYERS[part(m)]}) imports {i} (layer {LAYERS[part(i)]})"
        for m, deps in GRAPH.items()
        for i in deps
        if part(i) != part(m) and LAYERS[part(i)] >= LAYERS[part(m)]
    ]
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles() -> None:
    # Tarjan's strongly connected components: any with two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_graph_is_read() -> None:
    """The test would pass on an empty graph: make sure it sees real edges."""
    assert "gallery.records.store" in GRAPH["gallery.generate.stage"]
    assert sum(len(d) for d in GRAPH.values()) > 50


def test_the_design_map_names_every_module() -> None:
    """docs/design.md is the map: every module of the package is in its table."""
    design = (PACKAGE.parent / "docs" / "design.md").read_text()
    missing = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if f"`{rel}`" not in design and not (
            path.name in ("__init__.py", "__main__.py") and path.parent == PACKAGE
        ):
            if path.name == "__init__.py" and f"`{path.parent.name}/`" in design:
                continue  # an empty package marker: the package is on the map
            missing.append(rel)
    assert not missing, f"add to docs/design.md: {missing}"
