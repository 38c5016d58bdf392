"""How many pods a workload may have: its autoscaler's bounds when one targets it, else its own count.

Autoscalers are data (AUTOSCALERS), so a KEDA ScaledObject counts exactly like an HPA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from voxdeploy.infra.policy.pods import PodTemplate, dig
from voxdeploy.infra.policy.violations import KubeObject, object_ref


@dataclass(frozen=True)
class AutoscalerShape:
    """Where an autoscaler kind keeps its bounds, and the API's defaults when a bound is left out (None: required)."""

    min_at: tuple[str, ...]
    min_default: int
    max_at: tuple[str, ...]
    max_default: int | None


AUTOSCALERS: dict[str, AutoscalerShape] = {
    "HorizontalPodAutoscaler": AutoscalerShape(("spec", "minReplicas"), 1, ("spec", "maxReplicas"), None),
    "ScaledObject": AutoscalerShape(("spec", "minReplicaCount"), 0, ("spec", "maxReplicaCount"), 100),
}

REPLICAS_AT: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "replicas"),
    "Rollout": ("spec", "replicas"),
    "StatefulSet": ("spec", "replicas"),
    "ReplicaSet": ("spec", "replicas"),
    "Job": ("spec", "parallelism"),
    "CronJob": ("spec", "jobTemplate", "spec", "parallelism"),
}
"""Where a fixed-size workload keeps its pod count (the API default is 1; a bare Pod is 1)."""


@dataclass(frozen=True)
class ReplicaRange:
    """Fewest and most pods of a workload, and what sets them (an autoscaler's ref, or the workload's field)."""

    fewest: int
    most: int
    source: str


def autoscaler_ranges(objects: Sequence[KubeObject]) -> dict[tuple[str, str | None, str], ReplicaRange]:
    """(target kind, namespace, target name) -> the bounds of the autoscaler that targets it."""
    ranges = {}
    for obj in objects:
        shape = AUTOSCALERS.get(str(obj.get("kind")))
        if shape is None:
            continue
        target = dig(obj, ("spec", "scaleTargetRef"), {})
        key = (target.get("kind", "Deployment"), dig(obj, ("metadata", "namespace")), target["name"])
        ranges[key] = ReplicaRange(
            dig(obj, shape.min_at, shape.min_default), dig(obj, shape.max_at, shape.max_default), object_ref(obj)
        )
    return ranges


def replica_range(pod: PodTemplate, autoscaled: dict[tuple[str, str | None, str], ReplicaRange]) -> ReplicaRange | None:
    """The workload's pod count range; None for a DaemonSet, whose count is its nodes' (not in any manifest)."""
    if pod.kind == "DaemonSet":
        return None
    scaled = autoscaled.get((pod.kind, pod.namespace, dig(pod.owner, ("metadata", "name"))))
    if scaled is not None:
        return scaled
    path = REPLICAS_AT.get(pod.kind)
    if path is None:
        return ReplicaRange(1, 1, "a single pod")
    count = dig(pod.owner, path, 1)
    return ReplicaRange(count, count, ".".join(path))
