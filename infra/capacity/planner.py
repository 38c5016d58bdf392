"""From a replica's capacity, a target QPS and the RTF SLO: replicas, HPA bounds, GPUs and GPU-hours."""

from __future__ import annotations

import math
from dataclasses import dataclass

from voxdeploy.infra.capacity.model import CapacityCurve, CapacityInputError, CapacityPoint
from voxdeploy.infra.config.capacity import CapacityPlanning

_EPSILON = 1e-9
"""Keeps 833.4 / 416.7 at 2 replicas, not 3, whatever the float rounding."""


def _replicas_for(qps: float, per_replica: float) -> int:
    return math.ceil(qps / per_replica - _EPSILON)


@dataclass(frozen=True)
class ReplicaPlan:
    """How many replicas serve the target within the RTF SLO, and what they hold in GPUs."""

    target_qps: float
    rtf_target: float
    per_replica: CapacityPoint
    """One replica at the RTF target: its concurrency there and its requests/s."""
    replicas_min: int
    replicas_busy: int
    replicas_max: int
    gpus_per_replica: int
    gpu_hours_per_month: float
    in_flight_target: int
    """Per-pod in-flight (or queued) target for autoscaling: the concurrency at which a replica carries its
    capacity less the headroom, so pods are added while the ones running still keep the RTF."""

    @property
    def gpus(self) -> tuple[int, int, int]:
        """GPUs at the fewest, busy-hour and most replicas."""
        per = self.gpus_per_replica
        return self.replicas_min * per, self.replicas_busy * per, self.replicas_max * per


def plan_replicas(
    curve: CapacityCurve, target_qps: float, rtf_target: float, planning: CapacityPlanning, gpus_per_replica: int
) -> ReplicaPlan:
    """Replicas for the busy hour, HPA bounds around it, and the GPU-hours a month of it rents.

    minReplicas carries the off-peak load (never below the availability floor); maxReplicas the target
    plus headroom. The month runs `busyHoursPerMonth` at the busy-hour count and the rest at minReplicas.
    """
    point = curve.at_rtf(rtf_target)
    if point is None:
        best = min(p.rtf for p in curve.points)
        raise CapacityInputError(f"{curve.source}: no concurrency meets RTF {rtf_target:g} (best measured {best:g})")
    fewest = max(planning.min_replicas_floor, _replicas_for(target_qps * planning.off_peak_share, point.qps))
    busy = max(fewest, _replicas_for(target_qps, point.qps))
    most = max(busy, _replicas_for(target_qps * (1 + planning.headroom), point.qps))
    quiet_hours = planning.hours_per_month - planning.busy_hours_per_month
    gpu_hours = gpus_per_replica * (fewest * quiet_hours + busy * planning.busy_hours_per_month)
    return ReplicaPlan(
        target_qps=target_qps,
        rtf_target=rtf_target,
        per_replica=point,
        replicas_min=fewest,
        replicas_busy=busy,
        replicas_max=most,
        gpus_per_replica=gpus_per_replica,
        gpu_hours_per_month=gpu_hours,
        in_flight_target=max(1, math.floor(curve.concurrency_at_throughput(point.qps / (1 + planning.headroom)))),
    )
