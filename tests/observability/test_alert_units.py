"""`promtool test rules` for every alert of every environment: it fires when it should, with the right
labels and annotations, not a minute earlier, and stays silent on series that are fine. Cloud, edge and
router alerts alike: each stack's whole rule file is tested at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.alert_cases import CONFIG_CASES, RUNTIME_CASES, case_name, case_of, has_case, unit_tests
from tests.support.observability import CONFIG_NAMES, config_named, run_unit_tests
from voxdeploy.infra.observability.alerts import as_rule
from voxdeploy.infra.observability.watch import alert_rules


def test_every_alert_has_a_unit_test(config) -> None:
    missing = {alert.name for alert in alert_rules(config) if not has_case(alert, config)}
    assert not missing, f"add a case to tests/observability/alert_cases.py for {sorted(missing)}"


def test_the_stacks_cover_every_tier_and_every_case() -> None:
    """The edge and hybrid stacks are among the configs, so the loop above reaches the pools' and router's alerts."""
    concerns = {alert.concern for name in CONFIG_NAMES for alert in alert_rules(config_named(name))}
    assert concerns == {"cloud", "edge", "hybrid"}
    names = {case_name(alert, config_named(name)) for name in CONFIG_NAMES for alert in alert_rules(config_named(name))}
    cases = set(RUNTIME_CASES) | set(CONFIG_CASES)
    assert cases <= names, f"cases for alerts that no longer exist: {sorted(cases - names)}"


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_promtool_unit_tests_pass(name: str, promtool: str, tmp_path: Path) -> None:
    config = config_named(name)
    tests = [
        test
        for alert in alert_rules(config)
        for test in unit_tests(alert, as_rule(alert, config), case_of(alert, config))
    ]
    assert "SUCCESS" in run_unit_tests(promtool, config, tests, tmp_path)
