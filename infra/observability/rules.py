"""Rule groups of an environment, as a plain Prometheus rule file and as PrometheusRules (one per tier).

The same groups go into both, so people who run the prometheus-operator and people who load rule
files by hand evaluate exactly the same expressions (and the promtool tests cover both).
"""

from __future__ import annotations

from voxdeploy.infra.builders import meta
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.observability.alerts import as_rule
from voxdeploy.infra.observability.watch import Watch, watches

COMPONENT = "monitoring"
OPERATOR_API = "monitoring.coreos.com/v1"


def watch_rule_groups(watch: Watch, config: DeploymentConfig) -> list[dict[str, object]]:
    """Recording rules, then alerts; an alert reading a recording rule lags it by at most one evaluation."""
    prefix = f"voxdeploy.{watch.namespace}.{watch.name}"
    groups: list[dict[str, object]] = [
        {"name": f"{prefix}.recording", "rules": list(watch.recording)},
        {"name": f"{prefix}.alerts", "rules": [as_rule(alert, config) for alert in watch.alerts]},
    ]
    return [group for group in groups if group["rules"]]


def rule_groups(config: DeploymentConfig) -> list[dict[str, object]]:
    """Every tier's groups, tier after tier."""
    return [group for watch in watches(config) for group in watch_rule_groups(watch, config)]


def rule_file(config: DeploymentConfig) -> dict[str, object]:
    """A file for Prometheus' `rule_files` (what `voxdeploy rules` writes)."""
    return {"groups": rule_groups(config)}


def monitoring_labels(config: DeploymentConfig, name: str) -> dict[str, str]:
    """Labels of the operator objects: ours plus what the Prometheus' selectors look for."""
    return {**meta.labels(config, name, COMPONENT), **config.observability.selector_labels}


def prometheus_rule(config: DeploymentConfig, watch: Watch) -> dict[str, object]:
    """One tier's rule groups as a prometheus-operator PrometheusRule."""
    return {
        "apiVersion": OPERATOR_API,
        "kind": "PrometheusRule",
        "metadata": meta.metadata(config, watch.name, monitoring_labels(config, watch.name)),
        "spec": {"groups": watch_rule_groups(watch, config)},
    }
