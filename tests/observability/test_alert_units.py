"""`promtool test rules` for every alert of every environment: it fires when it should, with the right
labels and annotations, not a minute earlier, and stays silent on series that are fine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra.observability.alerts import alert_rules, as_rule
from infra.observability.rules import rule_file
from tests.observability.alert_cases import CASES, EVALUATION_MINUTES, unit_tests
from tests.observability.conftest import CONFIG_NAMES, config_named, run_promtool


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
    rules = rule_file(config)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    document = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": f"{EVALUATION_MINUTES}m",
        # promtool evaluates groups in random order unless told: recording rules first, as alerts read them.
        "group_eval_order": [group["name"] for group in rules["groups"]],
        "tests": tests,
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(document, sort_keys=False, width=1000))
    output = run_promtool(promtool, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert "SUCCESS" in output
