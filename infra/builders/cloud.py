"""The cloud tier's Kubernetes objects: pure functions from config to plain dicts.

One pod runs the voxdeploy runtime, which supervises `vllm serve --omni` on loopback and is the only
thing listening on the pod IP; so probes, Service and NetworkPolicy all target the runtime's ports (API, metrics).
"""

from __future__ import annotations

import copy

from voxdeploy.contracts.auth import ApiKeys
from voxdeploy.contracts.runtime import ProcessEngine, RuntimeConfig
from voxdeploy.infra.builders import auth, voices, workloads
from voxdeploy.infra.builders.egress import download_env
from voxdeploy.infra.builders.engine_command import vllm_omni_command
from voxdeploy.infra.builders.scaling import signal_autoscaler, workload_ref
from voxdeploy.infra.builders.workloads import Component, KubeObject
from voxdeploy.infra.config.cloud import CloudTier
from voxdeploy.infra.config.deployment import DeploymentConfig

COMPONENT = "cloud-inference"
CACHE_DIR = "/var/cache/voxdeploy"
PRELOAD_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
"""The weight download is network-bound: a small, fixed allowance keeps it off the GPU pod's budget."""
ROLLOUT_MARGIN_SECONDS = 120
"""Slack past a pod's startup budget before its rollout is called stuck: readiness needs a few probe periods."""


def identity(config: DeploymentConfig) -> Component:
    cloud = config.cloud
    return workloads.component(config, cloud.name, COMPONENT, cloud.pod.image.tag)


def service_account(config: DeploymentConfig) -> KubeObject:
    return workloads.service_account(config, identity(config), config.cloud.service_account.annotations)


def runtime_settings(config: DeploymentConfig, keys: ApiKeys | None = None, *, in_pod: bool = True) -> RuntimeConfig:
    """What the runtime reads at start: which engine, its exact command line, the server limits (with the pods'
    metrics port), the speech API's defaults, the voices and the API keys. Outside a pod (`serve --stack`) there is
    no voices volume and no database: the voices whose files are there and the store are left out."""
    cloud = config.cloud
    engine = ProcessEngine(
        kind="vllm-omni",
        command=vllm_omni_command(cloud),
        port=cloud.engine.port,
        model=cloud.engine.served_model_name or cloud.engine.model,
        startup_timeout_seconds=cloud.pod.probes.max_startup_seconds,
        hang_timeout_seconds=cloud.pod.probes.liveness_window_seconds,
    )
    return RuntimeConfig(
        engine=engine,
        server=workloads.pod_server(cloud.server),
        speech=voices.speech_limits(config),
        voices=voices.voice_settings(config, store=in_pod, files=in_pod),
        auth=keys,
    )


def runtime_config_map(config: DeploymentConfig) -> KubeObject:
    settings = runtime_settings(config, auth.tier_auth(config))
    return workloads.settings_config_map(config, identity(config), settings.model_dump(mode="json"))


def model_claim_name(config: DeploymentConfig) -> str:
    cache = config.cloud.pod.model_cache
    return cache.pvc.existing_claim or f"{config.cloud.name}-models"


def model_cache_claim(config: DeploymentConfig) -> list[KubeObject]:
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
            "metadata": {
                "name": model_claim_name(config),
                "namespace": config.namespace,
                "labels": identity(config).labels,
            },
            "spec": spec,
        }
    ]


def _volumes(config: DeploymentConfig) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(volumes, mounts): read-only root means every path the engine writes needs its own volume."""
    pod = config.cloud.pod
    settings_volume, settings_mount = workloads.settings_volume(identity(config))
    volumes: list[dict[str, object]] = [
        settings_volume,
        {"name": "tmp", "emptyDir": {}},
        {"name": "cache", "emptyDir": {}},
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": pod.shared_memory_size}},
    ]
    mounts: list[dict[str, object]] = [
        settings_mount,
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "cache", "mountPath": CACHE_DIR},
        {"name": "shm", "mountPath": "/dev/shm"},
    ]
    cache = pod.model_cache
    if cache.mode == "pvc":
        volumes.append({"name": "models", "persistentVolumeClaim": {"claimName": model_claim_name(config)}})
    elif cache.mode == "emptyDir":
        volumes.append({"name": "models", "emptyDir": {"sizeLimit": cache.empty_dir_size}})
    if cache.mode != "image":
        mounts.append({"name": "models", "mountPath": cache.mount_path})
    key_volumes, key_mounts = auth.tier_volumes(config)
    voice_volumes, voice_mounts = voices.volumes(config)
    return volumes + key_volumes + voice_volumes, mounts + key_mounts + voice_mounts


OFFLINE: list[dict[str, object]] = [
    {"name": "HF_HUB_OFFLINE", "value": "1"},
    {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
    {"name": "DO_NOT_TRACK", "value": "1"},
]
"""The serving container calls nothing outside the cluster: the weights are in a plain directory before it starts,
so a hub outage or rate limit cannot stall a restart (huggingface_hub reads HF_HUB_OFFLINE at import), and vLLM's
usage report stays off (vllm/envs.py: VLLM_NO_USAGE_STATS, DO_NOT_TRACK), which the pod's HTTPS egress for the
download would otherwise let out."""


def _env(config: DeploymentConfig, *, download: bool) -> list[dict[str, object]]:
    """The download's environment (hub token, hub online) or the serving container's (hub offline, no token)."""
    pod = config.cloud.pod
    env: list[dict[str, object]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "XDG_CACHE_HOME", "value": CACHE_DIR},
        {"name": "HF_HOME", "value": f"{CACHE_DIR}/hf"},
    ]
    token = pod.model_cache.hf_token_secret
    if download and token is not None:
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": token.name, "key": token.key}}})
    if download:
        env.extend(download_env(config))
    if not download:
        env.extend(OFFLINE)
        env.append({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
        env.extend(voices.store_env(config))
    env.extend({"name": key, "value": value} for key, value in sorted(pod.env.items()))
    return env


def _resources(cloud: CloudTier) -> dict[str, object]:
    gpus = {cloud.pod.gpu_resource_name: str(cloud.gpus_per_pod)} if cloud.gpus_per_pod else {}
    return workloads.resources_spec(cloud.pod.resources, gpus)


def download_command(cloud: CloudTier) -> list[str]:
    """`hf download` of the model's revision into the directory `vllm serve` loads (huggingface_hub's CLI; a
    re-run on a shared volume skips files already there)."""
    engine = cloud.engine
    return [
        "hf",
        "download",
        engine.model,
        "--revision",
        engine.revision or "main",
        "--local-dir",
        cloud.model_path,
    ]


def _init_containers(config: DeploymentConfig, mounts: list[dict[str, object]]) -> list[dict[str, object]]:
    """Download weights before the engine starts, so a slow hub shows as Init, not as a failing probe."""
    cloud = config.cloud
    if not cloud.engine.from_hub:
        return []
    return [
        {
            "name": "download-model",
            "image": cloud.pod.image.reference,
            "imagePullPolicy": cloud.pod.image.pull_policy,
            "command": ["timeout", str(cloud.pod.model_cache.max_download_seconds), *download_command(cloud)],
            "env": _env(config, download=True),
            "resources": copy.deepcopy(PRELOAD_RESOURCES),
            "securityContext": workloads.container_security_context(),
            "volumeMounts": [dict(m) for m in mounts if m["name"] in ("tmp", "cache", "models")],
        }
    ]


def deployment(config: DeploymentConfig) -> KubeObject:
    """The serving Deployment; replicas are left to the HPA when autoscaling is on."""
    cloud, pod = config.cloud, config.cloud.pod
    c = identity(config)
    volumes, mounts = _volumes(config)
    container = workloads.runtime_container(
        pod.image,
        workloads.serve_args(),
        cloud.server,
        _resources(cloud),
        pod.probes,
        mounts,
        _env(config, download=False),
    )
    pod_spec: dict[str, object] = {"terminationGracePeriodSeconds": cloud.grace_period_seconds}
    init = _init_containers(config, mounts)
    if init:
        pod_spec["initContainers"] = init
    pod_spec.update({"containers": [container], "volumes": volumes})
    if pod.node_selector:
        pod_spec["nodeSelector"] = dict(pod.node_selector)
    if pod.gpu_products:
        pod_spec["affinity"] = gpu_product_affinity(pod.gpu_product_label, pod.gpu_products)
    if pod.tolerations:
        pod_spec["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in pod.tolerations]
    if pod.topology_spread.enabled:
        spread = pod.topology_spread
        pod_spec["topologySpreadConstraints"] = [
            {
                "maxSkew": spread.max_skew,
                "topologyKey": spread.topology_key,
                "whenUnsatisfiable": spread.when_unsatisfiable,
                "labelSelector": {"matchLabels": c.selector},
            }
        ]
    if pod.priority_class_name is not None:
        pod_spec["priorityClassName"] = pod.priority_class_name
    template = workloads.pod_template(c, cloud.name, pod_spec, runtime_config_map(config))
    return workloads.deployment(
        config,
        c,
        template,
        None if cloud.autoscaling.enabled else cloud.replicas,
        max_surge=cloud.rollout.max_surge,
        progress_deadline_seconds=progress_deadline_seconds(cloud),
    )


def gpu_product_affinity(label: str, products: list[str]) -> dict[str, object]:
    """Only nodes whose card is one of `products`: the KV cache and batch size are sized for that card's memory."""
    expression = {"key": label, "operator": "In", "values": list(products)}
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [expression]}]
            }
        }
    }


def progress_deadline_seconds(cloud: CloudTier) -> int:
    """When Kubernetes marks a rollout failed (default 600 s): past the longest start a new pod may take."""
    return cloud.startup_budget_seconds + ROLLOUT_MARGIN_SECONDS


def service(config: DeploymentConfig) -> KubeObject:
    cloud = config.cloud
    return workloads.service(config, identity(config), cloud.service.port, cloud.server, cloud.service.type)


def autoscaler(config: DeploymentConfig) -> list[KubeObject]:
    """HPA on CPU (the reference article's signal) unless a load signal is chosen, which KEDA or a custom-metrics
    HPA then scales on; behavior slows scale-down since reloads cost minutes. Each scales scaling.workload_ref."""
    scaling = config.cloud.autoscaling
    if not scaling.enabled:
        return []
    if scaling.signal.metric != "cpu":
        return signal_autoscaler(config, identity(config), scaling.signal)
    return [
        workloads.cpu_autoscaler(
            config,
            identity(config),
            scaling.min_replicas,
            scaling.max_replicas,
            scaling.cpu_target_percent,
            scaling.scale_up,
            scaling.scale_down,
            workload_ref(config),
        )
    ]


def disruption_budget(config: DeploymentConfig) -> list[KubeObject]:
    budget = config.cloud.disruption_budget
    return [workloads.disruption_budget(config, identity(config), budget.spec)] if budget.enabled else []
