"""ARCHITECTURE's boundaries, checked on the source: infra/ never imports runtime/ or loadtests/;
runtime/ and loadtests/ import from infra/ only the shared config schema and metric catalogue."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

SHARED_FROM_INFRA = ("infra.config", "infra.metrics_catalog")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sources(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("path", sources("infra"), ids=lambda p: str(p.relative_to(REPO)))
def test_infra_imports_neither_runtime_nor_loadtests(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.split(".")[0] in ("runtime", "loadtests")}
    assert bad == set()


@pytest.mark.parametrize("path", sources("runtime") + sources("loadtests"), ids=lambda p: str(p.relative_to(REPO)))
def test_runtime_and_loadtests_share_only_the_schema(path: Path) -> None:
    own = path.relative_to(REPO).parts[0]
    other = {"runtime": "loadtests", "loadtests": "runtime"}[own]
    for module in imported_modules(path):
        assert module.split(".")[0] != other, module
        if module.split(".")[0] == "infra":
            assert module.startswith(SHARED_FROM_INFRA), module
