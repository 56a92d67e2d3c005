"""Imports point down: the domain loads without the web, mail or API layers
(the scheduler, a script or a test can use it on its own), no module
imports itself back through others, and the domain's imports are at the top
of its modules."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

# Every package of the domain, and what none of them may bring in. (The
# payment gateway is still reached from bridge.billing.collection; it is
# not on this list until it leaves the domain.)
DOMAIN = "bridge.billing"
FORBIDDEN = ("flask", "bridge.mail", "bridge.api", "bridge.portal", "bridge.pdf")


def loaded_after_importing(modules: list[str]) -> list[str]:
    """The modules a fresh interpreter holds once it imported ``modules``."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(result.stdout)


def domain_modules() -> list[str]:
    import pkgutil

    import bridge.billing

    return [DOMAIN] + [
        f"{DOMAIN}.{info.name}" for info in pkgutil.iter_modules(bridge.billing.__path__)
    ]


@pytest.fixture(scope="module")
def loaded_by_the_domain() -> list[str]:
    return loaded_after_importing(domain_modules() + ["bridge.core.events"])


@pytest.mark.parametrize("forbidden", FORBIDDEN)
def test_the_domain_loads_without(loaded_by_the_domain, forbidden):
    assert [
        m for m in loaded_by_the_domain if m == forbidden or m.startswith(forbidden + ".")
    ] == []


# Import cycles ----------------------------------------------------------------------------

PACKAGE = Path(__file__).resolve().parents[2] / "bridge"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the bridge modules it imports, at the top or inside a function."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    graph[name].add(target if target in modules else node.module)
            elif isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names)
        graph[name] = {t for t in graph[name] if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_of_the_bridge_imports_itself_back():
    assert _cycles(_imports(_modules())) == []


def test_the_domain_imports_at_the_top_unless_a_comment_says_why():
    unexplained = []
    for name, path in _modules().items():
        if not name.startswith(DOMAIN):
            continue
        lines = path.read_text().splitlines()
        for function in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    here, above = lines[node.lineno - 1], lines[node.lineno - 2]
                    if "#" not in here and not above.strip().startswith("#"):
                        unexplained.append(f"{name}:{node.lineno}")
    assert unexplained == []
