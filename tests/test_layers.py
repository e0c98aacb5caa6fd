"""The package's arrows point one way (issues 11 and 24): the app (app.py) stands above the API
and the pages, which both call the operations (operations/); nothing below those imports them,
the API never imports the pages, the operations never import a route or a page, workflows import
only the domain, and no module imports itself round a circle. Read from the source."""

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


APP = ("returns_service.app", "returns_service.cli")
PAGES = ("returns_service.pages",)
OPERATIONS = ("returns_service.operations",)
API = ("returns_service.api",)
# The API's contract, which the operations speak: who is asking, the problems answered, the
# request and response bodies, Idempotency-Key, ids.
CONTRACT = tuple(
    f"returns_service.api.{name}" for name in ("auth", "errors", "schemas", "idempotency", "ids")
)


def arrows(sources: tuple[str, ...], targets: tuple[str, ...]) -> list[tuple[str, str]]:
    return [
        (name, target)
        for name, found in imports().items()
        if name.startswith(sources)
        for target in found
        if target.startswith(targets)
    ]


def test_nothing_below_the_api_the_pages_and_the_operations_imports_them():
    above = APP + PAGES + OPERATIONS + API
    wrong = [
        (name, target)
        for name, targets in imports().items()
        if not name.startswith(above)
        for target in targets
        if target.startswith(above)
    ]
    assert wrong == []


def test_the_api_never_imports_the_pages_or_the_app():
    assert arrows(API, PAGES + APP) == []


def test_the_operations_import_only_the_apis_contract_from_above():
    wrong = arrows(OPERATIONS, APP + PAGES + API)
    assert [(name, target) for name, target in wrong if not target.startswith(CONTRACT)] == []


def test_routes_and_pages_reach_returns_through_the_operations():
    # The returns' routes are the API's; a page that makes a return, acts on one or shows its
    # documents calls the operations, as the routes do.
    assert arrows(PAGES, ("returns_service.api.routes.returns", "returns_service.api.main")) == []


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
