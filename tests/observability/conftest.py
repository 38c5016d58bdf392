"""Fixtures of the observability tests: every environment's config, and promtool.

The helpers behind them are in tests/support/observability.py; `serve` comes from tests/conftest.py.
"""

from __future__ import annotations

import pytest

from tests.support.observability import CLOUD_CONFIG_NAMES, CONFIG_NAMES, binary, config_named
from voxdeploy.infra.config import DeploymentConfig


@pytest.fixture(params=CONFIG_NAMES)
def config(request: pytest.FixtureRequest) -> DeploymentConfig:
    return config_named(request.param)


@pytest.fixture(params=CLOUD_CONFIG_NAMES)
def cloud_config(request: pytest.FixtureRequest) -> DeploymentConfig:
    return config_named(request.param)


@pytest.fixture(scope="session")
def promtool() -> str:
    return binary("promtool")
