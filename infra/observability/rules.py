"""Rule groups of an environment, as a plain Prometheus rule file and as a PrometheusRule.

The same groups go into both, so people who run the prometheus-operator and people who load rule
files by hand evaluate exactly the same expressions (and the promtool tests cover both).
"""

from __future__ import annotations

from infra.builders import meta
from infra.config.deployment import DeploymentConfig
from infra.observability.alerts import alert_rules, as_rule
from infra.observability.recording import recording_rules

COMPONENT = "monitoring"
OPERATOR_API = "monitoring.coreos.com/v1"


def rule_groups(config: DeploymentConfig) -> list[dict[str, object]]:
    """Recording rules, then alerts; an alert reading a recording rule lags it by at most one evaluation."""
    prefix = f"voxdeploy.{config.namespace}.{config.cloud.name}"
    groups = [
        {"name": f"{prefix}.recording", "rules": recording_rules(config)},
        {"name": f"{prefix}.alerts", "rules": [as_rule(alert, config) for alert in alert_rules(config)]},
    ]
    return [group for group in groups if group["rules"]]


def rule_file(config: DeploymentConfig) -> dict[str, object]:
    """A file for Prometheus' `rule_files` (what `voxdeploy rules` writes)."""
    return {"groups": rule_groups(config)}


def monitoring_labels(config: DeploymentConfig) -> dict[str, str]:
    """Labels of the operator objects: ours plus what the Prometheus' selectors look for."""
    return {**meta.labels(config, config.cloud.name, COMPONENT), **config.observability.selector_labels}


def prometheus_rule(config: DeploymentConfig) -> dict[str, object]:
    """The rule groups as a prometheus-operator PrometheusRule."""
    return {
        "apiVersion": OPERATOR_API,
        "kind": "PrometheusRule",
        "metadata": meta.metadata(config, config.cloud.name, monitoring_labels(config)),
        "spec": {"groups": rule_groups(config)},
    }
