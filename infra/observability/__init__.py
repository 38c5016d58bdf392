"""Observability as code: rules, scraping, dashboard and runbooks of an environment, from its config.

Pure functions like every builder. `objects(config, concern)` is what `build_groups` adds as the
`<concern>-observability` group of each tier (cloud, edge, hybrid); the plain files (`voxdeploy rules`,
`scrape-config`, `runbooks`) come from the same functions.
"""

from __future__ import annotations

from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.observability.dashboard import dashboard_config_map, owner
from voxdeploy.infra.observability.rules import prometheus_rule
from voxdeploy.infra.observability.scrape import service_monitor
from voxdeploy.infra.observability.watch import watch_of


def objects(config: DeploymentConfig, concern: str = "cloud") -> list[dict[str, object]]:
    """One tier's ServiceMonitor and PrometheusRule, as switched on, and the dashboard if it carries it.

    Nothing when the tier is off, so `build_groups` can ask for every concern and let empty groups drop.
    """
    watch = watch_of(config, concern)
    if watch is None:
        return []
    settings = config.observability
    first = owner(config)
    carries_dashboard = settings.dashboard.enabled and first is not None and first.concern == concern
    wanted = (
        (settings.service_monitor, lambda: service_monitor(config, watch)),
        (settings.prometheus_rule, lambda: prometheus_rule(config, watch)),
        (carries_dashboard, lambda: dashboard_config_map(config)),
    )
    return [build() for enabled, build in wanted if enabled]
