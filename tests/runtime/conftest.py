"""Fixtures of the runtime tests (`serve`, for any test, is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import Served, start_serve


@pytest.fixture(scope="module")
def sim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One fast simulator runtime shared by the read-only tests of a module."""
    served = start_serve(
        ["--engine", "sim", "--sim-rtf", "0.05", "--sim-first-audio", "0.05"],
        tmp_path_factory.mktemp("sim") / "serve.log",
    )
    try:
        yield served
    finally:
        served.stop()
