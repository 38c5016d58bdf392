"""Object shapes every tier shares (cloud GPU pods, edge pools, the hybrid router), written once.

Each function takes a Component (name, labels, selector) and the few values that differ between
tiers; the tiers' modules decide those values from their config.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import yaml

from voxdeploy.contracts.api import HEALTH_PATH, READY_PATH
from voxdeploy.contracts.runtime import RuntimeServer
from voxdeploy.infra.builders import meta
from voxdeploy.infra.config.cloud import PRE_STOP_SECONDS, Image, Probes, Resources, ScalingPolicy
from voxdeploy.infra.config.deployment import DeploymentConfig

CONFIG_DIR = "/etc/voxdeploy"
RUNTIME_CONFIG_FILE = "runtime.yaml"
PORT_NAME = "http"
METRICS_PORT_NAME = "metrics"
METRICS_PORT = 9090
"""The pods' /metrics port unless the tier's server.metricsPort says another: a port of its own, so the
NetworkPolicy can open it to Prometheus alone while the API port takes the rest."""
CONFIG_HASH_ANNOTATION = "voxdeploy.io/runtime-config-sha256"

KubeObject = dict[str, object]


@dataclass(frozen=True)
class Component:
    """One workload's identity: its objects' name, the labels on them, the labels its pods are selected by."""

    name: str
    labels: dict[str, str]
    selector: dict[str, str]


def component(config: DeploymentConfig, name: str, role: str, version: str | None) -> Component:
    return Component(
        name=name,
        labels=meta.labels(config, name, role, version),
        selector=meta.selector_labels(config, name, role),
    )


def container_security_context() -> dict[str, object]:
    """Pod Security 'restricted' for one container: no root, no escalation, no capabilities, read-only /."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, object]:
    """Pod-level half of 'restricted'. fsGroup lets uid 10001 write mounted volumes (the weights cache);
    OnRootMismatch changes ownership only when the volume's root is not already the group's, instead of walking
    every file of a 50 GiB cache at each pod start (the kubelet's default, Always)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": meta.RUN_AS_USER,
        "runAsGroup": meta.RUN_AS_USER,
        "fsGroup": meta.RUN_AS_USER,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def service_account(config: DeploymentConfig, c: Component, annotations: dict[str, str] | None = None) -> KubeObject:
    """The pods' own identity, with no API token: the runtime never talks to the Kubernetes API."""
    md = meta.metadata(config, c.name, c.labels)
    if annotations:
        md["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": md, "automountServiceAccountToken": False}


def settings_config_map(config: DeploymentConfig, c: Component, settings: dict[str, object]) -> KubeObject:
    """`<name>-runtime`: the settings file `voxdeploy serve --config` reads, mounted read-only."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(config, f"{c.name}-runtime", c.labels),
        "data": {RUNTIME_CONFIG_FILE: yaml.safe_dump(settings, sort_keys=True)},
    }


def content_hash(obj: KubeObject) -> str:
    """Digest of a ConfigMap's data; as a pod annotation it rolls the pods when the settings change."""
    return hashlib.sha256(yaml.safe_dump(obj["data"]).encode()).hexdigest()


def pod_server(server: RuntimeServer) -> RuntimeServer:
    """A tier's server settings as its pods run them: /metrics always on a port of its own."""
    return server.model_copy(update={"metrics_port": server.metrics_port or METRICS_PORT})


def resources_spec(resources: Resources, extended: dict[str, str] | None = None) -> dict[str, object]:
    """A container's `resources`: the stack's CPU and memory requests and limits, plus extended resources (GPUs),
    which Kubernetes wants equal on both sides."""
    extra = extended or {}
    return {
        "requests": {**resources.requests.model_dump(), **extra},
        "limits": {**resources.limits.model_dump(), **extra},
    }


def probe(path: str, period: int, failures: int) -> dict[str, object]:
    return {
        "httpGet": {"path": path, "port": PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": min(5, period),
        "failureThreshold": failures,
    }


def runtime_container(
    image: Image,
    args: list[str],
    server: RuntimeServer,
    resources: dict[str, object],
    probes: Probes,
    mounts: list[dict[str, object]],
    env: list[dict[str, object]] | None = None,
) -> dict[str, object]:
    """The voxdeploy runtime container: the API port and the metrics port, /health liveness, /ready readiness and
    startup."""
    container: dict[str, object] = {
        "name": "runtime",
        "image": image.reference,
        "imagePullPolicy": image.pull_policy,
        "args": args,
        "ports": [
            {"name": PORT_NAME, "containerPort": server.port, "protocol": "TCP"},
            {"name": METRICS_PORT_NAME, "containerPort": pod_server(server).metrics_port, "protocol": "TCP"},
        ],
    }
    if env:
        container["env"] = env
    container.update(
        {
            "resources": resources,
            "startupProbe": probe(
                READY_PATH, probes.period_seconds, math.ceil(probes.max_startup_seconds / probes.period_seconds)
            ),
            "livenessProbe": probe(HEALTH_PATH, probes.period_seconds, probes.liveness_failure_threshold),
            "readinessProbe": probe(READY_PATH, probes.period_seconds, probes.readiness_failure_threshold),
            "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
            "securityContext": container_security_context(),
            "volumeMounts": mounts,
        }
    )
    return container


def settings_volume(c: Component) -> tuple[dict[str, object], dict[str, object]]:
    """(volume, mount) of the settings ConfigMap."""
    return (
        {"name": "runtime-config", "configMap": {"name": f"{c.name}-runtime"}},
        {"name": "runtime-config", "mountPath": CONFIG_DIR, "readOnly": True},
    )


def serve_args(*extra: str) -> list[str]:
    """The runtime container's argv: its settings file, and JSON logs (one object a line) for the log collector."""
    return ["serve", *extra, "--log-format", "json", "--config", f"{CONFIG_DIR}/{RUNTIME_CONFIG_FILE}"]


def pod_template(
    c: Component, service_account_name: str, pod_spec: dict[str, object], settings: KubeObject | None = None
) -> dict[str, object]:
    """A restricted pod running as `service_account_name`, rolled whenever its settings change (a pod without a
    settings ConfigMap, such as a batch Job's, carries no hash)."""
    metadata: dict[str, object] = {"labels": c.labels}
    if settings is not None:
        metadata["annotations"] = {CONFIG_HASH_ANNOTATION: content_hash(settings)}
    return {
        "metadata": metadata,
        "spec": {
            "serviceAccountName": service_account_name,
            "automountServiceAccountToken": False,
            "securityContext": pod_security_context(),
            **pod_spec,
        },
    }


def deployment(
    config: DeploymentConfig,
    c: Component,
    template: dict[str, object],
    replicas: int | None,
    max_surge: int | str = 1,
    progress_deadline_seconds: int | None = None,
) -> KubeObject:
    """A Deployment; `replicas=None` leaves the count to an HPA. Never below the count during a rollout."""
    spec: dict[str, object] = {}
    if progress_deadline_seconds is not None:
        spec["progressDeadlineSeconds"] = progress_deadline_seconds
    spec |= {
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": c.selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": 0}},
        "template": template,
    }
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(config, c.name, c.labels),
        "spec": spec,
    }


def daemon_set(config: DeploymentConfig, c: Component, template: dict[str, object]) -> KubeObject:
    """One pod per selected node; a node is replaced one at a time."""
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta.metadata(config, c.name, c.labels),
        "spec": {
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": c.selector},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": template,
        },
    }


def service(
    config: DeploymentConfig, c: Component, port: int, server: RuntimeServer, service_type: str = "ClusterIP"
) -> KubeObject:
    """The API on `port`, and the pods' metrics port (what the ServiceMonitor scrapes) under its own name."""
    metrics = pod_server(server).metrics_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(config, c.name, c.labels),
        "spec": {
            "type": service_type,
            "selector": c.selector,
            "ports": [
                {"name": PORT_NAME, "port": port, "targetPort": PORT_NAME, "protocol": "TCP"},
                {"name": METRICS_PORT_NAME, "port": metrics, "targetPort": METRICS_PORT_NAME, "protocol": "TCP"},
            ],
        },
    }


def scaling_behavior(rule: ScalingPolicy) -> dict[str, object]:
    return {
        "stabilizationWindowSeconds": rule.stabilization_window_seconds,
        "policies": [{"type": "Pods", "value": rule.pods_per_period, "periodSeconds": rule.period_seconds}],
    }


def deployment_ref(name: str) -> dict[str, str]:
    """An autoscaler's scaleTargetRef to the Deployment of that name."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}


def cpu_autoscaler(
    config: DeploymentConfig,
    c: Component,
    fewest: int,
    most: int,
    cpu_percent: int,
    scale_up: ScalingPolicy | None = None,
    scale_down: ScalingPolicy | None = None,
    target: dict[str, str] | None = None,
) -> KubeObject:
    """autoscaling/v2 HPA on CPU utilization, with scaling behavior when given; it scales `target`, else the
    component's Deployment."""
    spec: dict[str, object] = {
        "scaleTargetRef": target or deployment_ref(c.name),
        "minReplicas": fewest,
        "maxReplicas": most,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu_percent}},
            }
        ],
    }
    if scale_up is not None and scale_down is not None:
        spec["behavior"] = {"scaleUp": scaling_behavior(scale_up), "scaleDown": scaling_behavior(scale_down)}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta.metadata(config, c.name, c.labels),
        "spec": spec,
    }


def disruption_budget(config: DeploymentConfig, c: Component, bound: dict[str, int]) -> KubeObject:
    """A budget with one bound: `{"maxUnavailable": n}` or `{"minAvailable": n}`."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta.metadata(config, c.name, c.labels),
        "spec": {**bound, "selector": {"matchLabels": c.selector}},
    }


def network_policy(
    config: DeploymentConfig,
    c: Component,
    server: RuntimeServer,
    namespaces: list[str],
    egress: list[dict[str, object]] | None = None,
) -> KubeObject:
    """The API port only from this namespace and the listed ones (ingress controller, route proxies), the metrics
    port only from `cloud.networkPolicy.metricsNamespaces` (Prometheus); with `egress`, every other destination
    is denied too (`None` leaves egress open)."""
    sources: list[dict[str, object]] = [{"podSelector": {}}]
    sources.extend({"namespaceSelector": meta.namespace_selector(name)} for name in namespaces)
    scrapers = [
        {"namespaceSelector": meta.namespace_selector(name)} for name in config.cloud.network_policy.metrics_namespaces
    ]
    ingress: list[dict[str, object]] = [{"from": sources, "ports": [{"protocol": "TCP", "port": server.port}]}]
    if scrapers:
        metrics = pod_server(server).metrics_port
        ingress.append({"from": scrapers, "ports": [{"protocol": "TCP", "port": metrics}]})
    spec: dict[str, object] = {
        "podSelector": {"matchLabels": c.selector},
        "policyTypes": ["Ingress"] if egress is None else ["Ingress", "Egress"],
        "ingress": ingress,
    }
    if egress is not None:
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.metadata(config, c.name, c.labels),
        "spec": spec,
    }


def egress_policy(config: DeploymentConfig, c: Component, egress: list[dict[str, object]]) -> KubeObject:
    """More destinations for some pods another policy already confines: policies add up, so this one widens only
    the egress of the pods it selects."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.metadata(config, c.name, c.labels),
        "spec": {"podSelector": {"matchLabels": c.selector}, "policyTypes": ["Egress"], "egress": egress},
    }


def client_policy(config: DeploymentConfig, c: Component, egress: list[dict[str, object]] | None) -> KubeObject:
    """Pods that serve nothing (a batch Job's): no ingress at all; with `egress`, every destination but those is
    denied too (`None` leaves egress open)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.metadata(config, c.name, c.labels),
        "spec": {
            "podSelector": {"matchLabels": c.selector},
            "policyTypes": ["Ingress"] if egress is None else ["Ingress", "Egress"],
            **({} if egress is None else {"egress": egress}),
        },
    }
