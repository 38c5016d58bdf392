"""The cloud tier's Kubernetes objects: pure functions from config to plain dicts.

One pod runs the voxdeploy runtime, which supervises `vllm serve --omni` on loopback and is the only
thing listening on the pod IP; so probes, Service and NetworkPolicy all target the runtime's port.
"""

from __future__ import annotations

import copy
import hashlib
import math

import yaml

from infra.builders import meta
from infra.config.cloud import CloudTier, ScalingPolicy
from infra.config.deployment import DeploymentConfig
from infra.config.engine_command import vllm_omni_command
from infra.config.runtime import ProcessEngine, RuntimeConfig

COMPONENT = "cloud-inference"
CONFIG_DIR = "/etc/voxdeploy"
RUNTIME_CONFIG_FILE = "runtime.yaml"
CACHE_DIR = "/var/cache/voxdeploy"
PORT_NAME = "http"
HEALTH_PATH = "/health"
READY_PATH = "/ready"
PRELOAD_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
"""The weight download is network-bound: a small, fixed allowance keeps it off the GPU pod's budget."""


def _labels(config: DeploymentConfig) -> dict[str, str]:
    cloud = config.cloud
    return meta.labels(config, cloud.name, COMPONENT, cloud.pod.image.tag)


def _selector(config: DeploymentConfig) -> dict[str, str]:
    return meta.selector_labels(config, config.cloud.name, COMPONENT)


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
    """Pod-level half of 'restricted'; fsGroup lets the non-root user write the mounted cache."""
    return {
        "runAsNonRoot": True,
        "runAsUser": meta.RUN_AS_USER,
        "runAsGroup": meta.RUN_AS_USER,
        "fsGroup": meta.RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def service_account(config: DeploymentConfig) -> dict[str, object]:
    """The pods' own identity, with no API token: the runtime never talks to the Kubernetes API."""
    md = meta.metadata(config, config.cloud.name, _labels(config))
    if config.cloud.service_account.annotations:
        md["annotations"] = dict(config.cloud.service_account.annotations)
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": md, "automountServiceAccountToken": False}


def runtime_settings(cloud: CloudTier) -> RuntimeConfig:
    """What the runtime reads at start: which engine, its exact command line, and the server limits."""
    engine = ProcessEngine(
        kind="vllm-omni",
        command=vllm_omni_command(cloud),
        port=cloud.engine.port,
        model=cloud.engine.served_model_name or cloud.engine.model,
        startup_timeout_seconds=cloud.pod.probes.max_startup_seconds,
    )
    return RuntimeConfig(engine=engine, server=cloud.server)


def runtime_config_map(config: DeploymentConfig) -> dict[str, object]:
    """The runtime's settings file, mounted read-only; its hash rolls the pods when it changes."""
    text = yaml.safe_dump(runtime_settings(config.cloud).model_dump(mode="json"), sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(config, f"{config.cloud.name}-runtime", _labels(config)),
        "data": {RUNTIME_CONFIG_FILE: text},
    }


def model_claim_name(config: DeploymentConfig) -> str:
    cache = config.cloud.pod.model_cache
    return cache.pvc.existing_claim or f"{config.cloud.name}-models"


def model_cache_claim(config: DeploymentConfig) -> list[dict[str, object]]:
    """The weights volume when one is to be created (pvc mode without an existing claim)."""
    cache = config.cloud.pod.model_cache
    if cache.mode != "pvc" or cache.pvc.existing_claim is not None:
        return []
    spec: dict[str, object] = {
        "accessModes": [cache.pvc.access_mode],
        "resources": {"requests": {"storage": cache.pvc.size}},
    }
    if cache.pvc.storage_class_name is not None:
        spec["storageClassName"] = cache.pvc.storage_class_name
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta.metadata(config, model_claim_name(config), _labels(config)),
            "spec": spec,
        }
    ]


def _volumes(config: DeploymentConfig) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(volumes, mounts): read-only root means every path the engine writes needs its own volume."""
    pod = config.cloud.pod
    volumes: list[dict[str, object]] = [
        {"name": "runtime-config", "configMap": {"name": f"{config.cloud.name}-runtime"}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "cache", "emptyDir": {}},
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": pod.shared_memory_size}},
    ]
    mounts: list[dict[str, object]] = [
        {"name": "runtime-config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "cache", "mountPath": CACHE_DIR},
        {"name": "shm", "mountPath": "/dev/shm"},
    ]
    cache = pod.model_cache
    if cache.mode == "pvc":
        volumes.append({"name": "models", "persistentVolumeClaim": {"claimName": model_claim_name(config)}})
    elif cache.mode == "emptyDir":
        volumes.append({"name": "models", "emptyDir": {"sizeLimit": cache.empty_dir_size}})
    if cache.mode != "none":
        mounts.append({"name": "models", "mountPath": cache.mount_path})
    return volumes, mounts


def _env(config: DeploymentConfig) -> list[dict[str, object]]:
    pod = config.cloud.pod
    hf_home = f"{pod.model_cache.mount_path}/hf" if pod.model_cache.mode != "none" else f"{CACHE_DIR}/hf"
    env: list[dict[str, object]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "XDG_CACHE_HOME", "value": CACHE_DIR},
        {"name": "HF_HOME", "value": hf_home},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    token = pod.model_cache.hf_token_secret
    if token is not None:
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": token.name, "key": token.key}}})
    env.extend({"name": key, "value": value} for key, value in sorted(pod.env.items()))
    return env


def _resources(cloud: CloudTier) -> dict[str, object]:
    gpus = {cloud.pod.gpu_resource_name: str(cloud.gpus_per_pod)} if cloud.gpus_per_pod else {}
    requests, limits = cloud.pod.resources.requests, cloud.pod.resources.limits
    return {
        "requests": {"cpu": requests.cpu, "memory": requests.memory, **gpus},
        "limits": {"cpu": limits.cpu, "memory": limits.memory, **gpus},
    }


def _probe(path: str, period: int, failures: int) -> dict[str, object]:
    return {
        "httpGet": {"path": path, "port": PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": min(5, period),
        "failureThreshold": failures,
    }


def _init_containers(config: DeploymentConfig, mounts: list[dict[str, object]]) -> list[dict[str, object]]:
    """Download weights before the engine starts, so a slow hub shows as Init, not as a failing probe."""
    cloud = config.cloud
    cache = cloud.pod.model_cache
    if cache.mode == "none" or not cache.preload or cloud.engine.model.startswith("/"):
        return []
    return [
        {
            "name": "preload-model",
            "image": cloud.pod.image.reference,
            "imagePullPolicy": cloud.pod.image.pull_policy,
            "command": ["hf", "download", cloud.engine.model],
            "env": _env(config),
            "resources": copy.deepcopy(PRELOAD_RESOURCES),
            "securityContext": container_security_context(),
            "volumeMounts": [dict(m) for m in mounts if m["name"] in ("tmp", "cache", "models")],
        }
    ]


def deployment(config: DeploymentConfig) -> dict[str, object]:
    """The serving Deployment; replicas are left to the HPA when autoscaling is on."""
    cloud, pod = config.cloud, config.cloud.pod
    probes = pod.probes
    volumes, mounts = _volumes(config)
    config_hash = hashlib.sha256(yaml.safe_dump(runtime_config_map(config)["data"]).encode()).hexdigest()
    container: dict[str, object] = {
        "name": "runtime",
        "image": pod.image.reference,
        "imagePullPolicy": pod.image.pull_policy,
        "args": ["serve", "--config", f"{CONFIG_DIR}/{RUNTIME_CONFIG_FILE}"],
        "ports": [{"name": PORT_NAME, "containerPort": cloud.server.port, "protocol": "TCP"}],
        "env": _env(config),
        "resources": _resources(cloud),
        "startupProbe": _probe(
            READY_PATH, probes.period_seconds, math.ceil(probes.max_startup_seconds / probes.period_seconds)
        ),
        "livenessProbe": _probe(HEALTH_PATH, probes.period_seconds, probes.liveness_failure_threshold),
        "readinessProbe": _probe(READY_PATH, probes.period_seconds, probes.readiness_failure_threshold),
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
    }
    pod_spec: dict[str, object] = {
        "serviceAccountName": cloud.name,
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "terminationGracePeriodSeconds": pod.termination_grace_period_seconds,
        "initContainers": _init_containers(config, mounts),
        "containers": [container],
        "volumes": volumes,
    }
    if not pod_spec["initContainers"]:
        del pod_spec["initContainers"]
    if pod.node_selector:
        pod_spec["nodeSelector"] = dict(pod.node_selector)
    if pod.tolerations:
        pod_spec["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in pod.tolerations]
    if pod.topology_spread.enabled:
        spread = pod.topology_spread
        pod_spec["topologySpreadConstraints"] = [
            {
                "maxSkew": spread.max_skew,
                "topologyKey": spread.topology_key,
                "whenUnsatisfiable": spread.when_unsatisfiable,
                "labelSelector": {"matchLabels": _selector(config)},
            }
        ]
    if pod.priority_class_name is not None:
        pod_spec["priorityClassName"] = pod.priority_class_name
    spec: dict[str, object] = {
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": _selector(config)},
        # A GPU pod cannot double up on its node: surge one at a time and never drop below the count.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": _labels(config), "annotations": {"voxdeploy.io/runtime-config-sha256": config_hash}},
            "spec": pod_spec,
        },
    }
    if not cloud.autoscaling.enabled:
        spec = {"replicas": cloud.replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(config, cloud.name, _labels(config)),
        "spec": spec,
    }


def service(config: DeploymentConfig) -> dict[str, object]:
    cloud = config.cloud
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(config, cloud.name, _labels(config)),
        "spec": {
            "type": cloud.service.type,
            "selector": _selector(config),
            "ports": [{"name": PORT_NAME, "port": cloud.service.port, "targetPort": PORT_NAME, "protocol": "TCP"}],
        },
    }


def _behavior(rule: ScalingPolicy) -> dict[str, object]:
    return {
        "stabilizationWindowSeconds": rule.stabilization_window_seconds,
        "policies": [{"type": "Pods", "value": rule.pods_per_period, "periodSeconds": rule.period_seconds}],
    }


def autoscaler(config: DeploymentConfig) -> list[dict[str, object]]:
    """HPA on CPU (the reference article's signal); behavior slows scale-down since reloads cost minutes."""
    cloud = config.cloud
    scaling = cloud.autoscaling
    if not scaling.enabled:
        return []
    return [
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta.metadata(config, cloud.name, _labels(config)),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": cloud.name},
                "minReplicas": scaling.min_replicas,
                "maxReplicas": scaling.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": scaling.cpu_target_percent},
                        },
                    }
                ],
                "behavior": {
                    "scaleUp": _behavior(scaling.scale_up),
                    "scaleDown": _behavior(scaling.scale_down),
                },
            },
        }
    ]


def disruption_budget(config: DeploymentConfig) -> list[dict[str, object]]:
    cloud = config.cloud
    if not cloud.disruption_budget.enabled:
        return []
    return [
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta.metadata(config, cloud.name, _labels(config)),
            "spec": {"minAvailable": cloud.disruption_budget.min_available, "selector": {"matchLabels": _selector(config)}},
        }
    ]


def network_policy(config: DeploymentConfig) -> list[dict[str, object]]:
    """Only the API port, only from this namespace and the listed ones (ingress controller, monitoring)."""
    cloud = config.cloud
    if not cloud.network_policy.enabled:
        return []
    sources: list[dict[str, object]] = [{"podSelector": {}}]
    sources.extend(
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}
        for name in cloud.network_policy.ingress_namespaces
    )
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta.metadata(config, cloud.name, _labels(config)),
            "spec": {
                "podSelector": {"matchLabels": _selector(config)},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": sources, "ports": [{"protocol": "TCP", "port": cloud.server.port}]}],
            },
        }
    ]
