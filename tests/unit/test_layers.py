"""Imports run one way: core <- {agents, tools, knowledge, memory} <- graphs <- bots <- daert.

Read from the source with `ast` (every import, also those inside functions and under
TYPE_CHECKING), so a new upward import fails here, not in a review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"core", "agents", "tools", "knowledge", "memory", "graphs", "bots", "daert", "eval",
        "finetune", "tests"}  # fmt: skip
# What each package may import of ours (itself included).
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "agents": {"core", "agents", "tools", "knowledge", "memory"},
    "tools": {"core", "agents", "tools", "knowledge", "memory"},
    "knowledge": {"core", "agents", "tools", "knowledge", "memory"},
    "memory": {"core", "agents", "tools", "knowledge", "memory"},
    "graphs": {"core", "agents", "tools", "knowledge", "memory", "graphs"},
    "bots": {"core", "agents", "tools", "knowledge", "memory", "graphs", "bots"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(top-level package of ours, line) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in OURS:
                found.add((top, node.lineno))
    return found


def upward_imports(package: str) -> list[str]:
    allowed = ALLOWED[package]
    return [
        f"{path.relative_to(ROOT)}:{line} imports {top}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for top, line in sorted(imported_packages(path))
        if top not in allowed
    ]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_import_runs_upward(package: str) -> None:
    if not (ROOT / package).is_dir():
        pytest.skip(f"{package}/ does not exist yet")
    assert upward_imports(package) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from daert.settings import Settings\n")
    assert imported_packages(module) == {("daert", 2)}
