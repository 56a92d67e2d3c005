"""The import graph of the bridge: arrows only point down the layers of
ARCHITECTURE.md (core <- models <- billing <- payments / mail / pdf <- api /
portal / scheduler <- app / cli), and no module reaches itself again.

Read with ``ast`` from the source, so a test cannot pass because a module
happened to be imported already; imports inside functions count too (a
lazy import that closes a cycle is still a cycle).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bridge", "scheduler")

# What a package of ours may not import. Third-party names are matched on
# their top-level package.
WEB = {"flask", "flask_smorest", "flask_login", "werkzeug"}
SERVICES = {"bridge.payments", "bridge.mail", "bridge.pdf"}
ENTRY_POINTS = {
    "bridge.api",
    "bridge.portal",
    "bridge.hub",
    "bridge.app",
    "bridge.cli",
    "scheduler",
}
DOMAIN_MUST_NOT = SERVICES | ENTRY_POINTS | WEB | {"stripe"}
FORBIDDEN = {
    "bridge.core": DOMAIN_MUST_NOT
    | {"bridge.models", "bridge.billing", "bridge.auth", "bridge.db", "bridge.links"},
    "bridge.models": DOMAIN_MUST_NOT | {"bridge.billing"},
    "bridge.billing": DOMAIN_MUST_NOT,
    "bridge.payments": ENTRY_POINTS,
    "bridge.mail": ENTRY_POINTS,
    "bridge.pdf": ENTRY_POINTS,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


MODULES = all_modules()


def resolve(name: str) -> str | None:
    """The module of ours that ``name`` is, or whose attribute it names."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(name: str) -> list[tuple[str, int, bool]]:
    """(imported name, line, inside a function) for each import of a module.
    ``from a.b import c`` yields ``a.b.c`` when ``c`` is a module, else ``a.b``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".")
                    base = base[: len(base) - child.level + (1 if is_package else 0)]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                for alias in child.names:
                    full = f"{source}.{alias.name}"
                    found.append((full if full in MODULES else source, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_graph_was_read():
    assert "bridge.billing.invoices" in MODULES
    assert "bridge.core.money" in MODULES
    # The resolver sees both spellings of an import of a module.
    edges = {resolve(imported) for imported, _, _ in imports_of("bridge.billing.taxes")}
    assert "bridge.core.money" in edges


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_up_from(package):
    wrong = []
    for name in MODULES:
        if not in_package(name, package):
            continue
        for imported, line, _ in imports_of(name):
            for forbidden in FORBIDDEN[package]:
                if in_package(imported, forbidden):
                    wrong.append(f"{MODULES[name].relative_to(ROOT)}:{line} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_back():
    graph = {
        name: {
            target
            for imported, _, _ in imports_of(name)
            if (target := resolve(imported))
            and target != name
            # A package's __init__ importing its own modules is not a cycle
            # of behaviour: it only re-exports.
            and not (MODULES[name].name == "__init__.py" and in_package(target, name))
        }
        for name in MODULES
    }
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in state:
                walk(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_billing_imports_inside_functions_say_why():
    """A function-level import in the domain hides a dependency: allowed
    only with a comment saying why, on its line or the line above."""
    unexplained = []
    for name, path in MODULES.items():
        if not in_package(name, "bridge.billing"):
            continue
        lines = path.read_text().splitlines()
        for _, line, in_function in imports_of(name):
            if not in_function:
                continue
            here, above = lines[line - 1], lines[line - 2] if line > 1 else ""
            if "#" not in here and not above.strip().startswith("#"):
                unexplained.append(f"{path.relative_to(ROOT)}:{line}: {here.strip()}")
    assert not unexplained, "\n".join(unexplained)


def test_importing_the_domain_loads_no_web_or_stripe_code():
    billing = sorted(name for name in MODULES if in_package(name, "bridge.billing"))
    code = (
        "import importlib, sys\n"
        f"for name in {billing!r}: importlib.import_module(name)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'stripe', 'werkzeug', 'flask_smorest') or m.startswith(("
        "'bridge.mail', 'bridge.payments', 'bridge.api', 'bridge.portal', 'bridge.pdf')))))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert loaded == []


def test_a_function_below_the_views_that_commits_says_so():
    """Who commits (README, Layout): views, jobs and commands own the
    transaction; below them a function commits only where it must (a
    claimed batch, a payment row before its request leaves) and its
    docstring says "Commits", so a caller never loses a unit of work to it."""
    silent = []
    for name, path in MODULES.items():
        if not any(
            in_package(name, package)
            for package in ("bridge.core", "bridge.billing", "bridge.payments", "bridge.mail")
        ):
            continue
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            commits = any(
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "commit"
                for node in ast.walk(function)
            )
            if commits and "Commits" not in (ast.get_docstring(function) or ""):
                silent.append(f"{path.relative_to(ROOT)}:{function.lineno} {function.name}")
    assert not silent, "\n".join(silent)
