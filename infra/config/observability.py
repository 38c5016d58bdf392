"""How an environment is watched: alert thresholds, SLO objectives, scraping and the Grafana dashboard.

Thresholds that are already release targets (p95 latency, p95 RTF, error ratio in `slo`) are not
repeated here: the alerts read them from `DeploymentConfig.slo`, so the load-test gate and the pager
always agree on what "too slow" means. Only what is specific to alerting lives in this model.

The edge pools and the hybrid router have their own entries (`alerts.edge`, `alerts.router`): edge
defaults are gentler (a pool is a small share of capacity, the router falls back, links drop), and the
router's alerts watch what no runtime exports.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from voxdeploy.contracts.base import StrictModel
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

    threshold_percent: float = Field(
        90.0, gt=0, le=100, description="GPU memory in use, percent of total, that alerts."
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


class BurnRateAlert(Alert):
    """One speed of a multi-window, multi-burn-rate SLO alert (Google SRE workbook, chapter 5)."""

    long_window: Duration = Field(..., description="Window the budget burn must be sustained over.")
    short_window: Duration = Field(
        ..., description="Recent window that must still burn, so the alert resets soon after the problem stops."
    )
    burn_rate: float = Field(..., gt=0, description="Multiple of the error budget's even spend rate that alerts.")


class EdgeLatencyAlert(Alert):
    """EdgeHighInferenceLatency: a pool's p95 latency above a target."""

    threshold_seconds: float | None = Field(
        None,
        gt=0,
        description="p95 request latency of a pool that alerts; unset uses slo.p95LatencySeconds. Set it where "
        "the SLO is the cloud tier's (hybrid stacks): edge devices are slower per second of audio.",
    )


class EdgeRtfAlert(Alert):
    """EdgeHighRealTimeFactor: a pool's p95 RTF well above what its device is expected to reach."""

    tolerance: float = Field(
        1.5,
        gt=0,
        description="Multiple of the pool device's expectedRtf (for the pool's quantization) that alerts; a device "
        "without a measured figure for that quantization uses slo.p95Rtf instead.",
    )


class EdgeAlerts(StrictModel):
    """The engine-independent alerts again, per edge pool; GPU and autoscaler alerts do not apply there.

    Defaults page less than the cloud tier's: one pool is a small share of capacity and the router falls
    back from it, and edge links drop, so a scrape gap must last before anyone is woken.
    """

    high_inference_latency: EdgeLatencyAlert = Field(
        EdgeLatencyAlert(for_="10m", severity="warning"),
        description="EdgeHighInferenceLatency: a pool's p95 request latency over 5m above thresholdSeconds.",
    )
    high_real_time_factor: EdgeRtfAlert = Field(
        EdgeRtfAlert(for_="10m", severity="warning"),
        description="EdgeHighRealTimeFactor: a pool's p95 real-time factor over 5m above tolerance x its device's "
        "expected RTF.",
    )
    high_error_ratio: Alert = Field(
        Alert(for_="10m", severity="warning"),
        description="EdgeHighErrorRatio: a pool's share of 5xx answers over 5m above slo.maxErrorRatio.",
    )
    queue_saturation: QueueAlert = Field(
        QueueAlert(for_="10m", severity="warning"),
        description="EdgeQueueSaturation: an edge pod's admission queue near edge.server.maxQueuedRequests "
        "(thresholdRatio is a share of that).",
    )
    engine_crash_looping: CrashLoopAlert = Field(
        CrashLoopAlert(for_="0m", severity="warning"),
        description="EdgeEngineCrashLooping: an edge pod's llama-tts-server died and was restarted repeatedly.",
    )
    target_down: Alert = Field(
        Alert(for_="30m", severity="warning"),
        description="EdgeRuntimeTargetDown: some edge pods' /metrics cannot be scraped; waits far longer than the "
        "cloud tier's RuntimeTargetDown because edge links drop and come back.",
    )


class RatioAlert(Alert):
    """An alert on a share of the router's requests."""

    threshold_ratio: float = Field(..., gt=0, le=1, description="Share of the router's requests that alerts.")


class RouterAlerts(StrictModel):
    """Alerts of the hybrid router (`voxdeploy serve --router`), from the series only it exports."""

    tier_unavailable: RatioAlert = Field(
        RatioAlert(threshold_ratio=0.01, for_="2m", severity="critical"),
        description="RouterTierUnavailable: share of requests over 5m the router answered 503 itself because "
        "every tier in the fallback order failed (clients see those failures).",
    )
    fallback_rate_high: RatioAlert = Field(
        RatioAlert(threshold_ratio=0.1, for_="10m", severity="warning"),
        description="RouterFallbackRateHigh: fallbacks per request over 5m (a tier down, saturated or failing; "
        "requests still served, later and elsewhere).",
    )
    endpoint_down: Alert = Field(
        Alert(for_="5m", severity="warning"),
        description="RouterEndpointDown: no router pod sends traffic to an endpoint (failing /ready or ejected).",
    )


class Alerts(StrictModel):
    """Every alert the rules contain; thresholds tied to release targets come from `slo`."""

    high_inference_latency: Alert = Field(
        Alert(for_="5m", severity="warning"),
        description="HighInferenceLatency: service p95 request latency over 5m above slo.p95LatencySeconds "
        "(the reference article's alert; 2 s unless the stack says otherwise).",
    )
    gpu_memory_high_usage: GpuMemoryAlert = Field(
        GpuMemoryAlert(for_="3m", severity="critical"),
        description="GPUMemoryHighUsage: one GPU's memory in use above thresholdPercent "
        "(the reference article's alert).",
    )
    high_real_time_factor: Alert = Field(
        Alert(for_="5m", severity="warning"),
        description="HighRealTimeFactor: service p95 real-time factor over 5m above slo.p95Rtf.",
    )
    high_error_ratio: Alert = Field(
        Alert(for_="5m", severity="warning"),
        description="HighErrorRatio: share of 5xx answers over 5m above slo.maxErrorRatio.",
    )
    availability_burn_fast: BurnRateAlert = Field(
        BurnRateAlert(long_window="1h", short_window="5m", burn_rate=14.4, for_="2m", severity="critical"),
        description="AvailabilityBudgetBurnFast: 2% of a 30-day availability budget gone in an hour (page).",
    )
    availability_burn_slow: BurnRateAlert = Field(
        BurnRateAlert(long_window="6h", short_window="30m", burn_rate=6.0, for_="15m", severity="warning"),
        description="AvailabilityBudgetBurnSlow: 5% of a 30-day availability budget gone in six hours (ticket).",
    )
    latency_burn_fast: BurnRateAlert = Field(
        BurnRateAlert(long_window="1h", short_window="5m", burn_rate=14.4, for_="2m", severity="critical"),
        description="LatencyBudgetBurnFast: the latency SLO's budget (requests slower than slo.p95LatencySeconds) "
        "burning 14.4x too fast.",
    )
    latency_burn_slow: BurnRateAlert = Field(
        BurnRateAlert(long_window="6h", short_window="30m", burn_rate=6.0, for_="15m", severity="warning"),
        description="LatencyBudgetBurnSlow: the latency SLO's budget burning 6x too fast.",
    )
    queue_saturation: QueueAlert = Field(
        QueueAlert(for_="5m", severity="warning"),
        description="QueueSaturation: a pod's admission queue near cloud.server.maxQueuedRequests (429s next).",
    )
    engine_crash_looping: CrashLoopAlert = Field(
        CrashLoopAlert(for_="0m", severity="critical"),
        description="EngineCrashLooping: the engine process died and was restarted repeatedly.",
    )
    capacity_exhausted: Alert = Field(
        Alert(for_="15m", severity="critical"),
        description="CapacityExhausted: the HPA is at maxReplicas while p95 latency is above slo.p95LatencySeconds "
        "(needs kube-state-metrics; left out without autoscaling).",
    )
    target_down: Alert = Field(
        Alert(for_="5m", severity="warning"),
        description="RuntimeTargetDown: some runtime pods' /metrics cannot be scraped.",
    )
    metrics_absent: Alert = Field(
        Alert(for_="10m", severity="critical"),
        description="RuntimeMetricsAbsent: no runtime series at all, so a dead exporter is never silent "
        "(left out when the tier may scale to zero).",
    )
    edge: EdgeAlerts = Field(EdgeAlerts(), description="Alerts of the edge pools (left out without edge pools).")
    router: RouterAlerts = Field(
        RouterAlerts(), description="Alerts of the hybrid router (left out unless hybrid.enabled)."
    )


class SloObjectives(StrictModel):
    """The SLOs the burn-rate alerts protect; their thresholds are the release targets in `slo`."""

    availability_objective: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Share of requests that must not fail with 5xx; unset uses 1 - slo.maxErrorRatio, so the "
        "release gate and the burn-rate alerts share one error budget.",
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
