"""Observability as code: rules, scraping, dashboard and runbooks of an environment, from its config.

Pure functions like every builder; `objects` is what `build_groups` adds with the cloud tier, and the
plain files (`voxdeploy rules`, `scrape-config`, `runbooks`) come from the same functions.
"""

from __future__ import annotations

from infra.config.deployment import DeploymentConfig
from infra.observability.dashboard import dashboard_config_map
from infra.observability.rules import prometheus_rule
from infra.observability.scrape import service_monitor


def objects(config: DeploymentConfig) -> list[dict[str, object]]:
    """The cloud tier's PrometheusRule, ServiceMonitor and dashboard ConfigMap, as switched on."""
    settings = config.observability
    wanted = (
        (settings.service_monitor, service_monitor),
        (settings.prometheus_rule, prometheus_rule),
        (settings.dashboard.enabled, dashboard_config_map),
    )
    return [build(config) for enabled, build in wanted if enabled]
