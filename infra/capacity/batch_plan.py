"""The batch part of the plan: how many replicas make N hours of audio by a deadline, and the GPU-hours they rent.

Nobody waits for a batch, so a replica runs where it makes the most audio per second, not at the RTF target: with
c requests in flight at real-time factor r it makes c / r seconds of audio a second (each request makes 1 / r).
The curve's p95 RTF stands in for the mean, which makes the figure a lower bound. Replicas that are not running
when the Job starts (a tier scaled to zero, or fewer than the batch needs) first take the tier's startup budget:
it is billed and comes off the deadline. Replicas the tier keeps up anyway (minReplicas of an interactive tier) are
paid for by the interactive plan: a batch's bill is only the replicas beyond them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from voxdeploy.infra.capacity.model import CapacityCurve, CapacityInputError, CapacityPoint
from voxdeploy.infra.config.capacity import BatchPlanning

SECONDS_PER_HOUR = 3600.0


def audio_rate(point: CapacityPoint) -> float:
    """Seconds of audio one replica makes per second at that operating point."""
    return point.concurrency / point.rtf


def saturation(curve: CapacityCurve) -> CapacityPoint:
    """The measured point that makes the most audio per second (beyond the last point the curve is flat)."""
    return max(curve.points, key=audio_rate)


@dataclass(frozen=True)
class BatchPlan:
    """One batch: the replicas that finish it in time, how long it runs, what it rents, what the Job must send."""

    audio_hours: float
    deadline_hours: float
    per_replica: CapacityPoint
    """One replica where it makes the most audio per second."""
    replicas: int
    cold_start_hours: float
    """The startup budget, when the batch needs replicas that are not already running; else 0."""
    hours: float
    """From the Job's start to its end: the cold start and the synthesis."""
    gpus_per_replica: int
    gpu_hours: float
    """GPU-hours one batch runs on, its cold start included."""
    running_replicas: int
    """Of `replicas`, those kept up anyway whose hours the interactive plan already pays."""
    batches_per_month: float
    in_flight: int
    """Requests the Job keeps in flight to saturate the replicas (batch.parallelism x batch.concurrency)."""

    @property
    def audio_hours_per_hour(self) -> float:
        """Hours of audio the replicas make per hour of synthesis."""
        return self.replicas * audio_rate(self.per_replica)

    @property
    def billed_gpu_hours(self) -> float:
        """GPU-hours one batch adds to the bill: those of the replicas beyond the running ones."""
        return self.gpu_hours * (self.replicas - self.running_replicas) / self.replicas

    @property
    def gpu_hours_per_month(self) -> float:
        """What the batches add to the month's bill."""
        return self.billed_gpu_hours * self.batches_per_month


def plan_batch(
    curve: CapacityCurve,
    batch: BatchPlanning,
    audio_hours: float,
    gpus_per_replica: int,
    running_replicas: int,
    startup_seconds: float,
    paid_replicas: int | None = None,
) -> BatchPlan:
    """Fewest replicas that make `audio_hours` within `batch.deadlineHours`, counting the cold start of any beyond
    the `running_replicas` the tier keeps up anyway, and billing those beyond `paid_replicas`, the ones the
    interactive plan pays for (all the running ones unless said).

    Raises CapacityInputError when the deadline does not leave room past the cold start."""
    point = saturation(curve)
    rate = audio_rate(point)
    audio_seconds = audio_hours * SECONDS_PER_HOUR
    deadline_seconds = batch.deadline_hours * SECONDS_PER_HOUR
    warm = math.ceil(audio_seconds / (rate * deadline_seconds))
    cold_start = startup_seconds if warm > running_replicas else 0.0
    if cold_start >= deadline_seconds:
        raise CapacityInputError(
            f"a deadline of {batch.deadline_hours:g} h (capacity.batch.deadlineHours) leaves no time after the "
            f"tier's cold start of {startup_seconds / SECONDS_PER_HOUR:.2f} h (its startup budget)"
        )
    replicas = warm if cold_start == 0 else math.ceil(audio_seconds / (rate * (deadline_seconds - cold_start)))
    synthesis = audio_seconds / (replicas * rate)
    return BatchPlan(
        audio_hours=audio_hours,
        deadline_hours=batch.deadline_hours,
        per_replica=point,
        replicas=replicas,
        cold_start_hours=cold_start / SECONDS_PER_HOUR,
        hours=(cold_start + synthesis) / SECONDS_PER_HOUR,
        gpus_per_replica=gpus_per_replica,
        gpu_hours=replicas * gpus_per_replica * (cold_start + synthesis) / SECONDS_PER_HOUR,
        running_replicas=min(running_replicas if paid_replicas is None else paid_replicas, replicas),
        batches_per_month=batch.batches_per_month,
        in_flight=replicas * math.ceil(point.concurrency),
    )
