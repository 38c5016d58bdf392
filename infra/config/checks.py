"""Cross-field rules: each one a small function that yields the problems it finds, with exact paths.

These run after field validation, so every value is already well-typed; each rule says what would be
valid so a user can fix the stack file without reading this code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from voxdeploy.infra.config.access_checks import ACCESS_CHECKS, auth_secrets
from voxdeploy.infra.config.base import label_key_problem, label_value_problem, parse_quantity
from voxdeploy.infra.config.batch_checks import BATCH_CHECKS
from voxdeploy.infra.config.cloud import (
    DRAIN_MARGIN_SECONDS,
    PINNED_REVISION,
    PRE_STOP_SECONDS,
    SHARED_ACCESS_MODES,
    Image,
    grace_period_seconds,
)
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.edge import model_files_gib
from voxdeploy.infra.config.errors import ConfigIssue
from voxdeploy.infra.config.loadtest_checks import LOADTEST_CHECKS
from voxdeploy.infra.config.network_checks import NETWORK_CHECKS
from voxdeploy.infra.config.secrets import names_a_secret, secret_shape
from voxdeploy.infra.config.voice_checks import VOICE_CHECKS

Check = Callable[[DeploymentConfig], Iterator[ConfigIssue]]

SYSTEM_NAMESPACE_PREFIX = "kube-"
"""Kubernetes' own namespaces (kube-system, kube-public, kube-node-lease) and the prefix it reserves for them."""


def replica_bounds(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    scaling = config.cloud.autoscaling
    if scaling.enabled and scaling.min_replicas > scaling.max_replicas:
        yield ConfigIssue(
            "cloud.autoscaling.minReplicas",
            scaling.min_replicas,
            f"must be <= cloud.autoscaling.maxReplicas ({scaling.max_replicas})",
        )


def requests_within_limits(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    resources = config.cloud.pod.resources
    for name in ("cpu", "memory"):
        request, limit = getattr(resources.requests, name), getattr(resources.limits, name)
        if parse_quantity(request) > parse_quantity(limit):
            yield ConfigIssue(
                f"cloud.pod.resources.requests.{name}",
                request,
                f"must be <= cloud.pod.resources.limits.{name} ({limit})",
            )


def shared_memory_within_limit(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    pod = config.cloud.pod
    if parse_quantity(pod.shared_memory_size) >= parse_quantity(pod.resources.limits.memory):
        yield ConfigIssue(
            "cloud.pod.sharedMemorySize",
            pod.shared_memory_size,
            f"/dev/shm counts against the memory limit; must be < cloud.pod.resources.limits.memory "
            f"({pod.resources.limits.memory})",
        )


VOXCPM2_ONE_DEVICE_PER_STAGE = (
    'VoxCPM2 on vLLM-Omni runs each stage on one device (its deploy/voxcpm2.yaml pins stage 0 to devices "0"); '
    "a top-level --tensor-parallel-size reaches every stage and fails with 'local rank out of bounds' "
    "(vllm-project/vllm-omni issue 5003, PR 5742; OpenBMB/VoxCPM issue 338): use 1 and scale out with "
    "cloud.autoscaling replicas"
)


def voxcpm2_is_not_sharded(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """The reference article's TP 2 is a command vLLM-Omni rejects for VoxCPM2: refuse it before a pod does,
    unless the stage's own devices are given, one per shard (what vllm-omni PR 5742 checks)."""
    cloud = config.cloud
    engine = cloud.engine
    tp = engine.tensor_parallel_size
    if not cloud.enabled or (tp == 1 and engine.stage_devices is None):
        return
    devices = engine.stage_devices.split(",") if engine.stage_devices is not None else []
    if tp > 1 and not devices:
        yield ConfigIssue(
            "cloud.engine.tensorParallelSize",
            tp,
            VOXCPM2_ONE_DEVICE_PER_STAGE + f", or give stage 0 its {tp} devices in cloud.engine.stageDevices",
        )
    elif len(set(devices)) != len(devices) or len(devices) != tp:
        yield ConfigIssue(
            "cloud.engine.stageDevices",
            engine.stage_devices,
            f"must list {tp} distinct devices, one per tensor-parallel shard (cloud.engine.tensorParallelSize {tp})",
        )


def grace_period_drains_requests(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """A pod killed before its longest request ends drops that request on every rollout and scale-down."""
    cloud = config.cloud
    explicit = cloud.pod.termination_grace_period_seconds
    least = grace_period_seconds(cloud.server)
    if cloud.enabled and explicit is not None and explicit < least:
        yield ConfigIssue(
            "cloud.pod.terminationGracePeriodSeconds",
            explicit,
            f"must be >= {least}: the preStop wait ({PRE_STOP_SECONDS} s) + cloud.server.drainDelaySeconds "
            f"({cloud.server.drain_delay_seconds:g} s) + cloud.server.requestTimeoutSeconds "
            f"({cloud.server.request_timeout_seconds:g} s) + {DRAIN_MARGIN_SECONDS} s to exit; "
            "leave it unset to derive it",
        )


def gpus_cover_tensor_parallelism(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    cloud = config.cloud
    if not cloud.enabled:
        return
    tp = cloud.engine.tensor_parallel_size
    if cloud.gpus_per_pod == 0:
        yield ConfigIssue("cloud.pod.gpusPerPod", 0, "vLLM-Omni needs CUDA GPUs; use at least 1")
    elif cloud.gpus_per_pod < tp:
        yield ConfigIssue(
            "cloud.pod.gpusPerPod",
            cloud.gpus_per_pod,
            f"must be >= cloud.engine.tensorParallelSize ({tp}): each shard needs its own GPU",
        )


def disruption_budget_allows_drains(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    cloud = config.cloud
    budget = cloud.disruption_budget
    fewest = cloud.replica_range[0]
    if not budget.enabled:
        return
    if budget.min_available is not None and budget.min_available >= fewest:
        yield ConfigIssue(
            "cloud.disruptionBudget.minAvailable",
            budget.min_available,
            f"must be < the fewest replicas ({fewest}), or no node could ever be drained; "
            "use maxUnavailable: 1, raise the replicas, or set cloud.disruptionBudget.enabled: false",
        )
    if budget.max_unavailable == 0:
        yield ConfigIssue(
            "cloud.disruptionBudget.maxUnavailable",
            0,
            "must be >= 1, or no node could ever be drained; or set cloud.disruptionBudget.enabled: false",
        )


def engine_batches_what_runtime_sends(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    engine, server = config.cloud.engine, config.cloud.server
    if engine.max_num_seqs < server.max_concurrent_requests:
        yield ConfigIssue(
            "cloud.engine.maxNumSeqs",
            engine.max_num_seqs,
            f"must be >= cloud.server.maxConcurrentRequests ({server.max_concurrent_requests}), "
            "or requests the runtime admits would wait unseen inside the engine",
        )


def distinct_ports(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    cloud = config.cloud
    if cloud.engine.port == cloud.server.port:
        yield ConfigIssue(
            "cloud.engine.port",
            cloud.engine.port,
            f"must differ from cloud.server.port ({cloud.server.port}): the runtime listens there",
        )


def _images(config: DeploymentConfig) -> Iterator[tuple[str, Image]]:
    """Every image the stack deploys, with its path in the stack file."""
    if config.cloud.enabled:
        yield "cloud.pod.image", config.cloud.pod.image
    if config.edge.enabled:
        for index, pool in enumerate(config.edge.pools):
            yield f"edge.pools[{index}].image", pool.image
    if config.hybrid.enabled:
        yield "hybrid.image", config.hybrid.image
    if config.loadtest.enabled and config.loadtest.image is not None:
        yield "loadtest.image", config.loadtest.image


def image_is_pinned(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    for path, image in _images(config):
        if image.tag is None and image.digest is None:
            yield ConfigIssue(f"{path}.tag", None, "set a tag (e.g. 0.1.0) or a digest (sha256:...)")
        elif config.stage == "prod" and image.digest is None and image.tag == "latest":
            yield ConfigIssue(
                f"{path}.tag",
                image.tag,
                "'latest' is mutable and not allowed when stage is prod; use a version tag or a digest",
            )


def shared_cache_is_shareable(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    cloud = config.cloud
    cache = cloud.pod.model_cache
    if cache.mode != "pvc" or cache.pvc.existing_claim is not None:
        return
    if cache.pvc.access_mode == "ReadWriteOnce" and cloud.replica_range[1] > 1:
        yield ConfigIssue(
            "cloud.pod.modelCache.pvc.accessMode",
            cache.pvc.access_mode,
            f"a ReadWriteOnce volume cannot be mounted by {cloud.replica_range[1]} replicas on different nodes; "
            "use ReadWriteMany with a storageClassName, or modelCache.mode: emptyDir",
        )
    if cache.pvc.access_mode in SHARED_ACCESS_MODES and cache.pvc.storage_class_name is None:
        yield ConfigIssue(
            "cloud.pod.modelCache.pvc.storageClassName",
            None,
            f"a {cache.pvc.access_mode} claim needs a class that supports it: the default classes of EKS (gp2/gp3, "
            "EBS), GKE (standard-rwo, PD) and AKS (managed-csi, Azure Disk) are ReadWriteOnce only, so the claim and "
            "every GPU pod would stay Pending; name a shared-filesystem class (EFS, Filestore, Azure Files, NFS), or "
            "use modelCache.mode: emptyDir (per-pod) or image (weights baked in)",
        )


def weights_have_a_source(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """Image mode downloads nothing, so the model must be a path in the image; and prod loads one fixed revision."""
    cloud = config.cloud
    if not cloud.enabled:
        return
    engine = cloud.engine
    if cloud.pod.model_cache.mode == "image" and engine.from_hub:
        yield ConfigIssue(
            "cloud.engine.model",
            engine.model,
            "with cloud.pod.modelCache.mode image the weights are baked into the image: set the absolute path they "
            "were copied to (e.g. /opt/models/VoxCPM2), or use mode pvc or emptyDir to download them",
        )
    if config.stage == "prod" and engine.from_hub and not engine.pins_revision:
        yield ConfigIssue(
            "cloud.engine.revision",
            engine.revision,
            "must be a 40-hex Hugging Face commit id when stage is prod: a branch or tag can move between two "
            "replicas' downloads, so they would serve different weights",
        )


def kv_cache_has_a_card_to_fit(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """A KV cache sized in GiB is sized for a card: in prod, name the cards, or a pod lands on a smaller one and
    dies at load with CUDA out of memory."""
    cloud = config.cloud
    kv = cloud.engine.kv_cache_memory_gib
    if cloud.enabled and config.stage == "prod" and kv is not None and not cloud.pod.gpu_products:
        yield ConfigIssue(
            "cloud.pod.gpuProducts",
            [],
            f"cloud.engine.kvCacheMemoryGib is {kv:g} GiB: name the GPU models it fits (as "
            f"{cloud.pod.gpu_product_label} labels them, e.g. NVIDIA-H100-80GB-HBM3) so no pod lands on a smaller card",
        )


def edge_weights_have_a_source(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """Each weight source needs its own settings; a download pins a commit so two nodes never differ."""
    if not config.edge.enabled:
        return
    for index, pool in enumerate(config.edge.pools):
        weights, path = pool.weights, f"edge.pools[{index}].weights"
        if weights.source == "download":
            if weights.repository is None:
                yield ConfigIssue(f"{path}.repository", None, "source download needs the repository holding the GGUFs")
            if weights.revision is None or PINNED_REVISION.fullmatch(weights.revision) is None:
                yield ConfigIssue(
                    f"{path}.revision", weights.revision, "source download needs the repository's 40-hex commit id"
                )
        if weights.source == "pvc" and weights.claim is None:
            yield ConfigIssue(f"{path}.claim", None, "source pvc needs the name of the existing claim")


def _label_maps(config: DeploymentConfig) -> Iterator[tuple[str, Mapping[str, str]]]:
    """Every map of label keys to values the stack puts on objects or matches nodes by, with its path."""
    yield "labels", config.labels
    yield "cloud.pod.nodeSelector", config.cloud.pod.node_selector
    for index, pool in enumerate(config.edge.pools):
        yield f"edge.pools[{index}].nodeSelector", pool.node_selector
    yield "observability.selectorLabels", config.observability.selector_labels
    yield "observability.dashboard.labels", config.observability.dashboard.labels


def labels_are_valid(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """The API server refuses an object whose label (or node selector) breaks the syntax; refuse it here first."""
    for at, mapping in _label_maps(config):
        for key, value in mapping.items():
            key_problem, value_problem = label_key_problem(key), label_value_problem(value)
            if key_problem is not None:
                yield ConfigIssue(f"{at}.{key}", key, f"not a valid label key: {key_problem}")
            elif value_problem is not None:
                yield ConfigIssue(f"{at}.{key}", value, f"not a valid label value: {value_problem}")
            elif at == "labels" and key.startswith("app.kubernetes.io/"):
                yield ConfigIssue(f"{at}.{key}", value, "app.kubernetes.io/* labels are set by voxdeploy")
    pod = config.cloud.pod
    for at, key in (
        ("cloud.pod.gpuProductLabel", pod.gpu_product_label),
        ("cloud.pod.topologySpread.topologyKey", pod.topology_spread.topology_key),
    ):
        problem = label_key_problem(key)
        if problem is not None:
            yield ConfigIssue(at, key, f"not a valid node label key: {problem}")


def namespace_is_the_stacks_own(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """The stack labels its namespace Pod Security restricted and owns it (pulumi destroy deletes it): on a
    namespace Kubernetes or other workloads use, that breaks their privileged pods or deletes them."""
    namespace = config.namespace
    if namespace.startswith(SYSTEM_NAMESPACE_PREFIX):
        yield ConfigIssue(
            "namespace",
            namespace,
            f"{SYSTEM_NAMESPACE_PREFIX}* namespaces are Kubernetes' own (kube-system, kube-public, kube-node-lease): "
            "the Pod Security 'restricted' label would stop its privileged system pods; use a namespace of the "
            "stack's own, e.g. voxcpm",
        )
    elif namespace == "default" and config.create_namespace:
        yield ConfigIssue(
            "namespace",
            namespace,
            "the stack would label the cluster's shared default namespace Pod Security 'restricted' and own it "
            "(pulumi destroy would delete it); use a namespace of the stack's own, or set createNamespace: false",
        )


def _redacted(value: str) -> str:
    """Enough of a secret to find it in the file, never the secret."""
    return f"{value[:3]}... ({len(value)} characters)"


SECRET_REFERENCE_HINT = (
    "a literal is rendered in plain text into the Deployment (and Git); keep it in a Kubernetes Secret: the "
    "Hugging Face token through cloud.pod.modelCache.hfTokenSecret {name, key}"
)


def _secret_literal(at: str, name: str, value: str) -> Iterator[ConfigIssue]:
    shape = secret_shape(value)
    if shape is not None:
        yield ConfigIssue(at, _redacted(value), f"looks like {shape}: {SECRET_REFERENCE_HINT}")
    elif names_a_secret(name) and value and not value.startswith(("/", "-")):
        yield ConfigIssue(at, _redacted(value), f"{name} says it holds a secret: {SECRET_REFERENCE_HINT}")


def env_holds_no_secrets(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """Environment values and engine flags are rendered as they are, so a token there ends up in every copy of
    the manifests. A name like *_TOKEN or --api-key, or a value shaped like a token (hf_..., sk-...), is refused;
    an absolute path (a mounted Secret file, GOOGLE_APPLICATION_CREDENTIALS=/var/run/...) is a reference."""
    for name, value in config.cloud.pod.env.items():
        yield from _secret_literal(f"cloud.pod.env.{name}", name, value)
    arguments = config.cloud.engine.extra_args
    for index, argument in enumerate(arguments):
        if argument.startswith("--") and "=" in argument:
            flag, _, value = argument.partition("=")
        else:  # a flag's value follows it: `--api-key`, `sk-...`
            before = arguments[index - 1] if index else ""
            flag, value = (before if before.startswith("--") and "=" not in before else ""), argument
        yield from _secret_literal(f"cloud.engine.extraArgs[{index}]", flag, value)


def edge_pools_fit_their_devices(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """Each pool against its device: known device, available backend, image architecture, cores, memory."""
    edge = config.edge
    catalogue = edge.catalogue()
    seen: set[str] = set()
    for index, pool in enumerate(edge.pools):
        at = f"edge.pools[{index}]"
        if pool.name in seen:
            yield ConfigIssue(f"{at}.name", pool.name, "another pool has this name; pool names must be unique")
        seen.add(pool.name)
        device = catalogue.get(pool.device)
        if device is None:
            yield ConfigIssue(
                f"{at}.device",
                pool.device,
                f"unknown device; known: {', '.join(sorted(catalogue))} (add others under edge.devices)",
            )
            continue
        if pool.backend not in device.backends:
            yield ConfigIssue(
                f"{at}.backend",
                pool.backend,
                f"{pool.device} has no {pool.backend} backend; it has {', '.join(device.backends)}",
            )
        if device.architecture not in pool.image_architectures:
            yield ConfigIssue(
                f"{at}.imageArchitectures",
                pool.image_architectures,
                f"{pool.device} is {device.architecture}; the image must be built for it",
            )
        if pool.threads is not None and pool.threads > device.cores:
            yield ConfigIssue(f"{at}.threads", pool.threads, f"{pool.device} has {device.cores} cores")
        if pool.gpu_layers != 0 and pool.backend == "cpu":
            yield ConfigIssue(f"{at}.gpuLayers", pool.gpu_layers, "the cpu backend offloads nothing; use 0")
        usable = device.memory_gib * (1 - pool.memory_headroom)
        if pool.memory_needed_gib() > usable:
            fitting = [
                q
                for q in ("Q4_0", "Q4_K_M", "Q5_K_M", "Q8_0", "F16")
                if model_files_gib(q) + pool.runtime_overhead_gib <= usable
            ]
            hint = f"quantizations that fit: {', '.join(fitting)}" if fitting else "no quantization fits this device"
            yield ConfigIssue(
                f"{at}.quantization",
                pool.quantization,
                f"needs {pool.memory_needed_gib():.1f} GiB (model files {model_files_gib(pool.quantization):.1f} + "
                f"{pool.runtime_overhead_gib:g} working), but {pool.device} leaves {usable:.1f} GiB of "
                f"{device.memory_gib:g} after {pool.memory_headroom:.0%} headroom; {hint}",
            )


def hybrid_router_has_somewhere_to_send(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    router = config.hybrid
    if not router.enabled:
        return
    if router.min_replicas > router.max_replicas:
        yield ConfigIssue(
            "hybrid.minReplicas", router.min_replicas, f"must be <= hybrid.maxReplicas ({router.max_replicas})"
        )
    has_own = config.cloud.enabled or (config.edge.enabled and bool(config.edge.pools))
    if not has_own and not any(router.endpoints.values()):
        yield ConfigIssue(
            "hybrid.endpoints",
            dict(router.endpoints),
            "the router has no tier to send to: enable cloud or edge pools, or list endpoint URLs",
        )
    slowest = max(router.tier_timeout_seconds.values(), default=0)
    if router.server.request_timeout_seconds <= slowest:
        yield ConfigIssue(
            "hybrid.server.requestTimeoutSeconds",
            router.server.request_timeout_seconds,
            f"must exceed the longest tier timeout ({slowest:g} s), or a slow tier can never fall back",
        )
    for tier, urls in router.endpoints.items():
        for index, url in enumerate(urls):
            if not url.startswith(("http://", "https://")):
                yield ConfigIssue(f"hybrid.endpoints.{tier}[{index}]", url, "must be an http(s) URL")


def secrets_have_a_source(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """The HF token's Secret comes from the source; an API-key Secret does where its value is given (remoteKeys
    apiKeys / routerKey here; the Pulumi secrets of those names: the loader checks those), else it exists out of
    band."""
    secrets = config.secrets
    token = config.cloud.pod.model_cache.hf_token_secret
    if secrets.source == "existing":
        return
    keyed = set(auth_secrets(config).values())
    filled = keyed & set(secrets.remote_keys) if secrets.source == "externalSecret" else keyed
    if token is None and not filled:
        yield ConfigIssue(
            "secrets.source",
            secrets.source,
            "nothing references a Secret to fill from it; set cloud.pod.modelCache.hfTokenSecret (name, key) first, "
            "or auth.keysSecret with its value (secrets.remoteKeys.apiKeys, or the Pulumi secret apiKeys)",
        )
    if secrets.source == "externalSecret":
        if secrets.store is None:
            yield ConfigIssue("secrets.store", None, "externalSecret needs the store (name, kind) to read from")
        if token is not None and "hfToken" not in secrets.remote_keys:
            yield ConfigIssue(
                "secrets.remoteKeys",
                dict(secrets.remote_keys),
                "give the store key of hfToken, e.g. {hfToken: voxcpm/hf-token}",
            )
        unused = sorted(set(secrets.remote_keys) - {"hfToken"} - keyed)
        if unused:
            yield ConfigIssue("secrets.remoteKeys", unused, "no Secret of this stack is filled from these; remove them")


def scaling_signal_fits(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    scaling = config.cloud.autoscaling
    signal, at = scaling.signal, "cloud.autoscaling.signal"
    if not (config.cloud.enabled and scaling.enabled) or signal.metric == "cpu":
        return
    fallback = signal.keda.fallback_replicas
    if (
        signal.backend == "keda"
        and fallback is not None
        and not scaling.min_replicas <= fallback <= scaling.max_replicas
    ):
        yield ConfigIssue(
            f"{at}.keda.fallbackReplicas",
            fallback,
            f"must be within cloud.autoscaling.minReplicas..maxReplicas "
            f"({scaling.min_replicas}..{scaling.max_replicas})",
        )
    slots = config.cloud.server.max_concurrent_requests
    if signal.metric in ("inFlight", "engineQueue") and signal.target is not None and signal.target > slots:
        where = "in flight" if signal.metric == "inFlight" else "in its engine (the runtime sends no more)"
        yield ConfigIssue(
            f"{at}.target",
            signal.target,
            f"a pod never has more than cloud.server.maxConcurrentRequests ({slots}) {where}, "
            f"so it would never scale out; use at most {slots}",
        )
    if signal.metric == "p95Rtf" and signal.target is not None and signal.target >= config.slo.p95_rtf:
        yield ConfigIssue(
            f"{at}.target",
            signal.target,
            f"must be below slo.p95Rtf ({config.slo.p95_rtf:g}), or pods are added only after the SLO is breached",
        )


def capacity_hours_fit(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    capacity = config.capacity
    if capacity.busy_hours_per_month > capacity.hours_per_month:
        yield ConfigIssue(
            "capacity.busyHoursPerMonth",
            capacity.busy_hours_per_month,
            f"must be <= capacity.hoursPerMonth ({capacity.hours_per_month:g})",
        )


CHECKS: tuple[Check, ...] = (
    replica_bounds,
    requests_within_limits,
    shared_memory_within_limit,
    voxcpm2_is_not_sharded,
    grace_period_drains_requests,
    gpus_cover_tensor_parallelism,
    disruption_budget_allows_drains,
    engine_batches_what_runtime_sends,
    distinct_ports,
    image_is_pinned,
    shared_cache_is_shareable,
    weights_have_a_source,
    edge_weights_have_a_source,
    kv_cache_has_a_card_to_fit,
    labels_are_valid,
    namespace_is_the_stacks_own,
    env_holds_no_secrets,
    edge_pools_fit_their_devices,
    hybrid_router_has_somewhere_to_send,
    secrets_have_a_source,
    scaling_signal_fits,
    capacity_hours_fit,
    *NETWORK_CHECKS,
    *ACCESS_CHECKS,
    *VOICE_CHECKS,
    *BATCH_CHECKS,
    *LOADTEST_CHECKS,
)


def cross_field_issues(config: DeploymentConfig) -> list[ConfigIssue]:
    """Every cross-field problem of a well-typed config, in a stable order."""
    return [issue for check in CHECKS for issue in check(config)]
