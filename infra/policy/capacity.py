"""Rules about where pods may go and how many: disruption budgets, GPU taints and the namespace's GPU quota."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from voxdeploy.infra.builders.edge import POOL_LABEL
from voxdeploy.infra.config.base import parse_quantity
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.policy.pods import PodTemplate, dig, per_pod, pod_templates, selects
from voxdeploy.infra.policy.scaling import autoscaler_ranges, replica_range
from voxdeploy.infra.policy.violations import Finding, KubeObject, object_ref

NVIDIA_GPU = "nvidia.com/gpu"


def gpu_resources(config: DeploymentConfig) -> frozenset[str]:
    """Extended resources that are GPUs here: NVIDIA's, the cloud tier's configured one, every device's."""
    devices = config.edge.catalogue().values()
    return frozenset(
        {
            NVIDIA_GPU,
            config.cloud.pod.gpu_resource_name,
            *(device.gpu_resource for device in devices if device.gpu_resource),
        }
    )


def gpus_per_pod(spec: Mapping[str, Any], names: frozenset[str]) -> dict[str, int]:
    """GPUs one pod holds, per resource: the larger of its app containers' sum and its largest init container."""

    def amount(container: Mapping[str, Any], name: str) -> int:
        sides = container.get("resources") or {}
        quantity = (sides.get("requests") or {}).get(name, (sides.get("limits") or {}).get(name, 0))
        return int(parse_quantity(str(quantity)))

    held = {}
    for name in sorted(names):
        app = sum(amount(c, name) for c in spec.get("containers") or ())
        init = max((amount(c, name) for c in spec.get("initContainers") or ()), default=0)
        if max(app, init):
            held[name] = max(app, init)
    return held


def tolerates(tolerations: Sequence[Mapping[str, Any]], key: str, value: str | None = None) -> bool:
    """Whether a NoSchedule taint `key` (with `value`, when the taint's value is known) is tolerated."""
    for toleration in tolerations:
        matches_key = toleration.get("key") == key or (
            not toleration.get("key") and toleration.get("operator") == "Exists"
        )
        matches_value = (
            toleration.get("operator", "Equal") == "Exists" or value is None or toleration.get("value") == value
        )
        if matches_key and matches_value and toleration.get("effect") in (None, "", "NoSchedule"):
            return True
    return False


@per_pod
def gpu_toleration(config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    """GPU nodes are tainted with the GPU resource's name so nothing else lands there; a GPU pod that does not
    tolerate it stays Pending. An edge pod pinned to its own pool (nodeSelector voxdeploy.io/edge-pool, with the
    pool's taint tolerated) is exempt: that pool's nodes carry the pool taint, and the device is theirs alone."""
    tolerations = pod.spec.get("tolerations") or ()
    pool = dig(pod.spec, ("nodeSelector", POOL_LABEL))
    if pool is not None and tolerates(tolerations, POOL_LABEL, pool):
        return
    for name, count in gpus_per_pod(pod.spec, gpu_resources(config)).items():
        if not tolerates(tolerations, name):
            yield (
                f"requests {count} {name} but does not tolerate the {name} taint GPU nodes carry, so it would stay "
                f"Pending; add the toleration {{key: {name}, operator: Exists, effect: NoSchedule}} "
                f"(cloud.pod.tolerations or edge.pools[].tolerations), or pin it to an edge pool ({POOL_LABEL}) "
                "whose taint it tolerates"
            )


def _evictable(spec: Mapping[str, Any], pods: int) -> int:
    """Pods a budget lets be evicted out of `pods`; percentages round up, as the disruption controller does."""

    def scaled(value: int | str) -> int:
        if isinstance(value, str) and value.endswith("%"):
            return math.ceil(int(value[:-1]) * pods / 100)
        return int(value)

    if "minAvailable" in spec:
        return pods - scaled(spec["minAvailable"])
    return scaled(spec.get("maxUnavailable", pods))


def pdb_min_replicas(_config: DeploymentConfig, objects: Sequence[KubeObject]) -> Iterator[Finding]:
    """A budget that allows no eviction at the fewest replicas makes every node drain hang. The fewest is the
    HPA's (or ScaledObject's) minimum when one targets the workload, at least 1 (no pods, nothing to protect);
    DaemonSets are left out: a drain never evicts them."""
    autoscaled = autoscaler_ranges(objects)
    pods = list(pod_templates(objects))
    for budget in objects:
        if budget.get("kind") != "PodDisruptionBudget":
            continue
        spec = budget.get("spec") or {}
        namespace = dig(budget, ("metadata", "namespace"))
        ranges = [
            (pod, replica_range(pod, autoscaled))
            for pod in pods
            if pod.namespace == namespace and selects(spec.get("selector") or {}, pod.labels)
        ]
        counted = [(pod, bounds) for pod, bounds in ranges if bounds is not None]
        if not counted:
            continue
        fewest = max(1, sum(bounds.fewest for _, bounds in counted))
        if _evictable(spec, fewest) <= 0:
            setting = next(f"{key} {spec[key]}" for key in ("minAvailable", "maxUnavailable") if key in spec)
            sources = ", ".join(f"{pod.ref} by {bounds.source}" for pod, bounds in counted)
            yield Finding(
                object_ref(budget),
                (
                    f"{setting} allows no eviction at the fewest replicas ({fewest}: {sources}), so node drains never "
                    f"finish; keep minAvailable below {fewest} (or maxUnavailable at least 1), "
                    "or raise the fewest replicas"
                ),
            )


def gpu_quota(config: DeploymentConfig, objects: Sequence[KubeObject]) -> Iterator[Finding]:
    """At the most replicas of every GPU workload the namespace must stay within policy.gpuQuota, or the
    autoscaler's last scale-ups are refused by the ResourceQuota exactly when load peaks. DaemonSets are not
    counted: their size is the number of nodes in their pool, which no manifest states, and their devices are
    the pool's own (edge), not the cloud GPUs the quota budgets."""
    quota = config.policy.gpu_quota
    if quota is None:
        return
    names = gpu_resources(config)
    autoscaled = autoscaler_ranges(objects)
    shares = []
    for pod in pod_templates(objects):
        per_pod_gpus = sum(gpus_per_pod(pod.spec, names).values())
        bounds = replica_range(pod, autoscaled)
        if per_pod_gpus and bounds is not None:
            shares.append((pod, bounds, per_pod_gpus))
    total = sum(bounds.most * gpus for _, bounds, gpus in shares)
    if total <= quota:
        return
    pod, bounds, gpus = max(shares, key=lambda share: share[1].most * share[2])
    fits = max(0, (quota - (total - bounds.most * gpus)) // gpus)
    parts = "; ".join(
        f"{p.ref}: {b.most} pods ({b.source}) x {g} GPU{'s' if g != 1 else ''} = {b.most * g}" for p, b, g in shares
    )
    yield Finding(
        pod.ref,
        (
            f"at the most replicas the namespace needs {total} GPUs, over policy.gpuQuota {quota} ({parts}); "
            f"lower the most replicas of {pod.ref} to {fits}, use fewer GPUs per pod, or raise policy.gpuQuota"
        ),
    )
