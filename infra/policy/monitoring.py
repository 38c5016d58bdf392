"""Rules about whether the cluster's Prometheus will see what the stack renders for it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.policy.violations import Finding, KubeObject, object_ref

SELECTED_KINDS = ("PrometheusRule", "ServiceMonitor")


def selector_labels(config: DeploymentConfig, objects: Sequence[KubeObject]) -> Iterator[Finding]:
    """kube-prometheus-stack's Prometheus loads PrometheusRules and ServiceMonitors only when they carry its Helm
    release label (ruleSelectorNilUsesHelmValues and serviceMonitorSelectorNilUsesHelmValues default to true);
    with no selector labels the alerts never load, nothing is scraped, and a KEDA query on those series fails
    into its fallback replicas."""
    if config.observability.selector_labels:
        return
    keda = any(obj.get("kind") == "ScaledObject" for obj in objects)
    fallback = "; the ScaledObject's query would find no series and KEDA hold its fallback replicas" if keda else ""
    for obj in objects:
        if obj.get("kind") in SELECTED_KINDS:
            yield Finding(
                object_ref(obj),
                "has no labels a Prometheus selects on: set observability.selectorLabels to what its "
                "ruleSelector and serviceMonitorSelector match (kube-prometheus-stack: release: <its Helm release>)"
                + fallback,
            )
