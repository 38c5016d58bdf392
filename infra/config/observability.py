"""How an environment is watched: alert thresholds, SLO objectives, scraping and the Grafana dashboard.

Thresholds that are already release targets (p95 latency, p95 RTF, error ratio in `slo`) are not
repeated here: the alerts read them from `DeploymentConfig.slo`, so the load-test gate and the pager
always agree on what "too slow" means. Only what is specific to alerting lives in this model.

The cloud tier and the edge pools share one model of their engine-independent alerts (`TierAlerts`: the
cloud's at `alerts`, the pools' at `alerts.edge`, whose defaults are gentler: a pool is a small share of
capacity, the router falls back, links drop). The availability and latency SLOs share one list of burn-rate
windows (`alerts.burnRates`). The router's alerts (`alerts.router`) watch what no runtime exports.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from voxdeploy.contracts.base import StrictModel
from voxdeploy.contracts.engine_metrics import VLLM_KV_CACHE_USAGE
from voxdeploy.contracts.metrics import ENGINE_METRICS_UP, RATE_WINDOW
from voxdeploy.infra.config.base import DnsLabel

PROMETHEUS_DURATION = r"^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$"
"""Prometheus' duration syntax (the same pattern the prometheus-operator CRDs enforce)."""

Duration = Annotated[str, Field(pattern=PROMETHEUS_DURATION, min_length=1)]
"""A Prometheus duration such as 30s, 5m, 1h30m."""

Severity = Literal["info", "warning", "critical"]


class Alert(StrictModel):
    """One alert's switch, pending time and severity (the `severity` label Alertmanager routes on)."""

    enabled: bool = Field(True, description="Create this alert.")
    for_: Duration = Field(
        ..., alias="for", description="How long the condition must hold before the alert fires (Prometheus `for`)."
    )
    severity: Severity = Field(..., description="Value of the alert's severity label.")


class GpuMemoryAlert(Alert):
    """GPUMemoryHighUsage: the reference article's memory alert."""

    threshold_ratio: float = Field(
        0.9,
        gt=0,
        lt=1,
        description="Share of one GPU's memory in use that alerts, between 0 and 1 (0.9: 90%).",
    )


class KvCacheAlert(Alert):
    """EngineKvCacheSaturated: vLLM's KV cache in one pod is nearly full (cloud tier only: vLLM-Omni's own series)."""

    threshold_ratio: float = Field(
        0.95,
        gt=0,
        lt=1,
        description=f"Share of one pod's engine KV cache in use ({VLLM_KV_CACHE_USAGE.name}, 0 to 1) that alerts.",
    )


class QueueAlert(Alert):
    """QueueSaturation: the runtime's admission queue is close to the size where it answers 429."""

    threshold_ratio: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Share of the tier's maxQueuedRequests (cloud.server, edge.server) waiting in one pod that alerts.",
    )


class CrashLoopAlert(Alert):
    """EngineCrashLooping: the runtime keeps restarting its engine process."""

    restarts: int = Field(3, ge=1, description="Engine restarts within `window` that alert.")
    window: Duration = Field("15m", description="Look-back window the restarts are counted over.")


class LatencyAlert(Alert):
    """HighInferenceLatency: a tier's p95 request latency above a target."""

    threshold_seconds: float | None = Field(
        None,
        gt=0,
        description="p95 request latency that alerts; unset uses slo.p95LatencySeconds (so the pager and the "
        "release gate agree). Set it for the edge pools where the SLO is the cloud tier's (hybrid stacks): edge "
        "devices are slower per second of audio.",
    )


class RtfAlert(Alert):
    """HighRealTimeFactor: a tier's p95 RTF above its reference figure."""

    tolerance: float = Field(
        1.0,
        gt=0,
        description="Multiple of the reference RTF that alerts: slo.p95Rtf for the cloud tier; for an edge pool its "
        "device's expectedRtf at the pool's quantization (a device without that figure uses slo.p95Rtf as is).",
    )


class BurnRateWindow(Alert):
    """One speed of the multi-window, multi-burn-rate SLO alerts (Google SRE workbook, chapter 5).

    Each entry makes one alert per SLO: <Slo>BudgetBurn<name> (AvailabilityBudgetBurnFast, ...).
    """

    name: str = Field(..., pattern=r"^[A-Z][A-Za-z0-9]*$", description="Suffix of the alert names, e.g. Fast or Slow.")
    long_window: Duration = Field(..., description="Window the budget burn must be sustained over.")
    short_window: Duration = Field(
        ..., description="Recent window that must still burn, so the alert resets soon after the problem stops."
    )
    burn_rate: float = Field(..., gt=0, description="Multiple of the error budget's even spend rate that alerts.")


BURN_RATE_WINDOWS: tuple[BurnRateWindow, ...] = (
    BurnRateWindow(name="Fast", long_window="1h", short_window="5m", burn_rate=14.4, for_="2m", severity="critical"),
    BurnRateWindow(name="Slow", long_window="6h", short_window="30m", burn_rate=6.0, for_="15m", severity="warning"),
)
"""The default speeds: 2% of a 30-day budget gone in an hour (page), 5% in six hours (ticket)."""


class TierAlerts(StrictModel):
    """The engine-independent alerts of one runtime tier: the cloud tier (`alerts`) and the edge pools
    (`alerts.edge`, whose alert names carry an Edge prefix). Defaults are the cloud tier's; see `EDGE_ALERTS`.
    """

    high_inference_latency: LatencyAlert = Field(
        LatencyAlert(for_="5m", severity="warning"),
        description=f"HighInferenceLatency: p95 request latency over {RATE_WINDOW} above thresholdSeconds "
        "(the reference article's alert; slo.p95LatencySeconds, 2 s, unless the stack says otherwise).",
    )
    high_real_time_factor: RtfAlert = Field(
        RtfAlert(for_="5m", severity="warning"),
        description=f"HighRealTimeFactor: p95 real-time factor over {RATE_WINDOW} above tolerance x the reference "
        "RTF (slo.p95Rtf; an edge pool's device expectedRtf).",
    )
    high_error_ratio: Alert = Field(
        Alert(for_="5m", severity="warning"),
        description=f"HighErrorRatio: share of failed answers over {RATE_WINDOW} (5xx, and 429 unless "
        "objectives.shedLoadIsError is false) above slo.maxErrorRatio.",
    )
    queue_saturation: QueueAlert = Field(
        QueueAlert(for_="5m", severity="warning"),
        description="QueueSaturation: a pod's admission queue near the tier's maxQueuedRequests (cloud.server, "
        "edge.server; 429s next).",
    )
    engine_crash_looping: CrashLoopAlert = Field(
        CrashLoopAlert(for_="0m", severity="critical"),
        description="EngineCrashLooping: the engine process (vLLM-Omni, llama-tts-server) died and was restarted "
        "repeatedly.",
    )
    target_down: Alert = Field(
        Alert(for_="5m", severity="warning"),
        description="RuntimeTargetDown: some runtime pods' /metrics cannot be scraped.",
    )


EDGE_ALERTS = TierAlerts(
    high_inference_latency=LatencyAlert(for_="10m", severity="warning"),
    high_real_time_factor=RtfAlert(for_="10m", severity="warning", tolerance=1.5),
    high_error_ratio=Alert(for_="10m", severity="warning"),
    queue_saturation=QueueAlert(for_="10m", severity="warning"),
    engine_crash_looping=CrashLoopAlert(for_="0m", severity="warning"),
    target_down=Alert(for_="30m", severity="warning"),
)
"""The edge pools' defaults page less than the cloud tier's: one pool is a small share of capacity and the
router falls back from it, and edge links drop, so a scrape gap must last (30m) before anyone is woken."""


class RatioAlert(Alert):
    """An alert on a share of the router's requests."""

    threshold_ratio: float = Field(..., gt=0, le=1, description="Share of the router's requests that alerts.")


class RouterAlerts(StrictModel):
    """Alerts of the hybrid router (`voxdeploy serve --router`), from the series only it exports."""

    tier_unavailable: RatioAlert = Field(
        RatioAlert(threshold_ratio=0.01, for_="2m", severity="critical"),
        description=f"RouterTierUnavailable: share of requests over {RATE_WINDOW} the router answered 503 itself "
        "because every tier in the fallback order failed (clients see those failures).",
    )
    fallback_rate_high: RatioAlert = Field(
        RatioAlert(threshold_ratio=0.1, for_="10m", severity="warning"),
        description=f"RouterFallbackRateHigh: fallbacks per request over {RATE_WINDOW} (a tier down, saturated or "
        "failing; requests still served, later and elsewhere).",
    )
    endpoint_down: Alert = Field(
        Alert(for_="5m", severity="warning"),
        description="RouterEndpointDown: no router pod sends traffic to an endpoint (failing /ready or ejected).",
    )


class Alerts(TierAlerts):
    """Every alert the rules contain: the cloud tier's engine-independent alerts (inherited, at this level), the
    cloud-only ones, the SLO burn rates, and the edge pools' and router's; thresholds tied to release targets come
    from `slo`.
    """

    gpu_memory_high_usage: GpuMemoryAlert = Field(
        GpuMemoryAlert(for_="3m", severity="critical"),
        description="GPUMemoryHighUsage: one GPU's share of memory in use above thresholdRatio "
        "(the reference article's alert).",
    )
    engine_kv_cache_saturated: KvCacheAlert = Field(
        KvCacheAlert(for_="5m", severity="warning"),
        description="EngineKvCacheSaturated: a pod's vLLM KV cache above thresholdRatio; new sequences wait inside "
        "the engine, or running ones are preempted and recomputed (vLLM-Omni's own series, forwarded by the runtime).",
    )
    engine_metrics_down: Alert = Field(
        Alert(for_="10m", severity="warning"),
        description="EngineMetricsDown: a ready pod's runtime cannot read its engine's own /metrics "
        f"({ENGINE_METRICS_UP.name} 0), so the engine panels, EngineKvCacheSaturated and the engineQueue "
        "scaling signal go blind for it.",
    )
    burn_rates: list[BurnRateWindow] = Field(
        list(BURN_RATE_WINDOWS),
        description="Speeds of the SLO burn-rate alerts, shared by the availability and latency SLOs: each entry "
        "makes AvailabilityBudgetBurn<name> and LatencyBudgetBurn<name>.",
    )
    availability_budget_burn: bool = Field(
        True,
        description="Create the availability SLO's burn-rate alerts (failed answers as HighErrorRatio counts them; "
        "budget 1 - objective).",
    )
    latency_budget_burn: bool = Field(
        True,
        description="Create the latency SLO's burn-rate alerts (requests slower than slo.p95LatencySeconds).",
    )
    capacity_exhausted: Alert = Field(
        Alert(for_="15m", severity="critical"),
        description="CapacityExhausted: the HPA is at maxReplicas while p95 latency is above slo.p95LatencySeconds "
        "(needs kube-state-metrics; left out without autoscaling).",
    )
    metrics_absent: Alert = Field(
        Alert(for_="10m", severity="critical"),
        description="RuntimeMetricsAbsent: no runtime series at all, so a dead exporter is never silent "
        "(left out when the tier may scale to zero).",
    )
    edge: TierAlerts = Field(
        EDGE_ALERTS,
        description="The engine-independent alerts again, per edge pool, as EdgeHighInferenceLatency etc. (left out "
        "without edge pools; GPU and autoscaler alerts do not apply there). An alert not given keeps its edge "
        "default, which pages less than the cloud tier's.",
    )
    router: RouterAlerts = Field(
        RouterAlerts(), description="Alerts of the hybrid router (left out unless hybrid.enabled)."
    )

    @field_validator("edge", mode="before")
    @classmethod
    def _edge_defaults(cls, edge: object) -> object:
        """Alerts the stack leaves out of `alerts.edge` keep the edge defaults, not the cloud tier's."""
        if not isinstance(edge, dict):
            return edge
        defaults = EDGE_ALERTS.model_dump(by_alias=True)
        names = {name: info.alias or name for name, info in TierAlerts.model_fields.items()}
        given = {names.get(key, key) for key in edge}
        return {**{key: value for key, value in defaults.items() if key not in given}, **edge}

    @field_validator("burn_rates")
    @classmethod
    def _distinct_names(cls, windows: list[BurnRateWindow]) -> list[BurnRateWindow]:
        names = [window.name for window in windows]
        if len(set(names)) != len(names):
            raise ValueError(f"burn-rate window names must be distinct (they name the alerts): {names}")
        return windows


class SloObjectives(StrictModel):
    """The SLOs the burn-rate alerts protect; their thresholds are the release targets in `slo`."""

    availability_objective: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Share of requests that must not fail (5xx, and 429 unless shedLoadIsError is false); unset "
        "uses 1 - slo.maxErrorRatio, so the release gate and the burn-rate alerts share one error budget.",
    )
    shed_load_is_error: bool = Field(
        True,
        description="Count 429 answers (a runtime's admission queue is full: it sheds load) as failures of the "
        "availability SLO, as the Google SRE workbook counts shed load: the caller got no audio, and the load-test "
        "gate counts them too. false leaves them out of HighErrorRatio and the availability burn-rate alerts (for "
        "clients that take 429 as back-pressure and retry); QueueSaturation still warns as the queue fills.",
    )
    latency_objective: float = Field(
        0.95,
        gt=0,
        lt=1,
        description="Share of requests that must finish within slo.p95LatencySeconds (0.95: what a p95 target means).",
    )


class Scrape(StrictModel):
    """How Prometheus collects the runtime's /metrics."""

    interval: Duration = Field("15s", description="Scrape interval (ServiceMonitor endpoint and plain scrape config).")
    timeout: Duration = Field("10s", description="Scrape timeout; must not exceed the interval.")


class Dashboard(StrictModel):
    """The Grafana dashboard, shipped as a ConfigMap the Grafana sidecar imports."""

    enabled: bool = Field(True, description="Create the dashboard ConfigMap.")
    namespace: DnsLabel | None = Field(
        None, description="Namespace the Grafana sidecar watches; unset puts the ConfigMap beside the service."
    )
    labels: dict[str, str] = Field(
        {"grafana_dashboard": "1"}, description="Labels the Grafana sidecar selects dashboard ConfigMaps by."
    )
    folder: str = Field("VoxCPM", min_length=1, description="Grafana folder the dashboard goes into.")
    folder_annotation: str = Field(
        "grafana_folder",
        min_length=1,
        description="Annotation the sidecar reads the folder from (its folderAnnotation).",
    )
    tags: list[str] = Field(["voxdeploy", "tts"], description="Grafana tags of the dashboard.")


class Observability(StrictModel):
    """Alert rules, scraping and dashboards of the cloud tier, the edge pools and the router, from this and `slo`."""

    prometheus_rule: bool = Field(
        True,
        description="Create PrometheusRules (prometheus-operator CRD, one per tier) holding the recording and alert "
        "rules.",
    )
    service_monitor: bool = Field(
        True,
        description="Create ServiceMonitors (prometheus-operator CRD) scraping /metrics of the cloud runtime, the "
        "edge pools and the router.",
    )
    selector_labels: dict[str, str] = Field(
        {},
        description="Labels on the PrometheusRule and ServiceMonitor that the Prometheus' ruleSelector and "
        "serviceMonitorSelector match (kube-prometheus-stack: release: <its release name>).",
    )
    scrape: Scrape = Field(Scrape(), description="Scrape interval and timeout.")
    dashboard: Dashboard = Field(Dashboard(), description="Grafana dashboard ConfigMap.")
    runbook_base_url: str = Field(
        "https://github.com/voxdeploy/voxdeploy/blob/main/docs/runbooks",
        pattern=r"^https?://\S+[^/]$",
        description="Where `voxdeploy runbooks` output is published; each alert links <this>/<runbook>.md.",
    )
    objectives: SloObjectives = Field(SloObjectives(), description="Availability and latency SLO objectives.")
    alerts: Alerts = Field(Alerts(), description="Per-alert switches, thresholds, pending times and severities.")
