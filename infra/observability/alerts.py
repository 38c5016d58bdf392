"""Alert rules of an environment: one small function per alert, each a pure function of config.

Thresholds that are release targets come from `config.slo`, the rest from
`config.observability.alerts`. An alert that is switched off, or cannot apply to this environment
(no autoscaler, no queue, a tier that may scale to zero), is left out. Annotations are Prometheus
templates: `$labels` name what is affected and `$value` says how bad it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from infra import metrics_catalog as catalog
from infra.config.deployment import DeploymentConfig
from infra.config.observability import Alert, BurnRateAlert
from infra.observability import external
from infra.observability.promql import GROUPING, aggregate, number, selector, target_labels
from infra.observability.recording import (
    LATENCY_P95,
    RATE_WINDOW,
    RTF_P95,
    error_ratio,
    latency_sli_bound,
    slow_ratio,
)

WHERE = "{{ $labels.namespace }}/{{ $labels.service }}"
POD = "{{ $labels.pod }}"
PERCENT = "{{ $value | humanizePercentage }}"


def value(fmt: str) -> str:
    """`$value` through printf, so every description prints a number people can read."""
    return f'{{{{ printf "{fmt}" $value }}}}'


def percent(ratio: float) -> str:
    """A ratio from config written as a percentage for annotations (0.001 -> 0.1%)."""
    return f"{ratio * 100:g}%"


@dataclass(frozen=True)
class AlertRule:
    """One alert as built from config, before it becomes a rule-file entry."""

    name: str
    settings: Alert
    expr: str
    summary: str
    description: str
    template: str | None = None
    """Runbook template (templates/runbooks/<template>.md.j2) when alerts share one; else named as the runbook."""

    @property
    def runbook(self) -> str:
        """Its runbook page: published as <runbookBaseUrl>/<runbook>.md (HighErrorRatio -> high-error-ratio)."""
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", self.name).lower()


def _sel(config: DeploymentConfig) -> str:
    return selector(target_labels(config))


def high_inference_latency(config: DeploymentConfig) -> Iterator[AlertRule]:
    target = number(config.slo.p95_latency_seconds)
    yield AlertRule(
        "HighInferenceLatency",
        config.observability.alerts.high_inference_latency,
        f"{LATENCY_P95}{_sel(config)} > {target}",
        f"p95 speech latency above {target} s",
        f"p95 request latency of {WHERE} over the last {RATE_WINDOW} is {value('%.2f')} s, "
        f"above the {target} s target.",
    )


def gpu_memory_high_usage(config: DeploymentConfig) -> Iterator[AlertRule]:
    settings = config.observability.alerts.gpu_memory_high_usage
    threshold = number(settings.threshold_percent)
    metric = catalog.GPU_MEMORY_USED.name
    yield AlertRule(
        "GPUMemoryHighUsage",
        settings,
        f"{aggregate('max', (*GROUPING, 'pod', 'gpu'), f'{metric}{_sel(config)}')} > {threshold}",
        f"GPU memory above {threshold}%",
        f"GPU {{{{ $labels.gpu }}}} of pod {POD} ({WHERE}) has {value('%.1f')}% of its memory in use "
        f"(threshold {threshold}%); the next long request or larger batch may fail with CUDA out of memory.",
    )


def high_real_time_factor(config: DeploymentConfig) -> Iterator[AlertRule]:
    target = number(config.slo.p95_rtf)
    yield AlertRule(
        "HighRealTimeFactor",
        config.observability.alerts.high_real_time_factor,
        f"{RTF_P95}{_sel(config)} > {target}",
        f"p95 real-time factor above {target}",
        f"p95 real-time factor of {WHERE} over the last {RATE_WINDOW} is {value('%.2f')} (target {target}): "
        "synthesis takes that many seconds per second of audio.",
    )


def high_error_ratio(config: DeploymentConfig) -> Iterator[AlertRule]:
    target = config.slo.max_error_ratio
    yield AlertRule(
        "HighErrorRatio",
        config.observability.alerts.high_error_ratio,
        f"{error_ratio(RATE_WINDOW)}{_sel(config)} > {number(target)}",
        f"5xx error ratio above {percent(target)}",
        f"{PERCENT} of the requests to {WHERE} failed with 5xx over the last {RATE_WINDOW} "
        f"(target at most {percent(target)}).",
    )


def availability_budget(config: DeploymentConfig) -> float:
    """Share of requests that may fail: 1 - the availability objective, else the release gate's error ratio."""
    objective = config.observability.objectives.availability_objective
    return config.slo.max_error_ratio if objective is None else 1 - objective


def latency_budget(config: DeploymentConfig) -> float:
    """Share of requests that may be slower than slo.p95LatencySeconds."""
    return 1 - config.observability.objectives.latency_objective


def _burn(
    name: str,
    settings: BurnRateAlert,
    slo: str,
    ratio: Callable[[str], str],
    budget: float,
    bad: str,
    config: DeploymentConfig,
) -> AlertRule:
    threshold = f"({number(settings.burn_rate)} * {number(budget)})"
    long, short = settings.long_window, settings.short_window
    return AlertRule(
        name,
        settings,
        f"{ratio(long)}{_sel(config)} > {threshold} and {ratio(short)}{_sel(config)} > {threshold}",
        f"{slo} error budget burning {number(settings.burn_rate)}x too fast",
        f"{PERCENT} of the requests to {WHERE} {bad} over the last {long}, and still over {short}: "
        f"more than {number(settings.burn_rate)}x the {percent(budget)} the {slo} objective allows.",
        f"{slo}-budget-burn",
    )


def _slower_than(config: DeploymentConfig) -> str:
    return f"took longer than {number(latency_sli_bound(config))} s"


def burn_rate_alerts(config: DeploymentConfig) -> Iterator[AlertRule]:
    """Both speeds of both SLOs: the multi-window, multi-burn-rate set."""
    alerts = config.observability.alerts
    availability = ("availability", error_ratio, availability_budget(config), "failed with 5xx")
    latency = ("latency", slow_ratio, latency_budget(config), _slower_than(config))
    yield _burn("AvailabilityBudgetBurnFast", alerts.availability_burn_fast, *availability, config)
    yield _burn("AvailabilityBudgetBurnSlow", alerts.availability_burn_slow, *availability, config)
    yield _burn("LatencyBudgetBurnFast", alerts.latency_burn_fast, *latency, config)
    yield _burn("LatencyBudgetBurnSlow", alerts.latency_burn_slow, *latency, config)


def queue_saturation(config: DeploymentConfig) -> Iterator[AlertRule]:
    capacity = config.cloud.server.max_queued_requests
    if capacity == 0:
        return
    settings = config.observability.alerts.queue_saturation
    queued = f"{catalog.QUEUED.name}{_sel(config)} / {catalog.QUEUE_CAPACITY.name}{_sel(config)}"
    yield AlertRule(
        "QueueSaturation",
        settings,
        f"{aggregate('max', (*GROUPING, 'pod'), queued)} > {number(settings.threshold_ratio)}",
        "admission queue nearly full: 429s next",
        f"Pod {POD} ({WHERE}) has {PERCENT} of its {capacity}-request admission queue waiting; "
        "when it is full, new requests get 429.",
    )


def engine_crash_looping(config: DeploymentConfig) -> Iterator[AlertRule]:
    settings = config.observability.alerts.engine_crash_looping
    (restarts,) = catalog.ENGINE_RESTARTS.series
    increase = f"increase({restarts}{_sel(config)}[{settings.window}])"
    yield AlertRule(
        "EngineCrashLooping",
        settings,
        f"{aggregate('sum', (*GROUPING, 'pod'), increase)} >= {settings.restarts}",
        "engine process crash-looping",
        f"The engine of pod {POD} ({WHERE}) was restarted {value('%.0f')} times in the last {settings.window}.",
    )


def capacity_exhausted(config: DeploymentConfig) -> Iterator[AlertRule]:
    if not config.cloud.autoscaling.enabled:
        return
    hpa = {"namespace": config.namespace, external.HPA_LABEL: config.cloud.name}
    keep = ("namespace", external.HPA_LABEL)
    current = aggregate("max", keep, f"{external.HPA_CURRENT_REPLICAS}{selector(hpa)}")
    most = aggregate("max", keep, f"{external.HPA_MAX_REPLICAS}{selector(hpa)}")
    target = number(config.slo.p95_latency_seconds)
    settings = config.observability.alerts.capacity_exhausted
    yield AlertRule(
        "CapacityExhausted",
        settings,
        f"({current} >= {most}) and on (namespace) ({LATENCY_P95}{_sel(config)} > {target})",
        f"autoscaler at its maximum while p95 latency is above {target} s",
        f"HorizontalPodAutoscaler {{{{ $labels.{external.HPA_LABEL} }}}} in {{{{ $labels.namespace }}}} has run "
        f"{value('%.0f')} replicas, its maximum, for {settings.for_} while p95 latency is above {target} s: "
        "the service needs more GPUs (cloud.autoscaling.maxReplicas) or less traffic.",
    )


def target_down(config: DeploymentConfig) -> Iterator[AlertRule]:
    up = f"{external.UP}{_sel(config)}"
    down = aggregate("count", GROUPING, f"{up} == 0")
    yield AlertRule(
        "RuntimeTargetDown",
        config.observability.alerts.target_down,
        f"{down} / {aggregate('count', GROUPING, up)} > 0",
        "runtime pods cannot be scraped",
        f"{PERCENT} of the runtime pods of {WHERE} do not answer /metrics: their alerts are blind.",
    )


def metrics_absent(config: DeploymentConfig) -> Iterator[AlertRule]:
    if config.cloud.replica_range[0] == 0:
        return
    settings = config.observability.alerts.metrics_absent
    ready = catalog.ENGINE_READY.name
    yield AlertRule(
        "RuntimeMetricsAbsent",
        settings,
        f"absent({ready}{_sel(config)})",
        "no runtime metrics at all",
        f"Prometheus has had no {ready} series from {WHERE} for {settings.for_} (absent() = {value('%.0f')}): "
        "every pod is down or unscheduled, or the ServiceMonitor/scrape config no longer matches the Service.",
    )


BUILDERS: tuple[Callable[[DeploymentConfig], Iterator[AlertRule]], ...] = (
    high_inference_latency,
    gpu_memory_high_usage,
    high_real_time_factor,
    high_error_ratio,
    burn_rate_alerts,
    queue_saturation,
    engine_crash_looping,
    capacity_exhausted,
    target_down,
    metrics_absent,
)
"""Each yields the alerts it makes for an environment: none when its alert cannot apply there."""


def alert_rules(config: DeploymentConfig) -> list[AlertRule]:
    """The enabled alerts that apply to this environment, in a stable order."""
    return [alert for build in BUILDERS for alert in build(config) if alert.settings.enabled]


def runbook_url(config: DeploymentConfig, runbook: str) -> str:
    """Where a rendered runbook is published."""
    return f"{config.observability.runbook_base_url}/{runbook}.md"


def as_rule(alert: AlertRule, config: DeploymentConfig) -> dict[str, object]:
    """The rule-file entry; `environment` lets one Alertmanager route several environments."""
    return {
        "alert": alert.name,
        "expr": alert.expr,
        "for": alert.settings.for_,
        "labels": {"severity": alert.settings.severity, "environment": config.environment},
        "annotations": {
            "summary": alert.summary,
            "description": alert.description,
            "runbook_url": runbook_url(config, alert.runbook),
        },
    }
