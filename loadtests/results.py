"""Per-request records and the figures a run is judged on: pure functions, no Locust, no clock."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class RequestRecord:
    """One speech request as the load generator saw it."""

    start: float
    latency: float
    ok: bool
    status: int
    size: str
    language: str
    streamed: bool
    audio_seconds: float | None = None
    ttfa: float | None = None
    error: str | None = None

    @property
    def rtf(self) -> float | None:
        """Wall time over audio duration: what the listener waits per second of speech."""
        if not self.ok or not self.audio_seconds:
            return None
        return self.latency / self.audio_seconds

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "rtf": self.rtf}


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in [0, 100]), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


class Measured(BaseModel):
    """A run's figures; latencies and TTFA in seconds, RTF dimensionless, rates per second."""

    model_config = ConfigDict(extra="forbid")

    requests: int = Field(description="Requests finished (success or failure).")
    failures: int = Field(description="Requests that failed (HTTP error, connection error, bad audio).")
    duration_seconds: float = Field(description="From the first request's start to the last one's end.")
    qps: float = Field(description="Successful requests per second.")
    goodput: float = Field(description="Successful requests per second that met the latency and RTF targets.")
    error_ratio: float = Field(description="failures / requests.")
    latency_mean: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None
    latency_p99: float | None = None
    rtf_mean: float | None = None
    rtf_p50: float | None = None
    rtf_p95: float | None = None
    ttfa_p50: float | None = None
    ttfa_p95: float | None = None
    audio_seconds: float = Field(description="Seconds of audio received in total.")


def measure(records: Sequence[RequestRecord], latency_target: float, rtf_target: float) -> Measured:
    """The gate's inputs from the raw records; goodput counts requests that met every per-request SLO."""
    if not records:
        return Measured(requests=0, failures=0, duration_seconds=0, qps=0, goodput=0, error_ratio=1, audio_seconds=0)
    good = [r for r in records if r.ok]
    duration = max(r.start + r.latency for r in records) - min(r.start for r in records)
    duration = max(duration, 1e-9)
    latencies = [r.latency for r in good]
    rtfs = [r.rtf for r in good if r.rtf is not None]
    ttfas = [r.ttfa for r in good if r.ttfa is not None]
    met = [r for r in good if r.latency <= latency_target and (r.rtf is None or r.rtf <= rtf_target)]
    return Measured(
        requests=len(records),
        failures=len(records) - len(good),
        duration_seconds=duration,
        qps=len(good) / duration,
        goodput=len(met) / duration,
        error_ratio=(len(records) - len(good)) / len(records),
        latency_mean=_mean(latencies),
        latency_p50=percentile(latencies, 50),
        latency_p95=percentile(latencies, 95),
        latency_p99=percentile(latencies, 99),
        rtf_mean=_mean(rtfs),
        rtf_p50=percentile(rtfs, 50),
        rtf_p95=percentile(rtfs, 95),
        ttfa_p50=percentile(ttfas, 50),
        ttfa_p95=percentile(ttfas, 95),
        audio_seconds=sum(r.audio_seconds or 0 for r in good),
    )
