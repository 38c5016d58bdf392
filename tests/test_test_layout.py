"""Tests share helpers through tests/support only: never through another test module or a conftest."""

from __future__ import annotations

import ast

from tests.support.stacks import REPO

TESTS = REPO / "tests"


def imported_modules(source: str, package: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in source, relative ones resolved against package.

    `from M import n` yields M and M.n, since n may be a module (`from tests import conftest`).
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{module}" if module else base
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def forbidden(module: str) -> str | None:
    parts = module.split(".")
    if "conftest" in parts:
        return "a conftest holds fixtures, not helpers"
    if parts[0] == "tests" and len(parts) > 1 and parts[1] != "support":
        return "helpers belong in tests/support"
    return None


def forbidden_imports(source: str, package: tuple[str, ...], name: str) -> list[str]:
    return [
        f"{name}:{line}: {module} ({why})"
        for line, module in imported_modules(source, package)
        if (why := forbidden(module)) is not None
    ]


def test_tests_import_helpers_only_from_tests_support() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert len(files) > 20
    problems = []
    for path in files:
        relative = path.relative_to(REPO)
        problems += forbidden_imports(path.read_text(), relative.with_suffix("").parts[:-1], str(relative))
    assert problems == []


def test_the_check_sees_every_kind_of_offence() -> None:
    source = (
        "from tests.conftest import REPO\n"
        "from tests.test_edge import strict\n"
        "from .conftest import free_port\n"
        "from tests.runtime import conftest\n"
        "import tests.capacity.summaries\n"
        "from . import helpers\n"
        "from tests.support.stacks import STACKS\n"
        "from ..support import processes\n"
    )
    problems = forbidden_imports(source, ("tests", "capacity"), "sample.py")
    assert sorted({int(p.split(":")[1]) for p in problems}) == [1, 2, 3, 4, 5, 6], problems
