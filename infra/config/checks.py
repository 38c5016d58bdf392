"""Cross-field rules: each one a small function that yields the problems it finds, with exact paths.

These run after field validation, so every value is already well-typed; each rule says what would be
valid so a user can fix the stack file without reading this code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from infra.config.base import parse_quantity
from infra.config.deployment import DeploymentConfig
from infra.config.errors import ConfigIssue

Check = Callable[[DeploymentConfig], Iterator[ConfigIssue]]

_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


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
    if budget.enabled and budget.min_available >= fewest:
        yield ConfigIssue(
            "cloud.disruptionBudget.minAvailable",
            budget.min_available,
            f"must be < the fewest replicas ({fewest}), or no node could ever be drained; "
            "lower it, raise the replicas, or set cloud.disruptionBudget.enabled: false",
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


def image_is_pinned(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    image = config.cloud.pod.image
    if image.tag is None and image.digest is None:
        yield ConfigIssue("cloud.pod.image.tag", None, "set a tag (e.g. 0.1.0) or a digest (sha256:...)")
    elif config.stage == "prod" and image.digest is None and image.tag == "latest":
        yield ConfigIssue(
            "cloud.pod.image.tag",
            image.tag,
            "'latest' is mutable and not allowed when stage is prod; use a version tag or a digest",
        )


def shared_cache_is_shareable(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    cloud = config.cloud
    cache = cloud.pod.model_cache
    if (
        cache.mode == "pvc"
        and cache.pvc.existing_claim is None
        and cache.pvc.access_mode == "ReadWriteOnce"
        and cloud.replica_range[1] > 1
    ):
        yield ConfigIssue(
            "cloud.pod.modelCache.pvc.accessMode",
            cache.pvc.access_mode,
            f"a ReadWriteOnce volume cannot be mounted by {cloud.replica_range[1]} replicas on different nodes; "
            "use ReadWriteMany or ReadOnlyMany, or modelCache.mode: emptyDir",
        )


def labels_are_valid(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    for key, value in config.labels.items():
        if not _LABEL_KEY.match(key):
            yield ConfigIssue(f"labels.{key}", key, "not a valid label key ([prefix/]name, name <= 63 chars)")
        elif not _LABEL_VALUE.match(value):
            yield ConfigIssue(
                f"labels.{key}", value, "not a valid label value (<= 63 chars, alphanumerics, '-', '_', '.')"
            )
        elif key.startswith("app.kubernetes.io/"):
            yield ConfigIssue(f"labels.{key}", value, "app.kubernetes.io/* labels are set by voxdeploy")


CHECKS: tuple[Check, ...] = (
    replica_bounds,
    requests_within_limits,
    shared_memory_within_limit,
    gpus_cover_tensor_parallelism,
    disruption_budget_allows_drains,
    engine_batches_what_runtime_sends,
    distinct_ports,
    image_is_pinned,
    shared_cache_is_shareable,
    labels_are_valid,
)


def cross_field_issues(config: DeploymentConfig) -> list[ConfigIssue]:
    """Every cross-field problem of a well-typed config, in a stable order."""
    return [issue for check in CHECKS for issue in check(config)]
