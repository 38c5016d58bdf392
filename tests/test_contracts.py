"""The shared contracts stay small: importing them pulls in pydantic and the standard library only.

import-linter (pyproject.toml) checks the static imports; this checks what a real import loads, which
also catches an import hidden in a function called at module level.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CONTRACTS = [
    "api",
    "auth",
    "base",
    "engine_metrics",
    "loadtest",
    "metrics",
    "model",
    "router",
    "runtime",
    "slo",
    "version",
    "voices",
]
HEAVY = ("voxdeploy.infra", "voxdeploy.runtime", "voxdeploy.loadtests", "yaml", "jinja2", "numpy", "starlette")


@pytest.mark.parametrize("module", CONTRACTS)
def test_a_contract_imports_nothing_heavy(module: str) -> None:
    code = (
        f"import sys, json; import voxdeploy.contracts.{module}; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == []


def test_the_list_above_names_every_contract() -> None:
    from importlib import resources

    shipped = {p.name.removesuffix(".py") for p in resources.files("voxdeploy.contracts").iterdir()}
    assert shipped - {"__init__", "__pycache__"} == set(CONTRACTS)
