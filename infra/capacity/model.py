"""One replica's capacity: requests/s and RTF by concurrency, from a load test or the reference article.

Between measured concurrencies the curve is linear. Below the first point throughput grows with
concurrency at that point's latency; above the last the GPU is taken as saturated, so throughput stays
flat and latency (hence RTF) grows in proportion to concurrency (Little's law). That extrapolation is the
pessimistic one: a replica that was not yet saturated at its last point only does better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise


class CapacityInputError(ValueError):
    """A load-test result that cannot describe a replica's capacity (missing figures, no successes)."""


@dataclass(frozen=True)
class CapacityPoint:
    """One operating point of one replica: `concurrency` requests in flight give `qps` at `rtf`."""

    concurrency: float
    qps: float
    latency_seconds: float
    rtf: float


def _between(x: float, x0: float, x1: float, y0: float, y1: float) -> float:
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass(frozen=True)
class CapacityCurve:
    """A replica's measured points, ordered by concurrency, and where they came from."""

    source: str
    points: tuple[CapacityPoint, ...]

    def __post_init__(self) -> None:
        if not self.points:
            raise CapacityInputError(f"{self.source}: no capacity points")
        ordered = tuple(sorted(self.points, key=lambda p: p.concurrency))
        for a, b in pairwise(ordered):
            if a.concurrency == b.concurrency:
                raise CapacityInputError(f"{self.source}: two results at concurrency {a.concurrency:g}")
        object.__setattr__(self, "points", ordered)

    def _segment(self, concurrency: float) -> tuple[CapacityPoint, CapacityPoint]:
        """The measured points either side of a concurrency within the measured range."""
        return next((a, b) for a, b in pairwise(self.points) if a.concurrency <= concurrency <= b.concurrency)

    def throughput(self, concurrency: float) -> float:
        """Requests/s one replica completes with `concurrency` requests in flight."""
        first, last = self.points[0], self.points[-1]
        if concurrency <= first.concurrency:
            return first.qps * concurrency / first.concurrency
        if concurrency >= last.concurrency:
            return last.qps
        a, b = self._segment(concurrency)
        return _between(concurrency, a.concurrency, b.concurrency, a.qps, b.qps)

    def rtf(self, concurrency: float) -> float:
        """RTF with `concurrency` in flight: flat below the first point, proportional beyond the last."""
        first, last = self.points[0], self.points[-1]
        if concurrency <= first.concurrency:
            return first.rtf
        if concurrency >= last.concurrency:
            return last.rtf * concurrency / last.concurrency
        a, b = self._segment(concurrency)
        return _between(concurrency, a.concurrency, b.concurrency, a.rtf, b.rtf)

    def latency(self, concurrency: float) -> float:
        """Seconds a request spends being synthesized at that concurrency (Little's law)."""
        first = self.points[0]
        if concurrency <= first.concurrency:
            return first.concurrency / first.qps
        return concurrency / self.throughput(concurrency)

    def concurrency_at_rtf(self, target: float) -> float | None:
        """The most requests in flight whose RTF stays within `target`; None if even the first point misses it."""
        last = self.points[-1]
        if last.rtf <= target:
            return last.concurrency * target / last.rtf
        for a, b in reversed(list(pairwise(self.points))):
            if a.rtf <= target:
                return _between(target, a.rtf, b.rtf, a.concurrency, b.concurrency)
        return None

    def concurrency_at_throughput(self, qps: float) -> float:
        """Requests in flight at which one replica completes `qps` (its saturation concurrency at most)."""
        first, last = self.points[0], self.points[-1]
        if qps <= first.qps:
            return first.concurrency * qps / first.qps
        for a, b in pairwise(self.points):
            if a.qps <= qps <= b.qps and b.qps > a.qps:
                return _between(qps, a.qps, b.qps, a.concurrency, b.concurrency)
        return last.concurrency

    def at_rtf(self, target: float) -> CapacityPoint | None:
        """The replica's operating point at the RTF target: its capacity in requests/s."""
        concurrency = self.concurrency_at_rtf(target)
        if concurrency is None:
            return None
        return CapacityPoint(
            concurrency, self.throughput(concurrency), self.latency(concurrency), min(target, self.rtf(concurrency))
        )


def _figure(measured: Mapping[str, object], *names: str) -> float:
    """The first of `names` the run measured, as a positive number."""
    for name in names:
        value = measured.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    raise CapacityInputError(f"the load test did not measure {' or '.join(names)} (a run without successes?)")


def _point(users: object, measured: Mapping[str, object], replicas: int) -> CapacityPoint:
    if not isinstance(users, int) or users < 1:
        raise CapacityInputError(f"concurrency (users) must be a positive integer, got {users!r}")
    return CapacityPoint(
        concurrency=users / replicas,
        qps=_figure(measured, "qps") / replicas,
        latency_seconds=_figure(measured, "latency_mean"),
        rtf=_figure(measured, "rtf_p95", "rtf_mean"),
    )


def _simulated(document: object) -> bool:
    """summary.json says `simulated: true` at its top, benchmark.json in each row."""
    if isinstance(document, Mapping):
        return document.get("simulated") is True
    if isinstance(document, Sequence) and not isinstance(document, str):
        return any(isinstance(row, Mapping) and row.get("simulated") is True for row in document)
    return False


def curve_from_load_test(
    document: object, source: str, replicas: int = 1, allow_simulator: bool = False
) -> CapacityCurve:
    """The curve of one replica from `summary.json` (one concurrency) or `benchmark.json` (several).

    The load test measured the whole Service: with `replicas` pods behind it, each carried that share of
    the concurrency and the requests. The RTF is the run's p95 (the SLO's statistic), its mean if absent.
    A simulator's run is refused unless `allow_simulator`: its figures are the simulator's settings, and a plan
    from them (325 replicas and $790,550 a month, once) prices nothing real.
    """
    if replicas < 1:
        raise CapacityInputError(f"replicas behind the tested host must be >= 1, got {replicas}")
    if not allow_simulator and _simulated(document):
        raise CapacityInputError(
            f"{source}: measured the simulator (engine: sim), whose speed is whatever it was told; plan from a run "
            "against the real engine, or pass --allow-simulator to plan from the simulator's figures on purpose"
        )
    if isinstance(document, Mapping):
        parameters, measured = document.get("parameters"), document.get("measured")
        if not isinstance(parameters, Mapping) or not isinstance(measured, Mapping):
            raise CapacityInputError(f"{source}: not a load-test summary.json (no parameters / measured)")
        points = [_point(parameters.get("users"), measured, replicas)]
    elif isinstance(document, Sequence) and not isinstance(document, str) and document:
        rows = [row for row in document if isinstance(row, Mapping)]
        if len(rows) != len(document):
            raise CapacityInputError(f"{source}: not a load-test benchmark.json (a list of measured levels)")
        points = [_point(row.get("users"), row, replicas) for row in rows]
    else:
        raise CapacityInputError(f"{source}: expected a load-test summary.json or benchmark.json")
    return CapacityCurve(source, tuple(points))
