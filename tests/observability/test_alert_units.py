"""`promtool test rules` for every alert of every environment: it fires when it should, with the right
labels and annotations, not a minute earlier, and stays silent on series that are fine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.observability.alerts import alert_rules, as_rule
from tests.observability.alert_cases import CASES, unit_tests
from tests.observability.conftest import CONFIG_NAMES, config_named, run_unit_tests


def test_every_alert_has_a_unit_test(config) -> None:
    missing = {alert.name for alert in alert_rules(config)} - set(CASES)
    assert not missing, f"add a case to tests/observability/alert_cases.py for {sorted(missing)}"


def test_every_case_belongs_to_an_alert() -> None:
    names = {alert.name for name in CONFIG_NAMES for alert in alert_rules(config_named(name))}
    assert set(CASES) <= names, f"cases for alerts that no longer exist: {sorted(set(CASES) - names)}"


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_promtool_unit_tests_pass(name: str, promtool: str, tmp_path: Path) -> None:
    config = config_named(name)
    tests = [
        test
        for alert in alert_rules(config)
        for test in unit_tests(alert, as_rule(alert, config), CASES[alert.name](config))
    ]
    assert "SUCCESS" in run_unit_tests(promtool, config, tests, tmp_path)
