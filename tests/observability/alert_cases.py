"""promtool unit-test cases for every alert, generated from the environment's config and the catalogue.

Each case gives input series that fire the alert (with the minute its condition first holds, the labels
it must carry and the `$value` its annotations print) and series that must leave it silent. The
promtool test file is generated from these, so thresholds and windows follow the stack, and an alert
without a case here fails `test_every_alert_has_a_unit_test`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from infra import metrics_catalog as catalog
from infra.config.deployment import DeploymentConfig
from infra.config.observability import BurnRateAlert
from infra.observability import external
from infra.observability.alerts import AlertRule, availability_budget, latency_budget
from infra.observability.promql import le_value, target_labels
from infra.observability.recording import latency_sli_bound

T = TypeVar("T")
EVALUATION_MINUTES = 1
"""promtool's evaluation interval and the input series' sample interval, in minutes."""


@dataclass(frozen=True)
class Series:
    """One input series, sampled every minute from t=0."""

    name: str
    labels: Mapping[str, str]
    samples: tuple[float, ...]

    def promtool(self, minutes: int) -> dict[str, str]:
        """The series as promtool input up to `minutes`, its last step repeated (a counter keeps its rate)."""
        step = self.samples[-1] - self.samples[-2] if len(self.samples) > 1 else 0.0
        extra = max(0, minutes + 1 - len(self.samples))
        padded = self.samples + tuple(self.samples[-1] + step * (n + 1) for n in range(extra))
        labels = ",".join(f'{key}="{value}"' for key, value in self.labels.items())
        return {"series": f"{self.name}{{{labels}}}", "values": " ".join(f"{v:g}" for v in padded)}


@dataclass(frozen=True)
class Quiet:
    """Series that must not fire the alert at the given minutes (default: when the firing case fires, and later)."""

    name: str
    series: tuple[Series, ...]
    at: tuple[int, ...] = ()


@dataclass(frozen=True)
class Case:
    firing: tuple[Series, ...]
    active_from: int
    """Minute of the first evaluation at which the expression returns the alert's series."""
    labels: Mapping[str, str]
    """The alert's labels besides alertname and the rule's own labels."""
    value: float
    """`$value` at the moment it fires, as the annotations print it."""
    quiet: tuple[Quiet, ...] = field(default=())


def minutes(duration: str) -> int:
    """A Prometheus duration in whole minutes, rounded up to the evaluation interval."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    seconds = sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration))
    return math.ceil(seconds / 60 / EVALUATION_MINUTES) * EVALUATION_MINUTES


# Input series -----------------------------------------------------------------------------------

LENGTH = 10
"""Minutes of generated input; `Series.promtool` continues each series' last step to the last check."""


def pod_labels(config: DeploymentConfig, pod: str = "voxcpm-7d9f8-abcde") -> dict[str, str]:
    """Target labels a scraped runtime pod gets (ServiceMonitor or the plain scrape config)."""
    return {**target_labels(config), "pod": pod, "instance": "10.0.0.7:8000", "job": config.cloud.name}


def runtime_labels(config: DeploymentConfig) -> dict[str, str]:
    return {**pod_labels(config), "engine": "vllm-omni"}


def gauge(name: str, labels: Mapping[str, str], value: float) -> Series:
    return Series(name, dict(labels), (value,))


def counter(name: str, labels: Mapping[str, str], per_minute: Sequence[float]) -> Series:
    """A counter that grows by per_minute[i] between minute i and i+1."""
    total, samples = 0.0, [0.0]
    for step in per_minute:
        total += step
        samples.append(total)
    return Series(name, dict(labels), tuple(samples))


def histogram(
    metric: catalog.Metric, labels: Mapping[str, str], per_minute: Sequence[Mapping[float, float]]
) -> list[Series]:
    """Bucket, count and sum series of a catalogue histogram observing {value: count} each minute."""
    bucket, summed, total = metric.series
    bounds = [*(le_value(b) for b in metric.buckets), "+Inf"]
    limits = [*metric.buckets, math.inf]
    series = [
        counter(bucket, {**labels, "le": le}, [sum(n for v, n in m.items() if v <= limit) for m in per_minute])
        for le, limit in zip(bounds, limits, strict=True)
    ]
    series.append(counter(total, labels, [sum(minute.values()) for minute in per_minute]))
    series.append(counter(summed, labels, [sum(v * n for v, n in minute.items()) for minute in per_minute]))
    return series


def steady(value: T) -> list[T]:
    """The same per-minute input for the whole generated stretch."""
    return [value] * LENGTH


# Where observations land --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """A histogram bucket (lower, upper]; every observation in it puts any quantile q at lower + q*(upper-lower)."""

    lower: float
    upper: float

    @property
    def inside(self) -> float:
        return (self.lower + self.upper) / 2

    def quantile(self, q: float) -> float:
        return self.lower + (self.upper - self.lower) * q


def bucket_above(buckets: Sequence[float], threshold: float) -> Bucket:
    """The first bucket lying wholly above threshold."""
    lower = min(b for b in buckets if b >= threshold)
    return Bucket(lower, min(b for b in buckets if b > lower))


def bucket_below(buckets: Sequence[float], threshold: float) -> Bucket:
    """The last bucket lying wholly at or below threshold."""
    upper = max(b for b in buckets if b <= threshold)
    return Bucket(max((b for b in buckets if b < upper), default=0.0), upper)


def halfway_above(threshold: float, ceiling: float = 1.0) -> float:
    """A level clearly over a threshold and still under the ceiling (a ratio, a percentage)."""
    return (threshold + ceiling) / 2


# The cases ------------------------------------------------------------------------------------------

RATE_ACTIVE = 1
"""A rate needs two samples, so rate-based expressions first hold at minute 1."""


def _p95_case(metric: catalog.Metric, threshold: float, config: DeploymentConfig) -> Case:
    labels = runtime_labels(config)
    slow = bucket_above(metric.buckets, threshold)
    fast = bucket_below(metric.buckets, threshold)
    return Case(
        firing=tuple(histogram(metric, labels, steady({slow.inside: 60}))),
        active_from=RATE_ACTIVE,
        labels=target_labels(config),
        value=slow.quantile(0.95),
        quiet=(Quiet("under the target", tuple(histogram(metric, labels, steady({fast.inside: 60})))),),
    )


def high_inference_latency(config: DeploymentConfig) -> Case:
    return _p95_case(catalog.REQUEST_LATENCY, config.slo.p95_latency_seconds, config)


def high_real_time_factor(config: DeploymentConfig) -> Case:
    return _p95_case(catalog.REAL_TIME_FACTOR, config.slo.p95_rtf, config)


def gpu_memory_high_usage(config: DeploymentConfig) -> Case:
    threshold = config.observability.alerts.gpu_memory_high_usage.threshold_percent
    labels = {**pod_labels(config), "gpu": "0"}
    name = catalog.GPU_MEMORY_USED.name
    high = halfway_above(threshold, 100.0)
    return Case(
        firing=(gauge(name, labels, high), gauge(name, {**labels, "gpu": "1"}, threshold / 2)),
        active_from=0,
        labels={**target_labels(config), "pod": labels["pod"], "gpu": "0"},
        value=high,
        quiet=(Quiet("under the threshold", (gauge(name, labels, threshold / 2),)),),
    )


def _requests(config: DeploymentConfig, per_minute: Sequence[tuple[float, float]]) -> tuple[Series, ...]:
    """Requests answered 200 and 500, (good, failed) per minute."""
    (name,) = catalog.REQUESTS.series
    labels = runtime_labels(config)
    return (
        counter(name, {**labels, "code": "200"}, [good for good, _ in per_minute]),
        counter(name, {**labels, "code": "500"}, [bad for _, bad in per_minute]),
    )


def _latencies(config: DeploymentConfig, per_minute: Sequence[tuple[float, float]]) -> tuple[Series, ...]:
    """Requests within and over the latency SLO's bound, (fast, slow) per minute."""
    bound = latency_sli_bound(config)
    buckets = catalog.REQUEST_LATENCY.buckets
    fast, slow = bucket_below(buckets, bound).inside, bucket_above(buckets, bound).inside
    observed = [{fast: good, slow: bad} for good, bad in per_minute]
    return tuple(histogram(catalog.REQUEST_LATENCY, runtime_labels(config), observed))


PER_MINUTE = 1000.0


def _split(bad_share: float) -> tuple[float, float]:
    return (PER_MINUTE * (1 - bad_share), PER_MINUTE * bad_share)


def high_error_ratio(config: DeploymentConfig) -> Case:
    target = config.slo.max_error_ratio
    high = min(1.0, 4 * target)
    return Case(
        firing=_requests(config, steady(_split(high))),
        active_from=RATE_ACTIVE,
        labels=target_labels(config),
        value=high,
        quiet=(Quiet("under the target", _requests(config, steady(_split(target / 2)))),),
    )


Traffic = Callable[[DeploymentConfig, Sequence[tuple[float, float]]], tuple[Series, ...]]


def _burn_case(settings: BurnRateAlert, budget: float, traffic: Traffic, config: DeploymentConfig) -> Case:
    threshold = settings.burn_rate * budget
    assert threshold < 1, f"a burn rate of {settings.burn_rate} over a {budget} budget can never fire"
    long, short = minutes(settings.long_window), minutes(settings.short_window)
    high = halfway_above(threshold)
    # Everything fails for one long window, then nothing: the long window still burns, the short one is clean.
    recovered_at = long + short + 1
    still_burning = (long - (recovered_at - long)) / long
    assert still_burning > threshold, "the recovery case must keep the long window over the threshold"
    recovery = [_split(1.0)] * long + [_split(0.0)] * (short + 1)
    return Case(
        firing=traffic(config, steady(_split(high))),
        active_from=RATE_ACTIVE,
        labels=target_labels(config),
        value=high,
        quiet=(
            Quiet("burning under the rate", traffic(config, steady(_split(threshold / 2)))),
            Quiet("recovered: long window still over, short window clean", traffic(config, recovery), (recovered_at,)),
        ),
    )


def availability_burn_fast(config: DeploymentConfig) -> Case:
    alert = config.observability.alerts.availability_burn_fast
    return _burn_case(alert, availability_budget(config), _requests, config)


def availability_burn_slow(config: DeploymentConfig) -> Case:
    alert = config.observability.alerts.availability_burn_slow
    return _burn_case(alert, availability_budget(config), _requests, config)


def latency_burn_fast(config: DeploymentConfig) -> Case:
    alert = config.observability.alerts.latency_burn_fast
    return _burn_case(alert, latency_budget(config), _latencies, config)


def latency_burn_slow(config: DeploymentConfig) -> Case:
    alert = config.observability.alerts.latency_burn_slow
    return _burn_case(alert, latency_budget(config), _latencies, config)


def queue_saturation(config: DeploymentConfig) -> Case:
    threshold = config.observability.alerts.queue_saturation.threshold_ratio
    capacity = config.cloud.server.max_queued_requests
    labels = runtime_labels(config)

    def queue(share: float) -> tuple[Series, ...]:
        queued = gauge(catalog.QUEUED.name, labels, capacity * share)
        return (queued, gauge(catalog.QUEUE_CAPACITY.name, labels, capacity))

    high = halfway_above(threshold)
    return Case(
        firing=queue(high),
        active_from=0,
        labels={**target_labels(config), "pod": labels["pod"]},
        value=high,
        quiet=(Quiet("queue under the threshold", queue(threshold / 2)),),
    )


def engine_crash_looping(config: DeploymentConfig) -> Case:
    settings = config.observability.alerts.engine_crash_looping
    (name,) = catalog.ENGINE_RESTARTS.series
    labels = runtime_labels(config)
    assert settings.restarts <= minutes(settings.window), "one restart a minute must reach the threshold in the window"
    return Case(
        firing=(counter(name, labels, steady(1.0)),),
        active_from=settings.restarts,
        labels={**target_labels(config), "pod": labels["pod"]},
        value=settings.restarts,
        quiet=(Quiet("fewer restarts", (counter(name, labels, [1.0] * (settings.restarts - 1) + [0.0]),)),),
    )


def capacity_exhausted(config: DeploymentConfig) -> Case:
    most = config.cloud.autoscaling.max_replicas
    hpa = {"namespace": config.namespace, external.HPA_LABEL: config.cloud.name}
    ksm = {**hpa, "job": "kube-state-metrics", "instance": "10.0.0.9:8080"}

    latency = high_inference_latency(config)
    over, under = latency.firing, latency.quiet[0].series

    def cluster(current: int, latencies: tuple[Series, ...]) -> tuple[Series, ...]:
        replicas = (gauge(external.HPA_CURRENT_REPLICAS, ksm, current), gauge(external.HPA_MAX_REPLICAS, ksm, most))
        return (*replicas, *latencies)

    return Case(
        firing=cluster(most, over),
        active_from=RATE_ACTIVE,
        labels=hpa,
        value=most,
        quiet=(
            Quiet("at the maximum, latency fine", cluster(most, under)),
            Quiet("latency over, room to scale", cluster(most - 1, over)),
        ),
    )


def target_down(config: DeploymentConfig) -> Case:
    def targets(*up: float) -> tuple[Series, ...]:
        return tuple(
            gauge(external.UP, pod_labels(config, f"voxcpm-pod-{n}"), value) for n, value in enumerate(up)
        )

    return Case(
        firing=targets(1, 0),
        active_from=0,
        labels=target_labels(config),
        value=0.5,
        quiet=(Quiet("all targets up", targets(1, 1)),),
    )


def metrics_absent(config: DeploymentConfig) -> Case:
    name = catalog.ENGINE_READY.name
    elsewhere = {**runtime_labels(config), "namespace": f"{config.namespace}-other"}
    return Case(
        firing=(gauge(name, elsewhere, 1),),
        active_from=0,
        labels=target_labels(config),
        value=1,
        quiet=(Quiet("runtime scraped", (gauge(name, runtime_labels(config), 1),)),),
    )


CASES: dict[str, Callable[[DeploymentConfig], Case]] = {
    "HighInferenceLatency": high_inference_latency,
    "GPUMemoryHighUsage": gpu_memory_high_usage,
    "HighRealTimeFactor": high_real_time_factor,
    "HighErrorRatio": high_error_ratio,
    "AvailabilityBudgetBurnFast": availability_burn_fast,
    "AvailabilityBudgetBurnSlow": availability_burn_slow,
    "LatencyBudgetBurnFast": latency_burn_fast,
    "LatencyBudgetBurnSlow": latency_burn_slow,
    "QueueSaturation": queue_saturation,
    "EngineCrashLooping": engine_crash_looping,
    "CapacityExhausted": capacity_exhausted,
    "RuntimeTargetDown": target_down,
    "RuntimeMetricsAbsent": metrics_absent,
}


# Annotations as Prometheus renders them ---------------------------------------------------------------

_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def expand(template: str, labels: Mapping[str, str], value: float) -> str:
    """The few Go template actions our annotations use, rendered as Prometheus does; any other fails loudly."""

    def action(match: re.Match[str]) -> str:
        text = match[1]
        if text.startswith("$labels."):
            return labels[text.removeprefix("$labels.")]
        if text == "$value | humanizePercentage":
            return "%.4g%%" % (value * 100)
        printf = re.fullmatch(r'printf "([^"]+)" \$value', text)
        if printf:
            return printf[1] % value
        raise ValueError(f"the tests cannot expand {{{{ {text} }}}}; teach expand() or use a supported action")

    return _ACTION.sub(action, template)


# The promtool test file --------------------------------------------------------------------------------


def _test(name: str, series: Sequence[Series], checks: list[dict[str, object]]) -> dict[str, object]:
    last = max(int(str(check["eval_time"]).removesuffix("m")) for check in checks)
    length = max(last, *(len(s.samples) - 1 for s in series)) + 1
    return {
        "name": name,
        "interval": f"{EVALUATION_MINUTES}m",
        "input_series": [s.promtool(length) for s in series],
        "alert_rule_test": checks,
    }


def unit_tests(alert: AlertRule, rule: Mapping[str, object], case: Case) -> list[dict[str, object]]:
    """promtool tests for one alert: silent one interval before it should fire, firing exactly then, and quiet cases."""
    fires_at = case.active_from + minutes(alert.settings.for_)
    annotations = rule["annotations"]
    assert isinstance(annotations, dict)
    expected = {
        "exp_labels": {**case.labels, **rule["labels"]},  # type: ignore[dict-item]
        "exp_annotations": {key: expand(text, case.labels, case.value) for key, text in annotations.items()},
    }
    checks: list[dict[str, object]] = []
    if fires_at >= EVALUATION_MINUTES:
        checks.append({"eval_time": f"{fires_at - EVALUATION_MINUTES}m", "alertname": alert.name, "exp_alerts": []})
    checks.append({"eval_time": f"{fires_at}m", "alertname": alert.name, "exp_alerts": [expected]})
    tests = [_test(f"{alert.name} fires at {fires_at}m", case.firing, checks)]
    for quiet in case.quiet:
        at = quiet.at or (fires_at, fires_at + 10)
        silent = [{"eval_time": f"{t}m", "alertname": alert.name, "exp_alerts": []} for t in at]
        tests.append(_test(f"{alert.name} stays silent: {quiet.name}", quiet.series, silent))
    return tests
