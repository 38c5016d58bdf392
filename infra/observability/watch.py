"""What an environment's Prometheus watches, one entry per thing it runs: the cloud tier, edge pools, router.

Each entry names the Services to scrape (and the label selector that finds exactly them), and the
recording and alert rules that read their series. The ServiceMonitors, PrometheusRules, the plain rule
file and scrape config, the dashboard and the runbooks are all generated from this one list, so a tier
is either watched everywhere or nowhere. The runtimes' recording rules are one set over every runtime
Service (scope.every_runtime), carried by the first runtime tier: the cloud's, else the edge pools'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from voxdeploy.infra.builders import cloud, edge, hybrid, meta
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.observability import router
from voxdeploy.infra.observability.alerts import AlertRule, runtime_alerts
from voxdeploy.infra.observability.recording import runtime_recording_rules
from voxdeploy.infra.observability.scope import RuntimeScope, cloud_scope, edge_scope, every_runtime

LabelSelector = dict[str, object]


@dataclass(frozen=True)
class Watch:
    """One component Prometheus watches: its Services and the rules over their series."""

    concern: str
    """The build group it goes with, as `<concern>-observability` (cloud, edge, hybrid)."""
    name: str
    """Name of its ServiceMonitor and PrometheusRule, and the middle of its rule groups' names."""
    namespace: str
    services: tuple[str, ...]
    """Names of the Services scraped: the `service` target label its rules select on."""
    selector: LabelSelector
    """The ServiceMonitor's selector: exactly those Services, not another environment's in the namespace."""
    recording: tuple[dict[str, object], ...]
    alerts: tuple[AlertRule, ...]


def _runtime_watch(concern: str, scope: RuntimeScope, selector: LabelSelector, config: DeploymentConfig) -> Watch:
    """A runtime tier's watch; the first one also carries the recording rules of every runtime Service."""
    everything = every_runtime(config)
    carries = everything is not None and everything.tier == scope.tier
    recording = runtime_recording_rules(everything, config) if carries and everything else []
    return Watch(
        concern,
        scope.name,
        scope.namespace,
        scope.services,
        selector,
        tuple(recording),
        tuple(runtime_alerts(scope, config)),
    )


def cloud_watch(config: DeploymentConfig) -> Watch | None:
    if not config.cloud.enabled:
        return None
    return _runtime_watch("cloud", cloud_scope(config), {"matchLabels": cloud.identity(config).selector}, config)


def edge_watch(config: DeploymentConfig) -> Watch | None:
    """One watch for every pool: pools share rules (a regex over their Services) and one ServiceMonitor.

    The selector is the pools' component plus an `In` over their instances, the stable selector label
    that is unique per environment, so two environments sharing a namespace never scrape each other's pools.
    """
    scope = edge_scope(config)
    if scope is None:
        return None
    instances = [meta.instance(config, service) for service in scope.services]
    selector: LabelSelector = {
        "matchLabels": {"app.kubernetes.io/component": edge.COMPONENT},
        "matchExpressions": [{"key": "app.kubernetes.io/instance", "operator": "In", "values": instances}],
    }
    return _runtime_watch("edge", scope, selector, config)


def router_watch(config: DeploymentConfig) -> Watch | None:
    if not config.hybrid.enabled:
        return None
    return Watch(
        "hybrid",
        config.hybrid.name,
        config.namespace,
        (config.hybrid.name,),
        {"matchLabels": hybrid.identity(config).selector},
        tuple(router.recording_rules(config)),
        tuple(router.router_alerts(config)),
    )


WATCHES: tuple[Callable[[DeploymentConfig], Watch | None], ...] = (cloud_watch, edge_watch, router_watch)
"""In build order; the first one an environment has also carries its dashboard."""


def watches(config: DeploymentConfig) -> list[Watch]:
    """Everything the environment runs that Prometheus watches; tiers that are off are left out."""
    return [watch for build in WATCHES if (watch := build(config)) is not None]


def watch_of(config: DeploymentConfig, concern: str) -> Watch | None:
    """The watch of one concern, if the environment has it."""
    return next((watch for watch in watches(config) if watch.concern == concern), None)


def alert_rules(config: DeploymentConfig) -> list[AlertRule]:
    """Every alert of the environment, tier after tier."""
    return [alert for watch in watches(config) for alert in watch.alerts]


def recording_rules(config: DeploymentConfig) -> list[dict[str, object]]:
    """Every recording rule of the environment, tier after tier."""
    return [rule for watch in watches(config) for rule in watch.recording]
