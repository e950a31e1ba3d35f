"""The server's layout holds: each area imports only the areas below it (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "src" / "promptexecution" / "server"

# Which server packages each package may import. The composition (app, context, bootstrap,
# runner) sits above every area and may import any of them.
ALLOWED: dict[str, set[str]] = {
    "db": set(),
    "core": {"db"},
    "providers": {"core"},
    "templates": {"core", "db"},
    "executions": {"core", "db", "providers", "templates"},
    "webhooks": {"core", "db"},
    "batches": {"core", "db", "executions", "templates", "webhooks"},
}
COMPOSITION = {"app", "context", "bootstrap", "runner"}


def _server_imports(path: Path) -> list[tuple[str, bool]]:
    """(first package under server/, only for type checking) for each import of the server."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(SERVER).parts[:-1]
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(n) for child in node.body for n in ast.walk(child)}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                module = [*base, *(node.module.split(".") if node.module else [])]
                if node.level > len(package) + 1:
                    continue  # above server/: the SDK
                names = [".".join(module)] if module else [a.name for a in node.names]
            elif node.module and node.module.startswith("promptexecution.server."):
                names = [node.module.removeprefix("promptexecution.server.")]
        elif isinstance(node, ast.Import):
            names = [a.name.removeprefix("promptexecution.server.") for a in node.names
                     if a.name.startswith("promptexecution.server.")]
        for name in names:
            if name:
                found.append((name.split(".")[0], id(node) in type_only))
    return found


@pytest.mark.parametrize("area", sorted(ALLOWED))
def test_each_area_imports_only_what_lies_below_it(area: str) -> None:
    problems = []
    for path in sorted((SERVER / area).rglob("*.py")):
        for target, type_only in _server_imports(path):
            if target == area:
                continue
            if target == "context" and type_only:
                continue  # the context's type, for annotations only
            if target not in ALLOWED[area]:
                problems.append(f"{path.relative_to(SERVER)} imports server.{target}")
    assert not problems, problems


def test_every_server_module_belongs_to_an_area_or_the_composition() -> None:
    top = {p.stem for p in SERVER.glob("*.py")}
    packages = {p.name for p in SERVER.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert top <= COMPOSITION, top - COMPOSITION
    assert packages == set(ALLOWED), packages ^ set(ALLOWED)
