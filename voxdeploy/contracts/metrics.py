"""Every series the voxdeploy runtime exports: the one place their names, labels and buckets live.

The runtime registers exactly these; alert rules and dashboards import the names from here, so a
rule can never point at a series nobody exports. Engine-independent on purpose: one set of rules
covers vLLM-Omni, llama.cpp, PyTorch and the simulator alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PREFIX = "voxdeploy"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFA_BUCKETS = (0.02, 0.05, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)
RTF_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 25.0)
RATE_WINDOW = "5m"
"""Window of the p95, QPS and error-ratio series that alerts and panels read (the issue's 'p95 over 5 m')."""


@dataclass(frozen=True)
class Metric:
    """A series family as Prometheus sees it (counters gain `_total`, histograms `_bucket/_sum/_count`)."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def series(self) -> tuple[str, ...]:
        """The sample names this family produces in the exposition format."""
        if self.kind == "counter":
            return (f"{self.name}_total",)
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


REQUEST_LATENCY = Metric(
    f"{PREFIX}_request_duration_seconds",
    "histogram",
    "End-to-end /v1/audio/speech latency, admission queue included.",
    ("engine",),
    LATENCY_BUCKETS,
)
TIME_TO_FIRST_AUDIO = Metric(
    f"{PREFIX}_time_to_first_audio_seconds",
    "histogram",
    "Time from request arrival to the first audio chunk from the engine.",
    ("engine",),
    TTFA_BUCKETS,
)
REAL_TIME_FACTOR = Metric(
    f"{PREFIX}_real_time_factor",
    "histogram",
    "Synthesis wall time divided by the duration of the audio produced (lower is faster).",
    ("engine",),
    RTF_BUCKETS,
)
AUDIO_SECONDS = Metric(f"{PREFIX}_audio_seconds", "counter", "Seconds of audio generated.", ("engine",))
REQUESTS = Metric(
    f"{PREFIX}_requests",
    "counter",
    "Finished speech requests by HTTP status code (499: the client left first); an unhandled error on any route "
    "counts as a 500.",
    ("engine", "code"),
)
IN_FLIGHT = Metric(f"{PREFIX}_requests_in_flight", "gauge", "Requests being synthesized now.", ("engine",))
QUEUED = Metric(
    f"{PREFIX}_requests_queued", "gauge", "Requests admitted and waiting for a synthesis slot.", ("engine",)
)
QUEUE_CAPACITY = Metric(
    f"{PREFIX}_queue_capacity", "gauge", "Most requests that may wait before new ones get 429.", ("engine",)
)
ENGINE_RESTARTS = Metric(
    f"{PREFIX}_engine_restarts", "counter", "Times the engine process died or hung and was restarted.", ("engine",)
)
ENGINE_READY = Metric(f"{PREFIX}_engine_ready", "gauge", "1 when the engine is loaded and serving.", ("engine",))
ENGINE_METRICS_UP = Metric(
    f"{PREFIX}_engine_metrics_up",
    "gauge",
    "1 when the engine's own /metrics answered this scrape and its series are included; 0 when it did not "
    "answer in time or sent an exposition that does not parse (absent where the engine serves none).",
    ("engine",),
)
GPU_MEMORY_USED = Metric(
    f"{PREFIX}_gpu_memory_used_ratio",
    "gauge",
    "Share of GPU memory in use, 0 to 1, per GPU (NVML; absent where no NVIDIA GPU is visible).",
    ("gpu",),
)
ROUTER_REQUESTS = Metric(
    f"{PREFIX}_router_requests",
    "counter",
    "Speech requests the hybrid router answered, by the tier that served them (none: the router answered "
    "itself) and HTTP status code.",
    ("tier", "code"),
)
ROUTER_FALLBACKS = Metric(
    f"{PREFIX}_router_fallbacks",
    "counter",
    "Times the router moved a request on from one tier to the next (down, saturated or failing).",
    ("from_tier", "to_tier"),
)
ROUTER_UPSTREAM_LATENCY = Metric(
    f"{PREFIX}_router_upstream_duration_seconds",
    "histogram",
    "Time from forwarding a request to a tier to the end of the tier's response.",
    ("tier",),
    LATENCY_BUCKETS,
)
ROUTER_ENDPOINT_HEALTHY = Metric(
    f"{PREFIX}_router_endpoint_healthy",
    "gauge",
    "1 when the router sends traffic to the endpoint: it passes /ready checks and is not ejected.",
    ("tier", "endpoint"),
)
AUTH_FAILURES = Metric(
    f"{PREFIX}_auth_failures",
    "counter",
    "Requests to /v1/* refused with 401: no API key (reason missing) or one that matches no key (invalid). The key "
    "presented is never recorded.",
    ("reason",),
)
KEY_REJECTIONS = Metric(
    f"{PREFIX}_key_rejections",
    "counter",
    "Requests refused with 429 because their key (or the caller a router forwarded) already had as many requests "
    "in flight and queued as auth.maxConcurrentPerKey allows; `key` is the key's name, never the key. Not counted "
    "in voxdeploy_requests_total: the client, not the service, is over its share.",
    ("key",),
)
AUTH_METRICS: tuple[Metric, ...] = (AUTH_FAILURES, KEY_REJECTIONS)
"""What a runtime and a router with API keys export (a server without keys has nothing to count)."""
ROUTER_SELF = "none"
"""`tier` label value of an answer the router gave itself (bad input, overload, every tier failed)."""
ROUTER_UNAVAILABLE = "503"
"""`code` label value of the router's answer when every tier in the fallback order failed (or it is draining)."""

ROUTER_METRICS: tuple[Metric, ...] = (
    ROUTER_REQUESTS,
    ROUTER_FALLBACKS,
    ROUTER_UPSTREAM_LATENCY,
    ROUTER_ENDPOINT_HEALTHY,
)
"""What `voxdeploy serve --router` exports (a runtime exports the rest of the catalogue)."""

CATALOGUE: tuple[Metric, ...] = (
    REQUEST_LATENCY,
    TIME_TO_FIRST_AUDIO,
    REAL_TIME_FACTOR,
    AUDIO_SECONDS,
    REQUESTS,
    IN_FLIGHT,
    QUEUED,
    QUEUE_CAPACITY,
    ENGINE_RESTARTS,
    ENGINE_READY,
    ENGINE_METRICS_UP,
    GPU_MEMORY_USED,
    *AUTH_METRICS,
    *ROUTER_METRICS,
)
