"""A step in load against the capacity model, with an HPA/KEDA controller model driven by each signal.

A deterministic fluid model, one-second steps: every request alike, so the p95 RTF equals the RTF every
request sees. Per pod the runtime admits `maxConcurrentRequests` into the engine, queues up to
`maxQueuedRequests` more and answers 429 beyond. The RTF a client sees includes the queue wait; the
runtime's histogram (the p95Rtf signal) measures synthesis only. CPU utilization is nearly flat with load,
as on a GPU server: the runtime and the engine's scheduler keep a core busy whether the GPU is idle or
saturated, and per-request CPU work (tokenizing, encoding audio) is small.

The controller follows the HPA's algorithm: every sync period it reads the last scraped value, proposes
replicas (tolerance 10%), takes the lowest proposal of the scale-up stabilization window (highest of the
scale-down one), and adds or removes at most `podsPerPeriod` per period; new pods serve after a GPU pod's
start-up delay (scheduling, weights, engine load).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from voxdeploy.infra.capacity.model import CapacityCurve
from voxdeploy.infra.config.cloud import ScalingPolicy
from voxdeploy.infra.config.scaling_signal import SignalMetric

TOLERANCE = 0.1
"""The HPA leaves replicas alone while the metric is within 10% of its target."""


@dataclass(frozen=True)
class PodModel:
    """One replica: its capacity curve, the runtime's admission limits, its start-up time and CPU use."""

    curve: CapacityCurve
    max_concurrent: int
    max_queued: int
    startup_seconds: int = 180
    """Pod creation to serving for a GPU pod: scheduling, weights from the shared cache, engine load."""
    cpu_idle: float = 0.35
    """CPU utilization (of the request) with nothing in flight."""
    cpu_saturated: float = 0.45
    """CPU utilization with the GPU saturated."""

    def cpu(self, throughput: float) -> float:
        """CPU utilization at a throughput: linear from idle to saturated, a narrow band."""
        saturated = self.curve.points[-1].qps
        return self.cpu_idle + (self.cpu_saturated - self.cpu_idle) * min(1.0, throughput / saturated)


@dataclass(frozen=True)
class ControllerModel:
    """The autoscaler: which signal at which target, its bounds and behavior, and how often it looks."""

    metric: SignalMetric
    target: float
    """cpu: utilization as a fraction (0.7); inFlight, queued, engineQueue: per pod; p95Rtf: the service's RTF."""
    min_replicas: int
    max_replicas: int
    scale_up: ScalingPolicy
    scale_down: ScalingPolicy
    sync_seconds: int = 15
    scrape_seconds: int = 15
    rtf_window_seconds: int = 120


@dataclass(frozen=True)
class StepLoad:
    """`base_qps`, then from `step_at` a rise to `peak_qps` over `rise_seconds` (0: a sheer step)."""

    base_qps: float
    peak_qps: float
    step_at: int
    rise_seconds: int = 0

    def qps(self, t: int) -> float:
        if t < self.step_at:
            return self.base_qps
        if self.rise_seconds == 0 or t >= self.step_at + self.rise_seconds:
            return self.peak_qps
        return self.base_qps + (self.peak_qps - self.base_qps) * (t - self.step_at) / self.rise_seconds


@dataclass(frozen=True)
class Sample:
    """The system at one second: offered load, replicas serving and asked for, per-pod load, RTFs, CPU."""

    t: int
    offered_qps: float
    ready: int
    desired: int
    in_flight: float
    queued: float
    rtf: float
    """What a request finishing now sees, queue wait included."""
    server_rtf: float
    """What the runtime's histogram records: synthesis only."""
    cpu: float
    rejected_qps: float


@dataclass(frozen=True)
class Outcome:
    """A run's timeline, judged against the RTF target."""

    samples: tuple[Sample, ...]
    rtf_target: float

    @property
    def first_scale_out(self) -> int | None:
        """When the controller first asked for more replicas than it started with."""
        start = self.samples[0].desired
        return next((s.t for s in self.samples if s.desired > start), None)

    @property
    def first_breach(self) -> int | None:
        """When the RTF first went over the target."""
        return next((s.t for s in self.samples if s.rtf > self.rtf_target), None)

    @property
    def breach_seconds(self) -> int:
        return sum(1 for s in self.samples if s.rtf > self.rtf_target)

    @property
    def rejected(self) -> float:
        """Requests answered 429 over the run."""
        return sum(s.rejected_qps for s in self.samples)


@dataclass
class _Scraped:
    """What Prometheus holds: the last scrape of each gauge, and the server RTFs of the rate window."""

    in_flight_total: float = 0.0
    queued_total: float = 0.0
    cpu: float = 0.0
    server_rtfs: tuple[tuple[int, float], ...] = ()


def _proposal(controller: ControllerModel, scraped: _Scraped, current: int, ready: int) -> int:
    """The replicas one sync proposes, before stabilization and rate limits.

    Per-pod signals divide their total by the per-pod target (KEDA's AverageValue, the HPA's Pods metric);
    CPU utilization scales the ready pods and the p95 RTF (a Value) the current ones by metric / target.
    engineQueue (the engine's waiting + running) reads what inFlight reads: the engine holds exactly what the
    runtime admitted into it, and this model has no KV-cache limit that would keep requests waiting inside.
    """
    metric, target = controller.metric, controller.target
    if metric == "cpu":
        ratio = scraped.cpu / target
        proposed = ready * ratio
    elif metric == "p95Rtf":
        ratio = sum(rtf for _, rtf in scraped.server_rtfs) / len(scraped.server_rtfs) / target
        proposed = current * ratio
    else:
        total = scraped.in_flight_total + (scraped.queued_total if metric == "queued" else 0.0)
        ratio, proposed = total / (target * current), total / target
    if abs(ratio - 1) <= TOLERANCE:
        return current
    return min(controller.max_replicas, max(controller.min_replicas, math.ceil(proposed)))


def _changed_within(events: list[tuple[int, int]], t: int, period: int, up: bool) -> int:
    return sum(abs(delta) for at, delta in events if at > t - period and (delta > 0) == up)


def _decide(
    controller: ControllerModel, proposals: list[tuple[int, int]], events: list[tuple[int, int]], current: int, t: int
) -> int:
    """Stabilized, rate-limited replicas, as the HPA's behavior computes them."""
    up, down = controller.scale_up, controller.scale_down
    up_floor = min(p for at, p in proposals if at > t - up.stabilization_window_seconds or at == t)
    down_ceiling = max(p for at, p in proposals if at > t - down.stabilization_window_seconds or at == t)
    if current < up_floor:
        room = up.pods_per_period - _changed_within(events, t, up.period_seconds, up=True)
        return current + max(0, min(up_floor - current, room))
    if current > down_ceiling:
        room = down.pods_per_period - _changed_within(events, t, down.period_seconds, up=False)
        return current - max(0, min(current - down_ceiling, room))
    return current


def simulate(pod: PodModel, controller: ControllerModel, load: StepLoad, seconds: int, rtf_target: float) -> Outcome:
    """Run the fluid model for `seconds`, starting at minReplicas, all ready.

    Pods serve the offered load at the concurrency the curve gives for it; load beyond their saturated
    throughput piles up as excess, first in the runtime's free slots (raising the RTF of every request in
    the batch), then in its queue, then as 429s.
    """
    saturated = pod.curve.points[-1].qps
    ready_at = [0] * controller.min_replicas
    excess = 0.0
    scraped = _Scraped()
    proposals: list[tuple[int, int]] = []
    events: list[tuple[int, int]] = []
    samples = []
    for t in range(seconds):
        ready = sum(1 for at in ready_at if at <= t)
        offered = load.qps(t)
        throughput = saturated if excess > 0 else min(offered / ready, saturated)
        per_pod = pod.curve.concurrency_at_throughput(throughput) + excess / ready
        in_flight = min(per_pod, pod.max_concurrent)
        queued = per_pod - in_flight
        server_rtf = pod.curve.rtf(in_flight)
        wait = queued / throughput if queued else 0.0
        rtf = server_rtf * (1 + wait / pod.curve.latency(in_flight))
        cpu = pod.cpu(throughput)

        room = ready * (pod.max_concurrent + pod.max_queued - pod.curve.concurrency_at_throughput(saturated))
        excess = max(0.0, excess + offered - ready * saturated)
        rejected = max(0.0, excess - room)
        excess -= rejected
        samples.append(Sample(t, offered, ready, len(ready_at), in_flight, queued, rtf, server_rtf, cpu, rejected))

        if t % controller.scrape_seconds == 0:
            window = [(at, value) for at, value in scraped.server_rtfs if at > t - controller.rtf_window_seconds]
            scraped = _Scraped(ready * in_flight, ready * queued, cpu, (*window, (t, server_rtf)))
        if t % controller.sync_seconds == 0:
            current = len(ready_at)
            proposals.append((t, _proposal(controller, scraped, current, ready)))
            wanted = _decide(controller, proposals, events, current, t)
            if wanted > current:
                ready_at += [t + pod.startup_seconds] * (wanted - current)
            elif wanted < current:
                ready_at = sorted(ready_at)[:wanted]
            if wanted != current:
                events.append((t, wanted - current))
    return Outcome(tuple(samples), rtf_target)
