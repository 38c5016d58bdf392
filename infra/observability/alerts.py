"""Alert rules of the voxdeploy runtimes: one small function per alert, each a pure function of a scope.

A scope is the cloud tier or the edge pools (scope.py): the same function makes HighErrorRatio for the
cloud and EdgeHighErrorRatio for the pools, with each tier's thresholds and settings. Thresholds that
are release targets come from `config.slo`, the rest from `config.observability.alerts`. An alert that
is switched off, or cannot apply to a scope (no NVML GPU, no engine series of its own, no autoscaler, no
queue, pods that may be absent by design), is left out. Annotations are Prometheus templates: `$labels`
name what is affected and `$value` says how bad it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from voxdeploy.contracts import engine_metrics as engine_catalog
from voxdeploy.contracts import metrics as catalog
from voxdeploy.contracts.metrics import RATE_WINDOW
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.observability import Alert, BurnRateWindow
from voxdeploy.infra.observability import external
from voxdeploy.infra.observability.promql import GROUPING, aggregate, number, quantile_above, selector
from voxdeploy.infra.observability.recording import (
    LATENCY_P95,
    RTF_P95,
    error_ratio,
    failures,
    latency_sli_bound,
    slow_ratio,
)
from voxdeploy.infra.observability.scope import RuntimeScope

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
    concern: str = "cloud"
    """The watch it belongs to (cloud, edge, hybrid): its runbook's header names those Services and settings."""

    @property
    def runbook(self) -> str:
        """Its runbook page: published as <runbookBaseUrl>/<runbook>.md (HighErrorRatio -> high-error-ratio)."""
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", self.name).lower()


def high_inference_latency(scope: RuntimeScope, config: DeploymentConfig) -> Iterator[AlertRule]:
    target = number(scope.latency_target)
    buckets = catalog.REQUEST_LATENCY.buckets
    yield AlertRule(
        f"{scope.prefix}HighInferenceLatency",
        scope.alerts.high_inference_latency,
        quantile_above(f"{LATENCY_P95}{scope.selector}", scope.latency_target, buckets),
        f"p95 speech latency above {target} s",
        f"p95 request latency of {WHERE} over the last {RATE_WINDOW} is {value('%.2f')} s, "
        f"above the {target} s target.",
        concern=scope.tier,
    )


def gpu_memory_high_usage(scope: RuntimeScope, config: DeploymentConfig) -> Iterator[AlertRule]:
    if not scope.gpu:
        return
    settings = config.observability.alerts.gpu_memory_high_usage
    threshold = settings.threshold_ratio
    metric = catalog.GPU_MEMORY_USED.name
    yield AlertRule(
        f"{scope.prefix}GPUMemoryHighUsage",
        settings,
        f"{aggregate('max', (*GROUPING, 'pod', 'gpu'), f'{metric}{scope.selector}')} > {number(threshold)}",
        f"GPU memory above {percent(threshold)}",
        f"GPU {{{{ $labels.gpu }}}} of pod {POD} ({WHERE}) has {PERCENT} of its memory in use "
        f"(threshold {percent(threshold)}); the next long request or larger batch may fail with CUDA out of memory.",
        concern=scope.tier,
    )


def engine_kv_cache_saturated(scope: RuntimeScope, config: DeploymentConfig) -> Iterator[AlertRule]:
    """The fullest stage of a pod: vLLM reports KV-cache use per stage and replica, and one full stage stalls all."""
    if scope.exposition is None or engine_catalog.VLLM_KV_CACHE_USAGE not in scope.exposition.pinned:
        return
    settings = config.observability.alerts.engine_kv_cache_saturated
    threshold = settings.threshold_ratio
    usage = f"{engine_catalog.VLLM_KV_CACHE_USAGE.name}{scope.selector}"
    yield AlertRule(
        f"{scope.prefix}EngineKvCacheSaturated",
        settings,
        f"{aggregate('max', (*GROUPING, 'pod'), usage)} > {number(threshold)}",
        f"engine KV cache above {percent(threshold)}",
        f"The engine of pod {POD} ({WHERE}) has {PERCENT} of its KV cache in use (threshold {percent(threshold)}): "
        "new sequences wait inside the engine, or running ones are preempted and recomputed.",
        concern=scope.tier,
    )


def engine_metrics_down(scope: RuntimeScope, config: DeploymentConfig) -> Iterator[AlertRule]:
    """A ready pod only: while the engine loads its /metrics does not answer yet, which is no fault."""
    if scope.exposition is None:
        return
    settings = config.observability.alerts.engine_metrics_down
    keep = (*GROUPING, "pod")
    up = catalog.ENGINE_METRICS_UP.name
    down = aggregate("max", keep, f"{up}{scope.selector} == 0")
    ready = aggregate("max", keep, f"{catalog.ENGINE_READY.name}{scope.selector} == 1")
    yield AlertRule(
        f"{scope.prefix}EngineMetricsDown",
        settings,
        f"{down} and on ({', '.join(keep)}) {ready}",
        "engine's own metrics unavailable on a ready pod",
        f"The runtime of pod {POD} ({WHERE}) is ready but has not read its engine's /metrics for {settings.for_} "
        f"({up} = {value('%.0f')}): the engine panels, the KV-cache alert and an engineQueue autoscaler are blind "
        "to that pod.",
        concern=scope.tier,
    )


def high_real_time_factor(scope: RuntimeScope, config: DeploymentConfig) -> Iterator[AlertRule]:
    """One comparison per Service with its own target (edge pools differ by device), joined with `or`."""
    target = scope.rtf_target_text
    buckets = catalog.REAL_TIME_FACTOR.buckets
    comparisons = [
        quantile_above(f"{RTF_P95}{scope.service_selector(t.service)}", t.threshold, buckets) for t in scope.rtf_targets
    ]
    yield AlertRule(
        f"{scope.prefix}HighRealTimeFactor",
        scope.alerts.high_real_time_factor,
        " or ".join(comparisons),
        f"p95 real-time factor above {target}",
        f"p95 real-time factor of {WHERE} over the last {RATE_WINDOW} is {value('%.2f')} (target {target}): "
        "synthesis takes that many seconds per second of audio.",
        concern=scope.tier,
    )


def high_error_ratio(scope: RuntimeScope, config: DeploymentConfig) -> Iterator[AlertRule]:
    target = config.slo.max_error_ratio
    yield AlertRule(
        f"{scope.prefix}HighErrorRatio",
        scope.alerts.high_error_ratio,
        f"{error_ratio(RATE_WINDOW)}{scope.selector} > {number(target)}",
        f"{failures(config)} error ratio above {percent(target)}",
        f"{PERCENT} of the requests to {WHERE} failed with {failures(config)} over the last {RATE_WINDOW} "
        f"(target at most {percent(target)}).",
        concern=scope.tier,
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
    settings: BurnRateWindow,
    slo: str,
    ratio: Callable[[str], str],
    budget: float,
    bad: str,
    scope: RuntimeScope,
) -> AlertRule:
    threshold = f"({number(settings.burn_rate)} * {number(budget)})"
    long, short = settings.long_window, settings.short_window
    sel = scope.selector
    return AlertRule(
        f"{scope.prefix}{name}",
        settings,
        f"{ratio(long)}{sel} > {threshold} and {ratio(short)}{sel} > {threshold}",
        f"{slo} error budget burning {number(settings.burn_rate)}x too fast",
        f"{PERCENT} of the requests to {WHERE} {bad} over the last {long}, and still over {short}: "
        f"more than {number(settings.burn_rate)}x the {percent(budget)} the {slo} objective allows.",
        f"{slo}-budget-burn",
        scope.tier,
    )


def _slower_than(config: DeploymentConfig) -> str:
    return f"took longer than {number(latency_sli_bound(config))} s"


def burn_rate_alerts(scope: RuntimeScope, config: DeploymentConfig) -> Iterator[AlertRule]:
    """Every speed of both SLOs: the multi-window, multi-burn-rate set, where the SLO budgets are watched.

    The availability and latency SLOs read one list of windows (`alerts.burnRates`), kubernetes-mixin style.
    """
    if not scope.slo_budgets:
        return
    alerts = config.observability.alerts
    slos = (
        (
            alerts.availability_budget_burn,
            "Availability",
            "availability",
            error_ratio,
            availability_budget(config),
            f"failed with {failures(config)}",
        ),
        (alerts.latency_budget_burn, "Latency", "latency", slow_ratio, latency_budget(config), _slower_than(config)),
    )
    for enabled, title, slo, ratio, budget, bad in slos:
        if enabled:
            for window in alerts.burn_rates:
                yield _burn(f"{title}BudgetBurn{window.name}", window, slo, ratio, budget, bad, scope)


def queue_saturation(scope: RuntimeScope, config: DeploymentConfig) -> Iterator[AlertRule]:
    capacity = scope.queue_capacity
    if capacity == 0:
        return
    settings = scope.alerts.queue_saturation
    queued = f"{catalog.QUEUED.name}{scope.selector} / {catalog.QUEUE_CAPACITY.name}{scope.selector}"
    yield AlertRule(
        f"{scope.prefix}QueueSaturation",
        settings,
        f"{aggregate('max', (*GROUPING, 'pod'), queued)} > {number(settings.threshold_ratio)}",
        "admission queue nearly full: 429s next",
        f"Pod {POD} ({WHERE}) has {PERCENT} of its {capacity}-request admission queue waiting; "
        "when it is full, new requests get 429.",
        concern=scope.tier,
    )


def engine_crash_looping(scope: RuntimeScope, config: DeploymentConfig) -> Iterator[AlertRule]:
    settings = scope.alerts.engine_crash_looping
    (restarts,) = catalog.ENGINE_RESTARTS.series
    increase = f"increase({restarts}{scope.selector}[{settings.window}])"
    yield AlertRule(
        f"{scope.prefix}EngineCrashLooping",
        settings,
        f"{aggregate('sum', (*GROUPING, 'pod'), increase)} >= {settings.restarts}",
        "engine process crash-looping",
        f"The engine of pod {POD} ({WHERE}) was restarted {value('%.0f')} times in the last {settings.window}.",
        concern=scope.tier,
    )


def capacity_exhausted(scope: RuntimeScope, config: DeploymentConfig) -> Iterator[AlertRule]:
    if scope.autoscaler is None:
        return
    hpa = {"namespace": scope.namespace, external.HPA_LABEL: scope.autoscaler}
    keep = ("namespace", external.HPA_LABEL)
    current = aggregate("max", keep, f"{external.HPA_CURRENT_REPLICAS}{selector(hpa)}")
    most = aggregate("max", keep, f"{external.HPA_MAX_REPLICAS}{selector(hpa)}")
    target = number(scope.latency_target)
    settings = config.observability.alerts.capacity_exhausted
    yield AlertRule(
        f"{scope.prefix}CapacityExhausted",
        settings,
        f"({current} >= {most}) and on (namespace) ({LATENCY_P95}{scope.selector} > {target})",
        f"autoscaler at its maximum while p95 latency is above {target} s",
        f"HorizontalPodAutoscaler {{{{ $labels.{external.HPA_LABEL} }}}} in {{{{ $labels.namespace }}}} has run "
        f"{value('%.0f')} replicas, its maximum, for {settings.for_} while p95 latency is above {target} s: "
        "the service needs more GPUs (cloud.autoscaling.maxReplicas) or less traffic.",
        concern=scope.tier,
    )


def target_down(scope: RuntimeScope, config: DeploymentConfig) -> Iterator[AlertRule]:
    up = f"{external.UP}{scope.selector}"
    down = aggregate("count", GROUPING, f"{up} == 0")
    yield AlertRule(
        f"{scope.prefix}RuntimeTargetDown",
        scope.alerts.target_down,
        f"{down} / {aggregate('count', GROUPING, up)} > 0",
        "runtime pods cannot be scraped",
        f"{PERCENT} of the runtime pods of {WHERE} do not answer /metrics: their alerts are blind.",
        concern=scope.tier,
    )


def metrics_absent(scope: RuntimeScope, config: DeploymentConfig) -> Iterator[AlertRule]:
    if not scope.always_running:
        return
    settings = config.observability.alerts.metrics_absent
    ready = catalog.ENGINE_READY.name
    yield AlertRule(
        f"{scope.prefix}RuntimeMetricsAbsent",
        settings,
        f"absent({ready}{scope.selector})",
        "no runtime metrics at all",
        f"Prometheus has had no {ready} series from {WHERE} for {settings.for_} (absent() = {value('%.0f')}): "
        "every pod is down or unscheduled, or the ServiceMonitor/scrape config no longer matches the Service.",
        concern=scope.tier,
    )


Builder = Callable[[RuntimeScope, DeploymentConfig], Iterator[AlertRule]]

BUILDERS: tuple[Builder, ...] = (
    high_inference_latency,
    gpu_memory_high_usage,
    engine_kv_cache_saturated,
    engine_metrics_down,
    high_real_time_factor,
    high_error_ratio,
    burn_rate_alerts,
    queue_saturation,
    engine_crash_looping,
    capacity_exhausted,
    target_down,
    metrics_absent,
)
"""Each yields the alerts it makes for a scope: none when its alert cannot apply there."""


def runtime_alerts(scope: RuntimeScope, config: DeploymentConfig) -> list[AlertRule]:
    """The enabled alerts that apply to a scope, in a stable order."""
    return [alert for build in BUILDERS for alert in build(scope, config) if alert.settings.enabled]


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
