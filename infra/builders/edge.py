"""Edge node pools: per pool an optional OpenYurt NodePool, the runtime over llama-tts-server (one pod
per node, or a Deployment), its settings and a Service; one ServiceAccount for all (their NetworkPolicies are
built with the other tiers' in network.py).

Edge links drop: pods tolerate an unreachable node far longer than cloud pods (Kubernetes' default is
300 s), so a flaky uplink does not evict a pod that is still serving its local clients.
"""

from __future__ import annotations

import math

from voxdeploy.contracts.runtime import ProcessEngine, RuntimeConfig
from voxdeploy.infra.builders import auth, voices, workloads
from voxdeploy.infra.builders.egress import download_env
from voxdeploy.infra.builders.engine_command import EDGE_MODEL_DIR, llamacpp_command
from voxdeploy.infra.builders.workloads import Component, KubeObject
from voxdeploy.infra.config.cloud import Probes, grace_period_seconds
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.edge import Device, EdgePool

COMPONENT = "edge-inference"
POOL_LABEL = "voxdeploy.io/edge-pool"
DEVICE_LABEL = "voxdeploy.io/device"
OPENYURT_API = "apps.openyurt.io/v1beta1"
SERVICE_ACCOUNT = "voxcpm-edge"
EDGE_PROBES = Probes(max_startup_seconds=300, period_seconds=10)
"""GGUF files load in seconds (mmap); five minutes covers a slow SD card."""


def pool_name(pool: EdgePool) -> str:
    return f"edge-{pool.name}"


def pool_identity(config: DeploymentConfig, pool: EdgePool) -> Component:
    return workloads.component(config, pool_name(pool), COMPONENT, pool.image.tag)


def device_of(config: DeploymentConfig, pool: EdgePool) -> Device:
    return config.edge.catalogue()[pool.device]


def runtime_settings(config: DeploymentConfig, pool: EdgePool) -> RuntimeConfig:
    edge = config.edge
    engine = ProcessEngine(
        kind="llamacpp",
        port=edge.engine_port,
        startup_timeout_seconds=EDGE_PROBES.max_startup_seconds,
        hang_timeout_seconds=EDGE_PROBES.liveness_window_seconds,
        command=llamacpp_command(pool, device_of(config, pool).cores, edge.engine_port),
    )
    return RuntimeConfig(
        engine=engine,
        server=workloads.pod_server(edge.server),
        speech=voices.speech_limits(config),
        voices=voices.voice_settings(config, store=False, files=False),
        auth=auth.tier_auth(config),
    )


def node_pool(config: DeploymentConfig, pool: EdgePool) -> KubeObject:
    """OpenYurt NodePool: nodes joined to it get the pool's labels and taint (cluster-scoped)."""
    return {
        "apiVersion": OPENYURT_API,
        "kind": "NodePool",
        "metadata": {"name": pool_name(pool), "labels": pool_identity(config, pool).labels},
        "spec": {
            "type": "Edge",
            "labels": {POOL_LABEL: pool.name, DEVICE_LABEL: pool.device},
            "taints": [{"key": POOL_LABEL, "value": pool.name, "effect": "NoSchedule"}],
        },
    }


def _resources(config: DeploymentConfig, pool: EdgePool) -> dict[str, object]:
    """Memory sized from the model files (the fit check guarantees it fits); CPU = the threads it runs."""
    device = device_of(config, pool)
    memory = f"{math.ceil(pool.memory_needed_gib() * 1024)}Mi"
    cpu = str(pool.threads or device.cores)
    accelerator = {device.gpu_resource: "1"} if pool.backend == "cuda" and device.gpu_resource else {}
    return {
        "requests": {"cpu": cpu, "memory": memory, **accelerator},
        "limits": {"cpu": cpu, "memory": memory, **accelerator},
    }


def _tolerations(pool: EdgePool) -> list[dict[str, object]]:
    own: list[dict[str, object]] = [
        {"key": POOL_LABEL, "operator": "Equal", "value": pool.name, "effect": "NoSchedule"}
    ]
    link = [
        {
            "key": f"node.kubernetes.io/{condition}",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": pool.unreachable_toleration_seconds,
        }
        for condition in ("unreachable", "not-ready")
    ]
    return own + link + [t.model_dump(by_alias=True, exclude_none=True) for t in pool.tolerations]


def download_command(pool: EdgePool) -> list[str]:
    """`hf download` of exactly the pool's two files at its pinned commit into the directory the server reads."""
    weights = pool.weights
    return [
        "hf",
        "download",
        str(weights.repository),
        pool.base_lm_file(),
        pool.acoustic_file(),
        "--revision",
        str(weights.revision),
        "--local-dir",
        EDGE_MODEL_DIR,
    ]


def _weights(pool: EdgePool) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(volumes, serving mounts) for the pool's weights; image mode needs neither: the files are in the image."""
    weights = pool.weights
    if weights.source == "image":
        return [], []
    mount: dict[str, object] = {"name": "models", "mountPath": EDGE_MODEL_DIR, "readOnly": True}
    if weights.source == "pvc":
        return [{"name": "models", "persistentVolumeClaim": {"claimName": weights.claim, "readOnly": True}}], [mount]
    return [{"name": "models", "emptyDir": {"sizeLimit": weights.scratch_size}}], [mount]


def _download(config: DeploymentConfig, pool: EdgePool) -> list[dict[str, object]]:
    """The init container of download mode: the pool's own image, which carries huggingface_hub's CLI."""
    if pool.weights.source != "download":
        return []
    return [
        {
            "name": "download-weights",
            "image": pool.image.reference,
            "imagePullPolicy": pool.image.pull_policy,
            "command": download_command(pool),
            "env": [{"name": "HOME", "value": "/tmp"}, {"name": "HF_HOME", "value": "/tmp/hf"}, *download_env(config)],
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "securityContext": workloads.container_security_context(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "models", "mountPath": EDGE_MODEL_DIR}],
        }
    ]


def pool_objects(config: DeploymentConfig, pool: EdgePool) -> list[KubeObject]:
    """Settings, workload and Service of one pool."""
    c = pool_identity(config, pool)
    device = device_of(config, pool)
    settings = workloads.settings_config_map(config, c, runtime_settings(config, pool).model_dump(mode="json"))
    settings_volume, settings_mount = workloads.settings_volume(c)
    weight_volumes, weight_mounts = _weights(pool)
    key_volumes, key_mounts = auth.tier_volumes(config)
    mounts: list[dict[str, object]] = [
        settings_mount,
        {"name": "tmp", "mountPath": "/tmp"},
        *weight_mounts,
        *key_mounts,
    ]
    volumes = [settings_volume, {"name": "tmp", "emptyDir": {}}, *weight_volumes, *key_volumes]
    container = workloads.runtime_container(
        pool.image, workloads.serve_args(), config.edge.server, _resources(config, pool), EDGE_PROBES, mounts
    )
    pod_spec: dict[str, object] = {
        "terminationGracePeriodSeconds": grace_period_seconds(config.edge.server),
        **({"initContainers": _download(config, pool)} if pool.weights.source == "download" else {}),
        "containers": [container],
        "volumes": volumes,
        "nodeSelector": {POOL_LABEL: pool.name, "kubernetes.io/arch": device.architecture, **pool.node_selector},
        "tolerations": _tolerations(pool),
    }
    template = workloads.pod_template(c, SERVICE_ACCOUNT, pod_spec, settings)
    workload = (
        workloads.daemon_set(config, c, template)
        if pool.one_per_node
        else workloads.deployment(config, c, template, pool.replicas)
    )
    return [settings, workload, workloads.service(config, c, config.edge.server.port, config.edge.server)]


def shared_objects(config: DeploymentConfig) -> list[KubeObject]:
    """One identity for every edge pod (their NetworkPolicies are network.edge_policies)."""
    c = workloads.component(config, SERVICE_ACCOUNT, COMPONENT, None)
    return [workloads.service_account(config, c)]


def edge_groups(config: DeploymentConfig) -> list[tuple[str, list[KubeObject]]]:
    """(concern, objects) for the edge tier: node pools, shared identity, then each pool."""
    edge = config.edge
    if not edge.enabled or not edge.pools:
        return []
    groups: list[tuple[str, list[KubeObject]]] = []
    if edge.orchestrator == "openyurt":
        groups.append(("edge-node-pools", [node_pool(config, pool) for pool in edge.pools]))
    groups.append(("edge-shared", shared_objects(config)))
    groups.extend((f"edge-pool-{pool.name}", pool_objects(config, pool)) for pool in edge.pools)
    return groups
