"""The package's arrows point one way (issue 11): nothing below the API imports it, workflows
import only the domain, and no module imports itself round a circle. Read from the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent / "returns_service"


def imports() -> dict[str, set[str]]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                named = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                named = [a.name for a in node.names]
            else:
                continue
            graph[name] |= {target for target in named if target in modules and target != name}
    return graph


def test_nothing_below_the_api_imports_it():
    # The pages stand beside the API: both call the same code below (and the pages reuse the
    # API's checks, so that a return made in the portal is the return the API makes).
    above = ("returns_service.api", "returns_service.cli", "returns_service.pages")
    wrong = [
        (name, target)
        for name, targets in imports().items()
        if not name.startswith(above)
        for target in targets
        if target.startswith("returns_service.api")
    ]
    assert wrong == []


def test_workflows_import_only_the_domain():
    wrong = [
        (name, target)
        for name, targets in imports().items()
        if name.startswith("returns_service.workflows")
        for target in targets
        if not target.startswith(("returns_service.domain", "returns_service.workflows"))
    ]
    assert wrong == []


def test_no_import_circle():
    graph = imports()
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in graph[name]:
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
    assert circles == []
